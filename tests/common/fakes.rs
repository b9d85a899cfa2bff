//! Harness for the FAKE tuwunel and FAKE continuwuity (`tests/servers/fake_tuwunel.py`,
//! `tests/servers/fake_continuwuity.py`, started by `fake-tuwunel.sh` / `fake-continuwuity.sh`).
//! No registry these machines reach ships either server; the fakes follow their sources
//! (docs/tuwunel.md, docs/continuwuity.md). Every request has a deadline; the fake is stopped by
//! PID when dropped, and by its watchdog when the test process exits however it exits.

use super::util::repo;
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Tuwunel,
    Continuwuity,
}

impl Flavor {
    fn script(self) -> &'static str {
        match self {
            Flavor::Tuwunel => "fake-tuwunel",
            Flavor::Continuwuity => "fake-continuwuity",
        }
    }
}

/// One HTTP answer: status, `Server` header, body (JSON, or a JSON string of the raw text).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub server: String,
    pub body: Value,
}

impl Answer {
    pub fn errcode(&self) -> &str {
        self.body["errcode"].as_str().unwrap_or("")
    }
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }
}

pub struct FakeServer {
    pub flavor: Flavor,
    /// Base URL without a trailing slash.
    pub url: String,
    pub dir: tempfile::TempDir,
    http: reqwest::blocking::Client,
}

impl FakeServer {
    /// Starts a fake with knobs (`FAKE_*` environment variables of its script) and, when given,
    /// a `seed.json` (written mode 600 before start: it holds passwords).
    pub fn start(flavor: Flavor, env: &[(&str, &str)], seed: Option<&Value>) -> FakeServer {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{}-test-", flavor.script()))
            .tempdir()
            .unwrap();
        if let Some(seed) = seed {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(dir.path().join("seed.json"))
                .unwrap();
            std::io::Write::write_all(&mut f, seed.to_string().as_bytes()).unwrap();
        }
        let mut cmd = Command::new(repo().join(format!("tests/servers/{}.sh", flavor.script())));
        cmd.arg("start").arg(dir.path());
        cmd.env("WATCH_PID", std::process::id().to_string());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run the fake's start script");
        assert!(
            out.status.success(),
            "{}.sh start failed:\n{}",
            flavor.script(),
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        FakeServer {
            flavor,
            url,
            dir,
            http,
        }
    }

    /// A file the script wrote into the state dir, trimmed (secrets: never printed by tests).
    pub fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .trim()
            .to_string()
    }

    pub fn log(&self) -> String {
        let name = format!("{}.log", self.flavor.script());
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    /// A request with an optional bearer token and JSON body.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Answer {
        let bytes = body.map(|b| b.to_string().into_bytes());
        self.raw(method, path, token, bytes.as_deref(), "application/json")
    }

    /// A request with raw body bytes and a given content type.
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&[u8]>,
        ctype: &str,
    ) -> Answer {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = self.http.request(m, format!("{}{}", self.url, path));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.header("Content-Type", ctype).body(b.to_vec());
        }
        let r = rb.send().unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = r.status().as_u16();
        let server = r
            .headers()
            .get("server")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = r.text().unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            server,
            body,
        }
    }

    /// `m.login.password` with an `m.id.user` identifier.
    pub fn login(&self, user: &str, password: &str) -> Answer {
        let body = serde_json::json!({"type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user}, "password": password});
        self.call("POST", "/_matrix/client/v3/login", None, Some(&body))
    }

    /// An access token of the seeded admin account "admin" (its password is in admin-password).
    pub fn admin_token(&self) -> String {
        let a = self.login("admin", &self.file("admin-password"));
        assert_eq!(a.status, 200, "admin login: {:?}", a.body);
        a.body["access_token"].as_str().unwrap().to_string()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        let _ = Command::new(repo().join(format!("tests/servers/{}.sh", self.flavor.script())))
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}
