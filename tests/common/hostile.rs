//! Small hostile HTTP servers for tests, on 127.0.0.1 only: each answers every request with what
//! a test's handler returns (a web page, an empty 200, a redirect, an echo of the request, an
//! endless body, a wrong user) and records every request it got, so a test can check what the
//! module sent where; and an https one with a self-signed certificate. Stopped when dropped.

use super::util::repo;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
    /// The whole request as text, to search for secrets.
    pub fn all_text(&self) -> String {
        let mut s = format!("{} {}\n", self.method, self.path);
        for (k, v) in &self.headers {
            s.push_str(&format!("{k}: {v}\n"));
        }
        s.push_str(&self.body_text());
        s
    }
}

/// What to answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Status, content type, body.
    Full(u16, &'static str, Vec<u8>),
    /// A redirect to the URL.
    Redirect(u16, String),
    /// Announces this many bytes with Content-Length and sends zeros until the client leaves.
    HugeWithLength(u64),
    /// Sends zeros without a length until the client leaves.
    Endless,
    /// Closes the connection without an answer.
    Hangup,
}

impl Reply {
    pub fn json(status: u16, v: serde_json::Value) -> Reply {
        Reply::Full(status, "application/json", v.to_string().into_bytes())
    }
    pub fn html(status: u16, text: &str) -> Reply {
        Reply::Full(status, "text/html; charset=utf-8", text.as_bytes().to_vec())
    }
    pub fn empty(status: u16) -> Reply {
        Reply::Full(status, "", Vec::new())
    }
}

type Handler = dyn Fn(&Req) -> Reply + Send + Sync;

pub struct Hostile {
    pub url: String,
    pub port: u16,
    requests: Arc<Mutex<Vec<Req>>>,
    stop: Arc<AtomicBool>,
}

/// A page such as Element's index.html, served at the homeserver URL by mistake.
pub const ELEMENT_PAGE: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Element</title></head><body><noscript>Sorry, Element requires JavaScript to be enabled.</noscript><section id=\"matrixchat\"></section><script src=\"bundles/1/bundle.js\"></script></body></html>\n";

impl Hostile {
    pub fn start(handler: impl Fn(&Req) -> Reply + Send + Sync + 'static) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests: Arc<Mutex<Vec<Req>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        {
            let (requests, stop) = (requests.clone(), stop.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (requests, handler) = (requests.clone(), handler.clone());
                    std::thread::spawn(move || serve(conn, &requests, handler.as_ref()));
                }
            });
        }
        Hostile {
            url: format!("http://127.0.0.1:{port}"),
            port,
            requests,
            stop,
        }
    }

    /// Answers everything with the same reply.
    pub fn always(reply: Reply) -> Hostile {
        Hostile::start(move |_| reply.clone())
    }

    pub fn requests(&self) -> Vec<Req> {
        self.requests.lock().unwrap().clone()
    }

    /// Requests whose method is `method` and whose path starts with `prefix`.
    pub fn requests_to(&self, method: &str, prefix: &str) -> Vec<Req> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.path.starts_with(prefix))
            .collect()
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(conn: TcpStream, requests: &Mutex<Vec<Req>>, handler: &Handler) {
    let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(30)));
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut writer = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let req = Req {
            method,
            path,
            headers,
            body,
        };
        requests.lock().unwrap().push(req.clone());
        let ok = match handler(&req) {
            Reply::Full(status, ctype, body) => {
                let mut head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: keep-alive\r\n",
                    body.len()
                );
                if !ctype.is_empty() {
                    head.push_str(&format!("Content-Type: {ctype}\r\n"));
                }
                head.push_str("\r\n");
                writer.write_all(head.as_bytes()).is_ok() && writer.write_all(&body).is_ok()
            }
            Reply::Redirect(status, to) => {
                let head =
                    format!("HTTP/1.1 {status} X\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n");
                writer.write_all(head.as_bytes()).is_ok()
            }
            Reply::HugeWithLength(n) => {
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {n}\r\nConnection: close\r\n\r\n"
                );
                let _ = writer.write_all(head.as_bytes());
                endless(&mut writer);
                false
            }
            Reply::Hangup => false,
            Reply::Endless => {
                let head =
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";
                let _ = writer.write_all(head.as_bytes());
                endless(&mut writer);
                false
            }
        };
        if !ok {
            return;
        }
    }
}

/// Writes JSON-looking bytes until the client hangs up (at most 8 GiB).
fn endless(w: &mut TcpStream) {
    let chunk = [b' '; 64 * 1024];
    let _ = w.write_all(b"[");
    for _ in 0..(8u64 << 30) / chunk.len() as u64 {
        if w.write_all(&chunk).is_err() {
            return;
        }
    }
}

/// A hostile stand-in for a homeserver named `server_name`: serves shared-secret registration
/// (answering with the user ID `answer(localpart)`), profile look-ups (404 for everyone),
/// whoami for any token, and optionally its signing keys. Everything else is 404 M_UNRECOGNIZED.
pub fn fake_homeserver(
    server_name: &'static str,
    serve_keys: bool,
    answer: impl Fn(&str) -> String + Send + Sync + 'static,
) -> Hostile {
    use serde_json::json;
    Hostile::start(move |r| {
        let p = r.path.as_str();
        match (r.method.as_str(), p) {
            ("GET", "/_synapse/admin/v1/register") => Reply::json(200, json!({"nonce": "n0nce"})),
            ("POST", "/_synapse/admin/v1/register") => {
                let user = r.json()["username"].as_str().unwrap_or("").to_string();
                Reply::json(200, json!({"user_id": answer(&user)}))
            }
            ("GET", "/_matrix/key/v2/server") if serve_keys => {
                Reply::json(200, json!({"server_name": server_name, "verify_keys": {}}))
            }
            ("GET", "/_matrix/client/v3/account/whoami") => {
                Reply::json(200, json!({"user_id": format!("@admin:{server_name}")}))
            }
            ("GET", _) if p.starts_with("/_matrix/client/v3/profile/") => Reply::json(
                404,
                json!({"errcode": "M_NOT_FOUND", "error": "Profile was not found"}),
            ),
            _ => Reply::json(
                404,
                json!({"errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"}),
            ),
        }
    })
}

/// An https stand-in (tests/servers/hostile_tls.py) with a self-signed certificate, on
/// `localhost`; it logs the request lines it gets and answers them, or redirects to `redirect`.
pub struct TlsServer {
    child: std::process::Child,
    pub url: String,
    log: std::path::PathBuf,
    pub cert: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl TlsServer {
    /// A self-signed certificate made the usual way (`openssl req -x509`), and the https
    /// stand-in of tests/servers/hostile_tls.py using it.
    pub fn start(redirect: Option<&str>) -> TlsServer {
        TlsServer::start_with(redirect, true)
    }

    /// `san`: with `-addext subjectAltName=...`, or the bare `-subj /CN=localhost` of tutorials.
    pub fn start_with(redirect: Option<&str>, san: bool) -> TlsServer {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let ok = Command::new(repo().join("tests/servers/tls-cert.sh"))
            .arg(dir.path())
            .arg(if san { "san" } else { "cn" })
            .status()
            .unwrap()
            .success();
        assert!(ok, "openssl req -x509");
        let (port_file, log) = (dir.path().join("port"), dir.path().join("requests.log"));
        std::fs::write(&log, "").unwrap();
        let mut cmd = Command::new("python3");
        cmd.arg(repo().join("tests/servers/hostile_tls.py"))
            .arg(&cert)
            .arg(&key)
            .arg(&port_file)
            .arg(&log);
        if let Some(r) = redirect {
            cmd.arg(r);
        }
        let child = cmd.spawn().unwrap();
        let started = Instant::now();
        while !port_file.exists() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "tls server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let port = std::fs::read_to_string(&port_file).unwrap();
        TlsServer {
            child,
            url: format!("https://localhost:{}", port.trim()),
            log,
            cert,
            _dir: dir,
        }
    }
    pub fn requests(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
