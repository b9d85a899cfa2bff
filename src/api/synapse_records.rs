//! Synapse's admin API read in full for the listing module (`user_info`): one account
//! (`GET /_synapse/admin/v2/users/<id>`) or all of them (`GET /_synapse/admin/v3/users`), each
//! normalised to an [`AccountRecord`] (docs/lifecycle-synapse.md, "Request shapes"). tuwunel
//! serves the same endpoints (docs/tuwunel.md 4.2, 4.3) with `creation_ts` always 0 (read as
//! unknown) and no user types.

use crate::ansible::Result;
use crate::api::admin_session::admin_call;
use crate::api::synapse_admin::{flag, SynapseAdmin};
use crate::capabilities::{AccountFilter, AccountRecord, AccountRecords};
use crate::client::paging::Pages;
use crate::client::Body;
use crate::fail;
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::Value;

/// Accounts per page: 10,000 accounts in four requests. Larger pages are faster on Synapse, whose
/// offset paging reads every earlier row again for each page (bench/list_users.py: 10,000
/// accounts in about 0.6 s at 2500 a page, about 1 s at 1000 on this machine); each page is held
/// in memory once, as parsed JSON.
const PAGE: u64 = 2500;

/// How a record states `creation_ts`.
#[derive(Clone, Copy)]
enum Unit {
    /// `GET /v2/users/<id>`: the column as stored.
    Seconds,
    /// The listings multiply by 1000.
    Millis,
}

/// One user entry of Synapse's (or tuwunel's) admin API, normalised; `action` for messages.
fn normalise(server: &str, action: &str, u: &Value, unit: Unit) -> Result<AccountRecord> {
    let Some(name) = u.get("name").and_then(Value::as_str) else {
        return Err(fail!(
            "{action}: {server} sent an entry without a user ID ('name'): {}; the listing was not used",
            u.to_string().chars().take(200).collect::<String>()
        ));
    };
    let text = |field: &str| u.get(field).and_then(Value::as_str).map(str::to_string);
    // 0 is tuwunel's "not kept" (docs/tuwunel.md 4.2), never a real account's creation.
    let created = u
        .get("creation_ts")
        .and_then(Value::as_i64)
        .filter(|t| *t > 0)
        .and_then(|t| match unit {
            Unit::Seconds => DateTime::<Utc>::from_timestamp(t, 0),
            Unit::Millis => DateTime::<Utc>::from_timestamp_millis(t),
        });
    // Only the single-user record has `threepids`; the listings do not show addresses.
    let emails = u.get("threepids").and_then(Value::as_array).map(|t| {
        t.iter()
            .filter(|p| p.get("medium").and_then(Value::as_str) == Some("email"))
            .filter_map(|p| p.get("address").and_then(Value::as_str))
            .map(str::to_string)
            .collect()
    });
    Ok(AccountRecord {
        user_id: name.to_string(),
        admin: flag(u, "admin"),
        user_type: text("user_type").filter(|t| !t.is_empty()),
        deactivated: flag(u, "deactivated"),
        locked: u.get("locked").map(|_| flag(u, "locked")),
        displayname: text("displayname"),
        created,
        emails,
        // Only the single-user record has `appservice_id` (null for a person's account).
        appservice: u.get("appservice_id").map(|a| !a.is_null()),
    })
}

impl AccountRecords for SynapseAdmin {
    fn record(&self, user_id: &str) -> Result<Option<AccountRecord>> {
        let server = self.dialect().server;
        let action = format!("reading {user_id}");
        match self.user(user_id)? {
            Some(u) => normalise(server, &action, &u, Unit::Seconds).map(Some),
            None => Ok(None),
        }
    }

    /// `v3/users?locked=true` lists every account (locked ones are left out without it); the
    /// admin and deactivation filters go to the server, the others are applied by the caller.
    fn records(&self, filter: &AccountFilter, each: &mut dyn FnMut(AccountRecord)) -> Result<()> {
        let server = self.dialect().server;
        let action = "listing the accounts";
        let mut query = format!("guests=false&locked=true&limit={PAGE}");
        if let Some(a) = filter.admins {
            query.push_str(&format!("&admins={a}"));
        }
        if let Some(d) = filter.deactivated {
            query.push_str(&format!("&deactivated={d}"));
        }
        let mut from: u64 = 0;
        let mut pages = Pages::new(action);
        loop {
            let mut path = format!("/_synapse/admin/v3/users?{query}");
            if from > 0 {
                path.push_str(&format!("&from={from}"));
            }
            let r = admin_call(self.session(), Method::GET, &path, Body::Empty, action)?;
            let users = r
                .body
                .get("users")
                .and_then(Value::as_array)
                .ok_or_else(|| r.unexpected(action, "a JSON object with a users list"))?;
            for u in users {
                each(normalise(server, action, u, Unit::Millis)?);
            }
            if from == 0 {
                if let Some(total) = r.body.get("total").and_then(Value::as_u64) {
                    pages.expect_total(total, PAGE);
                }
            }
            // A string in Synapse ("1000"), `null` at the end in tuwunel; a number in older
            // Synapse versions. It must move forward, or the listing would never end.
            let next = match r.body.get("next_token") {
                None | Some(Value::Null) => None,
                Some(Value::String(t)) => Some(t.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(other) => {
                    return Err(fail!(
                        "{action}: {server} sent the page cursor {other}, which is not an offset; the listing was not used"
                    ))
                }
            };
            if !pages.next(users.len(), next.as_deref())? {
                return Ok(());
            }
            let cursor = next.unwrap_or_default();
            match cursor.parse::<u64>() {
                Ok(n) if n > from => from = n,
                _ => {
                    return Err(fail!(
                        "{action}: {server} sent the page cursor '{cursor}' after offset {from}: a listing that would not move forward; the listing was not used"
                    ))
                }
            }
        }
    }
}
