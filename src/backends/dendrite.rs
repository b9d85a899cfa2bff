//! Dendrite: registration and lookups are Synapse-compatible (see `synapse.rs`); its admin API
//! lives under `/_dendrite/admin` and needs the access token of an account with admin rights.

use crate::ansible::Result;
use crate::backends::synapse::admin_call;
use crate::client::{encode_segment, Body, Client};
use reqwest::Method;
use serde_json::json;

/// Resets a password (`POST /_dendrite/admin/resetPassword/{userID}`), keeping sessions.
pub fn admin_set_password(
    client: &Client,
    token: &str,
    user_id: &str,
    password: &str,
) -> Result<()> {
    let path = format!("/_dendrite/admin/resetPassword/{}", encode_segment(user_id));
    let body = json!({"password": password, "logout_devices": false});
    let action = format!("setting the password of {user_id}");
    admin_call(
        client,
        token,
        Method::POST,
        &path,
        Body::Json(&body),
        &action,
    )
    .map(drop)
}
