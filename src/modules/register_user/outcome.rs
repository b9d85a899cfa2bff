//! register_user's result for one account: its message, return values and diff.

use super::converge::AccountResult;
use crate::ansible::{Diff, Outcome};
use serde_json::{json, Value};

fn state_json(r: &AccountResult, after: bool) -> Value {
    let exists = if after {
        Some(r.existed.unwrap_or(false) || r.created)
    } else {
        r.existed
    };
    let mut v = json!({ "user": r.user_id.clone().unwrap_or_else(|| r.username.clone()), "exists": exists });
    if after && r.password_updated {
        v["password"] = Value::from("(set)");
    }
    if r.admin_updated {
        v["admin_changed"] = Value::from(after);
    }
    if !r.emails_added.is_empty() && after {
        v["emails_added"] = Value::from(r.emails_added.clone());
    }
    if r.deactivated || r.reactivated {
        // Before a deactivation it was active; before a reactivation, deactivated.
        v["deactivated"] = Value::from(r.deactivated == after);
    }
    if let Some(locked) = r.lock_changed {
        v["locked"] = Value::from(locked == after);
    }
    v
}

pub fn single_outcome(r: &AccountResult, check_mode: bool) -> Outcome {
    let who = r.user_id.clone().unwrap_or_else(|| r.username.clone());
    let would = |done: &str, planned: &str| {
        if check_mode {
            planned.to_string()
        } else {
            done.to_string()
        }
    };
    let mut msg = match (r.created, r.password_updated, check_mode) {
        _ if r.deactivated => format!("{who} {}", would("deactivated", "would be deactivated")),
        _ if r.existed == Some(false) && !r.created => {
            format!("{who} does not exist; nothing to deactivate")
        }
        _ if r.reactivated => format!("{who} {}", would("reactivated", "would be reactivated")),
        (true, _, false) => format!("created {who}"),
        (true, _, true) => format!("{who} would be created"),
        (false, true, false) => format!("{who} exists; password set"),
        (false, true, true) => format!("{who} exists; its password would be set"),
        (false, false, _) => format!("{who} already exists"),
    };
    if r.reactivated && r.password_updated {
        msg.push_str(&would("; password set", "; its password would be set"));
    }
    if let Some(locked) = r.lock_changed {
        let (done, planned) = if locked {
            ("; locked", "; it would be locked")
        } else {
            ("; unlocked", "; it would be unlocked")
        };
        msg.push_str(&would(done, planned));
    }
    if r.admin_updated {
        msg.push_str(if check_mode {
            "; its admin rights would be changed"
        } else {
            "; admin rights changed"
        });
    }
    if !r.emails_added.is_empty() {
        msg.push_str(&format!(
            "; e-mail addresses {} {}",
            if check_mode {
                "would be added:"
            } else {
                "added:"
            },
            r.emails_added.join(", ")
        ));
    }
    Outcome::changed(r.changed())
        .msg(msg)
        .with("created", r.created)
        .with("user_id", r.user_id.clone())
        .with("password_updated", r.password_updated)
        .with("admin_updated", r.admin_updated)
        .with("emails_added", r.emails_added.clone())
        .with("deactivated", r.deactivated)
        .with("reactivated", r.reactivated)
        .with("lock_changed", r.lock_changed)
        .diff(Diff {
            before: state_json(r, false),
            after: state_json(r, true),
            before_header: Some(who.clone()),
            after_header: Some(who),
        })
}
