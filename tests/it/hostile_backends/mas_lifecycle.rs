//! Issue 19's lifecycle requests to MAS (`POST /api/admin/v1/users/{id}/lock`, `/unlock`,
//! `/deactivate`, `/reactivate`) answered by the MAS stand-in ([`super::mas_shaped`], a hostile
//! server, not a MAS fake) the way a proxy, a misconfigured or a compromised service could: an
//! answer about another user, an empty 200, a web page with 200, a redirect. Each must fail,
//! never report success, and do nothing to the other user.
//!
//! The stand-in keeps alice's state and applies each write to it before misbehaving, so that
//! reading the account back (which the shared layer does after every write) finds it as asked:
//! what fails these rows is the check of the answer itself.

use super::mas_shaped::*;
use super::{ensure, failure, run, table, STRONG};
use crate::common::hostile::{Hostile, Reply, Req};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// How the stand-in answers the lifecycle action.
#[derive(Clone, Copy, Debug)]
enum Misbehaviour {
    /// 200 with mallory's user resource.
    AnotherUser,
    /// 200 with alice's username under mallory's ULID.
    AnotherUlid,
    /// 200 without a body.
    Empty,
    /// 200 with a web page.
    Html,
    /// 307 to another server (which records what reaches it).
    Redirect,
}

/// alice as the stand-in shows her, with her state.
fn alice(deactivated: bool, locked: bool) -> Value {
    let mut u = user(ALICE, "alice", false);
    let ts = json!("2026-12-03T21:00:00.000000Z");
    if deactivated {
        u["attributes"]["deactivated_at"] = ts.clone();
    }
    if locked {
        u["attributes"]["locked_at"] = ts;
    }
    u
}

/// A stand-in whose alice starts `(deactivated, locked)`; `action` on her is applied, then
/// answered as `how` says (a redirect goes to `elsewhere`).
fn stand_in(
    start: (bool, bool),
    action: &'static str,
    how: Misbehaviour,
    elsewhere: String,
) -> Hostile {
    let state = Arc::new(Mutex::new(start));
    mas_like(move |r: &Req| {
        let mut s = state.lock().unwrap();
        if is(r, "GET", "/users/by-username/alice") {
            return Some(one(200, alice(s.0, s.1)));
        }
        if !is(r, "POST", &format!("/users/{ALICE}/{action}")) {
            return None;
        }
        match action {
            "lock" => s.1 = true,
            "unlock" => s.1 = false,
            "deactivate" => s.0 = true,
            _ => s.0 = false,
        }
        Some(match how {
            Misbehaviour::AnotherUser => {
                let mut m = user(MALLORY, "mallory", false);
                m["attributes"] = alice(s.0, s.1)["attributes"].clone();
                m["attributes"]["username"] = json!("mallory");
                one(200, m)
            }
            Misbehaviour::AnotherUlid => {
                let mut m = alice(s.0, s.1);
                m["id"] = json!(MALLORY);
                one(200, m)
            }
            Misbehaviour::Empty => Reply::empty(200),
            Misbehaviour::Html => Reply::html(200, "<html><body>Saved.</body></html>"),
            Misbehaviour::Redirect => Reply::Redirect(307, format!("{elsewhere}{}", r.path)),
        })
    })
}

/// What the module is asked, per action, and alice's state before.
fn ask(action: &str) -> ((bool, bool), Value) {
    match action {
        "lock" => (
            (false, false),
            json!({"username": "alice", "password": STRONG, "locked": true}),
        ),
        "unlock" => (
            (false, true),
            json!({"username": "alice", "password": STRONG, "locked": false}),
        ),
        "deactivate" => (
            (false, false),
            json!({"username": "alice", "state": "deactivated"}),
        ),
        _ => (
            (true, false),
            json!({"username": "alice", "password": STRONG, "reactivate": true}),
        ),
    }
}

#[test]
fn a_lifecycle_action_answered_wrongly_by_mas_is_never_a_success() {
    use Misbehaviour::*;
    let rows: Vec<(String, (&'static str, Misbehaviour, &'static str))> = [
        ("lock", AnotherUser, "mallory"),
        ("lock", AnotherUlid, MALLORY),
        ("lock", Empty, "200"),
        ("lock", Html, "text/html"),
        ("lock", Redirect, "redirect"),
        ("unlock", AnotherUser, "mallory"),
        ("unlock", Html, "text/html"),
        ("deactivate", AnotherUser, "mallory"),
        ("deactivate", AnotherUlid, MALLORY),
        ("deactivate", Empty, "200"),
        ("deactivate", Html, "text/html"),
        ("deactivate", Redirect, "redirect"),
        ("reactivate", AnotherUser, "mallory"),
        ("reactivate", Empty, "200"),
    ]
    .into_iter()
    .map(|(a, how, want)| (format!("{a} answered {how:?}"), (a, how, want)))
    .collect();
    let rows: Vec<(&str, (&'static str, Misbehaviour, &'static str))> =
        rows.iter().map(|(n, r)| (n.as_str(), *r)).collect();
    table(&rows, true, |(action, how, want)| {
        let target = Hostile::start(|_| Reply::json(200, json!({})));
        let (start, args) = ask(action);
        let mas = stand_in(start, action, *how, target.url.clone());
        let r = run("register_user", mas_args(&mas.url, args))?;
        ensure!(
            sent(&mas, "POST", &format!("/users/{ALICE}/{action}")) == 1,
            "the {action} request was not sent once: {:?}",
            mas.requests().iter().map(|q| &q.path).collect::<Vec<_>>()
        );
        ensure!(r.json["changed"] != true, "reported a change: {}", r.stdout);
        let w = writes_about(&mas, MALLORY);
        ensure!(w.is_empty(), "requests acted on mallory: {w:?}");
        let reached: Vec<String> = target.requests().iter().map(|q| q.path.clone()).collect();
        ensure!(reached.is_empty(), "the redirect was followed: {reached:?}");
        failure(&r, &[want], &[CLIENT_SECRET, STRONG, ACCESS_TOKEN])
    });
}
