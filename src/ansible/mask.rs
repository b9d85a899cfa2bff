//! Secrets out of every output: the values registered as secrets, in every encoding they may
//! travel in (raw, JSON-escaped, HTML, URL- and form-encoded, Basic, escaped for a message),
//! and the credentials of URLs.

use serde_json::Value;
use std::sync::{Mutex, OnceLock};

/// What replaces a secret found anywhere else in the output (Ansible's `remove_values`).
pub const SCRUBBED: &str = "********";
/// Secrets shorter than this are not scrubbed from free text: masking every "abc" in a message
/// would hide more than it protects. They are still masked in `invocation`.
const MIN_SCRUB_LEN: usize = 4;

/// Secrets seen by this process: no_log arguments and secrets read from files. Global so that the
/// panic hook can scrub them too.
fn masked_values() -> &'static Mutex<Vec<String>> {
    static SECRETS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| Mutex::new(Vec::new()))
}

/// Registers a secret so that it never appears in the module's output: the value itself and the
/// forms a server or this module may echo it in (JSON-escaped, also with `\uXXXX` for non-ASCII
/// as Python writes it, HTML- and URL-encoded, and escaped for a message).
pub fn register_secret(s: &str) {
    if s.is_empty() {
        return;
    }
    let mut list = masked_values().lock().unwrap_or_else(|e| e.into_inner());
    for form in secret_forms(s) {
        if !list.contains(&form) {
            list.push(form);
        }
    }
    // Longest first, so a secret containing another is replaced whole.
    list.sort_by_key(|x| std::cmp::Reverse(x.len()));
}

/// The spellings of a secret that may appear in text: raw and escaped.
fn secret_forms(s: &str) -> Vec<String> {
    let json = serde_json::to_string(s).unwrap_or_default();
    let json = json.trim_matches('"').to_string();
    let mut ascii = String::new();
    for c in json.chars() {
        if c.is_ascii() {
            ascii.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                ascii.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    let html = s
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;");
    let html39 = html.replace("&#x27;", "&#39;");
    let pct: String = s
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    // application/x-www-form-urlencoded: as the URL encoding, with `+` for a space; and both
    // with lower-case hex digits, as some servers echo them.
    let form = pct.replace("%20", "+");
    let lower_hex = |t: &str| {
        let mut out = String::with_capacity(t.len());
        let mut rest = t;
        while let Some(i) = rest.find('%') {
            out.push_str(&rest[..=i]);
            let hex: String = rest[i + 1..].chars().take(2).collect();
            out.push_str(&hex.to_ascii_lowercase());
            rest = &rest[i + 1 + hex.len()..];
        }
        out.push_str(rest);
        out
    };
    let pct_lower = lower_hex(&pct);
    let form_lower = lower_hex(&form);
    let mut forms = vec![
        s.to_string(),
        json,
        ascii,
        html,
        html39,
        pct,
        form,
        pct_lower,
        form_lower,
        escape_text(s),
    ];
    let upper = ascii_upper_escapes(&forms[2]);
    forms.push(upper);
    forms.sort();
    forms.dedup();
    forms
}

/// `\u00e4` -> `\u00E4`: some servers write hex digits in upper case.
fn ascii_upper_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("\\u") {
        out.push_str(&rest[..i + 2]);
        let hex: String = rest[i + 2..].chars().take(4).collect();
        out.push_str(&hex.to_ascii_uppercase());
        rest = &rest[i + 2 + hex.len()..];
    }
    out.push_str(rest);
    out
}

/// Replaces every registered secret in every string of `v` (recursively).
pub fn scrub(v: &mut Value) {
    let list = masked_values()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    scrub_with(v, &list);
}

fn scrub_with(v: &mut Value, list: &[String]) {
    match v {
        Value::String(s) => {
            for secret in list.iter().filter(|x| x.len() >= MIN_SCRUB_LEN) {
                if s.contains(secret.as_str()) {
                    *s = s.replace(secret.as_str(), SCRUBBED);
                }
            }
            if let std::borrow::Cow::Owned(masked) = mask_url_credentials(s) {
                *s = masked;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| scrub_with(i, list)),
        Value::Object(map) => map.values_mut().for_each(|i| scrub_with(i, list)),
        _ => {}
    }
}

/// Removes every registered secret from a text about to be cut for an excerpt, including a
/// secret already cut short at its end (the first bytes of a secret end the text).
pub fn scrub_text(s: &str) -> String {
    let list = masked_values()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let mut v = Value::String(s.to_string());
    scrub_with(&mut v, &list);
    let Value::String(mut s) = v else {
        return String::new();
    };
    for secret in list.iter().filter(|x| x.len() > MIN_SCRUB_LEN) {
        let max = (secret.len() - 1).min(s.len());
        let cut = (MIN_SCRUB_LEN..=max)
            .rev()
            .filter(|n| secret.is_char_boundary(*n))
            .find(|n| s.ends_with(&secret[..*n]));
        if let Some(n) = cut {
            let keep = s.len() - n;
            s.truncate(keep);
            s.push_str(SCRUBBED);
        }
    }
    s
}

/// Masks the credentials of every URL in a text (`http://user:pass@host` becomes
/// `http://********@host`), textually, so that a URL that cannot be parsed is masked too.
pub fn mask_url_credentials(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains("://") || !s.contains('@') {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut changed = false;
    while let Some(i) = rest.find("://") {
        let database = names_a_role(&rest[..i]);
        out.push_str(&rest[..i + 3]);
        rest = &rest[i + 3..];
        let end = rest.find(['/', '?', '#', '"', '\'']).unwrap_or(rest.len());
        if let Some(at) = rest[..end].rfind('@') {
            match (database, rest[..at].split_once(':')) {
                // A database URL's user is a name, not a secret: only its password is one.
                (true, Some((user, _))) => {
                    out.push_str(user);
                    out.push(':');
                    out.push_str(SCRUBBED);
                    changed = true;
                }
                (true, None) => out.push_str(&rest[..at]),
                (false, _) => {
                    out.push_str(SCRUBBED);
                    changed = true;
                }
            }
            rest = &rest[at..];
        }
    }
    out.push_str(rest);
    if changed {
        std::borrow::Cow::Owned(out)
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// Whether the text before `://` ends in a database URL scheme (`postgresql`, `postgres`), whose
/// user part is a role name rather than a token.
fn names_a_role(before: &str) -> bool {
    let scheme = before
        .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.'))
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    scheme == "postgresql" || scheme == "postgres"
}

/// The credentials part of every URL in a text (`user:pass` of `http://user:pass@host`), to be
/// registered as secrets.
pub(super) fn url_credentials(s: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("://") {
        let database = names_a_role(&rest[..i]);
        rest = &rest[i + 3..];
        let end = rest.find(['/', '?', '#', '"', '\'']).unwrap_or(rest.len());
        if let Some(at) = rest[..end].rfind('@') {
            let userinfo = &rest[..at];
            if !database {
                found.push(userinfo.to_string());
            }
            if let Some((_, pw)) = userinfo.split_once(':') {
                found.push(pw.to_string());
            }
        }
    }
    found
}

/// Escapes control, bidirectional and other invisible characters, so that a message shows what
/// is there and cannot reorder or hide its own text.
pub fn escape_text(s: &str) -> String {
    if !s.chars().any(needs_escape) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if needs_escape(c) {
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c as u32,
            0x061C | 0x200B..=0x200F | 0x202A..=0x202E | 0x2028 | 0x2029 | 0x2060..=0x2069 | 0xFEFF)
}

/// Credentials embedded in a URL anywhere in the arguments are secrets, also in a URL that
/// cannot be parsed.
pub(super) fn register_url_credentials(v: &Value) {
    match v {
        Value::String(s) => url_credentials(s).iter().for_each(|c| register_secret(c)),
        Value::Array(a) => a.iter().for_each(register_url_credentials),
        Value::Object(o) => o.values().for_each(register_url_credentials),
        _ => {}
    }
}

pub(super) fn register_value(v: &Value) {
    match v {
        Value::String(s) => register_secret(s),
        Value::Number(n) => register_secret(&n.to_string()),
        Value::Array(a) => a.iter().for_each(register_value),
        Value::Object(o) => o.values().for_each(register_value),
        _ => {}
    }
}
