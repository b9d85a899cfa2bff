//! Synapse: shared-secret registration, user lookups, admin sessions and the admin user API.
//! Dendrite serves the same registration endpoint and the same client API; its own admin calls
//! live in `dendrite.rs`.

use crate::ansible::{register_secret, Params, Result};
use crate::client::{encode_segment, Auth, Body, Client, Response};
use crate::fail;
use crate::matrix::registration_mac;
use crate::tokens::Token;
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{json, Map, Value};

const REGISTER: &str = "/_synapse/admin/v1/register";

/// An account to create.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub localpart: &'a str,
    pub password: &'a str,
    pub admin: bool,
    pub user_type: Option<&'a str>,
    pub displayname: Option<&'a str>,
}

/// What a registration attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    Created {
        user_id: String,
    },
    /// The name is taken (M_USER_IN_USE): success, nothing changed.
    Exists,
}

/// Registers with the shared secret: GET a nonce, POST the MAC'd request at once.
/// `inhibit_login` keeps Synapse from creating a device and an access token for the new account.
pub fn register(client: &Client, shared_secret: &str, user: &NewUser<'_>) -> Result<Registration> {
    // A nonce is single-use and lives 60 s in the memory of one process; "unrecognised nonce"
    // (a restart, or a load balancer between two processes) is worth one more try.
    for attempt in 0..2 {
        let nonce = get_nonce(client)?;
        let mac = registration_mac(
            shared_secret,
            &nonce,
            user.localpart,
            user.password,
            user.admin,
            user.user_type,
        );
        let mut body = json!({
            "nonce": nonce,
            "username": user.localpart,
            "password": user.password,
            "admin": user.admin,
            "mac": mac,
            "inhibit_login": true,
        });
        if let Some(t) = user.user_type {
            body["user_type"] = Value::from(t);
        }
        if let Some(d) = user.displayname {
            body["displayname"] = Value::from(d);
        }
        let r = client.send(Method::POST, REGISTER, Auth::None, Body::Json(&body), false)?;
        if r.is_success() {
            let user_id = r
                .body
                .get("user_id")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    fail!(
                        "the server registered the account but sent no user_id ({})",
                        r.describe()
                    )
                })?;
            return Ok(Registration::Created {
                user_id: user_id.to_string(),
            });
        }
        match (r.status.as_u16(), r.errcode(), r.error_text()) {
            (400, Some("M_USER_IN_USE"), _) => return Ok(Registration::Exists),
            (400, _, Some("unrecognised nonce")) if attempt == 0 => continue,
            _ => return Err(registration_error(&r, user.localpart)),
        }
    }
    Err(fail!("the server kept refusing fresh registration nonces"))
}

fn get_nonce(client: &Client) -> Result<String> {
    let r = client.send(Method::GET, REGISTER, Auth::None, Body::Empty, true)?;
    if !r.is_success() {
        return Err(registration_error(&r, ""));
    }
    r.body
        .get("nonce")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| fail!("GET {REGISTER} answered without a nonce; is homeserver_url a Synapse or Dendrite server?"))
}

/// Turns a refused registration into a message that says what to fix.
fn registration_error(r: &Response, localpart: &str) -> crate::ansible::Error {
    let detail = r.describe();
    match (r.status.as_u16(), r.errcode(), r.error_text().unwrap_or("")) {
        (403, _, e) if e.contains("HMAC") => fail!(
            "the server rejected the shared secret ({detail}): shared_secret must be the homeserver's registration_shared_secret"
        ),
        (400, _, e) if e.contains("not enabled") => fail!(
            "shared-secret registration is not enabled on the server ({detail}): set registration_shared_secret (or registration_shared_secret_path) in homeserver.yaml"
        ),
        (404, _, _) | (405, _, _) => fail!(
            "the server does not serve {REGISTER} ({detail}): point homeserver_url at the main Synapse or Dendrite process; with Matrix Authentication Service, users are created through MAS instead"
        ),
        (400, Some("M_INVALID_USERNAME" | "M_EXCLUSIVE"), _) => fail!(
            "the server refused the user name '{localpart}' ({detail})"
        ),
        _ => fail!("registration of '{localpart}' failed: {detail}"),
    }
}

/// Whether an account exists, as far as an unauthenticated (or plain-user) caller can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    Exists,
    Absent,
    /// The server would not say; the reason is for a warning.
    Unknown(String),
}

/// Looks a user up through the client profile API: 200 means the account exists, 404 that it
/// does not. Costs a millisecond where a registration attempt costs a bcrypt hash.
pub fn lookup_profile(client: &Client, user_id: &str, auth: Auth<'_>) -> Result<Presence> {
    let path = format!("/_matrix/client/v3/profile/{}", encode_segment(user_id));
    // Synapse rate-limits profile look-ups (rc_profile); when it does, registering is the
    // look-up, so the limit is not waited out.
    let r = client.get_unless_limited(&path, auth)?;
    Ok(match r.status.as_u16() {
        200 => Presence::Exists,
        404 => Presence::Absent,
        429 => Presence::Unknown(format!(
            "profile look-ups are rate limited ({})",
            r.describe()
        )),
        401 | 403 => Presence::Unknown(format!(
            "the server does not show profiles without authentication ({})",
            r.describe()
        )),
        _ => Presence::Unknown(format!("the profile lookup answered {}", r.describe())),
    })
}

/// The admin API's view of a user, or None if there is no such account.
pub fn admin_get_user(client: &Client, token: &str, user_id: &str) -> Result<Option<Value>> {
    let path = format!("/_synapse/admin/v2/users/{}", encode_segment(user_id));
    let r = client.send(Method::GET, &path, Auth::Bearer(token), Body::Empty, true)?;
    match r.status.as_u16() {
        200 => Ok(Some(r.body)),
        404 if r.errcode() == Some("M_NOT_FOUND") => Ok(None),
        _ => Err(admin_error(&r, &format!("looking up {user_id}"))),
    }
}

/// Sets a password through the admin API, keeping the account's sessions.
pub fn admin_set_password(
    client: &Client,
    token: &str,
    user_id: &str,
    password: &str,
) -> Result<()> {
    let path = format!("/_synapse/admin/v2/users/{}", encode_segment(user_id));
    let body = json!({"password": password, "logout_devices": false});
    admin_call(
        client,
        token,
        Method::PUT,
        &path,
        Body::Json(&body),
        &format!("setting the password of {user_id}"),
    )
    .map(drop)
}

/// An idempotent admin API call: the response on success, else the refusal explained.
pub fn admin_call(
    client: &Client,
    token: &str,
    method: Method,
    path: &str,
    body: Body<'_>,
    action: &str,
) -> Result<Response> {
    let r = client.send(method, path, Auth::Bearer(token), body, true)?;
    if r.is_success() {
        Ok(r)
    } else {
        Err(admin_error(&r, action))
    }
}

/// A refused admin call, explained.
pub fn admin_error(r: &Response, action: &str) -> crate::ansible::Error {
    let detail = r.describe();
    match (r.status.as_u16(), r.errcode()) {
        (401, _) => fail!(
            "{action}: the access token was refused ({detail}); it is unknown, expired or logged out"
        ),
        (403, Some("M_FORBIDDEN")) if r.error_text().unwrap_or("").contains("admin") => fail!(
            "{action}: the admin credentials lack admin rights on the server ({detail})"
        ),
        (404, Some("M_UNRECOGNIZED")) | (405, _) => fail!(
            "{action}: the server does not serve this admin API ({detail}); with Matrix Authentication Service, use backend mas"
        ),
        _ => fail!("{action} failed: {detail}"),
    }
}

/// How to act as an admin.
#[derive(Debug, Clone)]
pub enum AdminCredentials {
    Token(String),
    /// Log in once, act, log out: no device is left behind.
    Login {
        username: String,
        password: String,
    },
}

impl AdminCredentials {
    /// Reads `access_token`, or `admin_username` + `admin_password`; None if neither is given.
    pub fn from_params(p: &Params) -> Result<Option<AdminCredentials>> {
        if let Some(t) = p.str("access_token") {
            if t.is_empty() {
                return Err(fail!("access_token is empty"));
            }
            return Ok(Some(AdminCredentials::Token(t.to_string())));
        }
        match (p.str("admin_username"), p.str("admin_password")) {
            (Some(u), Some(pw)) => {
                register_secret(pw);
                Ok(Some(AdminCredentials::Login {
                    username: u.to_string(),
                    password: pw.to_string(),
                }))
            }
            _ => Ok(None),
        }
    }
}

/// The server name, from the user ID the token belongs to (`@admin:server`).
pub fn server_name_of_token(client: &Client, token: &str) -> Result<String> {
    let r = client.send(
        Method::GET,
        "/_matrix/client/v3/account/whoami",
        Auth::Bearer(token),
        Body::Empty,
        true,
    )?;
    if !r.is_success() {
        return Err(admin_error(&r, "checking the admin credentials"));
    }
    r.body
        .get("user_id")
        .and_then(Value::as_str)
        .and_then(|id| id.split_once(':'))
        .map(|(_, s)| s.to_string())
        .ok_or_else(|| fail!("whoami did not return a user ID; give server_name"))
}

/// An admin access token for the duration of a task. A session opened by logging in is logged
/// out by [`AdminSession::close`], or on drop if the task fails on the way.
#[derive(Debug)]
pub struct AdminSession<'c> {
    client: &'c Client,
    token: String,
    logged_in: bool,
}

impl<'c> AdminSession<'c> {
    pub fn open(client: &'c Client, creds: &AdminCredentials) -> Result<AdminSession<'c>> {
        match creds {
            AdminCredentials::Token(t) => Ok(AdminSession {
                client,
                token: t.clone(),
                logged_in: false,
            }),
            AdminCredentials::Login { username, password } => {
                let body = json!({
                    "type": "m.login.password",
                    "identifier": {"type": "m.id.user", "user": username},
                    "password": password,
                    "initial_device_display_name": "Ansible matrix modules (logged out after the task)",
                });
                let r = client.send(
                    Method::POST,
                    "/_matrix/client/v3/login",
                    Auth::None,
                    Body::Json(&body),
                    false,
                )?;
                if !r.is_success() {
                    return Err(match r.status.as_u16() {
                        403 => fail!(
                            "logging in as admin_username '{username}' failed ({}): check admin_username and admin_password",
                            r.describe()
                        ),
                        429 => fail!(
                            "logging in as admin_username '{username}' was rate limited ({}): pass access_token instead of logging in on every task",
                            r.describe()
                        ),
                        _ => fail!("logging in as admin_username '{username}' failed: {}", r.describe()),
                    });
                }
                let token = r
                    .body
                    .get("access_token")
                    .and_then(Value::as_str)
                    .ok_or_else(|| fail!("the login answer had no access_token"))?
                    .to_string();
                register_secret(&token);
                Ok(AdminSession {
                    client,
                    token,
                    logged_in: true,
                })
            }
        }
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// Logs out a session this task logged in, reporting failure.
    pub fn close(mut self) -> Result<()> {
        self.logout()
    }

    fn logout(&mut self) -> Result<()> {
        if !std::mem::take(&mut self.logged_in) {
            return Ok(());
        }
        let r = self.client.send(
            Method::POST,
            "/_matrix/client/v3/logout",
            Auth::Bearer(&self.token),
            Body::Json(&json!({})),
            true,
        )?;
        if r.is_success() {
            Ok(())
        } else {
            Err(fail!(
                "logging out the admin session failed: {}",
                r.describe()
            ))
        }
    }
}

impl Drop for AdminSession<'_> {
    fn drop(&mut self) {
        let _ = self.logout();
    }
}

// Registration tokens: /_synapse/admin/v1/registration_tokens. Synapse has no disabled flag, and
// uses_allowed 0 means unlimited to its validity check (`if uses_allowed and ...`), so a token is
// disabled by making it expire now; a token that can no longer be used is reported disabled.

const TOKENS: &str = "/_synapse/admin/v1/registration_tokens";

fn parse_token(v: &Value) -> Result<Token> {
    let name = v
        .get("token")
        .and_then(Value::as_str)
        .ok_or_else(|| fail!("Synapse sent a registration token without a name: {v}"))?
        .to_string();
    let uses_allowed = v.get("uses_allowed").and_then(Value::as_u64);
    let pending = v.get("pending").and_then(Value::as_u64).unwrap_or(0);
    let completed = v.get("completed").and_then(Value::as_u64).unwrap_or(0);
    let expiry = v
        .get("expiry_time")
        .and_then(Value::as_i64)
        .and_then(DateTime::<Utc>::from_timestamp_millis);
    // Synapse's own validity rule (registration_token_is_valid): 0 and null are unlimited.
    let valid = uses_allowed.is_none_or(|n| n == 0 || pending + completed < n)
        && expiry.is_none_or(|t| t > Utc::now());
    let disabled = !valid;
    Ok(Token {
        name,
        max_usage: uses_allowed.unwrap_or(0),
        used: completed,
        expiration_date: expiry,
        disabled,
        valid,
    })
}

fn token_path(name: &str) -> String {
    format!("{TOKENS}/{}", encode_segment(name))
}

fn expect_token(r: &Response, action: &str) -> Result<Token> {
    if r.is_success() {
        parse_token(&r.body)
    } else {
        Err(admin_error(r, action))
    }
}

pub fn list_tokens(client: &Client, token: &str, valid: Option<bool>) -> Result<Vec<Token>> {
    let path = match valid {
        Some(v) => format!("{TOKENS}?valid={v}"),
        None => TOKENS.to_string(),
    };
    let r = client.send(Method::GET, &path, Auth::Bearer(token), Body::Empty, true)?;
    if !r.is_success() {
        return Err(admin_error(&r, "listing registration tokens"));
    }
    r.body
        .get("registration_tokens")
        .and_then(Value::as_array)
        .ok_or_else(|| fail!("Synapse sent no registration_tokens list"))?
        .iter()
        .map(parse_token)
        .collect()
}

pub fn get_token(client: &Client, token: &str, name: &str) -> Result<Option<Token>> {
    let r = client.send(
        Method::GET,
        &token_path(name),
        Auth::Bearer(token),
        Body::Empty,
        true,
    )?;
    if r.status.as_u16() == 404 && r.errcode() == Some("M_NOT_FOUND") {
        return Ok(None);
    }
    expect_token(&r, &format!("reading registration token {name}")).map(Some)
}

fn uses_json(max_usage: u64) -> Value {
    if max_usage == 0 {
        Value::Null
    } else {
        Value::from(max_usage)
    }
}

pub fn create_token(
    client: &Client,
    token: &str,
    name: Option<&str>,
    max_usage: u64,
    expiry: Option<DateTime<Utc>>,
) -> Result<Token> {
    let mut body = json!({
        "uses_allowed": uses_json(max_usage),
        "expiry_time": expiry.map(|t| t.timestamp_millis()),
    });
    if let Some(n) = name {
        body["token"] = Value::from(n);
    }
    let r = client.send(
        Method::POST,
        &format!("{TOKENS}/new"),
        Auth::Bearer(token),
        Body::Json(&body),
        false,
    )?;
    expect_token(&r, "creating a registration token")
}

/// Sets what is given: `uses` (0: unlimited) and `expiry`.
pub fn update_token(
    client: &Client,
    token: &str,
    name: &str,
    uses: Option<u64>,
    expiry: Option<DateTime<Utc>>,
) -> Result<Token> {
    let mut body = Map::new();
    if let Some(n) = uses {
        body.insert("uses_allowed".into(), uses_json(n));
    }
    if let Some(t) = expiry {
        body.insert("expiry_time".into(), Value::from(t.timestamp_millis()));
    }
    let r = client.send(
        Method::PUT,
        &token_path(name),
        Auth::Bearer(token),
        Body::Json(&Value::Object(body)),
        true,
    )?;
    expect_token(&r, &format!("updating registration token {name}"))
}

/// Makes the token expire now. Synapse refuses an expiry in the past, so it is set a second
/// ahead and the call returns once that second has passed and the token is unusable.
pub fn disable_token(client: &Client, token: &str, name: &str) -> Result<Token> {
    let until = Utc::now() + chrono::TimeDelta::seconds(1);
    let body = json!({"expiry_time": until.timestamp_millis()});
    let r = client.send(
        Method::PUT,
        &token_path(name),
        Auth::Bearer(token),
        Body::Json(&body),
        true,
    )?;
    expect_token(&r, &format!("disabling registration token {name}"))?;
    if let Ok(wait) = (until - Utc::now() + chrono::TimeDelta::milliseconds(20)).to_std() {
        std::thread::sleep(wait);
    }
    get_token(client, token, name)?
        .ok_or_else(|| fail!("registration token {name} vanished while it was being disabled"))
}

pub fn delete_token(client: &Client, token: &str, name: &str) -> Result<()> {
    let action = format!("deleting registration token {name}");
    admin_call(
        client,
        token,
        Method::DELETE,
        &token_path(name),
        Body::Empty,
        &action,
    )
    .map(drop)
}
