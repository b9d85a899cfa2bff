//! Synapse's admin API for an account's lifecycle (docs/lifecycle-synapse.md): deactivation
//! (`POST /_synapse/admin/v1/deactivate/<id>`), reactivation and locks (`PUT
//! /_synapse/admin/v2/users/<id>`), read from the user's v2 record. tuwunel serves the same
//! (docs/tuwunel.md 4.3, 4.4).
//!
//! `PUT /v2/users/<id>` creates an account that does not exist (answering 201): every write here
//! follows a read that found the account, and a 201 is a failure.

use crate::ansible::Result;
use crate::api::admin_session::admin_call;
use crate::api::synapse_admin::{flag, SynapseAdmin};
use crate::capabilities::{AccountState, Answered, Lifecycle, Locks};
use crate::client::{encode_segment, Body, Response};
use crate::fail;
use reqwest::Method;
use serde_json::{json, Value};

impl SynapseAdmin {
    /// `PUT /v2/users/<id>` on an account just read; the answer must be its record (200).
    fn modify(&self, user_id: &str, body: &Value, action: &str) -> Result<Answered> {
        let path = format!("/_synapse/admin/v2/users/{}", encode_segment(user_id));
        let r = admin_call(self.session(), Method::PUT, &path, Body::Json(body), action)?;
        if r.status.as_u16() != 200 {
            return Err(created_instead(&r, action, user_id));
        }
        Ok(Answered {
            subject: Some(r.str_field(action, "name")?.to_string()),
            admin: None,
        })
    }
}

fn created_instead(r: &Response, action: &str, user_id: &str) -> crate::ansible::Error {
    fail!(
        "{action}: the server answered {} where 200 was expected: {user_id} may have been created by this request (PUT /_synapse/admin/v2/users creates missing accounts); check the account",
        r.status.as_u16()
    )
}

impl Lifecycle for SynapseAdmin {
    fn state(&self, user_id: &str) -> Result<Option<AccountState>> {
        Ok(self.user(user_id)?.map(|u| AccountState {
            named: u.get("name").and_then(Value::as_str).map(str::to_string),
            deactivated: flag(&u, "deactivated"),
            erased: u.get("erased").map(|_| flag(&u, "erased")),
            locked: Some(flag(&u, "locked")),
        }))
    }

    /// Idempotent; the answer (`{"id_server_unbind_result": ..}`) names nobody: the shared
    /// layer reads the account back.
    fn deactivate(&self, user_id: &str, erase: bool) -> Result<Answered> {
        let path = format!("/_synapse/admin/v1/deactivate/{}", encode_segment(user_id));
        let action = format!("deactivating {user_id}");
        let r = admin_call(
            self.session(),
            Method::POST,
            &path,
            Body::Json(&json!({ "erase": erase })),
            &action,
        )?;
        r.str_field(&action, "id_server_unbind_result")?;
        Ok(Answered::default())
    }

    /// One request with the password: Synapse sets it, then reactivates. On a database whose
    /// background updates have not all run, Synapse answers 500 after setting the password.
    fn reactivate(&self, user_id: &str, password: Option<&str>) -> Result<Answered> {
        let action = format!("reactivating {user_id}");
        let mut body = json!({ "deactivated": false, "logout_devices": false });
        if let Some(p) = password {
            body["password"] = Value::from(p);
        }
        self.modify(user_id, &body, &action).map_err(|e| {
            fail!("{e}. The account is still deactivated, but its password may have been set already (Synapse sets it first); a re-run completes it. On a new Synapse, reactivation fails until its background updates have run (GET /_synapse/admin/v1/background_updates/status)")
        })
    }

    /// Without a password a reactivated account has none and cannot log in.
    fn reactivation_needs_password(&self) -> bool {
        true
    }
}

impl Locks for SynapseAdmin {
    fn locked(&self, user_id: &str) -> Result<Option<bool>> {
        Ok(self.user(user_id)?.map(|u| flag(&u, "locked")))
    }

    fn set_locked(&self, user_id: &str, locked: bool) -> Result<Answered> {
        let action = format!("{} {user_id}", if locked { "locking" } else { "unlocking" });
        self.modify(user_id, &json!({ "locked": locked }), &action)
    }
}
