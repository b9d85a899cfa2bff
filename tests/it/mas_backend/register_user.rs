//! register_user with backend mas: creation, convergence of an existing account, check mode,
//! password policy, what MAS cannot do, bulk runs that outlive their token.

use super::{check, granted, logged, mas_args, no_secret_in, run, run_with, task, STRONG, STRONG2};
use crate::common::fake_mas::{FakeMas, FakeMasOptions};
use serde_json::{json, Value};

#[test]
fn register_user_creates_with_password_admin_displayname_and_emails() {
    let mas = FakeMas::start();
    let r = task(
        &mas,
        "register_user",
        json!({"username": "alice", "password": STRONG, "admin": true,
                   "displayname": "Alice A.", "email": ["alice@example.org", "a@example.net"]}),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(r.json["created"], true);
    assert_eq!(r.json["user_id"], "@alice:localhost");
    no_secret_in(&r, &[STRONG, &mas.admin_client_secret]);

    let user = mas.user("alice").expect("alice exists on MAS");
    assert_eq!(user["attributes"]["admin"], true);
    assert!(mas.can_login("alice", STRONG), "the password was set");
    let mut emails = mas.emails_of(user["id"].as_str().unwrap());
    emails.sort();
    assert_eq!(emails, ["a@example.net", "alice@example.org"]);

    // A re-run changes nothing: the account exists, flag and addresses are as asked.
    let again = task(
        &mas,
        "register_user",
        json!({"username": "alice", "password": STRONG2, "admin": true,
                   "email": "alice@example.org"}),
    )
    .ok();
    assert!(!again.changed(), "{}", again.stdout);
    assert!(
        mas.can_login("alice", STRONG),
        "on_create keeps the password"
    );
    assert!(!mas.can_login("alice", STRONG2));
}

#[test]
fn an_existing_account_converges_admin_email_and_password_only_when_asked() {
    let mas = FakeMas::start();
    task(
        &mas,
        "register_user",
        json!({"username": "bob", "password": STRONG}),
    )
    .ok();
    let id = mas.user("bob").unwrap()["id"].as_str().unwrap().to_string();

    // Admin and a new address converge; the password is left alone (on_create).
    let r = run_with(
        &mas,
        "register_user",
        mas_args(
            &mas,
            json!({"username": "bob", "password": STRONG2, "admin": true, "email": ["bob@example.org"]}),
        ),
        &[("_ansible_diff", json!(true))],
    )
    .ok();
    assert!(r.changed());
    assert_eq!(r.json["created"], false);
    assert_eq!(r.json["admin_updated"], true);
    assert_eq!(r.json["emails_added"], json!(["bob@example.org"]));
    assert_eq!(r.json["diff"]["before"]["exists"], true);
    assert_eq!(
        r.json["diff"]["after"]["emails_added"],
        json!(["bob@example.org"])
    );
    assert_eq!(mas.user("bob").unwrap()["attributes"]["admin"], true);
    assert_eq!(mas.emails_of(&id), ["bob@example.org"]);
    assert!(mas.can_login("bob", STRONG) && !mas.can_login("bob", STRONG2));

    // update_password=always sets it (and says changed every time).
    let r = task(
        &mas,
        "register_user",
        json!({"username": "@bob:localhost", "password": STRONG2, "update_password": "always"}),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(r.json["password_updated"], true);
    assert!(mas.can_login("bob", STRONG2) && !mas.can_login("bob", STRONG));

    // admin: false demotes; an address of another account is a clear failure.
    task(
        &mas,
        "register_user",
        json!({"username": "carol", "password": STRONG}),
    )
    .ok();
    task(
        &mas,
        "register_user",
        json!({"username": "carol", "password": STRONG, "email": "BOB@example.org"}),
    )
    .fails_with("another account has this address");
    let carol = mas.user("carol").unwrap();
    assert!(mas.emails_of(carol["id"].as_str().unwrap()).is_empty());
    let r = task(
        &mas,
        "register_user",
        json!({"username": "bob", "password": STRONG, "admin": false}),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(mas.user("bob").unwrap()["attributes"]["admin"], false);
}

#[test]
fn check_mode_predicts_and_writes_nothing() {
    let mas = FakeMas::start();
    let r = check(
        &mas,
        "register_user",
        json!({"username": "dave", "password": STRONG, "email": "d@example.org"}),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(r.json["created"], true);
    assert!(mas.user("dave").is_none(), "check mode created the account");
    assert_eq!(logged(&mas, "POST", "/api/admin/v1/"), 0, "{}", mas.log());

    task(
        &mas,
        "register_user",
        json!({"username": "dave", "password": STRONG}),
    )
    .ok();
    let id = mas.user("dave").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let writes = logged(&mas, "POST", "/api/admin/v1/");
    let r = check(
        &mas,
        "register_user",
        json!({"username": "dave", "password": STRONG2, "admin": true,
                   "email": "d@example.org", "update_password": "always"}),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(r.json["admin_updated"], true);
    assert_eq!(r.json["emails_added"], json!(["d@example.org"]));
    assert_eq!(mas.user("dave").unwrap()["attributes"]["admin"], false);
    assert!(mas.emails_of(&id).is_empty());
    assert!(mas.can_login("dave", STRONG), "check mode set the password");
    assert_eq!(
        logged(&mas, "POST", "/api/admin/v1/"),
        writes,
        "check mode sent no write:\n{}",
        mas.log()
    );
}

#[test]
fn weak_passwords_are_refused_unless_the_check_is_skipped() {
    let mas = FakeMas::start();
    let r = task(
        &mas,
        "register_user",
        json!({"username": "erin", "password": "abc"}),
    )
    .fails_with("Password is too weak");
    assert!(r.msg().contains("skip_password_check"), "{}", r.msg());
    assert!(r.msg().contains("was created on MAS"), "{}", r.msg());
    assert!(!mas.can_login("erin", "abc"));

    task(
        &mas,
        "register_user",
        json!({"username": "erin", "password": "abc", "update_password": "always",
                   "skip_password_check": true}),
    )
    .ok();
    assert!(mas.can_login("erin", "abc"), "skip_password_check set it");

    task(
        &mas,
        "register_user",
        json!({"username": "frank", "password": "abc", "skip_password_check": true}),
    )
    .ok();
    assert!(mas.can_login("frank", "abc"));
}

#[test]
fn password_login_disabled_fails_before_creating_anything() {
    let mas = FakeMas::start_with(&FakeMasOptions {
        password_login_disabled: true,
        ..Default::default()
    });
    task(
        &mas,
        "register_user",
        json!({"username": "gina", "password": STRONG}),
    )
    .fails_with("password login disabled");
    assert!(mas.user("gina").is_none());
}

#[test]
fn what_mas_cannot_do_is_refused_before_any_request() {
    let mas = FakeMas::start();
    // fake-mas.sh's readiness check.
    let started = mas.log();
    let refused = [
        (
            mas_args(
                &mas,
                json!({"username": "bot", "password": STRONG, "user_type": "bot"}),
            ),
            "MAS has no user types",
        ),
        (
            mas_args(
                &mas,
                json!({"users": [{"username": "x", "password": STRONG, "user_type": "bot"}]}),
            ),
            "MAS has no user types",
        ),
        (
            json!({"backend": "mas", "client_id": mas.admin_client_id,
                   "client_secret": mas.admin_client_secret, "username": "x", "password": STRONG}),
            "backend mas needs api_url",
        ),
        (
            json!({"backend": "mas", "api_url": mas.url, "username": "x", "password": STRONG}),
            "needs MAS admin credentials",
        ),
        (
            json!({"shared_secret": "s", "username": "x", "password": STRONG, "email": "x@example.org"}),
            "email is for backend mas only",
        ),
    ];
    for (args, message) in refused {
        run(&mas, "register_user", args).fails_with(message);
    }
    assert_eq!(mas.log(), started, "nothing was sent");
}

#[test]
fn bulk_outlives_its_token_and_lists_once() {
    // Tokens live 1 s: a bulk run of 150 accounts (each a creation and a password hash on MAS,
    // about 1.5 s for 60 here) outlives several of them.
    let mas = FakeMas::start_with(&FakeMasOptions {
        token_ttl: Some(1),
        ..Default::default()
    });
    // Ten exist before, one of them without the admin flag asked for.
    for i in 0..10 {
        let (s, v) = mas.admin(
            "POST",
            "/api/admin/v1/users",
            Some(&json!({"username": format!("u{i:03}")})),
        );
        assert_eq!(s, 201, "{v}");
    }
    let users: Vec<Value> = (0..150)
        .map(|i| json!({"username": format!("u{i:03}"), "password": format!("{STRONG}-{i}")}))
        .collect();
    let mut args = mas_args(&mas, json!({"users": users, "concurrency": 4}));
    args["users"][3]["admin"] = json!(true);
    let before_grants = granted(&mas);
    let r = run(&mas, "register_user", args.clone()).ok();
    assert_eq!(r.json["created"], 140, "{}", r.stdout);
    assert_eq!(r.json["existing"], 10);
    assert_eq!(r.json["admin_flags_changed"], 1);
    assert_eq!(r.json["failed_count"], 0);
    // Existing accounts were found by one listing: the only look-up by name is u003's, whose
    // admin flag changed.
    assert_eq!(logged(&mas, "GET", "/api/admin/v1/users/by-username/"), 1);
    assert!(logged(&mas, "GET", "/api/admin/v1/users?") >= 1);
    for i in (10..150).step_by(17) {
        assert!(mas.can_login(&format!("u{i:03}"), &format!("{STRONG}-{i}")));
    }
    assert_eq!(mas.user("u003").unwrap()["attributes"]["admin"], true);
    assert_eq!(mas.users().len(), 150);
    let grants = granted(&mas) - before_grants;
    assert!(
        grants >= 2,
        "the task renewed its token ({grants} grants):\n{}",
        mas.log()
    );

    // The re-run converges: nothing changes.
    let r = run(&mas, "register_user", args).ok();
    assert!(!r.changed(), "{}", r.stdout);
    assert_eq!(r.json["existing"], 150);

    // Check mode over a list with a new name predicts it and writes nothing.
    let users: Vec<Value> = vec![json!({"username": "newcomer", "password": STRONG})];
    let r = check(&mas, "register_user", json!({"users": users})).ok();
    assert_eq!(r.json["created"], 1);
    assert!(mas.user("newcomer").is_none());
}
