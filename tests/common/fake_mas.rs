//! The FAKE Matrix Authentication Service (`tests/servers/fake_mas.py`, started by
//! `tests/servers/fake-mas.sh`). No registry the project reaches has MAS, so MAS tests run against
//! this stand-in; docs/mas-fake.md says what it implements and where it deviates from MAS 1.22.

use super::util::repo;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

/// Knobs of the fake (each becomes a `FAKE_MAS_*` environment variable of fake-mas.sh).
#[derive(Clone, Debug, Default)]
pub struct FakeMasOptions {
    /// Lifetime of the access tokens it issues, in seconds (default 300, as MAS).
    pub token_ttl: Option<u64>,
    /// `passwords.minimum_complexity` (0-4, default 3).
    pub minimum_complexity: Option<u8>,
    /// Password login disabled: set-password answers 403 "Password auth is disabled".
    pub password_login_disabled: bool,
    /// Localparts the homeserver already has: creating them answers 409 "Username is reserved by
    /// the homeserver" unless `skip_homeserver_check` is set.
    pub reserved: Vec<String>,
    /// The Matrix server name (default `localhost`).
    pub server_name: Option<String>,
    /// A real Synapse that delegates to the fake: users are provisioned there through its
    /// `/_synapse/mas` API with the shared `homeserver-secret`.
    pub homeserver_url: Option<String>,
    /// `Some("stand-in")` reproduces the permissive policy of the recording (C-S API scopes for
    /// client_credentials); the default is the real MAS policy (403 invalid_scope).
    pub policy: Option<String>,
    /// A fixed port (default: a free one).
    pub port: Option<u16>,
}

/// A running fake MAS on 127.0.0.1, stopped by PID when dropped (and by its watchdog when the
/// test process exits however it exits).
pub struct FakeMas {
    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    pub dir: tempfile::TempDir,
    /// A client in `admin_clients`: may get `urn:mas:admin` with client_credentials.
    pub admin_client_id: String,
    pub admin_client_secret: String,
    /// A confidential client that is not in `admin_clients`.
    pub client_id: String,
    pub client_secret: String,
    /// The secret shared with a homeserver (Synapse's `matrix_authentication_service.secret`).
    pub homeserver_secret: String,
}

impl FakeMas {
    pub fn start() -> FakeMas {
        FakeMas::start_with(&FakeMasOptions::default())
    }

    pub fn start_with(opts: &FakeMasOptions) -> FakeMas {
        let dir = tempfile::Builder::new()
            .prefix("fake-mas-test-")
            .tempdir()
            .unwrap();
        let mut cmd = Command::new(repo().join("tests/servers/fake-mas.sh"));
        cmd.arg("start").arg(dir.path());
        if let Some(p) = opts.port {
            cmd.arg(p.to_string());
        }
        cmd.env("WATCH_PID", std::process::id().to_string());
        if let Some(t) = opts.token_ttl {
            cmd.env("FAKE_MAS_TOKEN_TTL", t.to_string());
        }
        if let Some(c) = opts.minimum_complexity {
            cmd.env("FAKE_MAS_MINIMUM_COMPLEXITY", c.to_string());
        }
        if opts.password_login_disabled {
            cmd.env("FAKE_MAS_PASSWORD_LOGIN", "0");
        }
        if !opts.reserved.is_empty() {
            cmd.env("FAKE_MAS_RESERVED", opts.reserved.join(","));
        }
        if let Some(s) = &opts.server_name {
            cmd.env("FAKE_MAS_SERVER_NAME", s);
        }
        if let Some(u) = &opts.homeserver_url {
            cmd.env("FAKE_MAS_HOMESERVER_URL", u);
        }
        if let Some(p) = &opts.policy {
            cmd.env("FAKE_MAS_POLICY", p);
        }
        let out = cmd.output().expect("run tests/servers/fake-mas.sh");
        assert!(
            out.status.success(),
            "fake-mas.sh start failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let read = |name: &str| {
            std::fs::read_to_string(dir.path().join(name))
                .unwrap()
                .trim()
                .to_string()
        };
        FakeMas {
            url,
            admin_client_id: read("admin-client-id"),
            admin_client_secret: read("admin-client-secret"),
            client_id: read("client-id"),
            client_secret: read("client-secret"),
            homeserver_secret: read("homeserver-secret"),
            dir,
        }
    }

    /// Files a module can be pointed at (`client_secret_file`) or Synapse reads (`secret_path`).
    pub fn admin_client_secret_file(&self) -> PathBuf {
        self.dir.path().join("admin-client-secret")
    }

    /// Writes the Synapse config that delegates authentication to this fake; returns its path.
    pub fn synapse_config(&self) -> PathBuf {
        let out = Command::new(repo().join("tests/servers/fake-mas.sh"))
            .arg("synapse-config")
            .arg(self.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    }

    /// The request log (method, path, status per line; never a secret).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("fake-mas.log")).unwrap_or_default()
    }

    /// client_credentials with client_secret_basic: (status, body).
    pub fn token_request(
        &self,
        client_id: &str,
        secret: &str,
        scope: Option<&str>,
    ) -> (u16, Value) {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        let r = reqwest::blocking::Client::new()
            .post(format!("{}/oauth2/token", self.url))
            .basic_auth(client_id, Some(secret))
            .form(&form)
            .send()
            .unwrap();
        (r.status().as_u16(), r.json().unwrap_or(Value::Null))
    }

    /// A fresh `urn:mas:admin` access token of the admin client.
    pub fn admin_token(&self) -> String {
        let (status, body) = self.token_request(
            &self.admin_client_id,
            &self.admin_client_secret,
            Some("urn:mas:admin"),
        );
        assert_eq!(status, 200, "admin token: {body}");
        body["access_token"].as_str().unwrap().to_string()
    }

    /// An admin API call with a fresh admin token: (status, JSON body or Null).
    pub fn admin(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let http = reqwest::blocking::Client::new();
        let url = format!("{}{}", self.url, path);
        let mut req = http
            .request(method.parse().unwrap(), url)
            .bearer_auth(self.admin_token());
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = req.send().unwrap();
        (r.status().as_u16(), r.json().unwrap_or(Value::Null))
    }

    pub fn admin_get(&self, path: &str) -> (u16, Value) {
        self.admin("GET", path, None)
    }

    /// The user's resource (`data`) as MAS has it, or None.
    pub fn user(&self, username: &str) -> Option<Value> {
        let path = format!(
            "/api/admin/v1/users/by-username/{}",
            url::form_urlencoded::byte_serialize(username.as_bytes())
                .collect::<String>()
                .replace('+', "%20")
        );
        match self.admin_get(&path) {
            (200, v) => Some(v["data"].clone()),
            (404, _) => None,
            (s, v) => panic!("GET {path}: {s} {v}"),
        }
    }

    /// Every item of a paginated admin API list (follows `links.next`).
    pub fn list_all(&self, path: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut next = Some(format!("{path}{sep}page[first]=100"));
        while let Some(p) = next {
            let (s, v) = self.admin_get(&p);
            assert_eq!(s, 200, "GET {p}: {v}");
            out.extend(v["data"].as_array().unwrap().iter().cloned());
            next = v["links"]["next"].as_str().map(String::from);
        }
        out
    }

    pub fn users(&self) -> Vec<Value> {
        self.list_all("/api/admin/v1/users")
    }

    /// The addresses MAS has for a user id.
    pub fn emails_of(&self, user_id: &str) -> Vec<String> {
        self.list_all(&format!("/api/admin/v1/user-emails?filter[user]={user_id}"))
            .iter()
            .map(|e| e["attributes"]["email"].as_str().unwrap().to_string())
            .collect()
    }

    pub fn registration_tokens(&self) -> Vec<Value> {
        self.list_all("/api/admin/v1/user-registration-tokens")
    }

    /// The registration token resource whose token string is `token`, or None.
    pub fn registration_token(&self, token: &str) -> Option<Value> {
        self.registration_tokens()
            .into_iter()
            .find(|t| t["attributes"]["token"] == token)
    }

    /// Whether `password` logs `username` in through the compatibility API
    /// (`POST /_matrix/client/v3/login` on MAS): the way to check that set-password took effect,
    /// which the admin API cannot show.
    /// A locked user's login (401 `M_USER_LOCKED`) counts as "cannot log in".
    pub fn can_login(&self, username: &str, password: &str) -> bool {
        match self.compat_login(username, password) {
            (200, _) => true,
            (403, _) => false,
            (401, v) if v["errcode"] == "M_USER_LOCKED" => false,
            (s, v) => panic!("compat login of {username}: {s} {v}"),
        }
    }

    /// A compatibility password login: (status, body). A 200's `access_token` is an `mct_`
    /// token of a new compatibility session.
    pub fn compat_login(&self, username: &str, password: &str) -> (u16, Value) {
        let r = reqwest::blocking::Client::new()
            .post(format!("{}/_matrix/client/v3/login", self.url))
            .json(&serde_json::json!({"type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": username}, "password": password}))
            .send()
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().unwrap_or(Value::Null))
    }

    /// Introspection of `token` the way Synapse asks (the homeserver secret as bearer token,
    /// `X-MAS-Supports-Device-Id: 1`): the answer's body.
    pub fn introspect(&self, token: &str) -> Value {
        let r = reqwest::blocking::Client::new()
            .post(format!("{}/oauth2/introspect", self.url))
            .bearer_auth(&self.homeserver_secret)
            .header("X-MAS-Supports-Device-Id", "1")
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "introspection");
        r.json().unwrap()
    }

    pub fn stop(&self) {
        let _ = Command::new(repo().join("tests/servers/fake-mas.sh"))
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

impl Drop for FakeMas {
    fn drop(&mut self) {
        self.stop();
    }
}
