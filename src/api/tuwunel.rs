//! tuwunel's own route that tells it apart from Synapse, whose APIs it copies:
//! `GET /_tuwunel/server_version` → `{"name": "Tuwunel", "version": ..}`, served without
//! authentication and always routed (src/api/router.rs:417, src/api/client/tuwunel.rs:14-19 at
//! v1.9.0); Synapse answers it 404. Asked only after the Synapse backend was refused something
//! tuwunel refuses, never on a path that succeeds: it costs Synapse no request.

use crate::ansible::Error;
use crate::client::{Auth, Body, Client, Response};
use crate::fail;
use reqwest::Method;
use serde_json::Value;

/// tuwunel's version, if the server is tuwunel.
pub fn version(client: &Client) -> Option<String> {
    let r = client
        .send(
            Method::GET,
            "/_tuwunel/server_version",
            Auth::None,
            Body::Empty,
            true,
        )
        .ok()?;
    if !r.is_success() || r.body.get("name").and_then(Value::as_str) != Some("Tuwunel") {
        return None;
    }
    let v = r.body.get("version").and_then(Value::as_str).unwrap_or("");
    Some(crate::ansible::escape_text(v).chars().take(40).collect())
}

/// For a refusal `backend: synapse` got: if the server is tuwunel, the error that says to use
/// `backend: tuwunel`.
pub fn instead_of_synapse(client: &Client, action: &str, r: &Response) -> Option<Error> {
    let v = version(client)?;
    Some(fail!(
        "{action}: this homeserver is tuwunel ({v}), not Synapse, and refused what Synapse would do ({}): use backend tuwunel",
        r.summary()
    ))
}
