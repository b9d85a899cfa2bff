//! The Matrix client-server API that every homeserver serves: login, logout and whoami for an
//! admin session, and the public profile look-up that tells whether an account exists.

use crate::ansible::{register_secret, Result};
use crate::backends::{Directory, Presence, Unknown};
use crate::client::{encode_segment, Auth, Body, Client, Refusal};
use crate::fail;
use crate::matrix::validate_server_name;
use reqwest::Method;
use serde_json::{json, Value};

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

/// An admin access token for the duration of a task. A session opened by logging in is logged
/// out by [`AdminSession::close`], or on drop if the task fails on the way.
///
/// In check mode a login is never made (it creates a device on the server, and its logout
/// deletes one): the session is then not live, every call that needs it fails with a message
/// that says what could not be predicted, and a warning says so.
#[derive(Debug)]
pub struct AdminSession<'c> {
    client: &'c Client,
    token: String,
    logged_in: bool,
    /// Check mode with admin_username: who was not logged in.
    not_logged_in: Option<String>,
}

impl<'c> AdminSession<'c> {
    pub fn open(client: &'c Client, creds: &AdminCredentials) -> Result<AdminSession<'c>> {
        match creds {
            AdminCredentials::Token(t) => Ok(AdminSession {
                client,
                token: t.clone(),
                logged_in: false,
                not_logged_in: None,
            }),
            AdminCredentials::Login { username, .. } if crate::ansible::check_mode() => {
                crate::ansible::warn(format!(
                    "check mode does not log in as admin_username '{username}' (a login creates a device on the server and the logout deletes it): what needs the admin's rights is not predicted. Give access_token to predict it"
                ));
                Ok(AdminSession {
                    client,
                    token: String::new(),
                    logged_in: false,
                    not_logged_in: Some(username.clone()),
                })
            }
            AdminCredentials::Login { username, password } => {
                let body = json!({
                    "type": "m.login.password",
                    "identifier": {"type": "m.id.user", "user": username},
                    "password": password,
                    "initial_device_display_name": "matrix-users Ansible modules (logged out after the task)",
                });
                let r = client.send(
                    Method::POST,
                    "/_matrix/client/v3/login",
                    Auth::None,
                    Body::Json(&body),
                    false,
                )?;
                match r.refusal() {
                    None => {}
                    Some(Refusal::Forbidden) => return Err(fail!(
                        "logging in as admin_username '{username}' failed ({}): check admin_username and admin_password",
                        r.describe()
                    )),
                    Some(Refusal::RateLimited) => return Err(fail!(
                        "logging in as admin_username '{username}' was rate limited ({}): pass access_token instead of logging in on every task",
                        r.describe()
                    )),
                    Some(_) => return Err(fail!(
                        "logging in as admin_username '{username}' failed: {}",
                        r.describe()
                    )),
                }
                let action = format!("logging in as admin_username '{username}'");
                let token = r.str_field(&action, "access_token")?.to_string();
                register_secret(&token);
                // Logged out on drop, also when the check below fails.
                let session = AdminSession {
                    client,
                    token,
                    logged_in: true,
                    not_logged_in: None,
                };
                // The session must be the admin's own: `user_id` names the account logged in.
                let local = username
                    .strip_prefix('@')
                    .map_or(username.as_str(), |u| u.split(':').next().unwrap_or(u));
                let answered = r.str_field(&action, "user_id")?;
                let named = answered
                    .strip_prefix('@')
                    .and_then(|u| u.split_once(':'))
                    .is_some_and(|(l, _)| l == local);
                if !named {
                    return Err(r.unexpected(&action, &format!("a session of '{username}'")));
                }
                Ok(session)
            }
        }
    }

    pub fn client(&self) -> &'c Client {
        self.client
    }

    /// The access token; empty for a session that is not live (check mode, no login).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Whether the session has a token: false in check mode with admin_username.
    pub fn is_live(&self) -> bool {
        self.not_logged_in.is_none()
    }

    /// The session's authentication for `action`; fails for a session that is not live, saying
    /// what cannot be predicted.
    pub fn auth(&self, action: &str) -> Result<Auth<'_>> {
        match &self.not_logged_in {
            None => Ok(Auth::Bearer(&self.token)),
            Some(u) => Err(fail!(
                "{action} needs the admin's rights, and check mode does not log in as admin_username '{u}' (a login creates a device on the server), so it cannot be predicted; give access_token to predict it in check mode"
            )),
        }
    }

    /// The server name, from the user ID the token belongs to (`@admin:server`).
    pub fn server_name(&self) -> Result<String> {
        let action = "checking the admin credentials (whoami)";
        let r = self.client.send(
            Method::GET,
            "/_matrix/client/v3/account/whoami",
            self.auth("learning the server name")?,
            Body::Empty,
            true,
        )?;
        if !r.is_success() {
            return Err(crate::api::mas::delegation_error(self.client, &r)
                .unwrap_or_else(|| crate::api::synapse_admin::admin_error(&r, action)));
        }
        let user_id = r.str_field(action, "user_id")?;
        let server = user_id
            .strip_prefix('@')
            .and_then(|id| id.split_once(':'))
            .map(|(_, s)| s)
            .filter(|s| validate_server_name("server_name", s).is_ok())
            .ok_or_else(|| r.unexpected(action, "a user ID such as @admin:example.org"))?;
        Ok(server.to_string())
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
            r.object("logging out the admin session").map(drop)
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

/// Look-ups through the client profile API: 200 means the account exists, 404 that it does not.
/// Costs a millisecond where a registration attempt costs a bcrypt hash.
pub struct ProfileDirectory<'a> {
    client: &'a Client,
    token: Option<&'a str>,
    /// Whether the server answered `/_matrix/client/versions` as a homeserver does.
    confirmed: std::sync::OnceLock<()>,
}

impl<'a> ProfileDirectory<'a> {
    /// `token`: an admin's, or None (an empty token, of a session that is not live, is none).
    pub fn new(client: &'a Client, token: Option<&'a str>) -> ProfileDirectory<'a> {
        ProfileDirectory {
            client,
            token: token.filter(|t| !t.is_empty()),
            confirmed: std::sync::OnceLock::new(),
        }
    }

    /// Checks once that the server is a Matrix homeserver: `GET /_matrix/client/versions`, which
    /// every homeserver serves without authentication, lists the spec versions it supports.
    fn confirm_matrix(&self) -> Result<()> {
        if self.confirmed.get().is_some() {
            return Ok(());
        }
        let action = "checking that homeserver_url is a Matrix homeserver";
        let r = self.client.send(
            Method::GET,
            "/_matrix/client/versions",
            Auth::None,
            Body::Empty,
            true,
        )?;
        let ok = r.is_success()
            && r.body
                .get("versions")
                .and_then(Value::as_array)
                .is_some_and(|v| !v.is_empty() && v.iter().all(Value::is_string));
        if !ok {
            return Err(r.unexpected(action, "the list of Matrix versions a homeserver serves"));
        }
        let _ = self.confirmed.set(());
        Ok(())
    }
}

/// The homeserver's own name, learnt without credentials from its signing keys
/// (`GET /_matrix/key/v2/server`, which Dendrite and a Synapse listener with the `federation`
/// or `keys` resource serve). None when the server does not serve it. The answer is the server's
/// own: the request never makes it contact another server.
pub fn server_name_from_keys(client: &Client) -> Result<Option<String>> {
    let r = client.get_unless_limited("/_matrix/key/v2/server", Auth::None)?;
    if !r.is_success() {
        return Ok(None);
    }
    Ok(r.body
        .get("server_name")
        .and_then(Value::as_str)
        .filter(|s| validate_server_name("server_name", s).is_ok())
        .map(str::to_string))
}

impl Directory for ProfileDirectory<'_> {
    fn lookup(&self, user_id: &str) -> Result<Presence> {
        let path = format!("/_matrix/client/v3/profile/{}", encode_segment(user_id));
        let auth = self.token.map_or(Auth::None, Auth::Bearer);
        // Synapse rate-limits profile look-ups (rc_profile); when it does, registering is the
        // look-up, so the limit is not waited out.
        let action = format!("looking up {user_id}");
        let r = self
            .client
            .get_unless_limited(&path, auth)
            .map_err(|e| fail!("{action}: {e}"))?;
        Ok(match (r.status.as_u16(), r.refusal()) {
            (200, _) => {
                r.object(&action)?;
                // "Exists" is the one answer that ends the task with nothing done: it counts only
                // from a server that shows itself a Matrix homeserver.
                self.confirm_matrix()?;
                Presence::Exists { admin: None }
            }
            // Synapse answers M_NOT_FOUND, or M_UNKNOWN "No row found" in some versions.
            (404, _) if r.is_matrix_error() => Presence::Absent,
            // A 404 that is not a Matrix error is a proxy or another server, not "no account".
            (404, _) => {
                return Err(r.unexpected(&action, "a Matrix answer (M_NOT_FOUND for no account)"))
            }
            (_, Some(Refusal::RateLimited)) => Presence::Unknown(Unknown::RateLimited(format!(
                "profile look-ups are rate limited ({})",
                r.describe()
            ))),
            (_, Some(Refusal::Unauthorized | Refusal::Forbidden)) => {
                Presence::Unknown(Unknown::Other(format!(
                    "the server does not show profiles without authentication ({})",
                    r.describe()
                )))
            }
            _ => Presence::Unknown(Unknown::Other(format!(
                "the profile lookup answered {}",
                r.describe()
            ))),
        })
    }
}
