//! Shared-secret registration (`/_synapse/admin/v1/register`), served by Synapse, Dendrite and
//! tuwunel (since 1.7.0) alike, even with public registration closed.
//!
//! Where they differ ([`RegistrationRules`], measured on Synapse 1.163.2 and Dendrite 0.13.8):
//! Dendrite has no user types (a MAC over one is refused as "bad mac"), wants passwords of at
//! least 8 bytes, answers an unknown or expired nonce with HTTP 500 `{"message": "incorrect or
//! expired nonce: ..."}` (Synapse: 400 "unrecognised nonce"), keeps a nonce for 5 minutes
//! without spending it, and ignores `inhibit_login`: every registration leaves a logged-in
//! device `shared_secret_registration` behind, whose access token comes back in the answer.
//! Any returned token is logged out at once, which deletes that device.
//!
//! tuwunel 1.9.0 (docs/tuwunel.md section 5): nonces of 32 characters, single use (spent by the
//! first POST whatever its outcome) and valid 60 s, at most 2048 outstanding; an unknown or
//! expired nonce is 400 `M_INVALID_PARAM` "Unrecognised or expired nonce"; a bad MAC 403
//! "HMAC check failed"; `user_type` is only part of the MAC and then dropped (never stored), so
//! it is refused here instead of silently lost. Each nonce is fetched right before its POST (a
//! bulk run never holds nonces ahead), and a refused nonce is fetched again once.

use crate::ansible::Result;
use crate::api::logout;
use crate::capabilities::{NewUser, Registrar, Registration};
use crate::client::{Auth, Body, Client, Response};
use crate::fail;
use crate::matrix::registration_mac;
use reqwest::Method;
use serde_json::{json, Value};

const REGISTER: &str = "/_synapse/admin/v1/register";

/// What a homeserver's shared-secret registration accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrationRules {
    /// For messages.
    pub server: &'static str,
    /// `user_type` is part of the request (and of the MAC).
    pub user_types: bool,
    /// The shortest password the server takes, in bytes.
    pub min_password_bytes: usize,
    /// The errcode and error text (after any "M_X: " prefix) of the server's refusal of an
    /// unknown or expired nonce, where it is a Matrix error of its own: worth one more try with a
    /// fresh nonce. (Synapse's "unrecognised nonce" and Dendrite's non-Matrix 500 are known to
    /// every server's rules.)
    pub stale_nonce: Option<(&'static str, &'static str)>,
    /// What to set when the server says shared-secret registration is not enabled.
    pub enable_hint: &'static str,
}

pub const SYNAPSE: RegistrationRules = RegistrationRules {
    server: "Synapse",
    user_types: true,
    min_password_bytes: 1,
    stale_nonce: None,
    enable_hint:
        "set registration_shared_secret (or registration_shared_secret_path) in homeserver.yaml",
};

/// Dendrite: no user types, passwords of 8 bytes or more (`M_WEAK_PASSWORD` otherwise).
pub const DENDRITE: RegistrationRules = RegistrationRules {
    server: "Dendrite",
    user_types: false,
    min_password_bytes: 8,
    stale_nonce: None,
    enable_hint: "set client_api.registration_shared_secret in dendrite.yaml",
};

/// tuwunel: no user types (a `user_type` is MAC'd and then dropped), an unknown or expired nonce
/// is 400 `M_INVALID_PARAM` (src/api/client/admin/register.rs:29-31 at v1.9.0).
pub const TUWUNEL: RegistrationRules = RegistrationRules {
    server: "tuwunel",
    user_types: false,
    min_password_bytes: 1,
    stale_nonce: Some(("M_INVALID_PARAM", "Unrecognised or expired nonce")),
    enable_hint: "set registration_shared_secret or registration_shared_secret_file in tuwunel's configuration, or the environment variable TUWUNEL_REGISTRATION_SHARED_SECRET (with matrix-docker-ansible-deploy: in matrix_tuwunel_environment_variables_extension)",
};

/// Registration with the homeserver's registration shared secret.
pub struct SharedSecretRegistration {
    client: Client,
    shared_secret: String,
    rules: RegistrationRules,
}

impl SharedSecretRegistration {
    pub fn new(
        client: Client,
        shared_secret: String,
        rules: RegistrationRules,
    ) -> SharedSecretRegistration {
        SharedSecretRegistration {
            client,
            shared_secret,
            rules,
        }
    }
}

impl Registrar for SharedSecretRegistration {
    fn check(&self, user: &NewUser<'_>) -> Result<()> {
        check(self.rules, user)
    }

    fn keeps_user_types(&self) -> bool {
        self.rules.user_types
    }

    fn register(&self, user: &NewUser<'_>) -> Result<Registration> {
        check(self.rules, user)?;
        register(&self.client, &self.shared_secret, self.rules, user)
    }
}

/// Refuses, before any request, what the server would refuse or could not honour.
fn check(rules: RegistrationRules, user: &NewUser<'_>) -> Result<()> {
    let server = rules.server;
    if let (Some(t), false) = (user.user_type, rules.user_types) {
        return Err(fail!(
            "{server} has no user types (it would not keep one): leave user_type ('{t}') out for '{}'",
            user.localpart
        ));
    }
    if user.password.len() < rules.min_password_bytes {
        return Err(fail!(
            "{server} refuses passwords shorter than {} characters: the password for '{}' is too short",
            rules.min_password_bytes,
            user.localpart
        ));
    }
    Ok(())
}

/// GET a nonce, POST the MAC'd request at once. `inhibit_login` keeps Synapse from creating a
/// device and an access token for the new account.
fn register(
    client: &Client,
    shared_secret: &str,
    rules: RegistrationRules,
    user: &NewUser<'_>,
) -> Result<Registration> {
    // A nonce is single-use and lives 60 s in the memory of one process; "unrecognised nonce"
    // (a restart, or a load balancer between two processes) is worth one more try.
    for attempt in 0..2 {
        let nonce = get_nonce(client, rules, user.localpart)?;
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
            let note = r
                .body
                .get("access_token")
                .and_then(Value::as_str)
                .and_then(|token| log_out(client, user_id, token));
            return Ok(Registration::Created {
                user_id: user_id.to_string(),
                note,
            });
        }
        let message = r.body.get("message").and_then(Value::as_str).unwrap_or("");
        match (r.status.as_u16(), r.errcode(), r.error_text()) {
            (400, Some("M_USER_IN_USE"), _) => return Ok(Registration::Exists),
            // Dendrite's answer to an unknown or expired nonce (not a Matrix error body).
            (500, None, None)
                if attempt == 0 && message.starts_with("incorrect or expired nonce") =>
            {
                continue
            }
            (s, _, _) if !r.is_matrix_error() && s != 404 && s != 405 => {
                return Err(r.unexpected(
                    &format!("registering '{}'", user.localpart),
                    "a Matrix answer",
                ))
            }
            (400, _, Some("unrecognised nonce")) if attempt == 0 => continue,
            (_, Some(code), Some(text)) if attempt == 0 && stale_nonce(rules, code, text) => {
                continue
            }
            // tuwunel's refusal of a nonce: behind backend synapse, say to use backend tuwunel
            // (asked only after this refusal, never on a registration that succeeds).
            (400, Some("M_INVALID_PARAM"), _) if rules == SYNAPSE => {
                let action = format!("registering '{}'", user.localpart);
                return Err(crate::api::tuwunel::instead_of_synapse(client, &action, &r)
                    .unwrap_or_else(|| registration_error(&r, rules, user.localpart)));
            }
            _ => return Err(registration_error(&r, rules, user.localpart)),
        }
    }
    Err(fail!("the server kept refusing fresh registration nonces"))
}

/// Whether a Matrix error is this server's refusal of an unknown or expired nonce (its text with
/// or without tuwunel's "M_X: " prefix).
fn stale_nonce(rules: RegistrationRules, code: &str, text: &str) -> bool {
    rules.stale_nonce.is_some_and(|(c, t)| {
        c == code
            && (text == t || text.strip_prefix(code).and_then(|x| x.strip_prefix(": ")) == Some(t))
    })
}

/// A server that ignored `inhibit_login` (Dendrite) answered with an access token of a new
/// device: logging it out deletes the device. On failure, a note for the result.
fn log_out(client: &Client, user_id: &str, token: &str) -> Option<String> {
    logout::log_out(client, token, "logging out the session opened for the new account")
        .err()
        .map(|why| {
            format!(
                "{user_id} was registered, but the session the server opened for it (device shared_secret_registration) could not be logged out ({}); delete that device",
                why.0
            )
        })
}

fn get_nonce(client: &Client, rules: RegistrationRules, localpart: &str) -> Result<String> {
    let r = client
        .send(Method::GET, REGISTER, Auth::None, Body::Empty, true)
        .map_err(|e| {
            fail!("registering '{localpart}': getting a registration nonce failed: {e}")
        })?;
    if !r.is_success() {
        // Under MAS delegation this API answers 404 M_UNRECOGNIZED: say to use backend mas.
        if let Some(e) = crate::api::delegation::delegation_error(client, &r) {
            return Err(e);
        }
        return Err(registration_error(&r, rules, localpart));
    }
    let action = format!("registering '{localpart}' (getting a registration nonce)");
    let nonce = r.str_field(&action, "nonce")?;
    if nonce.is_empty() {
        return Err(r.unexpected(&action, "a non-empty nonce"));
    }
    Ok(nonce.to_string())
}

/// Turns a refused registration into a message that says what to fix.
fn registration_error(
    r: &Response,
    rules: RegistrationRules,
    localpart: &str,
) -> crate::ansible::Error {
    let detail = r.summary();
    match (r.status.as_u16(), r.errcode(), r.error_text().unwrap_or("")) {
        (403, _, e) if e.contains("HMAC") || e == "bad mac" => fail!(
            "registering '{localpart}': the server rejected the shared secret ({detail}): shared_secret must be the homeserver's registration_shared_secret"
        ),
        (400, _, e) if e.contains("not enabled") => fail!(
            "registering '{localpart}': shared-secret registration is not enabled on the server ({detail}): {}",
            rules.enable_hint
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tuwunels_rules_read_its_nonce_refusal_as_stale() {
        let text = "M_INVALID_PARAM: Unrecognised or expired nonce";
        assert!(stale_nonce(TUWUNEL, "M_INVALID_PARAM", text));
        assert!(stale_nonce(
            TUWUNEL,
            "M_INVALID_PARAM",
            "Unrecognised or expired nonce"
        ));
        assert!(!stale_nonce(SYNAPSE, "M_INVALID_PARAM", text));
        assert!(!stale_nonce(DENDRITE, "M_INVALID_PARAM", text));
        // Another M_INVALID_PARAM (an empty password, a remote user) is not retried.
        assert!(!stale_nonce(
            TUWUNEL,
            "M_INVALID_PARAM",
            "M_INVALID_PARAM: Password must not be empty"
        ));
        assert!(!stale_nonce(TUWUNEL, "M_UNKNOWN", text));
    }
}
