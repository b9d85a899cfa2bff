//! Test harness: real servers started from `tests/servers/*.sh`, the module binaries run the way
//! Ansible runs them (`<module> <args-file>`), and server state read back through the admin API.
#![allow(dead_code)]

pub mod dendrite;
pub mod postgres;

use matrix_users::matrix::registration_mac;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn cache_dir() -> PathBuf {
    std::env::var_os("MATRIX_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/matrix-users")
        })
}

/// A Synapse on 127.0.0.1, stopped by PID when dropped, and by its watchdog when the test
/// process exits however it exits.
pub struct Synapse {
    pub url: String,
    pub dir: tempfile::TempDir,
    pub shared_secret: String,
    pub admin_token: String,
    pub admin_user: String,
    pub admin_password: String,
}

impl Synapse {
    /// Starts a new server. `env` adjusts the config script (e.g. SYNAPSE_NO_SHARED_SECRET).
    pub fn start(env: &[(&str, &str)], extra_configs: &[&Path]) -> Synapse {
        let dir = tempfile::Builder::new()
            .prefix("synapse-test-")
            .tempdir()
            .unwrap();
        Synapse::start_in(dir, free_port(), env, extra_configs)
    }

    /// Starts a server in `dir` on `port`; a `shared-secret` file already in `dir` is kept.
    pub fn start_in(
        dir: tempfile::TempDir,
        port: u16,
        env: &[(&str, &str)],
        extra_configs: &[&Path],
    ) -> Synapse {
        let mut cmd = Command::new(repo().join("tests/servers/synapse.sh"));
        cmd.arg("start").arg(dir.path()).arg(port.to_string());
        for c in extra_configs {
            cmd.arg(c);
        }
        cmd.env("WATCH_PID", std::process::id().to_string());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run tests/servers/synapse.sh");
        assert!(
            out.status.success(),
            "synapse.sh start failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let shared_secret = std::fs::read_to_string(dir.path().join("shared-secret"))
            .unwrap()
            .trim()
            .to_string();
        let mut s = Synapse {
            url,
            dir,
            shared_secret,
            admin_token: String::new(),
            admin_user: "harness-admin".into(),
            admin_password: random_secret("admin-pw"),
        };
        if env.iter().all(|(k, _)| *k != "SYNAPSE_NO_SHARED_SECRET") {
            let (admin_user, admin_password) = (s.admin_user.clone(), s.admin_password.clone());
            let body = s.register_raw(&admin_user, &admin_password, true, false);
            s.admin_token = body["access_token"]
                .as_str()
                .expect("admin token")
                .to_string();
        }
        s
    }

    /// The one server most tests share, per test binary.
    pub fn shared() -> &'static Synapse {
        static S: OnceLock<Synapse> = OnceLock::new();
        S.get_or_init(|| Synapse::start(&[], &[]))
    }

    pub fn secret_file(&self) -> PathBuf {
        self.dir.path().join("shared-secret")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("synapse.log")).unwrap_or_default()
    }

    /// Shared-secret registration done by hand (not by the module under test).
    pub fn register_raw(
        &self,
        user: &str,
        password: &str,
        admin: bool,
        inhibit_login: bool,
    ) -> Value {
        let http = reqwest::blocking::Client::new();
        let nonce = http
            .get(format!("{}/_synapse/admin/v1/register", self.url))
            .send()
            .unwrap()
            .json::<Value>()
            .unwrap()["nonce"]
            .as_str()
            .unwrap()
            .to_string();
        let mac = registration_mac(&self.shared_secret, &nonce, user, password, admin, None);
        let r = http
            .post(format!("{}/_synapse/admin/v1/register", self.url))
            .json(
                &json!({"nonce": nonce, "username": user, "password": password, "admin": admin,
                          "mac": mac, "inhibit_login": inhibit_login}),
            )
            .send()
            .unwrap();
        assert!(
            r.status().is_success(),
            "raw registration of {user}: {}",
            r.status()
        );
        r.json().unwrap()
    }

    /// GET an admin API path as the harness admin: (status, body).
    pub fn admin_get(&self, path: &str) -> (u16, Value) {
        let r = reqwest::blocking::Client::new()
            .get(format!("{}{}", self.url, path))
            .bearer_auth(&self.admin_token)
            .send()
            .unwrap();
        (r.status().as_u16(), r.json().unwrap_or(Value::Null))
    }

    /// The admin API's record of a user, or None.
    pub fn user(&self, user_id: &str) -> Option<Value> {
        match self.admin_get(&format!("/_synapse/admin/v2/users/{}", urlenc(user_id))) {
            (200, v) => Some(v),
            (404, _) => None,
            (s, v) => panic!("GET user {user_id}: {s} {v}"),
        }
    }

    pub fn device_count(&self, user_id: &str) -> u64 {
        let (s, v) = self.admin_get(&format!(
            "/_synapse/admin/v2/users/{}/devices",
            urlenc(user_id)
        ));
        assert_eq!(s, 200, "{v}");
        v["total"].as_u64().unwrap()
    }

    /// Whether a password login works (and logs the session out again).
    pub fn can_login(&self, user: &str, password: &str) -> bool {
        let http = reqwest::blocking::Client::new();
        let r = http
            .post(format!("{}/_matrix/client/v3/login", self.url))
            .json(&json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user}, "password": password}))
            .send()
            .unwrap();
        if !r.status().is_success() {
            return false;
        }
        let token = r.json::<Value>().unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        http.post(format!("{}/_matrix/client/v3/logout", self.url))
            .bearer_auth(token)
            .json(&json!({}))
            .send()
            .unwrap();
        true
    }

    /// Restarts the server on the same port, with the same database and secret.
    pub fn restart(&self) {
        self.stop();
        let out = Command::new(repo().join("tests/servers/synapse.sh"))
            .arg("start")
            .arg(self.dir.path())
            .arg(self.url.rsplit(':').next().unwrap())
            .env("WATCH_PID", std::process::id().to_string())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&self) {
        let pid = std::fs::read_to_string(self.dir.path().join("synapse.pid")).unwrap();
        Command::new("kill")
            .arg("-KILL")
            .arg(pid.trim())
            .status()
            .unwrap();
        let _ = std::fs::remove_file(self.dir.path().join("synapse.pid"));
    }

    pub fn stop(&self) {
        let _ = Command::new(repo().join("tests/servers/synapse.sh"))
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

impl Drop for Synapse {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn urlenc(s: &str) -> String {
    matrix_users::client::encode_segment(s)
}

/// A random value for secrets and names: tests never rely on fixed ones.
pub fn random_secret(prefix: &str) -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{:x}{:x}{n}", t, std::process::id())
}

/// A unique lower-case localpart.
pub fn unique_user(prefix: &str) -> String {
    random_secret(prefix).to_lowercase()
}

/// The result of running a module.
pub struct Run {
    pub json: Value,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn failed(&self) -> bool {
        self.json["failed"] == true
    }
    pub fn changed(&self) -> bool {
        self.json["changed"] == true
    }
    pub fn msg(&self) -> &str {
        self.json["msg"].as_str().unwrap_or("")
    }
    /// Asserts success and returns self.
    pub fn ok(self) -> Run {
        assert!(
            !self.failed() && self.code == 0,
            "module failed: {}",
            self.stdout
        );
        self
    }
    /// Asserts failure with a message containing `want`.
    pub fn fails_with(self, want: &str) -> Run {
        assert!(self.failed(), "expected failure, got: {}", self.stdout);
        assert_ne!(self.code, 0, "a failure must exit non-zero");
        assert!(
            self.msg().contains(want),
            "message {:?} lacks {:?}",
            self.msg(),
            want
        );
        self
    }
}

/// Path of a module binary built by cargo for this test run: cargo builds every binary of the
/// package before its integration tests, next to the `deps/` directory the test runs from.
pub fn module_bin(name: &str) -> PathBuf {
    assert!(
        matrix_users::MODULES.iter().any(|m| m.name == name),
        "unknown module {name}"
    );
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().join(name)
}

/// Runs a module as Ansible does: args in a JSON file named by argv[1], `_ansible_*` keys added.
pub fn run_module(name: &str, args: Value) -> Run {
    run_module_with(name, args, &[])
}

/// `flags` are extra `_ansible_*` keys, e.g. ("_ansible_check_mode", true).
pub fn run_module_with(name: &str, args: Value, flags: &[(&str, Value)]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let mut map: Map<String, Value> = args.as_object().cloned().unwrap_or_default();
    for (k, v) in [
        ("_ansible_check_mode", json!(false)),
        ("_ansible_no_log", json!(false)),
        ("_ansible_diff", json!(false)),
        ("_ansible_verbosity", json!(0)),
        ("_ansible_version", json!("2.19.14")),
        ("_ansible_module_name", json!(name)),
    ] {
        map.entry(k.to_string()).or_insert(v);
    }
    for (k, v) in flags {
        map.insert(k.to_string(), v.clone());
    }
    let args_path = dir.path().join("args");
    std::fs::write(&args_path, serde_json::to_vec(&Value::Object(map)).unwrap()).unwrap();
    run_raw(name, &[args_path.to_str().unwrap()])
}

/// Runs a module binary with raw argv, checking the output is exactly one JSON object.
pub fn run_raw(name: &str, argv: &[&str]) -> Run {
    let out = Command::new(module_bin(name)).args(argv).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("module output is not one JSON object ({e}): {stdout:?} stderr: {stderr}")
    });
    assert!(json.is_object(), "{stdout}");
    assert_eq!(
        stdout.trim().lines().count(),
        1,
        "exactly one line of JSON: {stdout}"
    );
    Run {
        json,
        code: out.status.code().unwrap_or(-1),
        stdout,
        stderr,
    }
}

/// A matrix-registration service ("0.7" or "0.9") in front of a Synapse, stopped like Synapse.
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

impl Synapse {
    /// A Synapse that lets people register with a registration token only.
    pub fn start_with_token_registration() -> Synapse {
        Synapse::start(
            &[],
            &[&repo().join("tests/servers/synapse-token-registration.yaml")],
        )
    }

    /// Registers through the client API with a registration token (the UIA flow
    /// m.login.registration_token, then m.login.dummy). True if the account was created.
    pub fn register_with_token(&self, user: &str, password: &str, token: &str) -> bool {
        let http = reqwest::blocking::Client::new();
        let url = format!("{}/_matrix/client/v3/register", self.url);
        let post = |body: Value| {
            let r = http.post(&url).json(&body).send().unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().unwrap_or(Value::Null),
            )
        };
        let base = json!({"username": user, "password": password, "inhibit_login": true});
        let (s, v) = post(base.clone());
        assert_eq!(s, 401, "UIA starts with 401: {v}");
        let session = v["session"].as_str().unwrap().to_string();
        let mut step = base.clone();
        step["auth"] =
            json!({"type": "m.login.registration_token", "token": token, "session": session});
        let (s, v) = post(step);
        if s == 200 {
            return true;
        }
        let done: Vec<&str> = v["completed"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !done.contains(&"m.login.registration_token") {
            return false;
        }
        let mut step = base;
        step["auth"] = json!({"type": "m.login.dummy", "session": session});
        post(step).0 == 200
    }
}
