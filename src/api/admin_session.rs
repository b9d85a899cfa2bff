//! An admin's session on a homeserver's client-server API (login, whoami, logout), and the calls
//! made with it: every admin API of Synapse, Dendrite and tuwunel acts with such a session.

use crate::ansible::{register_secret, Error, Result};
use crate::api::delegation::delegation_error;
use crate::api::logout::log_out;
use crate::client::{Auth, Body, Client, Refusal, Response};
use crate::fail;
use crate::matrix::validate_server_name;
use reqwest::Method;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};

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
pub struct AdminSession {
    client: Client,
    token: String,
    logged_in: AtomicBool,
    /// Check mode with admin_username: who was not logged in.
    not_logged_in: Option<String>,
}

impl AdminSession {
    pub fn open(client: Client, creds: &AdminCredentials) -> Result<AdminSession> {
        match creds {
            AdminCredentials::Token(t) => Ok(AdminSession {
                client,
                token: t.clone(),
                logged_in: AtomicBool::new(false),
                not_logged_in: None,
            }),
            AdminCredentials::Login { username, .. } if crate::ansible::check_mode() => {
                crate::ansible::warn(format!(
                    "check mode does not log in as admin_username '{username}' (a login creates a device on the server and the logout deletes it): what needs the admin's rights is not predicted. Give access_token to predict it"
                ));
                Ok(AdminSession {
                    client,
                    token: String::new(),
                    logged_in: AtomicBool::new(false),
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
                        r.summary()
                    )),
                    Some(Refusal::RateLimited) => return Err(fail!(
                        "logging in as admin_username '{username}' was rate limited ({}): pass access_token instead of logging in on every task",
                        r.summary()
                    )),
                    Some(_) => return Err(fail!(
                        "logging in as admin_username '{username}' failed: {}",
                        r.summary()
                    )),
                }
                let action = format!("logging in as admin_username '{username}'");
                let token = r.str_field(&action, "access_token")?.to_string();
                register_secret(&token);
                // Logged out on drop, also when the check below fails.
                let session = AdminSession {
                    client,
                    token,
                    logged_in: AtomicBool::new(true),
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

    pub fn client(&self) -> &Client {
        &self.client
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

    /// The user ID the token belongs to (`whoami`): the account the task acts as.
    pub fn user_id(&self) -> Result<String> {
        let action = "checking the admin credentials (whoami)";
        let r = self.client.send(
            Method::GET,
            "/_matrix/client/v3/account/whoami",
            self.auth("learning the admin's user ID")?,
            Body::Empty,
            true,
        )?;
        if !r.is_success() {
            return Err(
                delegation_error(&self.client, &r).unwrap_or_else(|| admin_error(&r, action))
            );
        }
        let user_id = r.str_field(action, "user_id")?;
        user_id
            .strip_prefix('@')
            .and_then(|id| id.split_once(':'))
            .filter(|(l, s)| !l.is_empty() && validate_server_name("server_name", s).is_ok())
            .ok_or_else(|| r.unexpected(action, "a user ID such as @admin:example.org"))?;
        Ok(user_id.to_string())
    }

    /// The server name, from the user ID the token belongs to (`@admin:server`).
    pub fn server_name(&self) -> Result<String> {
        let user_id = self.user_id()?;
        Ok(user_id.split_once(':').map_or("", |(_, s)| s).to_string())
    }

    /// Logs out a session this task logged in, reporting failure.
    pub fn close(&self) -> Result<()> {
        self.logout()
    }

    fn logout(&self) -> Result<()> {
        if !self.logged_in.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        log_out(&self.client, &self.token, "logging out the admin session")
    }
}

impl Drop for AdminSession {
    fn drop(&mut self) {
        let _ = self.logout();
    }
}

/// An idempotent admin API call: the response on success, else the refusal explained.
pub fn admin_call(
    session: &AdminSession,
    method: Method,
    path: &str,
    body: Body<'_>,
    action: &str,
) -> Result<Response> {
    let r = session
        .client()
        .send(method, path, session.auth(action)?, body, true)
        .map_err(|e| fail!("{action}: {e}"))?;
    if r.is_success() {
        // A success is a JSON object; a web page answering 200 is not.
        r.object(action)?;
        Ok(r)
    } else {
        Err(delegation_error(session.client(), &r).unwrap_or_else(|| admin_error(&r, action)))
    }
}

/// A refused admin call, explained.
pub fn admin_error(r: &Response, action: &str) -> Error {
    let detail = r.summary();
    if !r.is_matrix_error() && r.status.as_u16() != 429 {
        return r.unexpected(action, "a Matrix answer");
    }
    match r.refusal() {
        Some(Refusal::Unauthorized) => fail!(
            "{action}: the access token was refused ({detail}); it is unknown, expired or logged out"
        ),
        Some(Refusal::Forbidden)
            if r.errcode() == Some("M_FORBIDDEN")
                && r.error_text().unwrap_or("").contains("admin") =>
        {
            fail!("{action}: the admin credentials lack admin rights on the server ({detail})")
        }
        Some(Refusal::NotServed) if r.status.as_u16() == 405 || r.errcode() == Some("M_UNRECOGNIZED") => fail!(
            "{action}: the server does not serve this admin API ({detail}); is homeserver_url the homeserver's client API?"
        ),
        _ => fail!("{action} failed: {detail}"),
    }
}
