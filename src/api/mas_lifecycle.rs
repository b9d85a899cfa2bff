//! Matrix Authentication Service's admin API for an account's lifecycle: `POST
//! /api/admin/v1/users/{id}/deactivate`, `/reactivate`, `/lock` and `/unlock`, read from the
//! user's record (`deactivated_at`, `locked_at`).
//!
//! Every request here has the shape of one a real MAS 1.22 answered in the recording
//! (`tests/data/mas/transcripts.jsonl`): `lock`, `unlock` and `reactivate` without a body (ids
//! `users-lock-carol`, `users-unlock-carol`, `users-reactivate-erin`); `deactivate` without a
//! body, which erases (`skip_erase` defaults to false: `users-deactivate-dave`), or with
//! `{"skip_erase": true}` (`users-deactivate-erin-skip-erase`). Each answers 200 with the user,
//! also when nothing changed. MAS's deactivation does not set `locked_at`, and its reactivation
//! does not unlock.
//!
//! The shared layer (`servers/checked.rs`) reads every write back; here the answer is checked to
//! be the user resource written to.

use crate::ansible::{Error, Result};
use crate::api::mas_session::API;
use crate::api::mas_users::{MasAdmin, MasUser};
use crate::capabilities::{AccountState, Answered, Lifecycle, Locks};
use crate::client::Body;
use crate::fail;
use reqwest::Method;
use serde_json::json;

impl MasAdmin {
    /// The user, or a failure saying it is gone (the modules read it just before).
    fn existing(&self, user_id: &str, action: &str) -> Result<MasUser> {
        self.find_user(self.localpart(user_id)?)?
            .ok_or_else(|| fail!("{action}: {user_id} does not exist on MAS; nothing was done"))
    }

    /// `POST /users/{id}/{verb}`: MAS answers 200 with the user resource, which must be the one
    /// written to (its ULID); returns the account it names.
    fn act(&self, user: &MasUser, verb: &str, body: Body<'_>, action: &str) -> Result<Answered> {
        let path = format!("{API}/users/{}/{verb}", user.id);
        // Idempotent: MAS answers a repeated call with 200 and changes nothing more.
        let r = self.session().call(Method::POST, &path, body, true)?;
        if !r.is_success() {
            return Err(self.session().refused(&r, action));
        }
        // The request was sent: whether it took effect is not known from such an answer.
        let unsure = |Error(e): Error| {
            fail!("{e}. Whether {verb} took effect on {} is not known: check the account, or re-run (MAS's {verb} can be repeated)", user.username)
        };
        if r.status.as_u16() != 200 || !r.body.is_object() {
            return Err(unsure(
                r.unexpected(action, "MAS's answer (200 with the user)"),
            ));
        }
        let answered = MasUser::from_resource(&r.body["data"])
            .map_err(|e| unsure(r.unexpected(action, &format!("MAS's answer (the user): {e}"))))?;
        if answered.id != user.id {
            return Err(unsure(fail!(
                "{action}: MAS answered about the user {} ({}), not {} ({}); the answer was not used and nothing more was done. Check that api_url points at MAS itself (not a proxy or another server)",
                answered.username,
                answered.id,
                user.username,
                user.id
            )));
        }
        Ok(Answered {
            subject: Some(self.user_id(&answered.username)?),
            admin: None,
        })
    }
}

impl Lifecycle for MasAdmin {
    /// `erased` is not told: MAS asks the homeserver to erase, and keeps no flag of its own.
    fn state(&self, user_id: &str) -> Result<Option<AccountState>> {
        let Some(u) = self.find_user(self.localpart(user_id)?)? else {
            return Ok(None);
        };
        Ok(Some(AccountState {
            named: Some(self.user_id(&u.username)?),
            deactivated: u.deactivated,
            erased: None,
            locked: Some(u.locked),
        }))
    }

    /// MAS ends all the account's sessions and removes its e-mail addresses, then deactivates
    /// it on the homeserver, erasing its data there unless `skip_erase`.
    fn deactivate(&self, user_id: &str, erase: bool) -> Result<Answered> {
        let action = format!("deactivating {user_id}");
        let user = self.existing(user_id, &action)?;
        let skip_erase = json!({ "skip_erase": true });
        let body = if erase {
            Body::Empty
        } else {
            Body::Json(&skip_erase)
        };
        self.act(&user, "deactivate", body, &action)
    }

    /// MAS reactivates without a password, and keeps the one the account had; a password given
    /// is set right after, so that the account logs in with it.
    fn reactivate(&self, user_id: &str, password: Option<&str>) -> Result<Answered> {
        let action = format!("reactivating {user_id}");
        let user = self.existing(user_id, &action)?;
        let answered = self.act(&user, "reactivate", Body::Empty, &action)?;
        if let Some(p) = password {
            self.set_password_of(&user, p).map_err(|Error(e)| {
                fail!("{user_id} was reactivated on MAS, but then its password was not set: {e}. It is active again with the password it had before deactivation, if any; re-run with update_password: always to set the new one")
            })?;
        }
        Ok(answered)
    }
}

impl Locks for MasAdmin {
    fn locked(&self, user_id: &str) -> Result<Option<bool>> {
        Ok(self.find_user(self.localpart(user_id)?)?.map(|u| u.locked))
    }

    /// A locked account cannot log in; MAS keeps its sessions, which work again once unlocked.
    fn set_locked(&self, user_id: &str, locked: bool) -> Result<Answered> {
        let (verb, action) = if locked {
            ("lock", format!("locking {user_id}"))
        } else {
            ("unlock", format!("unlocking {user_id}"))
        };
        let user = self.existing(user_id, &action)?;
        self.act(&user, verb, Body::Empty, &action)
    }
}
