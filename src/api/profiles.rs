//! The Matrix client-server API every homeserver serves without admin rights: the public profile
//! look-up that tells whether an account exists, and the server's name from its signing keys.

use crate::ansible::Result;
use crate::capabilities::{Directory, Presence, Unknown};
use crate::client::{encode_segment, Auth, Body, Client, Refusal};
use crate::fail;
use crate::matrix::validate_server_name;
use reqwest::Method;
use serde_json::Value;

/// Look-ups through the client profile API: 200 means the account exists, 404 that it does not.
/// Costs a millisecond where a registration attempt costs a bcrypt hash.
pub struct ProfileDirectory {
    client: Client,
    token: Option<String>,
    /// Whether the server answered `/_matrix/client/versions` as a homeserver does.
    confirmed: std::sync::OnceLock<()>,
}

impl ProfileDirectory {
    /// `token`: an admin's, or None (an empty token, of a session that is not live, is none).
    pub fn new(client: Client, token: Option<&str>) -> ProfileDirectory {
        ProfileDirectory {
            client,
            token: token.filter(|t| !t.is_empty()).map(str::to_string),
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

impl Directory for ProfileDirectory {
    fn lookup(&self, user_id: &str) -> Result<Presence> {
        let path = format!("/_matrix/client/v3/profile/{}", encode_segment(user_id));
        let auth = self.token.as_deref().map_or(Auth::None, Auth::Bearer);
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
                // A profile names no user.
                Presence::Exists {
                    deactivated: None,
                    locked: None,
                    admin: None,
                    named: None,
                }
            }
            // Synapse answers M_NOT_FOUND, or M_UNKNOWN "No row found" in some versions.
            (404, _) if r.is_matrix_error() => Presence::Absent,
            // A 404 that is not a Matrix error is a proxy or another server, not "no account".
            (404, _) => {
                return Err(r.unexpected(&action, "a Matrix answer (M_NOT_FOUND for no account)"))
            }
            (_, Some(Refusal::RateLimited)) => Presence::Unknown(Unknown::RateLimited(format!(
                "profile look-ups are rate limited ({})",
                r.summary()
            ))),
            (_, Some(Refusal::Unauthorized | Refusal::Forbidden)) => {
                Presence::Unknown(Unknown::Other(format!(
                    "the server does not show profiles without authentication ({})",
                    r.summary()
                )))
            }
            _ => Presence::Unknown(Unknown::Other(format!(
                "the profile lookup answered {}",
                r.summary()
            ))),
        })
    }
}
