//! The one HTTP client every module uses: connection options, retries with backoff on transient
//! failures, and Matrix error bodies turned into readable messages.
//!
//! Secrets never go into URLs (they travel in headers and bodies), and no URL with a query string
//! is ever printed, so an error message cannot carry one.

use crate::ansible::{Error, Result};
use crate::fail;
use reqwest::blocking::Client as HttpClient;
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;
use std::time::{Duration, Instant};

/// How to reach a server: built from the connection options by [`crate::args`].
#[derive(Debug, Clone)]
pub struct Connection {
    pub base: Url,
    pub validate_certs: bool,
    pub ca_path: Option<String>,
    pub timeout: Duration,
    pub retries: u32,
}

impl Connection {
    pub fn client(&self) -> Result<Client> {
        Client::new(self.clone())
    }
}

/// Checks a base URL: http(s), a host, no credentials, query or fragment.
pub fn parse_base_url(option: &str, url: &str) -> Result<Url> {
    let parsed = Url::parse(url.trim()).map_err(|e| {
        fail!("{option} is not a valid URL ({e}): expected e.g. http://127.0.0.1:8008")
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(fail!(
            "{option} must start with http:// or https://, got scheme '{}'",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(fail!("{option} has no host name"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // Never echo the URL here: it holds credentials.
        return Err(fail!(
            "{option} must not contain credentials; use the module's secret options instead"
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(fail!("{option} must not have a query string or fragment"));
    }
    Ok(parsed)
}

/// Percent-encodes one URL path segment (user IDs, token names): everything but RFC 3986
/// unreserved characters, so `/`, `..`, `?` and `%` can never change the path.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    // A segment of only dots would still be a dot-segment: encode them too.
    if !out.is_empty() && out.bytes().all(|b| b == b'.') {
        out = out.replace('.', "%2E");
    }
    out
}

/// How a request authenticates.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    None,
    /// `Authorization: Bearer <token>` (Matrix access tokens, MAS tokens).
    Bearer(&'a str),
    /// `Authorization: SharedSecret <secret>` (matrix-registration's admin API).
    SharedSecret(&'a str),
    /// `Authorization: Basic` with a client id and secret (OAuth2 `client_secret_basic`, MAS).
    Basic(&'a str, &'a str),
}

/// A response: status and body parsed as JSON when it is JSON.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: StatusCode,
    pub body: Value,
    /// The first bytes of a body that was not JSON, for messages.
    pub text: String,
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
    pub fn describe(&self) -> String {
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
}

/// A request body.
#[derive(Debug, Clone)]
pub enum Body<'a> {
    Empty,
    Json(&'a Value),
    Form(&'a [(&'a str, &'a str)]),
}

/// A blocking client bound to one server.
#[derive(Debug, Clone)]
pub struct Client {
    http: HttpClient,
    conn: Connection,
}

impl Client {
    pub fn new(conn: Connection) -> Result<Client> {
        let https = conn.base.scheme() == "https";
        let mut builder = HttpClient::builder()
            .timeout(conn.timeout)
            .connect_timeout(conn.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!(
                env!("CARGO_PKG_NAME"),
                "/",
                env!("CARGO_PKG_VERSION")
            ))
            // Loading the system CA store costs milliseconds on every task; plain http never needs it.
            .tls_built_in_root_certs(https);
        if is_loopback(&conn.base) {
            // A proxy from the environment must never intercept a call to this very host.
            builder = builder.no_proxy();
        }
        if !conn.validate_certs {
            builder = builder.danger_accept_invalid_certs(true);
        }
        if let Some(path) = &conn.ca_path {
            let pem = std::fs::read(path).map_err(|e| fail!("cannot read ca_path {path}: {e}"))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| fail!("ca_path {path} is not a PEM certificate bundle: {e}"))?;
            if certs.is_empty() {
                return Err(fail!("ca_path {path} holds no PEM certificate"));
            }
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let http = builder
            .build()
            .map_err(|e| fail!("cannot set up the HTTP client: {}", error_chain(&e)))?;
        Ok(Client { http, conn })
    }

    pub fn base(&self) -> &Url {
        &self.conn.base
    }

    /// The URL for `path` (which starts with `/` and is already encoded) under the base URL,
    /// keeping a base path prefix such as `/matrix-registration`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.conn.base.as_str().trim_end_matches('/'), path)
    }

    /// Sends a request, retrying transient failures: connection refused, 429 (honouring
    /// `retry_after_ms` and `Retry-After`) and 5xx. A request that is not `idempotent` is retried
    /// on 5xx only where the server cannot have acted (502, 503), never on 500 or 504.
    /// Returns any HTTP response, success or not; Err only when no response came.
    pub fn send(
        &self,
        method: Method,
        path: &str,
        auth: Auth<'_>,
        body: Body<'_>,
        idempotent: bool,
    ) -> Result<Response> {
        self.send_with(method, path, auth, body, idempotent, true)
    }

    /// A GET that is only an optimisation (a look-up the caller can do without): a 429 is
    /// returned at once instead of waited out, so a rate limit never slows a task down.
    pub fn get_unless_limited(&self, path: &str, auth: Auth<'_>) -> Result<Response> {
        self.send_with(Method::GET, path, auth, Body::Empty, true, false)
    }

    fn send_with(
        &self,
        method: Method,
        path: &str,
        auth: Auth<'_>,
        body: Body<'_>,
        idempotent: bool,
        wait_out_429: bool,
    ) -> Result<Response> {
        let url = self.url(path);
        let started = Instant::now();
        let mut attempt: u32 = 0;
        loop {
            let outcome = self.send_once(method.clone(), &url, auth, &body);
            let retry_in = match &outcome {
                Ok(r) if r.status.as_u16() == 429 && !wait_out_429 => None,
                Ok(r) => retry_delay_for_status(r, idempotent, attempt),
                Err(e) if e.is_connect() => Some(backoff(attempt)),
                Err(e) if e.is_timeout() && idempotent => Some(backoff(attempt)),
                Err(_) => None,
            };
            match retry_in {
                Some(delay)
                    if attempt < self.conn.retries
                        && started.elapsed() + delay <= self.conn.timeout =>
                {
                    std::thread::sleep(delay);
                    attempt += 1;
                }
                _ => {
                    return match outcome {
                        Ok(r) => Ok(r),
                        Err(e) => Err(self.transport_error(&method, path, &e, attempt + 1)),
                    }
                }
            }
        }
    }

    fn send_once(
        &self,
        method: Method,
        url: &str,
        auth: Auth<'_>,
        body: &Body<'_>,
    ) -> std::result::Result<Response, reqwest::Error> {
        let mut req = self.http.request(method, url);
        req = match auth {
            Auth::None => req,
            Auth::Bearer(t) => req.bearer_auth(t),
            Auth::SharedSecret(s) => req.header("Authorization", format!("SharedSecret {s}")),
            Auth::Basic(id, secret) => req.basic_auth(id, Some(secret)),
        };
        req = match body {
            Body::Empty => req,
            Body::Json(v) => req.json(v),
            Body::Form(f) => req.form(f),
        };
        let resp = req.send()?;
        let status = resp.status();
        let bytes = resp.bytes()?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let text = if body.is_null() {
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned()
        } else {
            String::new()
        };
        Ok(Response { status, body, text })
    }

    fn transport_error(
        &self,
        method: &Method,
        path: &str,
        e: &reqwest::Error,
        attempts: u32,
    ) -> Error {
        let what = if e.is_connect() {
            if error_chain(e).contains("refused") {
                "connection refused".to_string()
            } else {
                format!("cannot connect: {}", error_chain(e))
            }
        } else if e.is_timeout() {
            format!(
                "no answer within {} s (timeout)",
                self.conn.timeout.as_secs()
            )
        } else {
            error_chain(e)
        };
        let tries = if attempts > 1 {
            format!(" after {attempts} attempts")
        } else {
            String::new()
        };
        // Only the path is shown: it never holds a secret, and a query string is never built.
        fail!(
            "{method} {}{path} failed{tries}: {what}. Check that the server is running and that the URL option points at it",
            self.conn.base.as_str().trim_end_matches('/')
        )
    }
}

/// The delay before retrying after this response, or None if it must not be retried.
fn retry_delay_for_status(r: &Response, idempotent: bool, attempt: u32) -> Option<Duration> {
    let s = r.status.as_u16();
    if s == 429 {
        let ms = r
            .body
            .get("retry_after_ms")
            .and_then(Value::as_u64)
            .map(Duration::from_millis);
        return Some(ms.unwrap_or_else(|| backoff(attempt)));
    }
    let retryable = match s {
        502 | 503 => true,
        500..=599 => idempotent,
        _ => false,
    };
    retryable.then(|| backoff(attempt))
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250u64.saturating_mul(1 << attempt.min(6)))
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// An error with its sources, e.g. "error sending request: connection refused".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    // reqwest names the URL in its messages; keep the message but never a query string.
    match s.find('?') {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn segments_cannot_escape_the_path() {
        assert_eq!(
            encode_segment("@alice:example.org"),
            "%40alice%3Aexample.org"
        );
        assert_eq!(encode_segment("../admin"), "..%2Fadmin");
        assert_eq!(encode_segment(".."), "%2E%2E");
        assert_eq!(encode_segment("a%2Fb"), "a%252Fb");
        assert_eq!(encode_segment("x?y#z"), "x%3Fy%23z");
        assert_eq!(
            encode_segment("TalentSpecialDenmark"),
            "TalentSpecialDenmark"
        );
    }

    #[test]
    fn base_urls_are_checked() {
        assert!(parse_base_url("homeserver_url", "http://127.0.0.1:8008").is_ok());
        assert!(parse_base_url("api_url", "https://m.example.com/matrix-registration").is_ok());
        let e = parse_base_url("homeserver_url", "ftp://x").unwrap_err();
        assert!(e.0.contains("homeserver_url must start with http"), "{e}");
        let e = parse_base_url("homeserver_url", "not a url").unwrap_err();
        assert!(e.0.contains("homeserver_url is not a valid URL"), "{e}");
        let e = parse_base_url("homeserver_url", "http://u:pw-secret@host").unwrap_err();
        assert!(
            !e.0.contains("pw-secret") && e.0.contains("credentials"),
            "{e}"
        );
        let e = parse_base_url("homeserver_url", "http://host/?access_token=x").unwrap_err();
        assert!(e.0.contains("query"), "{e}");
    }

    #[test]
    fn urls_keep_a_path_prefix() {
        let conn = Connection {
            base: parse_base_url("api_url", "https://m.example.com/matrix-registration/").unwrap(),
            validate_certs: true,
            ca_path: None,
            timeout: Duration::from_secs(5),
            retries: 0,
        };
        let c = Client::new(conn).unwrap();
        assert_eq!(
            c.url("/api/token"),
            "https://m.example.com/matrix-registration/api/token"
        );
    }

    fn resp(status: u16, body: Value) -> Response {
        Response {
            status: StatusCode::from_u16(status).unwrap(),
            body,
            text: String::new(),
        }
    }

    #[test]
    fn retry_policy() {
        let r = resp(
            429,
            json!({"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": 1234}),
        );
        assert_eq!(
            retry_delay_for_status(&r, false, 0),
            Some(Duration::from_millis(1234))
        );
        assert!(retry_delay_for_status(&resp(500, Value::Null), true, 0).is_some());
        assert!(retry_delay_for_status(&resp(500, Value::Null), false, 0).is_none());
        assert!(retry_delay_for_status(&resp(503, Value::Null), false, 0).is_some());
        assert!(retry_delay_for_status(&resp(400, Value::Null), true, 0).is_none());
        assert!(retry_delay_for_status(&resp(200, Value::Null), true, 0).is_none());
        assert!(backoff(1) > backoff(0));
    }

    #[test]
    fn refusals_are_typed() {
        assert_eq!(resp(200, json!({})).refusal(), None);
        assert_eq!(
            resp(429, json!({"errcode": "M_LIMIT_EXCEEDED"})).refusal(),
            Some(Refusal::RateLimited)
        );
        assert_eq!(
            resp(401, json!({"errcode": "M_UNKNOWN_TOKEN"})).refusal(),
            Some(Refusal::Unauthorized)
        );
        assert_eq!(
            resp(403, json!({"errcode": "M_FORBIDDEN"})).refusal(),
            Some(Refusal::Forbidden)
        );
        assert_eq!(
            resp(404, json!({"errcode": "M_NOT_FOUND"})).refusal(),
            Some(Refusal::NotFound)
        );
        // A 404 that is not a Matrix "no such thing": the endpoint itself is missing.
        for r in [
            resp(404, json!({"errcode": "M_UNRECOGNIZED"})),
            resp(404, Value::Null),
            resp(405, Value::Null),
        ] {
            assert_eq!(r.refusal(), Some(Refusal::NotServed));
        }
        assert_eq!(resp(500, Value::Null).refusal(), Some(Refusal::Other));
    }

    #[test]
    fn matrix_errors_are_described() {
        let r = resp(
            403,
            json!({"errcode": "M_FORBIDDEN", "error": "You are not a server admin"}),
        );
        assert_eq!(
            r.describe(),
            "HTTP 403 M_FORBIDDEN: You are not a server admin"
        );
        let mut r = resp(502, Value::Null);
        r.text = "Bad Gateway".into();
        assert_eq!(r.describe(), "HTTP 502: Bad Gateway");
    }

    #[test]
    fn connection_refused_is_a_clear_error_after_retries() {
        // A port nobody listens on: bind, learn the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conn = Connection {
            base: parse_base_url("homeserver_url", &format!("http://127.0.0.1:{port}")).unwrap(),
            validate_certs: true,
            ca_path: None,
            timeout: Duration::from_secs(5),
            retries: 2,
        };
        let started = Instant::now();
        let e = Client::new(conn)
            .unwrap()
            .send(Method::GET, "/health", Auth::None, Body::Empty, true)
            .unwrap_err();
        assert!(e.0.contains("connection refused"), "{e}");
        assert!(e.0.contains("after 3 attempts"), "{e}");
        assert!(
            started.elapsed() >= Duration::from_millis(750),
            "backoff must have slept"
        );
    }
}
