//! register_user's account lifecycle (issue 19) against a real Synapse 1.163 (PyPI), on SQLite
//! and on PostgreSQL: `state: deactivated` (with and without `erase`), `reactivate`, `locked`,
//! and `logout_devices` with `update_password: always`. Every case reads the result back from
//! Synapse itself: its admin API's record, a password login, and an access token taken before.
//! The servers are synapse_lifecycle_facts' (background updates done: a fresh Synapse refuses
//! reactivations until then, docs/lifecycle-synapse.md).

use super::synapse_lifecycle_facts::{pg, sqlite};
use crate::common::hostile::{Hostile, Reply};
use crate::common::{random_secret, run_module, run_module_with, unique_user, urlenc, Synapse};
use serde_json::{json, Value};

macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[test] fn $name() { super::$name(super::sqlite()) } )* }
        mod postgres { $( #[test] fn $name() { super::$name(super::pg()) } )* }
    };
}

on_both_databases!(
    deactivation_ends_logins_and_tokens_and_is_idempotent,
    erase_is_sent_and_read_back,
    a_deactivated_account_comes_back_only_when_asked,
    locks_refuse_logins_and_unlock_restores_them,
    passwords_keep_sessions_unless_logout_devices,
    many_accounts_in_several_states_in_one_task,
);

fn args(s: &Synapse, username: &str, extra: Value) -> Value {
    let mut a = json!({"homeserver_url": s.url, "shared_secret_file": s.secret_file(),
        "access_token": s.admin_token, "username": username});
    for (k, v) in extra.as_object().unwrap() {
        a[k] = v.clone();
    }
    a
}

/// A new account with a session of its own: (localpart, user ID, password, access token).
fn account(s: &Synapse, prefix: &str) -> (String, String, String, String) {
    let name = unique_user(prefix);
    let pw = random_secret("pw");
    let v = s.register_raw(&name, &pw, false, false);
    let token = v["access_token"].as_str().unwrap().to_string();
    (name.clone(), format!("@{name}:localhost"), pw, token)
}

fn record(s: &Synapse, id: &str) -> Value {
    s.user(id).expect("the account exists")
}

/// Whether Synapse still takes the access token.
fn token_works(s: &Synapse, token: &str) -> bool {
    let r = reqwest::blocking::Client::new()
        .get(format!("{}/_matrix/client/v3/account/whoami", s.url))
        .bearer_auth(token)
        .send()
        .unwrap();
    r.status().as_u16() == 200
}

fn deactivation_ends_logins_and_tokens_and_is_idempotent(s: &Synapse) {
    let (name, id, pw, token) = account(s, "leaver");
    let check = run_module_with(
        "register_user",
        args(s, &name, json!({"state": "deactivated"})),
        &[("_ansible_check_mode", json!(true))],
    )
    .ok();
    assert!(check.changed(), "check mode predicts the deactivation");
    assert_eq!(record(s, &id)["deactivated"], false, "check mode wrote");
    assert!(token_works(s, &token));

    let r = run_module_with(
        "register_user",
        args(s, &name, json!({"state": "deactivated"})),
        &[("_ansible_diff", json!(true))],
    )
    .ok();
    assert!(r.changed());
    assert_eq!(r.json["deactivated"], true);
    assert_eq!(r.json["diff"]["before"]["deactivated"], false);
    assert_eq!(r.json["diff"]["after"]["deactivated"], true);
    let rec = record(s, &id);
    assert_eq!(rec["deactivated"], true, "{rec}");
    assert_eq!(rec["erased"], false, "erase was not asked: {rec}");
    assert!(!s.can_login(&name, &pw), "a deactivated account logs in");
    assert!(!token_works(s, &token), "its old access token still works");

    let again = run_module(
        "register_user",
        args(s, &name, json!({"state": "deactivated"})),
    )
    .ok();
    assert!(!again.changed(), "already deactivated: {}", again.stdout);

    // A missing account stays missing.
    let ghost = unique_user("ghost");
    let r = run_module(
        "register_user",
        args(s, &ghost, json!({"state": "deactivated"})),
    )
    .ok();
    assert!(!r.changed());
    assert!(s.user(&format!("@{ghost}:localhost")).is_none(), "created");
}

fn erase_is_sent_and_read_back(s: &Synapse) {
    let (name, id, _, _) = account(s, "erased");
    let r = run_module(
        "register_user",
        args(s, &name, json!({"state": "deactivated", "erase": true})),
    )
    .ok();
    assert!(r.changed());
    let rec = record(s, &id);
    assert_eq!(
        (&rec["deactivated"], &rec["erased"]),
        (&json!(true), &json!(true)),
        "{rec}"
    );

    // Deactivated without erasure first: erase then still asks for it.
    let (name, id, _, _) = account(s, "later");
    run_module(
        "register_user",
        args(s, &name, json!({"state": "deactivated"})),
    )
    .ok();
    assert_eq!(record(s, &id)["erased"], false);
    let r = run_module(
        "register_user",
        args(s, &name, json!({"state": "deactivated", "erase": true})),
    )
    .ok();
    assert!(
        r.changed(),
        "erasure asked of a deactivated account: {}",
        r.stdout
    );
    assert_eq!(record(s, &id)["erased"], true);
    let r = run_module(
        "register_user",
        args(s, &name, json!({"state": "deactivated", "erase": true})),
    )
    .ok();
    assert!(!r.changed());
}

fn a_deactivated_account_comes_back_only_when_asked(s: &Synapse) {
    let (name, id, _, _) = account(s, "back");
    run_module(
        "register_user",
        args(s, &name, json!({"state": "deactivated"})),
    )
    .ok();
    let new_pw = random_secret("new-pw");
    run_module("register_user", args(s, &name, json!({"password": new_pw})))
        .fails_with("reactivate: true");
    assert_eq!(record(s, &id)["deactivated"], true, "reactivated unasked");
    assert!(!s.can_login(&name, &new_pw));

    let check = run_module_with(
        "register_user",
        args(s, &name, json!({"password": new_pw, "reactivate": true})),
        &[("_ansible_check_mode", json!(true))],
    )
    .ok();
    assert!(check.changed());
    assert_eq!(record(s, &id)["deactivated"], true, "check mode wrote");

    let r = run_module(
        "register_user",
        args(s, &name, json!({"password": new_pw, "reactivate": true})),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(r.json["reactivated"], true);
    assert_eq!(record(s, &id)["deactivated"], false);
    assert!(
        s.can_login(&name, &new_pw),
        "the reactivated account cannot log in"
    );
    assert!(!r.stdout.contains(&new_pw));

    let again = run_module(
        "register_user",
        args(s, &name, json!({"password": new_pw, "reactivate": true})),
    )
    .ok();
    assert!(!again.changed(), "an active account is left alone");
}

fn locks_refuse_logins_and_unlock_restores_them(s: &Synapse) {
    let (name, id, pw, _) = account(s, "locked");
    let r = run_module(
        "register_user",
        args(s, &name, json!({"password": pw, "locked": true})),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(r.json["lock_changed"], true);
    assert_eq!(record(s, &id)["locked"], true);
    assert!(!s.can_login(&name, &pw), "a locked account logs in");
    let again = run_module(
        "register_user",
        args(s, &name, json!({"password": pw, "locked": true})),
    )
    .ok();
    assert!(!again.changed());

    let r = run_module(
        "register_user",
        args(s, &name, json!({"password": pw, "locked": false})),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(record(s, &id)["locked"], false);
    assert!(s.can_login(&name, &pw));

    // A new account asked to be locked is created locked.
    let fresh = unique_user("born-locked");
    let r = run_module(
        "register_user",
        args(
            s,
            &fresh,
            json!({"password": random_secret("pw"), "locked": true}),
        ),
    )
    .ok();
    assert!(r.changed() && r.json["created"] == true);
    assert_eq!(record(s, &format!("@{fresh}:localhost"))["locked"], true);
}

fn passwords_keep_sessions_unless_logout_devices(s: &Synapse) {
    let (name, _, _, token) = account(s, "pwd");
    let pw2 = random_secret("pw2");
    let r = run_module(
        "register_user",
        args(
            s,
            &name,
            json!({"password": pw2, "update_password": "always"}),
        ),
    )
    .ok();
    assert!(r.changed());
    assert!(s.can_login(&name, &pw2));
    assert!(
        token_works(s, &token),
        "sessions were ended without logout_devices"
    );

    let pw3 = random_secret("pw3");
    let r = run_module(
        "register_user",
        args(
            s,
            &name,
            json!({"password": pw3, "update_password": "always", "logout_devices": true}),
        ),
    )
    .ok();
    assert!(r.changed());
    assert!(s.can_login(&name, &pw3));
    assert!(!token_works(s, &token), "logout_devices kept the session");
}

fn many_accounts_in_several_states_in_one_task(s: &Synapse) {
    let (a, a_id, a_pw, _) = account(s, "bulk-a");
    let (b, b_id, _, _) = account(s, "bulk-b");
    let c = unique_user("bulk-c");
    let users = json!([
        {"username": a, "password": a_pw, "locked": true},
        {"username": b, "state": "deactivated"},
        {"username": c, "password": random_secret("pw")},
    ]);
    let base = json!({"homeserver_url": s.url, "shared_secret_file": s.secret_file(),
        "access_token": s.admin_token, "users": users});
    let r = run_module("register_user", base.clone()).ok();
    assert!(r.changed());
    assert_eq!(r.json["created"], 1, "{}", r.stdout);
    assert_eq!(r.json["deactivated"], 1, "{}", r.stdout);
    assert_eq!(r.json["locks_changed"], 1, "{}", r.stdout);
    assert_eq!(record(s, &a_id)["locked"], true);
    assert_eq!(record(s, &b_id)["deactivated"], true);
    assert!(s.user(&format!("@{c}:localhost")).is_some());
    let again = run_module("register_user", base).ok();
    assert!(!again.changed(), "{}", again.stdout);
}

/// Refused before any request: what the options contradict, and what needs admin rights.
#[test]
fn lifecycle_options_are_checked_before_anything_is_sent() {
    // Answers every request with 500 and records it: none may reach it.
    let server = Hostile::always(Reply::json(500, json!({"errcode": "M_UNKNOWN"})));
    let base = json!({"homeserver_url": server.url, "shared_secret": "s", "username": "alice"});
    let with = |extra: Value| {
        let mut a = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            a[k] = v.clone();
        }
        a
    };
    for (extra, want) in [
        (json!({"state": "gone"}), "state"),
        (
            json!({"password": "pw-123456", "logout_devices": true}),
            "logout_devices ends sessions when a password is set: it needs update_password=always",
        ),
        (
            json!({"state": "deactivated"}),
            "state=deactivated needs admin credentials",
        ),
        (
            json!({"password": "pw-123456", "locked": true}),
            "locked needs admin credentials",
        ),
        (
            json!({"password": "pw-123456", "reactivate": true}),
            "reactivate needs admin credentials",
        ),
        (json!({}), "password or password_file is required"),
    ] {
        let r = run_module("register_user", with(extra.clone())).fails_with(want);
        assert!(
            !r.stdout.contains("127.0.0.1:9"),
            "{extra}: a request was made: {}",
            r.stdout
        );
    }
}

/// The user IDs in Synapse's answers are the ones asked for: `urlenc` keeps this file's helpers
/// honest about encoding (a user ID with `=` or `+` in its localpart).
#[test]
fn lifecycle_of_a_localpart_that_needs_encoding() {
    let s = sqlite();
    let name = format!("{}=x+y", unique_user("enc"));
    let pw = random_secret("pw");
    s.register_raw(&name, &pw, false, true);
    let id = format!("@{name}:localhost");
    assert!(s.user(&id).is_some(), "{}", urlenc(&id));
    run_module(
        "register_user",
        args(s, &name, json!({"state": "deactivated"})),
    )
    .ok();
    assert_eq!(record(s, &id)["deactivated"], true);
}
