//! A real matrix-registration service (from PyPI, `tests/servers/mreg.sh`; "0.7" or "0.9") in
//! front of a Synapse on 127.0.0.1, stopped by PID when dropped (and by its watchdog when the
//! test process exits). Its tokens are read through its own API, not through the module.

use super::synapse::Synapse;
use super::util::repo;
use serde_json::Value;
use std::process::Command;

pub struct Mreg {
    pub url: String,
    pub version: &'static str,
    pub admin_secret: String,
    pub dir: tempfile::TempDir,
}

impl Mreg {
    pub fn start(version: &'static str, synapse: &Synapse) -> Mreg {
        let dir = tempfile::Builder::new()
            .prefix("mreg-test-")
            .tempdir()
            .unwrap();
        let out = Command::new(repo().join("tests/servers/mreg.sh"))
            .arg("start")
            .arg(dir.path())
            .arg(version)
            .arg(&synapse.url)
            .arg(synapse.secret_file())
            .env("WATCH_PID", std::process::id().to_string())
            .output()
            .expect("run tests/servers/mreg.sh");
        assert!(
            out.status.success(),
            "mreg.sh start failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let admin_secret = std::fs::read_to_string(dir.path().join("admin-secret"))
            .unwrap()
            .trim()
            .to_string();
        Mreg {
            url,
            version,
            admin_secret,
            dir,
        }
    }

    /// The token list as the service itself reports it (not through the module).
    pub fn tokens(&self) -> Vec<Value> {
        let path = if self.version == "0.9" {
            "/api/token"
        } else {
            "/token"
        };
        let r = reqwest::blocking::Client::new()
            .get(format!("{}{path}", self.url))
            .header(
                "Authorization",
                format!("SharedSecret {}", self.admin_secret),
            )
            .send()
            .unwrap();
        assert!(r.status().is_success());
        r.json::<Vec<Value>>().unwrap()
    }

    pub fn token(&self, name: &str) -> Value {
        self.tokens()
            .into_iter()
            .find(|t| t["name"] == name)
            .unwrap_or(Value::Null)
    }

    /// Registers through the service's own page, as a person does: a form POST.
    pub fn register(&self, user: &str, password: &str, token: &str) -> (u16, Value) {
        let r = reqwest::blocking::Client::new()
            .post(format!("{}/register", self.url))
            .form(&[
                ("username", user),
                ("password", password),
                ("confirm", password),
                ("token", token),
            ])
            .send()
            .unwrap();
        (r.status().as_u16(), r.json().unwrap_or(Value::Null))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mreg.log")).unwrap_or_default()
    }
}

impl Drop for Mreg {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("tests/servers/mreg.sh"))
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}
