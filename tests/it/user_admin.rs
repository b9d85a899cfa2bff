//! user_admin against a real Synapse, both backends (admin API and its SQLite database).

use crate::common::*;
use serde_json::{json, Value};

fn api(s: &Synapse, username: &str, admin: &str) -> Value {
    json!({"homeserver_url": s.url, "access_token": s.admin_token, "username": username, "admin": admin})
}

fn is_admin(s: &Synapse, id: &str) -> bool {
    s.user(id).expect("user exists")["admin"] == true
}

#[test]
fn promote_repeat_demote_through_the_admin_api() {
    let s = Synapse::shared();
    let name = unique_user("promote");
    let id = format!("@{name}:localhost");
    s.register_raw(&name, "promote-pw-1", false, true);

    let r = run_module_with(
        "user_admin",
        api(s, &name, "yes"),
        &[("_ansible_diff", json!(true))],
    )
    .ok();
    assert!(r.changed());
    assert_eq!(r.json["user_id"], id, "server name learnt from the token");
    assert_eq!(r.json["admin"], true);
    assert_eq!(r.json["diff"]["before"]["admin"], false);
    assert_eq!(r.json["diff"]["after"]["admin"], true);
    assert!(is_admin(s, &id));
    assert!(r.json.get("restart_required").is_none());

    let r = run_module("user_admin", api(s, &id, "yes")).ok();
    assert!(!r.changed(), "no write when the flag already matches");
    assert!(is_admin(s, &id));

    let r = run_module("user_admin", api(s, &id, "no")).ok();
    assert!(r.changed());
    assert_eq!(r.json["admin"], false);
    assert!(!is_admin(s, &id));
    assert!(!r.stdout.contains(&s.admin_token));
}

#[test]
fn check_mode_leaves_the_flag_alone() {
    let s = Synapse::shared();
    let name = unique_user("checkadmin");
    let id = format!("@{name}:localhost");
    s.register_raw(&name, "check-pw-1", false, true);
    let r = run_module_with(
        "user_admin",
        api(s, &id, "true"),
        &[("_ansible_check_mode", json!(true))],
    )
    .ok();
    assert!(r.changed());
    assert!(r.msg().contains("would be made an admin"));
    assert!(!is_admin(s, &id), "check mode must not change the server");
}

#[test]
fn a_missing_account_fails_and_is_not_created() {
    let s = Synapse::shared();
    let id = format!("@{}:localhost", unique_user("ghost"));
    run_module("user_admin", api(s, &id, "yes")).fails_with("does not exist");
    assert!(s.user(&id).is_none());
}

#[test]
fn bad_or_weak_credentials_are_explained() {
    let s = Synapse::shared();
    let name = unique_user("target");
    s.register_raw(&name, "target-pw-1", false, true);
    let id = format!("@{name}:localhost");

    let mut args = api(s, &id, "yes");
    args["access_token"] = json!("syt_not_a_real_token_123");
    let r = run_module("user_admin", args).fails_with("access token was refused");
    assert!(!r.stdout.contains("syt_not_a_real_token_123"));

    let plain = unique_user("plainuser");
    let token = s.register_raw(&plain, "plain-pw-123", false, false)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut args = api(s, &id, "yes");
    args["access_token"] = json!(token);
    run_module("user_admin", args).fails_with("lack admin rights");
    assert!(!is_admin(s, &id));

    run_module(
        "user_admin",
        json!({"homeserver_url": s.url, "username": id, "admin": true}),
    )
    .fails_with("needs admin credentials");
}

#[test]
fn an_admin_cannot_demote_itself() {
    let s = Synapse::shared();
    let admin_id = format!("@{}:localhost", s.admin_user);
    run_module("user_admin", api(s, &admin_id, "no"))
        .fails_with("does not let an admin demote itself");
    assert!(is_admin(s, &admin_id));
}

#[test]
fn login_credentials_leave_no_device() {
    let s = Synapse::shared();
    let admin = s.new_admin("loginadmin");
    let before = s.device_count(&admin.user_id);
    let name = unique_user("vialogin");
    s.register_raw(&name, "vialogin-pw-1", false, true);
    let r = run_module(
        "user_admin",
        json!({"homeserver_url": s.url, "admin_username": admin.name, "admin_password": admin.password,
               "username": name, "admin": "on"}),
    )
    .ok();
    assert!(r.changed());
    assert!(is_admin(s, &format!("@{name}:localhost")));
    assert_eq!(s.device_count(&admin.user_id), before, "logged out again");
    assert!(!r.stdout.contains(&admin.password));
}

#[test]
fn bad_input_fails_clearly() {
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let ok = json!({"homeserver_url": nowhere, "access_token": "tok-secret-1", "username": "alice", "admin": true});
    let cases: Vec<(Value, &str)> = vec![
        (json!({"admin": "sometimes"}), "'admin'"),
        (json!({"username": "../alice"}), "'/'"),
        (json!({"username": "Alice"}), "upper-case"),
        (
            json!({"backend": "postgres"}),
            "value of backend must be one of",
        ),
        (
            json!({"backend": "synapse_sqlite", "access_token": null}),
            "needs database",
        ),
        (
            json!({"backend": "synapse_sqlite", "access_token": null, "database": "/nonexistent/homeserver.db"}),
            "needs the full user ID",
        ),
        (
            json!({"database": "/x.db"}),
            "mutually exclusive: database|access_token",
        ),
        (json!({"colour": "blue"}), "Unsupported parameters: colour"),
    ];
    for (change, want) in cases {
        let mut args = ok.clone();
        for (k, v) in change.as_object().unwrap() {
            if v.is_null() {
                args.as_object_mut().unwrap().remove(k);
            } else {
                args[k] = v.clone();
            }
        }
        let r = run_module("user_admin", args).fails_with(want);
        assert!(!r.stdout.contains("tok-secret-1"));
    }
    let mut args = ok.clone();
    args.as_object_mut().unwrap().remove("admin");
    run_module("user_admin", args).fails_with("missing required arguments: admin");
}

/// The documented SQL path, on a server of its own: the API sees the new flag only after a
/// restart, because Synapse caches user records.
#[test]
fn sqlite_backend_writes_the_flag_and_needs_a_restart() {
    let s = Synapse::start(&[], &[]);
    let db = s.dir.path().join("homeserver.db");
    let name = unique_user("sqlfirst");
    let id = format!("@{name}:localhost");
    s.register_raw(&name, "sql-pw-123", false, true);
    assert!(
        !is_admin(&s, &id),
        "read once, so Synapse caches the record"
    );
    let args = json!({"backend": "synapse_sqlite", "database": db, "server_name": "localhost", "username": name, "admin": "yes"});

    let r = run_module_with(
        "user_admin",
        args.clone(),
        &[("_ansible_check_mode", json!(true))],
    )
    .ok();
    assert!(r.changed());
    assert_eq!(r.json["restart_required"], false);

    let r = run_module("user_admin", args.clone()).ok();
    assert!(r.changed());
    assert_eq!(r.json["restart_required"], true);
    assert!(r.json["warnings"][0]
        .as_str()
        .unwrap()
        .contains("restart Synapse"));
    assert!(!is_admin(&s, &id), "Synapse still serves its cached record");

    let r = run_module("user_admin", args).ok();
    assert!(!r.changed());
    assert_eq!(r.json["restart_required"], false);

    // Restart the same server: now the API reports the flag.
    s.restart();
    assert!(
        is_admin(&s, &id),
        "after a restart the API reports the new flag"
    );

    let ghost = json!({"backend": "synapse_sqlite", "database": db, "server_name": "localhost", "username": "ghost", "admin": true});
    run_module("user_admin", ghost).fails_with("does not exist");
}
