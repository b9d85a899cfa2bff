//! user_admin with backend mas, and how every module explains a credential MAS refuses.

use super::{check_mode, mas_args, no_secret_in, run, run_with, task};
use crate::common::fake_mas::{FakeMas, FakeMasOptions};
use serde_json::{json, Value};

#[test]
fn auth_errors_say_what_is_wrong() {
    let mas = FakeMas::start();
    let base = |extra: Value| {
        let mut v = json!({"backend": "mas", "api_url": mas.url, "username": "x", "admin": true});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    // Tokens the module is given: one without urn:mas:admin, one revoked, one expired (from a
    // second fake whose tokens live 1 s).
    let (s, v) = mas.token_request(&mas.client_id, &mas.client_secret, None);
    assert_eq!(s, 200, "{v}");
    let plain = v["access_token"].as_str().unwrap().to_string();
    let revoked = mas.admin_token();
    let http = reqwest::blocking::Client::new();
    let rv = http
        .post(format!("{}/oauth2/revoke", mas.url))
        .basic_auth(&mas.admin_client_id, Some(&mas.admin_client_secret))
        .form(&[("token", revoked.as_str())])
        .send()
        .unwrap();
    assert_eq!(rv.status().as_u16(), 200);
    let short = FakeMas::start_with(&FakeMasOptions {
        token_ttl: Some(1),
        ..Default::default()
    });
    let expired = short.admin_token();
    let mut expired_args = base(json!({"access_token": expired}));
    expired_args["api_url"] = json!(short.url);
    std::thread::sleep(std::time::Duration::from_millis(2200));

    // (arguments, what the message says, a secret it must not show)
    let cases: [(Value, &[&str], Option<&str>); 8] = [
        // An id that cannot be a MAS client id is caught before any request.
        (
            base(json!({"client_id": "my-admin-client", "client_secret": "s3cret"})),
            &["is not a MAS client id"],
            None,
        ),
        // A well-formed id MAS does not know, and the right id with a wrong secret.
        (
            base(
                json!({"client_id": "01JZZZZZZZZZZZZZZZZZZZZZZZ", "client_secret": mas.admin_client_secret}),
            ),
            &[
                "invalid_client",
                "client_id 01JZZZZZZZZZZZZZZZZZZZZZZZ is not a client of MAS",
            ],
            Some(&mas.admin_client_secret),
        ),
        (
            base(json!({"client_id": mas.admin_client_id, "client_secret": "wrong-secret-123"})),
            &["client_secret is not its secret"],
            None,
        ),
        // A client outside policy.data.admin_clients.
        (
            base(json!({"client_id": mas.client_id, "client_secret": mas.client_secret})),
            &["add ", "policy.data.admin_clients"],
            None,
        ),
        // A token without urn:mas:admin.
        (
            base(json!({"access_token": plain})),
            &["not a MAS admin token"],
            Some(&plain),
        ),
        // A homeserver's token.
        (
            base(json!({"access_token": "syt_YWxpY2U_AAAAAAAAAAAAAAAAAAAA_000000"})),
            &["not a MAS access token"],
            None,
        ),
        (
            base(json!({"access_token": revoked})),
            &["was revoked"],
            None,
        ),
        (expired_args, &["has expired"], None),
    ];
    for (args, messages, hidden) in cases {
        let mut r = run(&mas, "user_admin", args);
        for m in messages {
            r = r.fails_with(m);
        }
        if let Some(secret) = hidden {
            no_secret_in(&r, &[secret]);
        }
    }
}

#[test]
fn user_admin_sets_the_mas_admin_flag() {
    let mas = FakeMas::start();
    let (s, _) = mas.admin(
        "POST",
        "/api/admin/v1/users",
        Some(&json!({"username": "hank"})),
    );
    assert_eq!(s, 201);
    let args = |admin: bool| mas_args(&mas, json!({"username": "hank", "admin": admin}));

    let r = run_with(&mas, "user_admin", args(true), &check_mode()).ok();
    assert!(r.changed());
    assert_eq!(r.json["diff"]["before"]["admin"], false);
    assert_eq!(r.json["diff"]["after"]["admin"], true);
    assert_eq!(mas.user("hank").unwrap()["attributes"]["admin"], false);

    let r = run(&mas, "user_admin", args(true)).ok();
    assert!(r.changed());
    assert_eq!(r.json["user_id"], "@hank:localhost");
    assert_eq!(mas.user("hank").unwrap()["attributes"]["admin"], true);
    assert!(!run(&mas, "user_admin", args(true)).ok().changed());

    // With an access token, and a full user ID.
    let r = run(
        &mas,
        "user_admin",
        json!({"backend": "mas", "api_url": mas.url, "access_token": mas.admin_token(),
               "username": "@hank:localhost", "admin": false}),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(mas.user("hank").unwrap()["attributes"]["admin"], false);

    task(
        &mas,
        "user_admin",
        json!({"username": "nobody", "admin": true}),
    )
    .fails_with("does not exist");
    assert!(mas.user("nobody").is_none());
    task(
        &mas,
        "user_admin",
        json!({"username": "@hank:other.example", "admin": true}),
    )
    .fails_with("not a user of this MAS");
}
