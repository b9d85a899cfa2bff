//! A real Synapse (from PyPI, `tests/servers/synapse.sh`) on 127.0.0.1: started on SQLite or on a
//! PostgreSQL database, with a harness admin registered by shared secret, or delegating
//! authentication to the FAKE MAS; stopped by PID when dropped, and by its watchdog when the test
//! process exits however it exits. Server state is read back through the admin API and the
//! client API, never taken from what a module said.

use super::library::urlenc;
use super::postgres::Database;
use super::util::{free_port, random_secret, repo};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha1::Sha1;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub struct Synapse {
    pub url: String,
    pub dir: tempfile::TempDir,
    pub shared_secret: String,
    /// The harness admin's access token (empty when the server has no shared-secret
    /// registration, or delegates authentication to MAS).
    pub admin_token: String,
    pub admin_user: String,
    pub admin_password: String,
}

/// An account the harness registered by hand.
pub struct Account {
    pub name: String,
    pub password: String,
    pub user_id: String,
}

/// The shared-secret registration MAC of Synapse's `/_synapse/admin/v1/register` (which Dendrite
/// copies), computed here independently of the code under test: hex HMAC-SHA1 over
/// nonce NUL username NUL password NUL ("admin"|"notadmin") [NUL user_type].
pub fn shared_secret_mac(
    secret: &str,
    nonce: &str,
    user: &str,
    password: &str,
    admin: bool,
    user_type: Option<&str>,
) -> String {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    let mut msg = format!(
        "{nonce}\0{user}\0{password}\0{}",
        if admin { "admin" } else { "notadmin" }
    );
    if let Some(t) = user_type {
        msg.push('\0');
        msg.push_str(t);
    }
    mac.update(msg.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn script() -> PathBuf {
    repo().join("tests/servers/synapse.sh")
}

impl Synapse {
    /// The one server most tests share (they use names of their own, and never count what
    /// another test may add: accounts, tokens, the harness admin's devices).
    pub fn shared() -> &'static Synapse {
        static S: OnceLock<Synapse> = OnceLock::new();
        S.get_or_init(|| Synapse::start(&[], &[]))
    }

    /// Starts a new server. `env` adjusts the config script (e.g. SYNAPSE_NO_SHARED_SECRET).
    pub fn start(env: &[(&str, &str)], extra_configs: &[&Path]) -> Synapse {
        Synapse::start_in(temp_dir("synapse-test-"), free_port(), env, extra_configs)
    }

    /// Starts a server in `dir` on `port`; a `shared-secret` file already in `dir` is kept.
    pub fn start_in(
        dir: tempfile::TempDir,
        port: u16,
        env: &[(&str, &str)],
        extra_configs: &[&Path],
    ) -> Synapse {
        let with_admin = env.iter().all(|(k, _)| *k != "SYNAPSE_NO_SHARED_SECRET");
        Synapse::launch(dir, port, env, extra_configs, with_admin)
    }

    /// A Synapse on a PostgreSQL database (the password in a file, as the script reads it).
    pub fn start_on(db: &Database) -> Synapse {
        Synapse::start(
            &[
                ("SYNAPSE_DATABASE_URL", &db.url),
                (
                    "SYNAPSE_DATABASE_PASSWORD_FILE",
                    db.password_file.to_str().unwrap(),
                ),
            ],
            &[],
        )
    }

    /// A Synapse that lets people register with a registration token only.
    pub fn start_with_token_registration() -> Synapse {
        Synapse::start(
            &[],
            &[&repo().join("tests/servers/synapse-token-registration.yaml")],
        )
    }

    /// A Synapse on `port` that delegates authentication to a FAKE MAS through `extra` config
    /// files (e.g. `FakeMas::synapse_config`). No harness admin: under MAS delegation
    /// shared-secret registration answers 404.
    pub fn start_delegating(port: u16, extra: &[&Path]) -> Synapse {
        Synapse::launch(temp_dir("synapse-mas-test-"), port, &[], extra, false)
    }

    fn launch(
        dir: tempfile::TempDir,
        port: u16,
        env: &[(&str, &str)],
        extra_configs: &[&Path],
        with_admin: bool,
    ) -> Synapse {
        let mut cmd = Command::new(script());
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
        if with_admin {
            let (admin_user, admin_password) = (s.admin_user.clone(), s.admin_password.clone());
            let body = s.register_raw(&admin_user, &admin_password, true, false);
            s.admin_token = body["access_token"]
                .as_str()
                .expect("admin token")
                .to_string();
        }
        s
    }

    pub fn secret_file(&self) -> PathBuf {
        self.dir.path().join("shared-secret")
    }

    /// Waits (up to 5 minutes) until Synapse has built the unique index on
    /// `profiles(full_user_id)` (background update `profiles_full_user_id_key_idx`): until then
    /// a fresh Synapse 1.163 answers every reactivation, `/_synapse/mas/reactivate_user` included,
    /// with 500 (docs/lifecycle-synapse.md), and MAS passes that 500 on.
    pub fn wait_for_profile_index(&self) {
        let db = rusqlite::Connection::open(self.dir.path().join("homeserver.db")).unwrap();
        db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
        loop {
            let pending: i64 = db
                .query_row(
                    "SELECT count(*) FROM background_updates WHERE update_name = 'profiles_full_user_id_key_idx'",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            if pending == 0 {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "Synapse did not run its background updates within 5 minutes"
            );
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
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
        let mac = shared_secret_mac(&self.shared_secret, &nonce, user, password, admin, None);
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

    /// A new admin account of one test's own, without a device: for tests that count an admin's
    /// devices around a module's login, which a login as the shared harness admin by a test
    /// running at the same time would disturb.
    pub fn new_admin(&self, prefix: &str) -> Account {
        let name = super::util::unique_user(prefix);
        let password = random_secret("admin-pw");
        self.register_raw(&name, &password, true, true);
        Account {
            user_id: format!("@{name}:localhost"),
            name,
            password,
        }
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

    /// Restarts the server on the same port, with the same database and secret.
    pub fn restart(&self) {
        self.stop();
        let out = Command::new(script())
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
        let _ = Command::new(script())
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

fn temp_dir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(prefix).tempdir().unwrap()
}
