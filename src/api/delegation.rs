//! Whether a homeserver delegates authentication to Matrix Authentication Service: the words that
//! turn a Synapse-API refusal into "use backend mas" for any homeserver API file.

use crate::ansible::Error;
use crate::client::{Auth, Body, Client, Response};
use crate::fail;
use reqwest::Method;
use std::sync::OnceLock;

/// The issuer of the Matrix Authentication Service a homeserver delegates to, asked once per
/// task (`GET /_matrix/client/v1/auth_metadata`: 200 with `issuer` under delegation, 404
/// `M_UNRECOGNIZED` on a homeserver that does its own authentication).
pub fn delegated_to(client: &Client) -> Option<String> {
    static ISSUER: OnceLock<Option<String>> = OnceLock::new();
    ISSUER
        .get_or_init(|| {
            let r = client
                .send(
                    Method::GET,
                    "/_matrix/client/v1/auth_metadata",
                    Auth::None,
                    Body::Empty,
                    true,
                )
                .ok()?;
            if !r.is_success() {
                return None;
            }
            r.body["issuer"].as_str().map(str::to_string)
        })
        .clone()
}

/// For a refusal of the Synapse APIs: if it is one a homeserver under MAS gives (404
/// `M_UNRECOGNIZED` for shared-secret registration and the token API, 401 `M_UNKNOWN_TOKEN` for
/// the admin API) and the homeserver says it delegates, the error that says to use backend mas.
pub fn delegation_error(client: &Client, r: &Response) -> Option<Error> {
    let typical = matches!(
        (r.status.as_u16(), r.errcode()),
        (404, Some("M_UNRECOGNIZED")) | (401, Some("M_UNKNOWN_TOKEN"))
    );
    if !typical {
        return None;
    }
    let issuer = delegated_to(client)?;
    Some(fail!(
        "this homeserver delegates authentication to Matrix Authentication Service at {issuer}: use backend mas with api_url {issuer} (in the role, matrix_authentication_service_enabled selects it) [{}]",
        r.summary()
    ))
}
