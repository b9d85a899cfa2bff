//! register_user with `users`: many accounts in one task, `concurrency` at a time; a bad or
//! refused entry fails alone.

use super::accounts::{full_or_local, Account, Entry};
use super::converge::AccountResult;
use super::converge::{ensure, Convergence};
use super::plan::{changes, Change, Plan};
use crate::ansible::{Diff, Error, Module, Outcome};
use crate::fail;
use crate::matrix::{NameSource, User};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Checks the entries against the server name learnt from the server (the admin's user ID, its
/// keys, MAS's site config): localparts get it, full IDs must be on it.
pub fn learn_server_name(entries: &mut [Entry], server: (&str, NameSource)) {
    for e in entries.iter_mut() {
        if let Ok(a) = &e.account {
            if !a.user.confirmed {
                let user = User::parse_on("username", &full_or_local(&a.user), Some(server));
                e.account = match user {
                    Ok(user) => Ok(Account { user, ..a.clone() }),
                    Err(err) => Err(fail!("{}: {err}", e.label)),
                };
            }
        }
    }
}

/// Registers many accounts with `concurrency` workers. A bad or refused entry fails alone; the
/// task then fails with a summary, after every other entry has been handled.
pub fn bulk(
    m: &mut Module,
    task: &Convergence<'_>,
    entries: &[Entry],
    concurrency: usize,
    report_unchanged: bool,
) -> Outcome {
    let accounts: Vec<&std::result::Result<Account, Error>> =
        entries.iter().map(|e| &e.account).collect();

    type Slot = std::sync::Mutex<Option<std::result::Result<AccountResult, Error>>>;
    let next = AtomicUsize::new(0);
    let slots: Vec<Slot> = (0..accounts.len()).map(|_| Slot::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..concurrency.min(accounts.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(acct) = accounts.get(i).copied() else {
                    break;
                };
                let r = match acct {
                    Ok(a) => ensure(task, a),
                    Err(e) => Err(e.clone()),
                };
                *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
            });
        }
    });
    let results = slots.into_iter().enumerate().map(|(i, slot)| {
        slot.into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or_else(|| Err(fail!("{} was not processed", entries[i].label)))
    });

    let (mut created, mut existing, mut updated, mut admins) = (0, 0, 0, 0);
    let (mut deactivated, mut reactivated, mut locks, mut changed) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    let mut items = Vec::new();
    let mut plan = Plan::default();
    for (i, r) in results.enumerate() {
        let Entry {
            name,
            label,
            unnamed,
            ..
        } = &entries[i];
        match r {
            Ok(r) => {
                let kinds = changes(&r, *unnamed);
                for c in &kinds {
                    plan.add(*c, &r.username);
                }
                if kinds.is_empty() {
                    plan.unchanged += 1;
                }
                for w in &r.warnings {
                    m.warn(w.clone());
                }
                if r.created {
                    created += 1;
                } else if r.existed != Some(false) {
                    existing += 1;
                }
                deactivated += usize::from(r.deactivated);
                reactivated += usize::from(r.reactivated);
                locks += usize::from(r.lock_changed.is_some());
                changed += usize::from(r.changed());
                if r.password_updated {
                    updated += 1;
                }
                if r.admin_updated {
                    admins += 1;
                }
                if r.changed() || report_unchanged {
                    items.push(json!({
                        "index": i, "entry": label, "username": r.username, "user_id": r.user_id,
                        "changed": r.changed(), "created": r.created,
                        "password_updated": r.password_updated, "admin_updated": r.admin_updated,
                        "deactivated": r.deactivated, "reactivated": r.reactivated,
                        "lock_changed": r.lock_changed, "named": !unnamed, "failed": false,
                    }));
                }
            }
            Err(e) => {
                // Every failure names its entry: those found reading it already do.
                let msg = if e.0.starts_with(label.as_str()) {
                    e.0.clone()
                } else {
                    format!("{label}: {}", e.0)
                };
                failures.push(msg.clone());
                plan.add(Change::Failed, if name.is_empty() { label } else { name });
                items.push(json!({"index": i, "entry": label, "username": name, "changed": false, "created": false, "failed": true, "msg": msg}));
            }
        }
    }
    let verb = if m.check_mode {
        "would be created"
    } else {
        "created"
    };
    let mut also = Vec::new();
    if updated > 0 {
        also.push(format!("{updated} passwords set"));
    }
    if admins > 0 {
        also.push(format!("{admins} admin flags changed"));
    }
    if deactivated > 0 {
        also.push(format!("{deactivated} deactivated"));
    }
    if reactivated > 0 {
        also.push(format!("{reactivated} reactivated"));
    }
    if locks > 0 {
        also.push(format!("{locks} locks changed"));
    }
    let summary = format!(
        "{} users: {created} {verb}, {existing} already existed{}, {} failed",
        entries.len(),
        if also.is_empty() {
            String::new()
        } else {
            format!(" ({})", also.join(", "))
        },
        failures.len()
    );
    let lines = plan.lines(m.check_mode);
    let mut out = Outcome::changed(changed > 0)
        .msg(summary.clone())
        .with("results", items)
        .with("created", created)
        .with("existing", existing)
        .with("passwords_set", updated)
        .with("admin_flags_changed", admins)
        .with("deactivated", deactivated)
        .with("reactivated", reactivated)
        .with("locks_changed", locks)
        .with("failed_count", failures.len())
        .with("plan", lines.clone())
        .diff(Diff {
            before: json!(""),
            after: json!(format!("{}\n", lines.join("\n"))),
            before_header: Some("the accounts as they were".into()),
            after_header: Some(
                if m.check_mode {
                    "the plan"
                } else {
                    "what was done"
                }
                .into(),
            ),
        });
    if !failures.is_empty() {
        let shown: Vec<&str> = failures.iter().take(5).map(String::as_str).collect();
        let more = if failures.len() > 5 {
            format!(" (and {} more; see results)", failures.len() - 5)
        } else {
            String::new()
        };
        out = out.failed(format!("{summary}: {}{more}", shown.join("; ")));
    }
    out
}
