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

use crate::ansible::{escape_text, scrub_text, Error, Result};
use crate::fail;
use reqwest::blocking::Client as HttpClient;
use reqwest::{Method, StatusCode, Url};
use serde_json::{Map, Value};
use std::io::Read;
use std::time::{Duration, Instant};

/// The largest answer read, in bytes: far above any Matrix or matrix-registration answer these
/// modules ask for (a list of ten thousand tokens is a few MiB).
pub const MAX_BODY: u64 = 32 << 20;
/// How many bytes of an unexpected answer a message shows.
const EXCERPT: usize = 120;

/// How to reach a server: built from the connection options by [`crate::args`].
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
            "the URL matrix-registration is served at (e.g. https://matrix.example.org/matrix-registration)"
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

    /// Whether the body is the JSON of a Matrix error (`errcode`), i.e. the server is a Matrix
    /// server and not a proxy answering for it.
    pub fn is_matrix_error(&self) -> bool {
        self.errcode().is_some()
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
            builder = builder.use_preconfigured_tls(tls_with_ca_file(path, &pem)?);
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
    ) -> std::result::Result<(Response, Option<String>), SendError> {
        let request = format!("{method} {}", url.split('?').next().unwrap_or(url));
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
        let mut bytes = Vec::new();
        resp.take(MAX_BODY + 1)
            .read_to_end(&mut bytes)
            .map_err(SendError::Read)?;
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
            SendError::TooLarge { .. } => false,
        }
    }
}

/// The first bytes of a body for a message: secrets removed before it is cut (so no part of
/// one survives at the cut), then control and bidirectional characters escaped.
fn excerpt(bytes: &[u8]) -> String {
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

/// A TLS configuration that trusts the system's CAs plus the certificates of `ca_path`, and
/// also accepts a server that presents exactly one of those certificates: the self-signed
/// certificate `openssl req -x509` makes is marked as a CA, which webpki refuses to see as a
/// server's own certificate, while curl --cacert accepts it.
fn tls_with_ca_file(path: &str, pem: &[u8]) -> Result<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let shown = escape_text(path);
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| fail!("ca_path {shown} is not a PEM certificate bundle: {e:?}"))?;
    if certs.is_empty() {
        return Err(fail!("ca_path {shown} holds no PEM certificate"));
    }
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs.iter().cloned());
    if added == 0 {
        return Err(fail!(
            "ca_path {shown}: none of its certificates can be used (they cannot be parsed)"
        ));
    }
    for c in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(c);
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
        std::sync::Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| fail!("ca_path {shown}: {e}"))?;
    let verifier = PinnedOrWebPki {
        pinned: certs,
        webpki,
        provider: provider.clone(),
    };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail!("cannot set up TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(std::sync::Arc::new(verifier))
        .with_no_client_auth())
}

/// The usual chain check; failing that, the server's certificate must be one given in ca_path
/// byte for byte (and valid for the host name where it names one).
#[derive(Debug)]
struct PinnedOrWebPki {
    pinned: Vec<rustls::pki_types::CertificateDer<'static>>,
    webpki: std::sync::Arc<rustls::client::WebPkiServerVerifier>,
    provider: std::sync::Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for PinnedOrWebPki {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let err = match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        if !self
            .pinned
            .iter()
            .any(|c| c.as_ref() == end_entity.as_ref())
        {
            return Err(err);
        }
        let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
        match rustls::client::verify_server_name(&parsed, server_name) {
            Ok(()) => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            // A certificate with a subject alternative name for another host is refused; one
            // without any (CN only, as curl still accepts) is the operator's pin.
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) if !has_subject_alt_name(end_entity.as_ref()) => {
                Ok(rustls::client::danger::ServerCertVerified::assertion())
            }
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Whether a DER certificate carries the subjectAltName extension (OID 2.5.29.17).
fn has_subject_alt_name(der: &[u8]) -> bool {
    const SAN_OID: [u8; 5] = [0x06, 0x03, 0x55, 0x1d, 0x11];
    der.windows(SAN_OID.len()).any(|w| w == SAN_OID)
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
            url_option: "homeserver_url".into(),
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
            content_type: "application/json".into(),
            len: 2,
            request: "GET http://127.0.0.1:8008/x".into(),
            url_option: "homeserver_url".into(),
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
            url_option: "homeserver_url".into(),
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
