//! MSC4323 account locks: `GET`/`PUT /_matrix/client/v1/admin/lock/{userId}` with
//! `{"locked": bool}`, callable by server admins (continuwuity, docs/continuwuity.md 6).
//!
//! continuwuity 26.7.3's `PUT .../lock` writes the suspension instead of the lock (it answers
//! `{"locked": true}`, and the lock read back stays false); fixed after the release by commit
//! 82149397. So every PUT is read back here, and a lock that did not take fails naming the
//! admin-room command that does lock (the shared layer reads it back too).

use crate::ansible::Result;
use crate::api::admin_session::{admin_call, admin_error, AdminSession};
use crate::capabilities::{Answered, Locks};
use crate::client::{encode_segment, Body};
use crate::fail;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;

/// Locks through MSC4323 with an admin's session.
pub struct Msc4323Locks {
    session: Arc<AdminSession>,
    /// For messages.
    server: &'static str,
}

impl Msc4323Locks {
    pub fn new(session: Arc<AdminSession>, server: &'static str) -> Msc4323Locks {
        Msc4323Locks { session, server }
    }

    fn path(user_id: &str) -> String {
        format!("/_matrix/client/v1/admin/lock/{}", encode_segment(user_id))
    }

    /// The `locked` flag of an answer.
    fn flag(r: &crate::client::Response, action: &str) -> Result<bool> {
        r.object(action)?
            .get("locked")
            .and_then(Value::as_bool)
            .ok_or_else(|| r.unexpected(action, "{\"locked\": true or false}"))
    }
}

impl Locks for Msc4323Locks {
    fn locked(&self, user_id: &str) -> Result<Option<bool>> {
        let action = format!("reading whether {user_id} is locked");
        let r = self
            .session
            .client()
            .send(
                Method::GET,
                &Self::path(user_id),
                self.session.auth(&action)?,
                Body::Empty,
                true,
            )
            .map_err(|e| fail!("{action}: {e}"))?;
        if r.is_success() {
            return Self::flag(&r, &action).map(Some);
        }
        match (r.status.as_u16(), r.errcode()) {
            (404, Some("M_NOT_FOUND")) => Ok(None),
            (403, Some("M_USER_DEACTIVATED")) => Err(fail!(
                "{action}: {user_id} is deactivated, and {} neither reads nor sets the lock of a deactivated account",
                self.server
            )),
            _ => Err(admin_error(&r, &action)),
        }
    }

    fn set_locked(&self, user_id: &str, locked: bool) -> Result<Answered> {
        let verb = if locked { "locking" } else { "unlocking" };
        let action = format!("{verb} {user_id}");
        let r = admin_call(
            &self.session,
            Method::PUT,
            &Self::path(user_id),
            Body::Json(&json!({ "locked": locked })),
            &action,
        )?;
        let stated = Self::flag(&r, &action)?;
        if stated != locked {
            return Err(fail!(
                "{action}: {} answered that the account is {}locked; it was not counted as done",
                self.server,
                if stated { "" } else { "not " }
            ));
        }
        // continuwuity 26.7.3 answers success and suspends instead: read the lock back.
        match self.locked(user_id)? {
            Some(now) if now == locked => Ok(Answered::default()),
            Some(_) => Err(fail!(
                "{action}: {} answered success, but reading the lock back shows it unchanged: continuwuity 26.7.3's MSC4323 endpoint suspends the account instead of locking it (fixed after that release, commit 82149397), so the account may now be suspended rather than locked. Use `!admin users {} {user_id}` in continuwuity's admin room instead (and `!admin users unsuspend {user_id}` to undo the suspension)",
                self.server,
                if locked { "lock" } else { "unlock" }
            )),
            None => Err(fail!(
                "{action}: {} answered success, but reading the account back finds no such account",
                self.server
            )),
        }
    }
}
