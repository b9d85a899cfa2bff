//! Shared-secret registration (`/_synapse/admin/v1/register`), served by Synapse and Dendrite
//! alike, even with public registration closed.

use crate::ansible::Result;
use crate::backends::{NewUser, Registrar, Registration};
use crate::client::{Auth, Body, Client, Response};
use crate::fail;
use crate::matrix::registration_mac;
use reqwest::Method;
use serde_json::{json, Value};

const REGISTER: &str = "/_synapse/admin/v1/register";

/// Registration with the homeserver's registration shared secret.
pub struct SharedSecretRegistration<'a> {
    client: &'a Client,
    shared_secret: &'a str,
}

impl<'a> SharedSecretRegistration<'a> {
    pub fn new(client: &'a Client, shared_secret: &'a str) -> SharedSecretRegistration<'a> {
        SharedSecretRegistration {
            client,
            shared_secret,
        }
    }
}

impl Registrar for SharedSecretRegistration<'_> {
    fn register(&self, user: &NewUser<'_>) -> Result<Registration> {
        register(self.client, self.shared_secret, user)
    }
}

/// GET a nonce, POST the MAC'd request at once. `inhibit_login` keeps Synapse from creating a
/// device and an access token for the new account.
fn register(client: &Client, shared_secret: &str, user: &NewUser<'_>) -> Result<Registration> {
    // A nonce is single-use and lives 60 s in the memory of one process; "unrecognised nonce"
    // (a restart, or a load balancer between two processes) is worth one more try.
    for attempt in 0..2 {
        let nonce = get_nonce(client, user.localpart)?;
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
        let r = client
            .send(Method::POST, REGISTER, Auth::None, Body::Json(&body), false)
            .map_err(|e| fail!("registering '{}': {e}", user.localpart))?;
        if r.is_success() {
            let action = format!("registering '{}'", user.localpart);
            let user_id = r.str_field(&action, "user_id")?;
            // The answer must name the account asked for: `@<localpart>:<server>`.
            let named = user_id
                .strip_prefix('@')
                .and_then(|rest| rest.split_once(':'))
                .is_some_and(|(l, s)| l == user.localpart && !s.is_empty());
            if !named {
                return Err(fail!(
                    "{action}: the server answered that it registered '{}', not an account named '{}'; that is not the account asked for, so nothing is reported as created. Check homeserver_url and the server's registration setup",
                    crate::ansible::escape_text(user_id),
                    user.localpart
                ));
            }
            return Ok(Registration::Created {
                user_id: user_id.to_string(),
            });
        }
        match (r.status.as_u16(), r.errcode(), r.error_text()) {
            (400, Some("M_USER_IN_USE"), _) => return Ok(Registration::Exists),
            (s, _, _) if !r.is_matrix_error() && s != 404 && s != 405 => {
                return Err(r.unexpected(
                    &format!("registering '{}'", user.localpart),
                    "a Matrix answer",
                ))
            }
            (400, _, Some("unrecognised nonce")) if attempt == 0 => continue,
            _ => return Err(registration_error(&r, user.localpart)),
        }
    }
    Err(fail!("the server kept refusing fresh registration nonces"))
}

fn get_nonce(client: &Client, localpart: &str) -> Result<String> {
    let r = client
        .send(Method::GET, REGISTER, Auth::None, Body::Empty, true)
        .map_err(|e| {
            fail!("registering '{localpart}': getting a registration nonce failed: {e}")
        })?;
    if !r.is_success() {
        // Under MAS delegation this API answers 404 M_UNRECOGNIZED: say to use backend mas.
        if let Some(e) = crate::api::mas::delegation_error(client, &r) {
            return Err(e);
        }
        return Err(registration_error(&r, localpart));
    }
    let action = format!("registering '{localpart}' (getting a registration nonce)");
    let nonce = r.str_field(&action, "nonce")?;
    if nonce.is_empty() {
        return Err(r.unexpected(&action, "a non-empty nonce"));
    }
    Ok(nonce.to_string())
}

/// Turns a refused registration into a message that says what to fix.
fn registration_error(r: &Response, localpart: &str) -> crate::ansible::Error {
    let detail = r.describe();
    match (r.status.as_u16(), r.errcode(), r.error_text().unwrap_or("")) {
        (403, _, e) if e.contains("HMAC") => fail!(
            "registering '{localpart}': the server rejected the shared secret ({detail}): shared_secret must be the homeserver's registration_shared_secret"
        ),
        (400, _, e) if e.contains("not enabled") => fail!(
            "registering '{localpart}': shared-secret registration is not enabled on the server ({detail}): set registration_shared_secret (or registration_shared_secret_path) in homeserver.yaml"
        ),
        (404, _, _) | (405, _, _) => fail!(
            "registering '{localpart}': the server does not serve {REGISTER} ({}): point homeserver_url at the main Synapse or Dendrite process (a homeserver that delegates authentication to Matrix Authentication Service has no shared-secret registration)",
            r.what_answered()
        ),
        (_, None, _) => r.unexpected(&format!("registering '{localpart}'"), "a Matrix answer"),
        (400, Some("M_INVALID_USERNAME" | "M_EXCLUSIVE"), _) => fail!(
            "the server refused the user name '{localpart}' ({detail})"
        ),
        _ => fail!("registration of '{localpart}' failed: {detail}"),
    }
}
