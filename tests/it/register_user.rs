//! register_user against a real Synapse (started by tests/servers/synapse.sh).

use crate::common::*;
use serde_json::{json, Value};

fn base(s: &Synapse) -> Value {
    json!({"homeserver_url": s.url, "shared_secret": s.shared_secret, "server_name": "localhost"})
}

fn with(mut v: Value, extra: Value) -> Value {
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

#[test]
fn creates_once_then_reports_ok_without_touching_the_account() {
    let s = Synapse::shared();
    let name = unique_user("alice");
    let id = format!("@{name}:localhost");
    let pw = random_secret("pw");

    let r = run_module(
        "register_user",
        with(base(s), json!({"username": name, "password": pw})),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(r.json["created"], true);
    assert_eq!(r.json["user_id"], id);
    let user = s.user(&id).expect("the account exists on the server");
    assert_eq!(user["admin"], false);
    // inhibit_login: no device, no token left on the new account.
    assert_eq!(s.device_count(&id), 0);
    assert!(s.can_login(&name, &pw));

    // Second run: unchanged, and the password is not reset.
    let r = run_module(
        "register_user",
        with(
            base(s),
            json!({"username": name, "password": "other-password"}),
        ),
    )
    .ok();
    assert!(!r.changed());
    assert_eq!(r.json["created"], false);
    assert_eq!(r.json["user_id"], id);
    assert!(s.can_login(&name, &pw));
    assert!(!s.can_login(&name, "other-password"));
}

#[test]
fn admin_user_type_and_displayname_are_applied_on_creation() {
    let s = Synapse::shared();
    let name = unique_user("bot");
    let r = run_module(
        "register_user",
        with(
            base(s),
            json!({"username": name, "password": random_secret("pw"), "admin": "yes",
                   "user_type": "bot", "displayname": "Build Bot"}),
        ),
    )
    .ok();
    assert!(r.changed());
    let u = s.user(&format!("@{name}:localhost")).unwrap();
    assert_eq!(u["admin"], true);
    assert_eq!(u["user_type"], "bot");
    assert_eq!(u["displayname"], "Build Bot");
}

#[test]
fn without_server_name_it_registers_and_recognises_an_existing_account() {
    let s = Synapse::shared();
    let name = unique_user("noserver");
    let args = json!({"homeserver_url": s.url, "shared_secret": s.shared_secret,
                      "username": name, "password": random_secret("pw")});
    let r = run_module("register_user", args.clone()).ok();
    assert!(r.changed());
    assert_eq!(r.json["user_id"], format!("@{name}:localhost"));
    let r = run_module("register_user", args).ok();
    assert!(!r.changed(), "M_USER_IN_USE is success: {}", r.stdout);
}

#[test]
fn full_user_ids_are_accepted_and_checked_against_server_name() {
    let s = Synapse::shared();
    let name = unique_user("full");
    let id = format!("@{name}:localhost");
    // With server_name set the full ID's server is checked before anything is written (without
    // it, and with no other way to learn the name, it is refused since issue 18: tests/hostile.rs).
    let r = run_module(
        "register_user",
        with(
            base(s),
            json!({"username": id, "password": random_secret("p")}),
        ),
    )
    .ok();
    assert_eq!(r.json["user_id"], id);
    assert!(s.user(&id).is_some());
    run_module(
        "register_user",
        with(
            base(s),
            json!({"username": format!("@{name}:elsewhere.org"), "password": "x-password"}),
        ),
    )
    .fails_with("server_name is 'localhost'");
}

#[test]
fn check_mode_predicts_and_writes_nothing() {
    let s = Synapse::shared();
    let name = unique_user("checked");
    let id = format!("@{name}:localhost");
    let args = with(
        base(s),
        json!({"username": name, "password": random_secret("pw")}),
    );
    let check = [
        ("_ansible_check_mode", json!(true)),
        ("_ansible_diff", json!(true)),
    ];

    let r = run_module_with("register_user", args.clone(), &check).ok();
    assert!(r.changed());
    assert_eq!(r.json["created"], true);
    assert_eq!(r.json["diff"]["before"]["exists"], false);
    assert_eq!(r.json["diff"]["after"]["exists"], true);
    assert!(
        s.user(&id).is_none(),
        "check mode must not create the account"
    );

    run_module("register_user", args.clone()).ok();
    let r = run_module_with("register_user", args, &check).ok();
    assert!(!r.changed());
    assert_eq!(r.json["diff"]["before"], r.json["diff"]["after"]);

    // Without a server name the module cannot look up, so it says so and still writes nothing.
    let other = unique_user("checked");
    let r = run_module_with(
        "register_user",
        json!({"homeserver_url": s.url, "shared_secret": s.shared_secret, "username": other, "password": "pw-123456"}),
        &check,
    )
    .ok();
    assert!(
        r.json["warnings"][0]
            .as_str()
            .unwrap()
            .contains("cannot tell"),
        "{}",
        r.stdout
    );
    assert!(s.user(&format!("@{other}:localhost")).is_none());
}

#[test]
fn secrets_from_files() {
    let s = Synapse::shared();
    let dir = tempfile::tempdir().unwrap();
    let pw_file = dir.path().join("pw");
    let pw = random_secret("filepw");
    std::fs::write(&pw_file, format!("{pw}\n")).unwrap();
    let name = unique_user("files");
    let r = run_module(
        "register_user",
        json!({"homeserver_url": s.url, "shared_secret_file": s.secret_file(), "server_name": "localhost",
               "username": name, "password_file": pw_file}),
    )
    .ok();
    assert!(r.changed());
    assert!(
        s.can_login(&name, &pw),
        "the file's password, trimmed, is the account's"
    );
    assert!(!r.stdout.contains(&pw) && !r.stdout.contains(&s.shared_secret));

    run_module(
        "register_user",
        json!({"homeserver_url": s.url, "shared_secret_file": dir.path().join("missing"),
               "username": unique_user("x"), "password": "pw-123456"}),
    )
    .fails_with("shared_secret_file: cannot read");
}

#[test]
fn a_wrong_shared_secret_fails_clearly_and_creates_nothing() {
    let s = Synapse::shared();
    let name = unique_user("wrongsecret");
    let wrong = random_secret("wrong-secret");
    let r = run_module(
        "register_user",
        json!({"homeserver_url": s.url, "shared_secret": wrong, "username": name, "password": "pw-123456"}),
    )
    .fails_with("registration_shared_secret");
    assert!(!r.stdout.contains(&wrong));
    assert_eq!(
        r.json["invocation"]["module_args"]["shared_secret"],
        "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    );
    assert!(s.user(&format!("@{name}:localhost")).is_none());
}

#[test]
fn shared_secret_registration_disabled_is_explained() {
    let s = Synapse::start(&[("SYNAPSE_NO_SHARED_SECRET", "1")], &[]);
    run_module(
        "register_user",
        json!({"homeserver_url": s.url, "shared_secret": "anything-here", "username": "nobody", "password": "pw-123456"}),
    )
    .fails_with("shared-secret registration is not enabled");
}

#[test]
fn an_unreachable_server_fails_clearly() {
    let port = free_port();
    let r = run_module(
        "register_user",
        json!({"homeserver_url": format!("http://127.0.0.1:{port}"), "shared_secret": "s3cret-value",
               "username": "alice", "password": "pw-123456", "retries": 1, "timeout": 5}),
    )
    .fails_with("connection refused");
    assert!(r.msg().contains(&format!("127.0.0.1:{port}")));
}

#[test]
fn bad_input_fails_before_any_request() {
    // The URL points nowhere: each failure must come from validation, not the network.
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let ok = json!({"homeserver_url": nowhere, "shared_secret": "s3cret-value", "username": "alice", "password": "pw-123456"});
    let cases: Vec<(Value, &str)> = vec![
        (json!({"username": "Alice"}), "upper-case"),
        (json!({"username": "../admin"}), "'/'"),
        (json!({"username": "a..b"}), "'..'"),
        (json!({"username": "al ice"}), "' '"),
        (json!({"username": ""}), "username is empty"),
        (json!({"username": "a".repeat(300)}), "too long"),
        (json!({"username": "%2Fetc"}), "'%'"),
        (json!({"admin": "perhaps"}), "'admin'"),
        (json!({"concurrency": 0}), "concurrency"),
        (json!({"timeout": "soon"}), "'timeout'"),
        (
            json!({"backend": "conduit"}),
            "value of backend must be one of",
        ),
        (
            json!({"update_password": "sometimes"}),
            "value of update_password",
        ),
        (
            json!({"update_password": "always"}),
            "needs admin credentials",
        ),
        (
            json!({"homeserver_url": "ftp://x"}),
            "homeserver_url must start with http",
        ),
        (
            json!({"pasword": "typo"}),
            "Unsupported parameters: pasword",
        ),
        (
            json!({"password_file": "/etc/hostname"}),
            "mutually exclusive: password|password_file",
        ),
        (
            json!({"admin_username": "root"}),
            "required together: admin_username, admin_password",
        ),
        (
            json!({"server_name": "bad/server"}),
            "not a valid server name",
        ),
        (json!({"password": ""}), "is empty"),
    ];
    for (change, want) in cases {
        let mut args = ok.clone();
        for (k, v) in change.as_object().unwrap() {
            args[k] = v.clone();
        }
        let r = run_module("register_user", args).fails_with(want);
        assert!(!r.stdout.contains("s3cret-value"), "{}", r.stdout);
    }
    let mut args = ok.clone();
    args.as_object_mut().unwrap().remove("shared_secret");
    run_module("register_user", args)
        .fails_with("one of the following is required: shared_secret, shared_secret_file");
}

#[test]
fn broken_invocations_still_print_one_failed_json_object() {
    let r = run_raw("register_user", &[]);
    assert!(r.failed() && r.code != 0 && r.msg().contains("no arguments file"));
    let r = run_raw("register_user", &["/nonexistent/args"]);
    assert!(r.failed() && r.msg().contains("cannot read the arguments file"));
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("args");
    std::fs::write(&p, "username=alice password=x").unwrap();
    let r = run_raw("register_user", &[p.to_str().unwrap()]);
    assert!(r.failed() && r.msg().contains("not valid JSON"));
}

#[test]
fn update_password_always_resets_with_an_access_token() {
    let s = Synapse::shared();
    let name = unique_user("reset");
    let first = random_secret("first");
    let second = random_secret("second");
    run_module(
        "register_user",
        with(base(s), json!({"username": name, "password": first})),
    )
    .ok();

    let r = run_module(
        "register_user",
        with(
            base(s),
            json!({"username": name, "password": second, "update_password": "always",
                              "access_token": s.admin_token}),
        ),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(r.json["password_updated"], true);
    assert_eq!(r.json["created"], false);
    assert!(s.can_login(&name, &second));
    assert!(!s.can_login(&name, &first));
    assert!(!r.stdout.contains(&s.admin_token) && !r.stdout.contains(&second));

    // Check mode predicts the reset and leaves the password alone.
    let third = random_secret("third");
    let r = run_module_with(
        "register_user",
        with(
            base(s),
            json!({"username": name, "password": third, "update_password": "always",
                              "access_token": s.admin_token}),
        ),
        &[("_ansible_check_mode", json!(true))],
    )
    .ok();
    assert!(r.changed());
    assert!(s.can_login(&name, &second));
}

#[test]
fn admin_login_is_logged_out_after_the_task() {
    let s = Synapse::shared();
    let admin = s.new_admin("loginadmin");
    let devices_before = s.device_count(&admin.user_id);
    let name = unique_user("vialogin");
    let r = run_module(
        "register_user",
        json!({"homeserver_url": s.url, "shared_secret": s.shared_secret, "username": name,
               "password": random_secret("pw"), "update_password": "always",
               "admin_username": admin.name, "admin_password": admin.password}),
    )
    .ok();
    assert!(r.changed() && r.json["created"] == true, "{}", r.stdout);
    assert_eq!(
        r.json["user_id"],
        format!("@{name}:localhost"),
        "server name learnt from whoami"
    );
    assert_eq!(
        s.device_count(&admin.user_id),
        devices_before,
        "no device left behind"
    );
    assert!(!r.stdout.contains(&admin.password));

    run_module(
        "register_user",
        json!({"homeserver_url": s.url, "shared_secret": s.shared_secret, "username": name,
               "password": "pw-123456", "admin_username": s.admin_user, "admin_password": "wrong-password"}),
    )
    .fails_with("check admin_username and admin_password");
}

#[test]
fn a_non_admin_token_is_reported_as_lacking_admin_rights() {
    let s = Synapse::shared();
    let plain = unique_user("plain");
    let token = s.register_raw(&plain, "plain-pw-123", false, false)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = run_module(
        "register_user",
        with(
            base(s),
            json!({"username": unique_user("x"), "password": "pw-123456", "access_token": token}),
        ),
    )
    .fails_with("lack admin rights");
    assert!(!r.stdout.contains(&token));
}

#[test]
fn bulk_registers_many_and_fails_only_bad_entries() {
    let s = Synapse::shared();
    let existing = unique_user("bulk-existing");
    s.register_raw(&existing, "existing-pw", false, true);
    let mut users: Vec<Value> = (0..12)
        .map(|i| json!({"username": unique_user(&format!("bulk{i}")), "password": random_secret("pw")}))
        .collect();
    users[3]["admin"] = json!("yes");
    users.push(json!({"username": existing, "password": "whatever-pw"}));
    users.push(json!({"username": "Bad Name", "password": "pw-123456"}));
    users.push(json!({"username": unique_user("nopw")}));
    let args = with(base(s), json!({"users": users, "concurrency": 4}));

    let r = run_module("register_user", args.clone());
    assert!(r.failed(), "bad entries fail the task: {}", r.stdout);
    assert!(r.changed());
    assert_eq!(r.json["created"], 12);
    assert_eq!(r.json["existing"], 1);
    assert_eq!(r.json["failed_count"], 2);
    assert!(
        r.msg().contains("users[13]") && r.msg().contains("users[14]"),
        "{}",
        r.msg()
    );
    // Results list what changed or failed (the existing account is only counted), each with
    // its position in users.
    let results = r.json["results"].as_array().unwrap();
    assert_eq!(results.len(), 14);
    let at = |i: u64| results.iter().find(|e| e["index"] == i);
    assert_eq!(at(13).unwrap()["failed"], true);
    assert_eq!(at(14).unwrap()["failed"], true);
    assert!(at(12).is_none(), "an unchanged account is not listed");
    assert_eq!(at(3).unwrap()["created"], true);
    for u in &users[..12] {
        let id = format!("@{}:localhost", u["username"].as_str().unwrap());
        assert!(s.user(&id).is_some(), "{id} registered");
    }
    assert_eq!(
        s.user(&format!(
            "@{}:localhost",
            users[3]["username"].as_str().unwrap()
        ))
        .unwrap()["admin"],
        true
    );
    for u in &users {
        if let Some(pw) = u["password"].as_str() {
            assert!(!r.stdout.contains(pw), "a password leaked");
        }
    }

    // Re-run with the bad entries dropped: converged, nothing changes.
    let good: Vec<Value> = users[..13].to_vec();
    let r = run_module(
        "register_user",
        with(base(s), json!({"users": good, "concurrency": 8})),
    )
    .ok();
    assert!(!r.changed());
    assert_eq!(r.json["existing"], 13);
}
