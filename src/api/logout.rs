//! Ending a session with its own access token (`POST /_matrix/client/v3/logout`), shared by the
//! admin session a task logged in and the registrations that find a session the server opened
//! for a new account (a server that ignores `inhibit_login`).

use crate::ansible::{register_secret, Result};
use crate::client::{Auth, Body, Client};
use crate::fail;
use reqwest::Method;
use serde_json::json;

/// Logs the session of `token` out (the token is masked in every output first); a success is a
/// JSON object, anything else a failure that says what answered.
pub fn log_out(client: &Client, token: &str, action: &str) -> Result<()> {
    register_secret(token);
    let r = client.send(
        Method::POST,
        "/_matrix/client/v3/logout",
        Auth::Bearer(token),
        Body::Json(&json!({})),
        true,
    )?;
    if r.is_success() {
        r.object(action).map(drop)
    } else {
        Err(fail!("{action} failed: {}", r.summary()))
    }
}
