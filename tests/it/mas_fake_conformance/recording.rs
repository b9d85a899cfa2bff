//! The recording: exchanges read from tests/data/mas/transcripts.jsonl, with the raw request and
//! answer texts (key order, serde error positions).

use super::TRANSCRIPTS;
use serde_json::Value;
use std::collections::BTreeMap;

pub(super) struct Exchange {
    pub(super) id: String,
    pub(super) method: String,
    pub(super) path: String,
    pub(super) headers: BTreeMap<String, String>,
    pub(super) body: Value,
    /// The request body exactly as the recorder sent it (Python's `json.dumps` spelling and key
    /// order), so that serde's error positions can be compared too.
    pub(super) raw_body: Option<String>,
    /// The response body's text as recorded (JSON answers), for the key order.
    pub(super) raw_resp: Option<String>,
    pub(super) status: u16,
    pub(super) content_type: Option<String>,
    pub(super) resp: Value,
}

pub(super) fn load() -> Vec<Exchange> {
    std::fs::read_to_string(TRANSCRIPTS)
        .expect("tests/data/mas/transcripts.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            Exchange {
                id: v["id"].as_str().unwrap().into(),
                method: v["request"]["method"].as_str().unwrap().into(),
                path: v["request"]["path"].as_str().unwrap().into(),
                headers: v["request"]["headers"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect(),
                body: v["request"]["body"].clone(),
                raw_body: raw_request_body(l),
                raw_resp: raw_body_after(l, "\"response\": {"),
                status: v["response"]["status"].as_u64().unwrap() as u16,
                content_type: v["response"]["content_type"].as_str().map(String::from),
                resp: v["response"]["body"].clone(),
            }
        })
        .collect()
}

/// The text of `request.body` in a transcript line (written by Python's `json.dumps`), when it
/// is a JSON object.
pub(super) fn raw_request_body(line: &str) -> Option<String> {
    raw_body_after(line, "\"request\": {")
}

/// The text of the JSON object at the first `"body": ` after `anchor`.
pub(super) fn raw_body_after(line: &str, anchor: &str) -> Option<String> {
    let req = line.find(anchor)?;
    let start = req + line[req..].find("\"body\": ")? + "\"body\": ".len();
    let bytes = line.as_bytes();
    if bytes[start] != b'{' {
        return None;
    }
    let (mut depth, mut in_str, mut esc) = (0usize, false, false);
    for (i, &b) in bytes.iter().enumerate().skip(start) {
        if in_str {
            match (esc, b) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(line[start..=i].to_string());
                }
            }
            _ => {}
        }
    }
    None
}

/// The object keys of a JSON text in the order they are written, each with its nesting depth:
/// serde_json's `Value` sorts keys, so the order is checked on the texts.
pub(super) fn keys_in_order(text: &str) -> Vec<(usize, String)> {
    let b = text.as_bytes();
    let (mut out, mut stack, mut i) = (Vec::new(), Vec::<u8>::new(), 0);
    while i < b.len() {
        match b[i] {
            b'{' | b'[' => stack.push(b[i]),
            b'}' | b']' => {
                stack.pop();
            }
            b'"' => {
                let start = i + 1;
                i += 1;
                while b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                let mut j = i + 1;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                if stack.last() == Some(&b'{') && j < b.len() && b[j] == b':' {
                    out.push((stack.len(), text[start..i].to_string()));
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}
