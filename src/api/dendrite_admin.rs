//! Dendrite's admin API (`/_dendrite/admin`), which needs the access token of an account with
//! admin rights. Registration and look-ups are the shared APIs (`shared_secret.rs`,
//! `client_session.rs`).

use crate::ansible::Result;
use crate::api::admin_session::admin_call;
use crate::api::admin_session::AdminSession;
use crate::capabilities::{Answered, PasswordReset};
use crate::client::{encode_segment, Body};
use reqwest::Method;
use serde_json::json;
use std::sync::Arc;

pub struct DendriteAdmin {
    session: Arc<AdminSession>,
}

impl DendriteAdmin {
    pub fn new(session: Arc<AdminSession>) -> DendriteAdmin {
        DendriteAdmin { session }
    }
}

impl DendriteAdmin {
    /// `POST /_dendrite/admin/evacuateUser/{userID}`: the account leaves every room it is in
    /// (what Dendrite's own deactivation does first). Idempotent. Dendrite answers
    /// `{"affected": [room IDs]}`; returns how many rooms it left.
    pub fn evacuate_user(&self, user_id: &str) -> Result<usize> {
        let path = format!("/_dendrite/admin/evacuateUser/{}", encode_segment(user_id));
        let action = format!("making {user_id} leave its rooms");
        let r = admin_call(&self.session, Method::POST, &path, Body::Empty, &action)?;
        match r.body.get("affected") {
            Some(serde_json::Value::Array(rooms)) if rooms.iter().all(|v| v.is_string()) => {
                Ok(rooms.len())
            }
            // Go's nil slice: no rooms.
            Some(serde_json::Value::Null) => Ok(0),
            _ => Err(r.unexpected(&action, "{\"affected\": [room IDs]}")),
        }
    }
}

impl PasswordReset for DendriteAdmin {
    /// `POST /_dendrite/admin/resetPassword/{userID}`; its `logout_devices` (default false)
    /// ends the account's sessions.
    fn set_password(&self, user_id: &str, password: &str, logout: bool) -> Result<Answered> {
        let path = format!("/_dendrite/admin/resetPassword/{}", encode_segment(user_id));
        let body = json!({"password": password, "logout_devices": logout});
        let action = format!("setting the password of {user_id}");
        let r = admin_call(
            &self.session,
            Method::POST,
            &path,
            Body::Json(&body),
            &action,
        )?;
        // Dendrite answers {"password_updated": true}; anything else did not set it.
        match r.body.get("password_updated") {
            // It names nobody.
            Some(serde_json::Value::Bool(true)) => Ok(Answered::default()),
            _ => Err(r.unexpected(&action, "{\"password_updated\": true}")),
        }
    }
}
