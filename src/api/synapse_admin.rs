//! Synapse's admin API for user accounts (`/_synapse/admin/v2/users`, `/v1/users/<id>/admin`):
//! exact look-ups, password resets and the admin flag, acting with an admin's session. tuwunel
//! serves the same API with the differences its [`AdminDialect`] names (docs/tuwunel.md 4).

use crate::ansible::Result;
use crate::api::admin_session::{admin_call, admin_error, AdminSession};
use crate::api::delegation::delegation_error;
use crate::capabilities::{
    AccountListing, AdminChange, AdminFlag, Answered, Directory, Listed, PasswordReset, Presence,
};
use crate::client::paging::Pages;
use crate::client::{encode_segment, Body, Client, Refusal};
use crate::fail;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;

/// Where a server's copy of this API differs from Synapse's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminDialect {
    /// For messages.
    pub server: &'static str,
    /// The admin flag is written with `PUT /v2/users/<id>` `{"admin": ..}`, whose answer (the
    /// user's record) states the flag, instead of `PUT /v1/users/<id>/admin`.
    pub admin_flag_in_user_record: bool,
    /// Added to the listing's query: tuwunel leaves locked accounts out unless `locked=true`.
    pub listing_query: &'static str,
    /// Setting a password re-activates a deactivated account (tuwunel): refused for those.
    pub password_reactivates: bool,
}

pub const SYNAPSE: AdminDialect = AdminDialect {
    server: "Synapse",
    admin_flag_in_user_record: false,
    listing_query: "",
    password_reactivates: false,
};

/// tuwunel 1.9.0: `PUT /v1/users/<id>/admin` answers 405 (only GET is routed,
/// src/api/router.rs:139); the flag is admin-room membership, set through the v2 record
/// (users/create_or_modify.rs, service/admin/grant.rs); the listing excludes locked accounts by
/// default (list_users.rs:184-187); a password re-activates (service/users/mod.rs:381-424).
pub const TUWUNEL: AdminDialect = AdminDialect {
    server: "tuwunel",
    admin_flag_in_user_record: true,
    listing_query: "&locked=true",
    password_reactivates: true,
};

/// A boolean field of a user record: Synapse writes some as 0/1 (older versions), others as
/// booleans; absent is false.
pub fn flag(record: &Value, field: &str) -> bool {
    match record.get(field) {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64().is_some_and(|n| n != 0),
        _ => false,
    }
}

pub struct SynapseAdmin {
    session: Arc<AdminSession>,
    dialect: AdminDialect,
}

impl SynapseAdmin {
    pub fn new(session: Arc<AdminSession>) -> SynapseAdmin {
        SynapseAdmin::speaking(session, SYNAPSE)
    }

    /// The API as a server that copied it serves it.
    pub fn speaking(session: Arc<AdminSession>, dialect: AdminDialect) -> SynapseAdmin {
        SynapseAdmin { session, dialect }
    }

    fn client(&self) -> &Client {
        self.session.client()
    }

    pub(crate) fn session(&self) -> &AdminSession {
        &self.session
    }

    pub(crate) fn dialect(&self) -> AdminDialect {
        self.dialect
    }

    /// The admin API's record of a user, or None if there is no such account.
    pub fn user(&self, user_id: &str) -> Result<Option<Value>> {
        let path = format!("/_synapse/admin/v2/users/{}", encode_segment(user_id));
        let action = format!("looking up {user_id}");
        let r = self
            .client()
            .send(
                Method::GET,
                &path,
                self.session.auth(&action)?,
                Body::Empty,
                true,
            )
            .map_err(|e| fail!("{action}: {e}"))?;
        match r.refusal() {
            None => {
                // The record must be the user asked for: its `name` is the full user ID.
                if r.str_field(&action, "name")? != user_id {
                    return Err(r.unexpected(
                        &action,
                        &format!("the record of {user_id} (its 'name' names another account)"),
                    ));
                }
                Ok(Some(r.body))
            }
            Some(Refusal::NotFound) if r.is_matrix_error() => Ok(None),
            Some(_) => {
                Err(delegation_error(self.client(), &r).unwrap_or_else(|| admin_error(&r, &action)))
            }
        }
    }
}

impl Directory for SynapseAdmin {
    fn lookup(&self, user_id: &str) -> Result<Presence> {
        Ok(match self.user(user_id)? {
            Some(info) => Presence::Exists {
                admin: Some(info.get("admin").and_then(Value::as_bool).unwrap_or(false)),
                named: info.get("name").and_then(Value::as_str).map(str::to_string),
                deactivated: Some(flag(&info, "deactivated")),
                locked: Some(flag(&info, "locked")),
            },
            None => Presence::Absent,
        })
    }
}

impl PasswordReset for SynapseAdmin {
    /// Sets a password; Synapse ends the account's sessions unless told not to, so
    /// `logout_devices` is always sent.
    fn set_password(&self, user_id: &str, password: &str, logout: bool) -> Result<Answered> {
        if self.dialect.password_reactivates {
            let deactivated = self
                .user(user_id)?
                .and_then(|u| u.get("deactivated").and_then(Value::as_bool))
                .unwrap_or(false);
            if deactivated {
                return Err(fail!(
                    "{user_id} is deactivated, and setting its password on {} would re-activate it: the password was not set",
                    self.dialect.server
                ));
            }
        }
        let path = format!("/_synapse/admin/v2/users/{}", encode_segment(user_id));
        let body = json!({"password": password, "logout_devices": logout});
        let action = format!("setting the password of {user_id}");
        let r = admin_call(
            &self.session,
            Method::PUT,
            &path,
            Body::Json(&body),
            &action,
        )?;
        // Synapse answers with the user's record, which names the user.
        Ok(Answered {
            subject: Some(r.str_field(&action, "name")?.to_string()),
            admin: None,
        })
    }
}

impl AdminFlag for SynapseAdmin {
    fn converge(&self, user_id: &str, want: bool, check_mode: bool) -> Result<AdminChange> {
        // GET /v1/users/<id>/admin answers {"admin": false} for accounts that do not exist, so
        // existence (and the current flag) comes from the v2 user record.
        let record = self.user(user_id)?.ok_or_else(|| {
            fail!("user {user_id} does not exist; user_admin never creates accounts (use register_user)")
        })?;
        let before = record
            .get("admin")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if before == want || check_mode {
            return Ok(AdminChange {
                before,
                changed: before != want,
                answered: Answered::default(),
            });
        }
        if self.dialect.admin_flag_in_user_record {
            return self.set_admin_in_record(user_id, want);
        }
        let path = format!("/_synapse/admin/v1/users/{}/admin", encode_segment(user_id));
        let action = format!("changing the admin flag of {user_id}");
        let r = self.put_admin(&path, &action, want, true)?;
        if r.is_success() {
            r.object(&action)?;
            return Ok(AdminChange {
                before,
                changed: true,
                answered: Answered::default(),
            });
        }
        // tuwunel routes only GET here (405 to the PUT): say so, asked only after the refusal.
        if r.status.as_u16() == 405 {
            if let Some(e) = crate::api::tuwunel::instead_of_synapse(
                self.client(),
                &format!("changing the admin flag of {user_id}"),
                &r,
            ) {
                return Err(e);
            }
        }
        Err(self.admin_flag_error(&r, user_id))
    }
}

impl SynapseAdmin {
    /// `PUT {"admin": want}` to `path`, any answer returned for the caller to read.
    fn put_admin(
        &self,
        path: &str,
        action: &str,
        want: bool,
        idempotent: bool,
    ) -> Result<crate::client::Response> {
        self.client()
            .send(
                Method::PUT,
                path,
                self.session.auth(action)?,
                Body::Json(&json!({ "admin": want })),
                idempotent,
            )
            .map_err(|e| fail!("{action}: {e}"))
    }

    fn admin_flag_error(
        &self,
        r: &crate::client::Response,
        user_id: &str,
    ) -> crate::ansible::Error {
        if r.status.as_u16() == 400 && r.error_text().unwrap_or("").contains("demote yourself") {
            return fail!(
                "{} does not let an admin demote itself ({}): use the credentials of another admin to demote {user_id}",
                self.dialect.server,
                r.summary()
            );
        }
        admin_error(r, &format!("changing the admin flag of {user_id}"))
    }

    /// tuwunel: `PUT /v2/users/<id>` `{"admin": ..}` joins or leaves the admin room and answers
    /// with the record, whose `name` and `admin` the shared layer checks. Sent once (never
    /// retried): tuwunel answers a revoke it cannot do with a 500 (service/admin/grant.rs:294-300),
    /// so the flag was read first and `false` goes only to a current admin. The account exists
    /// (just read): this PUT would otherwise create one.
    fn set_admin_in_record(&self, user_id: &str, want: bool) -> Result<AdminChange> {
        let path = format!("/_synapse/admin/v2/users/{}", encode_segment(user_id));
        let action = format!("changing the admin flag of {user_id}");
        let r = self.put_admin(&path, &action, want, false)?;
        if !r.is_success() {
            return Err(self.admin_flag_error(&r, user_id));
        }
        r.object(&action)?;
        let named = r.str_field(&action, "name")?.to_string();
        let stated = r
            .body
            .get("admin")
            .and_then(Value::as_bool)
            .ok_or_else(|| r.unexpected(&action, "the user's record with its admin flag"))?;
        if want && !stated && named == user_id {
            return Err(fail!(
                "{action}: {} answered that {user_id} is still not an admin: admin rights on {} are membership of the admin room, and without one granting does nothing. Let the server create it (admin room creation is on by default; matrix-docker-ansible-deploy: matrix_tuwunel_config_create_admin_room) or, in an admin room, run: !admin users make-user-admin {user_id}",
                self.dialect.server,
                self.dialect.server
            ));
        }
        Ok(AdminChange {
            before: !want,
            changed: true,
            answered: Answered {
                subject: Some(named),
                admin: Some(stated),
            },
        })
    }
}

/// Accounts per page of the listing: Synapse lists 10,000 accounts in about 0.4 s this way.
const LISTING_PAGE: u32 = 1000;

impl AccountListing for SynapseAdmin {
    fn list_accounts(
        &self,
        worth_it: &dyn Fn(u64) -> bool,
        each: &mut dyn FnMut(&str, Listed),
    ) -> Result<bool> {
        let mut from: Option<String> = None;
        let mut pages = Pages::new("listing the accounts");
        loop {
            let mut path = format!(
                "/_synapse/admin/v2/users?guests=false&deactivated=true&limit={LISTING_PAGE}{}",
                self.dialect.listing_query
            );
            if let Some(f) = &from {
                path.push_str("&from=");
                path.push_str(&encode_segment(f));
            }
            let r = admin_call(
                &self.session,
                Method::GET,
                &path,
                Body::Empty,
                "listing the accounts",
            )?;
            let users = r
                .body
                .get("users")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    fail!(
                        "listing the accounts: {}'s answer has no users list",
                        self.dialect.server
                    )
                })?;
            for u in users {
                if let Some(name) = u.get("name").and_then(Value::as_str) {
                    let listed = Listed {
                        admin: flag(u, "admin"),
                        deactivated: Some(flag(u, "deactivated")),
                        locked: u.get("locked").map(|l| l.as_bool() == Some(true)),
                        // The listing leaves appservice_id out; the account's record has it.
                        appservice: None,
                    };
                    each(name, listed);
                }
            }
            if from.is_none() {
                let total = r.body.get("total").and_then(Value::as_u64);
                if let Some(total) = total {
                    pages.expect_total(total, u64::from(LISTING_PAGE));
                }
                if !worth_it(total.unwrap_or(0)) {
                    return Ok(false);
                }
            }
            // next_token is a number in current Synapse, a string in older ones.
            from = match r.body.get("next_token") {
                Some(Value::String(t)) => Some(t.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            if !pages.next(users.len(), from.as_deref())? {
                return Ok(true);
            }
        }
    }
}
