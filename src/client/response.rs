//! What a server answered: status, JSON body or an excerpt of anything else, the typed
//! [`Refusal`] code decides on, and the words a message uses for an answer that is not the one
//! the API promises.

use crate::ansible::{escape_text, scrub_text, Error, Result};
use crate::fail;
use reqwest::StatusCode;
use serde_json::{Map, Value};

/// How many bytes of an unexpected answer a message shows.
const EXCERPT: usize = 120;

#[derive(Debug, Clone)]
pub struct Response {
    pub status: StatusCode,
    pub body: Value,
    /// The first bytes of a body that was not JSON, secrets removed and escaped, for messages.
    pub text: String,
    /// The `Content-Type` the server sent ("" if none).
    pub content_type: String,
    /// The body's length in bytes.
    pub len: usize,
    /// `METHOD url` of the request, for messages (never a query string).
    pub request: String,
    /// The option whose URL was used, for messages.
    pub url_option: String,
}

/// Why a server refused a request, where code decides on it; the operator's message is built
/// from this by the API that sent the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 429: try later, or do without (an optional look-up).
    RateLimited,
    /// 401: the credentials are unknown, expired or logged out.
    Unauthorized,
    /// 403.
    Forbidden,
    /// 404 with a body that says the thing asked for does not exist (`M_NOT_FOUND`).
    NotFound,
    /// 404 `M_UNRECOGNIZED` or 405, or a 404 without a Matrix body: the server does not serve
    /// this endpoint at all (another server, a proxy, an API switched off).
    NotServed,
    /// Any other refusal.
    Other,
}

impl Response {
    /// The body of a success, which must be a JSON object: anything else (a web page, an empty
    /// body, a list) is not the answer of the API asked, and fails with what did answer.
    pub fn object(&self, action: &str) -> Result<&Map<String, Value>> {
        match &self.body {
            Value::Object(m) => Ok(m),
            _ => Err(self.unexpected(action, "a JSON object")),
        }
    }

    /// A string field of a success's JSON object.
    pub fn str_field(&self, action: &str, field: &str) -> Result<&str> {
        let obj = self.object(action)?;
        obj.get(field).and_then(Value::as_str).ok_or_else(|| {
            self.unexpected(
                action,
                &format!("a JSON object with the string field '{field}'"),
            )
        })
    }

    /// What answered instead of the API: status, content type and the first bytes, escaped.
    pub fn what_answered(&self) -> String {
        let ctype = if self.content_type.is_empty() {
            "no content type".to_string()
        } else {
            format!("content type '{}'", escape_text(&self.content_type))
        };
        let body = if self.len == 0 {
            "an empty body".to_string()
        } else if self.body.is_null() {
            format!("{} bytes starting '{}'", self.len, self.text)
        } else {
            // Secrets out of every string first (a server may echo one JSON-escaped inside a
            // string), then out of the serialised text.
            let mut body = self.body.clone();
            crate::ansible::scrub(&mut body);
            let json = scrub_text(&body.to_string());
            let shown: String = json.chars().take(EXCERPT).collect();
            let more = if shown.len() < json.len() { "..." } else { "" };
            format!("JSON {}{more}", escape_text(&shown))
        };
        format!("HTTP {} with {ctype} and {body}", self.status.as_u16())
    }

    /// A failure for an answer that is not the shape the API promises.
    pub fn unexpected(&self, action: &str, expected: &str) -> Error {
        let option = &self.url_option;
        if self.status.is_server_error() {
            return fail!(
                "{action}: {} answered {}, not {expected}: the server, or a proxy in front of it, failed. Check that the server behind {option} is running",
                self.request,
                self.what_answered()
            );
        }
        let hint = if option == "api_url" {
            "the URL of the service itself (Matrix Authentication Service's, or the one matrix-registration is served at, e.g. https://matrix.example.org/matrix-registration)"
        } else {
            "the homeserver's client API (e.g. http://127.0.0.1:8008 or https://matrix.example.org), not a web client such as Element or a proxy's default page"
        };
        fail!(
            "{action}: {} answered {}, not {expected}; nothing was counted as done. Check {option}: it must be {hint}",
            self.request,
            self.what_answered()
        )
    }

    pub fn is_success(&self) -> bool {
        self.status.is_success()
    }
    /// The refusal, or None for a success.
    pub fn refusal(&self) -> Option<Refusal> {
        if self.is_success() {
            return None;
        }
        Some(match (self.status.as_u16(), self.errcode()) {
            (429, _) => Refusal::RateLimited,
            (401, _) => Refusal::Unauthorized,
            (403, _) => Refusal::Forbidden,
            (404, Some("M_NOT_FOUND")) => Refusal::NotFound,
            (404, _) | (405, _) => Refusal::NotServed,
            _ => Refusal::Other,
        })
    }
    /// The Matrix `errcode`, if the body has one.
    pub fn errcode(&self) -> Option<&str> {
        self.body.get("errcode").and_then(Value::as_str)
    }
    /// The Matrix `error` text, if the body has one as a string.
    pub fn error_text(&self) -> Option<&str> {
        self.body.get("error").and_then(Value::as_str)
    }
    /// A short description for failure messages: `HTTP 403 M_FORBIDDEN: You are not a server admin`.
    pub fn summary(&self) -> String {
        let mut s = format!("HTTP {}", self.status.as_u16());
        if let Some(code) = self.errcode() {
            s.push(' ');
            s.push_str(code);
        }
        match self.body.get("error") {
            Some(Value::String(e)) => {
                s.push_str(": ");
                s.push_str(e);
            }
            Some(other) if !other.is_null() => {
                s.push_str(": ");
                s.push_str(&other.to_string());
            }
            _ => {
                if self.body.is_null() && !self.text.trim().is_empty() {
                    s.push_str(": ");
                    s.push_str(self.text.trim());
                }
            }
        }
        s
    }

    /// Whether the body is the JSON of a Matrix error (`errcode`), i.e. the server is a Matrix
    /// server and not a proxy answering for it.
    pub fn is_matrix_error(&self) -> bool {
        self.errcode().is_some()
    }
}

/// The first bytes of a body for a message: secrets removed before it is cut (so no part of
/// one survives at the cut), then control and bidirectional characters escaped.
pub(super) fn excerpt(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(64 * 1024)];
    let text = scrub_text(&String::from_utf8_lossy(head));
    let cut: String = text.chars().take(EXCERPT).collect();
    let more = if cut.len() < text.len() || head.len() < bytes.len() {
        "..."
    } else {
        ""
    };
    format!("{}{more}", escape_text(&cut))
}
