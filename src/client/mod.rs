//! The one HTTP client every module uses: connection options, retries with backoff on transient
//! failures, and Matrix error bodies turned into readable messages.
//!
//! Secrets never go into URLs (they travel in headers and bodies), and no URL with a query string
//! is ever printed, so an error message cannot carry one.
//!
//! Secrets go only where they were meant to go: no redirect is ever followed (every request of
//! these modules carries a secret, or leads to one that does), so a redirect is reported with
//! its target instead, and an https base URL never falls back to plain http. Answers are read up
//! to [`MAX_BODY`] bytes, and a success counts only in the shape its API promises: see
//! [`Response::object`].
//!
//! - [`url`]: base URLs and path segments;
//! - [`paging`]: the bounds of every paged listing;
//! - [`response`]: answers, refusals and the words for an unexpected answer;
//! - this file: the client, its requests and retries. TLS is [`crate::tls`], shared with the
//!   database connection.

pub mod paging;
pub mod response;
pub mod url;

pub use response::{Refusal, Response};
pub use url::{encode_segment, parse_base_url};

use crate::ansible::{escape_text, Error, Result};
use crate::fail;
use reqwest::blocking::Client as HttpClient;
use reqwest::{Method, Url};
use response::excerpt;
use serde_json::Value;
use std::io::Read;
use std::time::{Duration, Instant};
use url::is_loopback;

/// The largest answer read, in bytes: far above any Matrix or matrix-registration answer these
/// modules ask for (a list of ten thousand tokens is a few MiB).
pub const MAX_BODY: u64 = 32 << 20;

/// How to reach a server: built from the connection options (the modules' `args`).
#[derive(Debug, Clone)]
pub struct Connection {
    pub base: Url,
    /// The option the base URL came from (`homeserver_url`, `api_url`), for messages.
    pub url_option: String,
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
            .tls_built_in_root_certs(https)
            // Never follow a redirect: every request carries a secret or leads to one that does.
            .redirect(reqwest::redirect::Policy::none())
            .https_only(https);
        if is_loopback(&conn.base) {
            // A proxy from the environment must never intercept a call to this very host.
            builder = builder.no_proxy();
        }
        if !conn.validate_certs && https {
            crate::ansible::warn(format!(
                "validate_certs is false: the TLS certificate of {} is not checked, so anyone on the way can read the secrets sent to it; give the server's certificate in ca_path instead",
                conn.base.as_str().trim_end_matches('/')
            ));
            builder = builder.danger_accept_invalid_certs(true);
        }
        if let (Some(path), true) = (&conn.ca_path, conn.validate_certs) {
            let pem = crate::ansible::read_regular_file(path, 4 << 20)
                .map_err(|e| fail!("cannot read ca_path {}: {e}", escape_text(path)))?;
            let what = format!("ca_path {}", escape_text(path));
            let pinned = crate::tls::pem_certificates(&what, &pem)?;
            let mut roots = crate::tls::roots(&pinned, false);
            if roots.is_empty() {
                return Err(fail!(
                    "{what}: none of its certificates can be used (they cannot be parsed)"
                ));
            }
            for c in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(c);
            }
            builder = builder.use_preconfigured_tls(crate::tls::client_config(
                &what,
                crate::tls::Check::FullOrPinned,
                roots,
                pinned,
            )?);
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
        // One deadline for the request, retries included: connect, headers and body alike.
        let deadline = started + self.conn.timeout;
        let mut attempt: u32 = 0;
        loop {
            let outcome = self.send_once(method.clone(), &url, auth, &body, deadline);
            let retry_in = match &outcome {
                Ok((r, _)) if r.status.as_u16() == 429 && !wait_out_429 => None,
                Ok((r, _)) => retry_delay_for_status(r, idempotent, attempt),
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
                        Ok((r, location)) if r.status.is_redirection() => {
                            Err(self.redirect_error(&r, location.as_deref()))
                        }
                        Ok((r, _)) => Ok(r),
                        Err(e) => Err(self.transport_error(&method, path, &e, attempt + 1)),
                    }
                }
            }
        }
    }

    /// One request; the response, and its `Location` for a redirect.
    fn send_once(
        &self,
        method: Method,
        url: &str,
        auth: Auth<'_>,
        body: &Body<'_>,
        deadline: Instant,
    ) -> std::result::Result<(Response, Option<String>), SendError> {
        let request = format!("{method} {}", url.split('?').next().unwrap_or(url));
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(SendError::Deadline);
        }
        let mut req = self.http.request(method, url).timeout(left);
        req = match auth {
            Auth::None => req,
            Auth::Bearer(t) => req.bearer_auth(t),
            Auth::SharedSecret(s) => req.header("Authorization", format!("SharedSecret {s}")),
            Auth::Basic(id, secret) => {
                // The header carries base64(id:secret): that form is a secret too.
                crate::ansible::register_secret(&basic_credentials(id, secret));
                req.basic_auth(id, Some(secret))
            }
        };
        req = match body {
            Body::Empty => req,
            Body::Json(v) => req.json(v),
            Body::Form(f) => req.form(f),
        };
        let resp = req.send().map_err(SendError::Http)?;
        let status = resp.status();
        let header = |name: reqwest::header::HeaderName| {
            resp.headers()
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        let content_type = header(reqwest::header::CONTENT_TYPE).unwrap_or_default();
        let location = header(reqwest::header::LOCATION);
        if resp.content_length().is_some_and(|n| n > MAX_BODY) {
            return Err(SendError::TooLarge {
                request,
                announced: resp.content_length(),
            });
        }
        // Read in pieces, so that an answer trickling in ends at the deadline too.
        let mut bytes = Vec::new();
        let mut body_reader = resp.take(MAX_BODY + 1);
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if Instant::now() >= deadline {
                return Err(SendError::Deadline);
            }
            match body_reader.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => bytes.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(SendError::Read(e)),
            }
        }
        if bytes.len() as u64 > MAX_BODY {
            return Err(SendError::TooLarge {
                request,
                announced: None,
            });
        }
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let text = if body.is_null() {
            excerpt(&bytes)
        } else {
            String::new()
        };
        Ok((
            Response {
                status,
                body,
                text,
                content_type,
                len: bytes.len(),
                request,
                url_option: self.conn.url_option.clone(),
            },
            location,
        ))
    }

    /// A redirect, reported instead of followed.
    fn redirect_error(&self, r: &Response, location: Option<&str>) -> Error {
        let option = &self.conn.url_option;
        let Some(loc) = location else {
            return fail!(
                "{} answered with a redirect (HTTP {}) without a target; it was not followed. Check {option}",
                r.request,
                r.status.as_u16()
            );
        };
        // The target as the client would have resolved it, without credentials or query.
        let target = Url::parse(&r.request[r.request.find(' ').map_or(0, |i| i + 1)..])
            .ok()
            .and_then(|u| u.join(loc).ok());
        let shown = match &target {
            Some(t) => {
                let mut t = t.clone();
                let _ = t.set_username("");
                let _ = t.set_password(None);
                t.set_query(None);
                t.set_fragment(None);
                t.to_string()
            }
            None => crate::ansible::mask_url_credentials(loc.split('?').next().unwrap_or(loc))
                .into_owned(),
        };
        let downgrade = self.conn.base.scheme() == "https"
            && target.as_ref().is_some_and(|t| t.scheme() == "http");
        let why = if downgrade {
            "from https to plain http, which would expose the request's secrets"
        } else {
            "which is not followed, since the request carries secrets that must go only to the server named in the options"
        };
        fail!(
            "{} answered with a redirect (HTTP {}) to {}, {why}; nothing was sent there. If that address is your server, set {option} to it",
            r.request,
            r.status.as_u16(),
            escape_text(&shown)
        )
    }

    fn transport_error(&self, method: &Method, path: &str, e: &SendError, attempts: u32) -> Error {
        let e = match e {
            SendError::Http(e) => e,
            SendError::Deadline => {
                return fail!(
                    "{method} {}{path}: no complete answer within {} s (timeout, retries included); nothing from it was counted. Check that the server behind {} is running and answering",
                    self.conn.base.as_str().trim_end_matches('/'),
                    self.conn.timeout.as_secs(),
                    self.conn.url_option
                )
            }
            SendError::Read(io) => {
                return fail!(
                    "{method} {}{path}: reading the answer failed: {}",
                    self.conn.base.as_str().trim_end_matches('/'),
                    error_chain(io)
                )
            }
            SendError::TooLarge { request, announced } => {
                let size = announced.map_or_else(
                    || format!("more than {MAX_BODY} bytes"),
                    |n| format!("{n} bytes"),
                );
                return fail!(
                    "{request} answered with {size}, more than the {} MiB any answer of this API may be; it was not read. Check {}: it must be the server's API, not a file or stream",
                    MAX_BODY >> 20,
                    self.conn.url_option
                );
            }
        };
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
            "{method} {}{path} failed{tries}: {what}. Check that the server is running and that {} points at it",
            self.conn.base.as_str().trim_end_matches('/'),
            self.conn.url_option
        )
    }
}

/// Why no response came.
#[derive(Debug)]
enum SendError {
    Http(reqwest::Error),
    Read(std::io::Error),
    /// The request's deadline (`timeout`) passed before the whole answer was read.
    Deadline,
    TooLarge {
        request: String,
        announced: Option<u64>,
    },
}

impl SendError {
    fn is_connect(&self) -> bool {
        matches!(self, SendError::Http(e) if e.is_connect())
    }
    fn is_timeout(&self) -> bool {
        match self {
            SendError::Http(e) => e.is_timeout(),
            SendError::Read(e) => e.kind() == std::io::ErrorKind::TimedOut,
            SendError::Deadline => true,
            SendError::TooLarge { .. } => false,
        }
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

/// What an `Authorization: Basic` header carries: base64 of `id:secret`.
pub fn basic_credentials(id: &str, secret: &str) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{id}:{secret}");
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].iter().enumerate() {
            if i <= chunk.len() {
                out.push(TABLE[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250u64.saturating_mul(1 << attempt.min(6)))
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
#[path = "tests.rs"]
mod tests;
