//! A real Dendrite (from the Go module proxy, `tests/servers/dendrite.sh`) on 127.0.0.1, on SQLite
//! or on a PostgreSQL database of `postgres::Postgres`, stopped by PID when dropped and by its
//! watchdog when the test process exits however it exits. Server state is read from its database:
//! SQLite with Debian's `sqlite3`, PostgreSQL with `psql` (password in PGPASSWORD).
//!
//! Most tests share two servers, one per database ([`Dendrite::shared_sqlite`],
//! [`Dendrite::shared_postgres`]); [`on_both_databases!`] makes one test per database of a
//! function that takes the server.

use super::postgres::{lit, Database, Postgres};
use super::synapse::shared_secret_mac;
use super::util::{free_port, random_secret, repo};
use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

pub struct Dendrite {
    pub url: String,
    pub dir: tempfile::TempDir,
    pub shared_secret: String,
    pub admin_user: String,
    pub admin_password: String,
    /// Access token of the harness admin (account_type 3), from shared-secret registration.
    pub admin_token: String,
    /// The PostgreSQL database, or None for SQLite.
    pub database: Option<Database>,
}

fn script() -> PathBuf {
    repo().join("tests/servers/dendrite.sh")
}

/// Each listed function (`name` or `module::name`, taking `&Dendrite`) becomes one test per
/// database, `sqlite::name` and `postgres::name`, run against the shared server on it.
macro_rules! on_both_databases {
    (@tests $($name:ident => $($segment:ident)::+),+) => {
        mod sqlite {
            $( #[test] fn $name() {
                super::$($segment)::+($crate::common::dendrite::Dendrite::shared_sqlite())
            } )+
        }
        mod postgres {
            $( #[test] fn $name() {
                super::$($segment)::+($crate::common::dendrite::Dendrite::shared_postgres())
            } )+
        }
    };
    ($($module:ident :: $name:ident),+ $(,)?) => {
        $crate::common::dendrite::on_both_databases!(@tests $($name => $module::$name),+);
    };
    ($($name:ident),+ $(,)?) => {
        $crate::common::dendrite::on_both_databases!(@tests $($name => $name),+);
    };
}
pub(crate) use on_both_databases;

impl Dendrite {
    /// The Dendrite on SQLite most tests share.
    pub fn shared_sqlite() -> &'static Dendrite {
        static S: OnceLock<Dendrite> = OnceLock::new();
        S.get_or_init(|| Dendrite::start(None, &[]))
    }

    /// The Dendrite on PostgreSQL most tests share, on a cluster of its own.
    pub fn shared_postgres() -> &'static Dendrite {
        static P: OnceLock<(Postgres, Dendrite)> = OnceLock::new();
        &P.get_or_init(|| {
            let pg = Postgres::start();
            let db = pg.create_database("dendrite", "dendrite");
            let d = Dendrite::start(Some(&db), &[]);
            (pg, d)
        })
        .1
    }

    /// A new server on SQLite (`db` None) or PostgreSQL. `env` adjusts the config script
    /// (DENDRITE_RATE_LIMITING, DENDRITE_OPEN_REGISTRATION, DENDRITE_NO_TOKENS, ...).
    pub fn start(db: Option<&Database>, env: &[(&str, &str)]) -> Dendrite {
        let dir = tempfile::Builder::new()
            .prefix("dendrite-test-")
            .tempdir()
            .unwrap();
        Dendrite::start_in(dir, db, env)
    }

    /// A new server in `dir`: a `shared-secret` file already there is kept (dendrite.sh
    /// makes a random one otherwise).
    pub fn start_in(
        dir: tempfile::TempDir,
        db: Option<&Database>,
        env: &[(&str, &str)],
    ) -> Dendrite {
        let mut d = Dendrite {
            url: String::new(),
            dir,
            shared_secret: String::new(),
            admin_user: "harness-admin".into(),
            admin_password: random_secret("admin-pw"),
            admin_token: String::new(),
            database: db.cloned(),
        };
        d.run_start(free_port(), env);
        let (user, password) = (d.admin_user.clone(), d.admin_password.clone());
        let (s, v) = d.register(&user, &password, true);
        assert_eq!(s, 200, "harness admin registration: {v}");
        d.admin_token = v["access_token"].as_str().unwrap().to_string();
        d
    }

    fn run_start(&mut self, port: u16, env: &[(&str, &str)]) {
        let mut cmd = Command::new(script());
        cmd.arg("start")
            .arg(self.dir.path())
            .arg(port.to_string())
            .env("WATCH_PID", std::process::id().to_string())
            .env("WATCH_CLEANUP", "1");
        if let Some(db) = &self.database {
            cmd.env("DENDRITE_DATABASE_URL", &db.url)
                .env("DENDRITE_DATABASE_PASSWORD_FILE", &db.password_file);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run tests/servers/dendrite.sh");
        assert!(
            out.status.success(),
            "dendrite.sh start failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.url = String::from_utf8(out.stdout).unwrap().trim().to_string();
        self.shared_secret = std::fs::read_to_string(self.dir.path().join("shared-secret"))
            .unwrap()
            .trim()
            .to_string();
    }

    pub fn backend(&self) -> &'static str {
        if self.database.is_some() {
            "postgres"
        } else {
            "sqlite"
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dendrite.log")).unwrap_or_default()
    }

    /// Any client-API or admin request: (status, JSON body or Null).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let http = reqwest::blocking::Client::new();
        let mut r = http.request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}{}", self.url, path),
        );
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().unwrap_or(Value::Null))
    }

    /// A request as the harness admin.
    pub fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.request(method, path, Some(&self.admin_token), body)
    }

    /// A fresh nonce from GET /_synapse/admin/v1/register.
    pub fn nonce(&self) -> String {
        let (s, v) = self.request("GET", "/_synapse/admin/v1/register", None, None);
        assert_eq!(s, 200, "{v}");
        v["nonce"].as_str().unwrap().to_string()
    }

    /// POST /_synapse/admin/v1/register with a body made by the caller.
    pub fn post_register(&self, body: Value) -> (u16, Value) {
        self.request("POST", "/_synapse/admin/v1/register", None, Some(body))
    }

    /// Shared-secret registration done by hand (not by a module): (status, body).
    pub fn register(&self, user: &str, password: &str, admin: bool) -> (u16, Value) {
        let nonce = self.nonce();
        let mac = shared_secret_mac(&self.shared_secret, &nonce, user, password, admin, None);
        self.post_register(
            json!({"nonce": nonce, "username": user, "password": password,
                                  "admin": admin, "mac": mac}),
        )
    }

    /// Password login: (status, body).
    pub fn login(&self, user: &str, password: &str) -> (u16, Value) {
        self.request(
            "POST",
            "/_matrix/client/v3/login",
            None,
            Some(json!({"type": "m.login.password",
                        "identifier": {"type": "m.id.user", "user": user},
                        "password": password})),
        )
    }

    /// Access token of a fresh password login (panics if the login fails).
    pub fn token(&self, user: &str, password: &str) -> String {
        let (s, v) = self.login(user, password);
        assert_eq!(s, 200, "login {user}: {v}");
        v["access_token"].as_str().unwrap().to_string()
    }

    /// Whether a password login works (and logs that session out again).
    pub fn can_login(&self, user: &str, password: &str) -> bool {
        let (s, v) = self.login(user, password);
        if s != 200 {
            return false;
        }
        let t = v["access_token"].as_str().unwrap();
        self.request(
            "POST",
            "/_matrix/client/v3/logout",
            Some(t),
            Some(json!({})),
        );
        true
    }

    pub fn user_id(&self, localpart: &str) -> String {
        format!("@{localpart}:localhost")
    }

    /// SQL against the user API database (SQLite file or the PostgreSQL database): rows one per
    /// line, columns joined by `|`.
    pub fn sql(&self, sql: &str) -> String {
        match &self.database {
            Some(db) => db.sql(sql),
            None => sqlite(&self.dir.path().join("dendrite_userapi.db"), sql),
        }
    }

    /// userapi_accounts.account_type (1 user, 2 guest, 3 admin, 4 appservice), None if absent.
    pub fn account_type(&self, localpart: &str) -> Option<i64> {
        self.sql(&format!(
            "SELECT account_type FROM userapi_accounts WHERE localpart = {} AND server_name = 'localhost';",
            lit(localpart)
        ))
        .lines()
        .next()
        .map(|l| l.trim().parse().unwrap())
    }

    pub fn set_account_type(&self, localpart: &str, account_type: i64) {
        self.sql(&format!(
            "UPDATE userapi_accounts SET account_type = {account_type} WHERE localpart = {} AND server_name = 'localhost';",
            lit(localpart)
        ));
    }

    /// The user's device IDs, from userapi_devices, sorted.
    pub fn device_ids(&self, localpart: &str) -> Vec<String> {
        self.sql(&format!(
            "SELECT device_id FROM userapi_devices WHERE localpart = {} ORDER BY device_id;",
            lit(localpart)
        ))
        .lines()
        .map(|l| l.to_string())
        .collect()
    }

    pub fn password_hash(&self, localpart: &str) -> String {
        self.sql(&format!(
            "SELECT password_hash FROM userapi_accounts WHERE localpart = {};",
            lit(localpart)
        ))
    }

    /// A registration token row as stored: "token|uses_allowed|pending|completed|expiry_time".
    pub fn token_row(&self, token: &str) -> Option<String> {
        self.sql(&format!(
            "SELECT token, uses_allowed, pending, completed, expiry_time FROM userapi_registration_tokens WHERE token = {};",
            lit(token)
        ))
        .lines()
        .next()
        .map(|l| l.to_string())
    }

    /// Restarts on the same port, database, secret and config switches.
    pub fn restart(&mut self) {
        self.stop();
        let port: u16 = self.url.rsplit(':').next().unwrap().parse().unwrap();
        self.run_start(port, &[]);
    }

    pub fn stop(&self) {
        let _ = Command::new(script())
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

impl Drop for Dendrite {
    fn drop(&mut self) {
        self.stop();
    }
}

/// SQL through Debian's sqlite3 (installed by dendrite.sh), waiting up to 5 s for Dendrite's
/// write lock.
pub fn sqlite(file: &std::path::Path, sql: &str) -> String {
    let mut child = Command::new("sqlite3")
        .arg("-bail")
        .arg(file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sqlite3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!(".timeout 5000\n{sql}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "sqlite3 failed on {sql:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}
