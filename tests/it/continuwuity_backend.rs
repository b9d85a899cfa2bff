//! `backend: continuwuity` of register_user (and its refusals in user_admin, registration_token
//! and user_info), against the FAKE continuwuity (tests/servers/fake_continuwuity.py, started by
//! tests/servers/fake-continuwuity.sh). No registry these machines reach ships continuwuity; the
//! FAKE follows continuwuity v26.7.3's source (docs/continuwuity.md) and is strict: the token's
//! use counted before the name check, a UIAA session gone once complete, registration refused
//! when disabled, and v26.7.3's MSC4323 lock that suspends instead of locking. Every test reads
//! the FAKE's state back (a login, its devices, its request log), not only what the module said.
//!
//! The last test registers with `registration_token` on a real Synapse (from PyPI) that requires
//! tokens: the same client-server path, generic, with Synapse's `[token, dummy]` flow.

use crate::common::fakes::{FakeServer, Flavor};
use crate::common::{random_secret, run_module, run_module_with, unique_user, Synapse};
use serde_json::{json, Value};

/// A FAKE continuwuity with an admin "admin" (its password returned) and `users` seeded.
fn fake(users: &[Value], env: &[(&str, &str)]) -> (FakeServer, String) {
    let admin_pw = random_secret("admin-pw");
    let mut all = vec![json!({"username": "admin", "password": admin_pw, "admin": true})];
    all.extend(users.iter().cloned());
    let s = FakeServer::start(Flavor::Continuwuity, env, Some(&json!({"users": all})));
    (s, admin_pw)
}

fn with(mut v: Value, extra: Value) -> Value {
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

/// register_user's options for the FAKE: its registration token from its file (never in the
/// arguments), its server name.
fn reg_args(s: &FakeServer, extra: Value) -> Value {
    let file = s.dir.path().join("registration-token");
    with(
        json!({"backend": "continuwuity", "homeserver_url": s.url, "server_name": "localhost",
               "registration_token_file": file.to_str().unwrap()}),
        extra,
    )
}

/// Requests in the FAKE's log with this method whose path starts with `prefix`.
fn logged(s: &FakeServer, method: &str, prefix: &str) -> usize {
    let want = format!(" {method} {prefix}");
    s.log().lines().filter(|l| l.contains(&want)).count()
}

/// The devices of `user` as the FAKE lists them to a fresh login (which is one of them), and
/// that login logged out again.
fn devices_besides_a_login(s: &FakeServer, user: &str, pw: &str) -> usize {
    let login = s.login(user, pw);
    assert_eq!(login.status, 200, "{:?}", login.body);
    let token = login.body["access_token"].as_str().unwrap().to_string();
    let d = s.call("GET", "/_matrix/client/v3/devices", Some(&token), None);
    assert_eq!(d.status, 200, "{:?}", d.body);
    let n = d.body["devices"].as_array().unwrap().len();
    let out = s.call(
        "POST",
        "/_matrix/client/v3/logout",
        Some(&token),
        Some(&json!({})),
    );
    assert_eq!(out.status, 200);
    n - 1
}

/// Whether the FAKE says the name is free.
fn available(s: &FakeServer, user: &str) -> bool {
    let a = s.call(
        "GET",
        &format!("/_matrix/client/v3/register/available?username={user}"),
        None,
        None,
    );
    match a.status {
        200 => true,
        400 if a.errcode() == "M_USER_IN_USE" => false,
        other => panic!("available {user}: {other} {:?}", a.body),
    }
}

#[test]
fn fake_continuwuity_registers_a_new_account_with_the_token_and_leaves_no_device() {
    let (s, _) = fake(&[], &[]);
    let token = s.file("registration-token");
    let name = unique_user("cw-new");
    let pw = random_secret("pw");
    let r = run_module(
        "register_user",
        reg_args(&s, json!({"username": name, "password": pw})),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(r.json["created"], true);
    assert_eq!(r.json["user_id"], format!("@{name}:localhost"));
    for secret in [&pw, &token] {
        assert!(!r.stdout.contains(secret.as_str()), "a secret leaked");
        assert!(
            !s.log().contains(secret.as_str()),
            "a secret went into a URL"
        );
    }
    // The account exists and logs in with that password; registration left no device.
    assert!(!available(&s, &name));
    assert_eq!(devices_besides_a_login(&s, &name, &pw), 0);
    assert_eq!(s.login(&name, "another-password").status, 403);
    // The name looked up, checked again right before the one registration request (and once
    // by this test); no session to log out.
    assert_eq!(
        logged(&s, "GET", "/_matrix/client/v3/register/available"),
        3
    );
    assert_eq!(
        logged(&s, "POST", "/_matrix/client/v3/logout"),
        1,
        "only this test's"
    );
    assert_eq!(logged(&s, "POST", "/_matrix/client/v3/register "), 1);
}

#[test]
fn fake_continuwuity_existing_account_is_ok_unchanged_and_no_registration_is_sent() {
    let pw = random_secret("pw");
    let (s, _) = fake(&[json!({"username": "carol", "password": pw})], &[]);
    // Without server_name too: the registrar's own name check finds it.
    for server_name in [json!("localhost"), Value::Null] {
        let r = run_module(
            "register_user",
            reg_args(
                &s,
                json!({"username": "carol", "password": "not-hers", "server_name": server_name}),
            ),
        )
        .ok();
        assert!(!r.changed(), "{}", r.stdout);
        assert_eq!(r.json["created"], false);
    }
    assert_eq!(logged(&s, "POST", "/_matrix/client/v3/register"), 0);
    assert_eq!(s.login("carol", &pw).status, 200, "her password is kept");
}

#[test]
fn fake_continuwuity_bad_token_fails_naming_registration_token_and_creates_nothing() {
    let (s, _) = fake(&[], &[]);
    let name = unique_user("cw-bad");
    let r = run_module(
        "register_user",
        json!({"backend": "continuwuity", "homeserver_url": s.url, "server_name": "localhost",
               "registration_token": "not-the-token", "username": name, "password": "pw-x"}),
    )
    .fails_with("registration_token");
    assert!(
        r.msg().contains("Invalid registration token"),
        "{}",
        r.msg()
    );
    assert!(available(&s, &name), "nothing was created");
    assert_eq!(s.login(&name, "pw-x").status, 404);
    assert_eq!(
        logged(&s, "POST", "/_matrix/client/v3/register"),
        1,
        "never retried"
    );
}

#[test]
fn fake_continuwuity_registration_disabled_fails_naming_allow_registration() {
    let (s, _) = fake(&[], &[("FAKE_CONTINUWUITY_ALLOW_REGISTRATION", "0")]);
    let name = unique_user("cw-off");
    let r = run_module(
        "register_user",
        reg_args(&s, json!({"username": name, "password": "pw-x"})),
    )
    .fails_with("allow_registration");
    assert!(
        r.msg()
            .contains("matrix_continuwuity_config_allow_registration"),
        "{}",
        r.msg()
    );
    assert!(available(&s, &name));
}

#[test]
fn fake_continuwuity_user_type_and_admin_are_refused_before_any_request() {
    let (s, _) = fake(&[], &[]);
    let before = s.log();
    for (extra, want) in [
        (json!({"user_type": "bot"}), "user_type"),
        (json!({"admin": true}), "!admin users make-user-admin"),
        (json!({"displayname": "Dee"}), "displayname"),
    ] {
        // Without server_name: the server's name is not even asked for.
        let mut args = reg_args(
            &s,
            with(json!({"username": "dee", "password": "pw-d"}), extra),
        );
        args.as_object_mut().unwrap().remove("server_name");
        run_module("register_user", args).fails_with(want);
    }
    assert_eq!(s.log(), before, "no request was sent");
    assert!(available(&s, "dee"));
}

#[test]
fn fake_continuwuity_lock_at_26_7_3_fails_with_the_admin_room_command() {
    let pw = random_secret("pw");
    let (s, admin_pw) = fake(&[json!({"username": "liz", "password": pw})], &[]);
    let r = run_module(
        "register_user",
        reg_args(
            &s,
            json!({"username": "liz", "password": pw, "locked": true,
                   "admin_username": "admin", "admin_password": admin_pw}),
        ),
    )
    .fails_with("!admin users lock @liz:localhost");
    assert!(r.msg().contains("suspends"), "{}", r.msg());
    // Not locked: she still logs in (v26.7.3 suspended her instead).
    assert_eq!(s.login("liz", &pw).status, 200);
    assert_eq!(logged(&s, "PUT", "/_matrix/client/v1/admin/lock/"), 1);
}

#[test]
fn fake_continuwuity_lock_with_the_fix_locks() {
    let pw = random_secret("pw");
    let (s, admin_pw) = fake(
        &[json!({"username": "liz", "password": pw})],
        &[("FAKE_CONTINUWUITY_LOCK_FIXED", "1")],
    );
    let args = reg_args(
        &s,
        json!({"username": "liz", "password": pw, "locked": true,
               "admin_username": "admin", "admin_password": admin_pw}),
    );
    let r = run_module("register_user", args.clone()).ok();
    assert!(r.changed());
    assert_eq!(r.json["lock_changed"], true);
    let l = s.login("liz", &pw);
    assert_eq!((l.status, l.errcode()), (401, "M_USER_LOCKED"));
    // Converged: a second run changes nothing.
    assert!(!run_module("register_user", args).ok().changed());
    assert_eq!(logged(&s, "PUT", "/_matrix/client/v1/admin/lock/"), 1);
}

#[test]
fn fake_continuwuity_what_only_the_admin_room_can_do_is_refused_naming_the_command() {
    let (s, admin_pw) = fake(&[json!({"username": "ann", "password": "pw-a"})], &[]);
    let before = s.log();
    let admin = json!({"admin_username": "admin", "admin_password": admin_pw});
    let cases = [
        (
            "user_admin",
            with(
                json!({"backend": "continuwuity", "homeserver_url": s.url, "username": "ann", "admin": true}),
                admin.clone(),
            ),
            "!admin users make-user-admin",
        ),
        (
            "registration_token",
            with(
                json!({"backend": "continuwuity", "api_url": s.url}),
                admin.clone(),
            ),
            "!admin token issue",
        ),
        (
            "register_user",
            reg_args(
                &s,
                with(
                    json!({"username": "ann", "password": "pw-b", "update_password": "always"}),
                    admin.clone(),
                ),
            ),
            "!admin users reset-password",
        ),
        (
            "register_user",
            reg_args(
                &s,
                with(
                    json!({"username": "ann", "state": "deactivated"}),
                    admin.clone(),
                ),
            ),
            "!admin users deactivate",
        ),
        (
            "register_user",
            reg_args(
                &s,
                with(
                    json!({"username": "ann", "password": "pw-a", "reactivate": true}),
                    admin.clone(),
                ),
            ),
            "no way at all to reactivate",
        ),
    ];
    for (module, args, want) in cases {
        run_module(module, args).fails_with(want);
    }
    assert_eq!(s.log(), before, "no request was sent");
    assert_eq!(s.login("ann", "pw-a").status, 200);
}

#[test]
fn fake_continuwuity_bulk_users_registers_the_new_and_keeps_the_existing() {
    let (s, _) = fake(&[json!({"username": "old", "password": "pw-old"})], &[]);
    let names: Vec<String> = (0..3).map(|i| unique_user(&format!("cw-b{i}"))).collect();
    let mut users: Vec<Value> = names
        .iter()
        .map(|n| json!({"username": n, "password": format!("pw-{n}")}))
        .collect();
    users.push(json!({"username": "old", "password": "other"}));
    let r = run_module("register_user", reg_args(&s, json!({"users": users}))).ok();
    assert!(r.changed());
    assert_eq!(r.json["created"], 3, "{}", r.stdout);
    assert_eq!(r.json["existing"], 1, "{}", r.stdout);
    for n in &names {
        assert_eq!(devices_besides_a_login(&s, n, &format!("pw-{n}")), 0);
    }
    assert_eq!(s.login("old", "pw-old").status, 200);
    assert_eq!(logged(&s, "POST", "/_matrix/client/v3/register "), 3);
    // Check mode on a re-run: nothing would change, nothing is sent.
    let again = run_module_with(
        "register_user",
        reg_args(&s, json!({"users": users})),
        &[("_ansible_check_mode", json!(true))],
    )
    .ok();
    assert!(!again.changed(), "{}", again.stdout);
    assert_eq!(logged(&s, "POST", "/_matrix/client/v3/register "), 3);
}

#[test]
fn synapse_registration_token_registers_through_the_client_api_without_a_device() {
    let synapse = Synapse::start_with_token_registration();
    let token = random_secret("tok").replace('-', "_");
    run_module(
        "registration_token",
        json!({"backend": "synapse", "homeserver_url": synapse.url,
               "access_token": synapse.admin_token, "token": token, "max_usage": 5}),
    )
    .ok();
    let name = unique_user("tok");
    let pw = random_secret("pw");
    let r = run_module(
        "register_user",
        json!({"backend": "synapse", "homeserver_url": synapse.url,
               "registration_token": token, "username": name, "password": pw}),
    )
    .ok();
    assert_eq!(r.json["created"], true, "{}", r.stdout);
    assert!(!r.stdout.contains(&token) && !r.stdout.contains(&pw));
    let user_id = r.json["user_id"].as_str().unwrap().to_string();
    assert!(user_id.starts_with(&format!("@{name}:")));
    assert!(synapse.user(&user_id).is_some(), "the account exists");
    assert_eq!(synapse.device_count(&user_id), 0, "no device left");
    assert!(synapse.can_login(&name, &pw));
    // Existing: unchanged, and no use of the token spent.
    let again = run_module(
        "register_user",
        json!({"backend": "synapse", "homeserver_url": synapse.url,
               "registration_token": token, "username": name, "password": pw}),
    )
    .ok();
    assert!(!again.changed(), "{}", again.stdout);
    let info = run_module(
        "registration_token_info",
        json!({"backend": "synapse", "homeserver_url": synapse.url,
               "access_token": synapse.admin_token, "token": token}),
    )
    .ok();
    assert_eq!(info.json["tokens"][0]["used"], 1, "{}", info.stdout);
}
