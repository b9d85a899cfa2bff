//! The Matrix client-server API that every homeserver serves: login, logout and whoami for an
//! admin session, and the public profile look-up that tells whether an account exists.

use crate::ansible::{register_secret, Result};
use crate::backends::{Directory, Presence, Unknown};
use crate::client::{encode_segment, Auth, Body, Client, Refusal};
use crate::fail;
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

    pub fn client(&self) -> &'c Client {
        self.client
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// The server name, from the user ID the token belongs to (`@admin:server`).
    pub fn server_name(&self) -> Result<String> {
        let r = self.client.send(
            Method::GET,
            "/_matrix/client/v3/account/whoami",
            Auth::Bearer(&self.token),
            Body::Empty,
            true,
        )?;
        if !r.is_success() {
            return Err(
                crate::api::mas::delegation_error(self.client, &r).unwrap_or_else(|| {
                    crate::api::synapse_admin::admin_error(&r, "checking the admin credentials")
                }),
            );
        }
        r.body
            .get("user_id")
            .and_then(Value::as_str)
            .and_then(|id| id.split_once(':'))
            .map(|(_, s)| s.to_string())
            .ok_or_else(|| fail!("whoami did not return a user ID; give server_name"))
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

/// Look-ups through the client profile API: 200 means the account exists, 404 that it does not.
/// Costs a millisecond where a registration attempt costs a bcrypt hash.
pub struct ProfileDirectory<'a> {
    client: &'a Client,
    token: Option<&'a str>,
}

impl<'a> ProfileDirectory<'a> {
    pub fn new(client: &'a Client, token: Option<&'a str>) -> ProfileDirectory<'a> {
        ProfileDirectory { client, token }
    }
}

impl Directory for ProfileDirectory<'_> {
    fn lookup(&self, user_id: &str) -> Result<Presence> {
        let path = format!("/_matrix/client/v3/profile/{}", encode_segment(user_id));
        let auth = self.token.map_or(Auth::None, Auth::Bearer);
        // Synapse rate-limits profile look-ups (rc_profile); when it does, registering is the
        // look-up, so the limit is not waited out.
        let r = self.client.get_unless_limited(&path, auth)?;
        Ok(match (r.status.as_u16(), r.refusal()) {
            (200, _) => Presence::Exists { admin: None },
            (_, Some(Refusal::NotFound)) | (404, _) => Presence::Absent,
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
