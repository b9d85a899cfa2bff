//! The replay: the recorded requests sent to a fresh fake, in order.

use super::compare::Binding;
use super::recording::{keys_in_order, Exchange};
use super::{expected_differently, RECORDED_ADMIN_CLIENT, RECORDED_PLAIN_CLIENT};
use crate::common::fake_mas::FakeMas;
use serde_json::{json, Value};
use std::collections::HashMap;

pub(super) struct Replay {
    pub(super) fake: FakeMas,
    pub(super) http: reqwest::blocking::Client,
    pub(super) bind: Binding,
    /// access tokens the replay obtained, by the id of the exchange that got them
    pub(super) tokens: HashMap<String, String>,
    pub(super) admin_token: String,
    pub(super) strong_password: String,
}

pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) content_type: Option<String>,
    pub(super) text: String,
}

impl Replay {
    pub(super) fn basic(id: &str, secret: &str) -> String {
        use std::io::Write;
        let mut raw = Vec::new();
        write!(raw, "{id}:{secret}").unwrap();
        format!("Basic {}", base64(&raw))
    }

    pub(super) fn authorization(&self, placeholder: &str) -> String {
        let f = &self.fake;
        match placeholder {
            "Bearer <admin token>" => format!("Bearer {}", self.admin_token),
            "Basic <client credentials>" => Self::basic(&f.admin_client_id, &f.admin_client_secret),
            "Basic <admin client id, wrong secret>" => {
                Self::basic(&f.admin_client_id, "not-the-secret")
            }
            "Basic <unknown client id (ULID) and a secret>" => {
                Self::basic("01JUNKN0WNC11ENT000000000A", &f.admin_client_secret)
            }
            "Basic <client id 'my-admin-client' and a secret>" => {
                Self::basic("my-admin-client", &f.admin_client_secret)
            }
            "Basic <non-admin client credentials>" => Self::basic(&f.client_id, &f.client_secret),
            "Bearer <token without urn:mas:admin scope>" => {
                format!("Bearer {}", self.tokens["token-no-scope"])
            }
            "Bearer <token with scope openid>" => {
                format!("Bearer {}", self.tokens["token-scope-openid"])
            }
            "Bearer <admin token from token-for-revoke>"
            | "Bearer <revoked admin token from token-for-revoke>" => {
                format!("Bearer {}", self.tokens["token-for-revoke"])
            }
            other if other.contains('<') => panic!("unknown placeholder {other:?}"),
            literal => literal.to_string(),
        }
    }

    pub(super) fn body_value(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(match s.as_str() {
                "<client secret>" => self.fake.admin_client_secret.clone(),
                "<access token from token-for-revoke>" => self.tokens["token-for-revoke"].clone(),
                "<password>" | "<strong password>" => self.strong_password.clone(),
                "<weak password>" => "abc".to_string(),
                RECORDED_ADMIN_CLIENT => self.fake.admin_client_id.clone(),
                RECORDED_PLAIN_CLIENT => self.fake.client_id.clone(),
                other if other.starts_with('<') => panic!("unknown placeholder {other:?}"),
                other => self.bind.substitute(other),
            }),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), self.body_value(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// The recorded request text with placeholders and bound ULIDs replaced.
    pub(super) fn raw_body(&self, raw: &str) -> String {
        let mut out = self.bind.substitute(raw);
        let strong = self.strong_password.as_str();
        for (placeholder, value) in [
            ("<client secret>", self.fake.admin_client_secret.as_str()),
            ("<password>", strong),
            ("<strong password>", strong),
            ("<weak password>", "abc"),
            (
                "<access token from token-for-revoke>",
                self.tokens
                    .get("token-for-revoke")
                    .map_or("", String::as_str),
            ),
        ] {
            out = out.replace(
                &format!("\"{placeholder}\""),
                &serde_json::to_string(value).unwrap(),
            );
        }
        assert!(!out.contains("\"<"), "unknown placeholder in {raw}");
        out
    }

    pub(super) fn send(&self, base: &str, x: &Exchange, authorization: Option<String>) -> Answer {
        let url = format!("{base}{}", self.bind.substitute(&x.path));
        let mut req = self.http.request(x.method.parse().unwrap(), url);
        for (k, v) in &x.headers {
            if k == "Authorization" {
                continue;
            }
            req = req.header(k.as_str(), v.as_str());
        }
        if let Some(a) = authorization {
            req = req.header("Authorization", a);
        }
        let form = x.headers.get("Content-Type").map(String::as_str)
            == Some("application/x-www-form-urlencoded");
        match &x.body {
            Value::Null => {}
            Value::String(raw) => req = req.body(raw.clone()),
            v => {
                let v = self.body_value(v);
                req = if form {
                    let pairs: Vec<(String, String)> = v
                        .as_object()
                        .unwrap()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                        .collect();
                    req.body(
                        url::form_urlencoded::Serializer::new(String::new())
                            .extend_pairs(pairs)
                            .finish(),
                    )
                } else {
                    let raw = self.raw_body(x.raw_body.as_deref().unwrap());
                    assert_eq!(
                        serde_json::from_str::<Value>(&raw).unwrap(),
                        v,
                        "{}: raw body",
                        x.id
                    );
                    req.body(raw)
                };
            }
        }
        let r = req.send().unwrap();
        Answer {
            status: r.status().as_u16(),
            content_type: r
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string()),
            text: r.text().unwrap(),
        }
    }

    /// Compares an answer with the recorded one (or with the documented real-MAS answer).
    pub(super) fn check(&mut self, x: &Exchange, a: &Answer) -> Result<(), String> {
        if let Some((status, ctype, why)) = expected_differently(&x.id) {
            if a.status != status
                || !a.content_type.as_deref().unwrap_or("").starts_with(ctype)
                || a.text.is_empty()
            {
                return Err(format!(
                    "expected {status} {ctype} ({why}), got {} {:?}: {}",
                    a.status, a.content_type, a.text
                ));
            }
            if x.id == "token-scope-cs-api" {
                let v: Value = serde_json::from_str(&a.text).map_err(|e| e.to_string())?;
                let want = json!({"error": "invalid_scope",
                    "error_description": "scope 'urn:matrix:client:api:*' not allowed"});
                if v != want {
                    return Err(format!("{v} instead of {want}"));
                }
            }
            return Ok(());
        }
        if a.status != x.status {
            return Err(format!(
                "status {} recorded, {} from the fake: {}",
                x.status, a.status, a.text
            ));
        }
        if a.content_type != x.content_type {
            return Err(format!(
                "content type {:?} recorded, {:?} from the fake",
                x.content_type, a.content_type
            ));
        }
        match x.content_type.as_deref() {
            Some("application/json") => {
                let v: Value = serde_json::from_str(&a.text)
                    .map_err(|e| format!("not JSON ({e}): {}", a.text))?;
                self.bind.compare("", &x.resp, &v, "body")?;
                let rk = keys_in_order(x.raw_resp.as_deref().unwrap());
                let fk = keys_in_order(&a.text);
                if rk != fk {
                    return Err(format!("key order {rk:?} recorded, {fk:?} from the fake"));
                }
                Ok(())
            }
            Some(_) => {
                // axum/serde rejections, positions included: the request bodies are sent
                // byte for byte as recorded.
                if x.resp.as_str() != Some(a.text.as_str()) {
                    return Err(format!(
                        "text {:?} recorded, {:?} from the fake",
                        x.resp, a.text
                    ));
                }
                Ok(())
            }
            None => {
                if a.text.is_empty() {
                    Ok(())
                } else {
                    Err(format!("empty body recorded, {:?} from the fake", a.text))
                }
            }
        }
    }

    /// What the recording did outside the admin API, done through the admin API instead.
    pub(super) fn setup(&self, id: &str) {
        if id == "users-by-username-bob-after-cli" {
            // cli.md: `mas-cli manage register-user --admin bob`, `promote-admin bob`,
            // `demote-admin bob`: bob exists, no longer admin.
            let (s, v) = self.fake.admin(
                "POST",
                "/api/admin/v1/users",
                Some(&json!({"username": "bob"})),
            );
            assert_eq!(s, 201, "{v}");
            let bob = v["data"]["id"].as_str().unwrap().to_string();
            for admin in [true, true, false] {
                let (s, v) = self.fake.admin(
                    "POST",
                    &format!("/api/admin/v1/users/{bob}/set-admin"),
                    Some(&json!({ "admin": admin })),
                );
                assert_eq!(s, 200, "{v}");
            }
        }
    }
}

pub(super) fn base64(data: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
