//! FAKE tuwunel: versions and shared-secret registration (src/api/client/admin/register.rs).
use super::{assert_err, details, json, mac, nonce, register, tuwunel};
use crate::common::fakes::{FakeServer, Flavor};

#[test]
fn tuwunel_fake_names_itself_and_answers_the_version_probes() {
    let s = tuwunel();
    // src/api/client/tuwunel.rs:14-19; version "{semantic} ({extra})", version.rs:42-52
    let v = s.call("GET", "/_tuwunel/server_version", None, None);
    assert_eq!(v.body["name"], "Tuwunel");
    assert!(v.body["version"].as_str().unwrap().contains("FAKE") && v.server.contains("FAKE"));
    // misc/server_version.rs:9-13: Synapse's shape
    let sv = s.call("GET", "/_synapse/admin/v1/server_version", None, None);
    assert!(sv.body["server_version"]
        .as_str()
        .unwrap()
        .starts_with("1.9.0"));
    // src/router/router.rs:15,22-24: unknown routes
    assert_err(
        &s.call("GET", "/_continuwuity/server_version", None, None),
        404,
        "M_UNRECOGNIZED",
    );
    assert!(s
        .log()
        .contains("FAKE-tuwunel GET /_tuwunel/server_version 200"));
}

#[test]
fn tuwunel_shared_secret_registration_creates_the_account_without_a_device() {
    let s = tuwunel();
    let n = nonce(&s);
    // src/service/admin/register.rs:26,32: 32 alphanumeric characters
    assert!(
        n.len() == 32 && n.chars().all(|c| c.is_ascii_alphanumeric()),
        "{n}"
    );
    let (a, _) = register(&s, "Alice", "pw-alice", false, |b| {
        b["displayname"] = json!("Al")
    });
    // register.rs:60-63 (inhibit_login: user_id + home_server only); :154-158 lowercases
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(
        a.body,
        json!({"user_id": "@alice:localhost", "home_server": "localhost"})
    );
    let admin = s.admin_token();
    let d = details(&s, &admin, "alice");
    assert_eq!(
        (d.body["displayname"].clone(), d.body["admin"].clone()),
        (json!("Al"), json!(false))
    );
    assert!(d.body.get("user_type").is_none());
    // the password was stored: a login works (session/password.rs:66-105)
    assert_eq!(s.login("alice", "pw-alice").status, 200);
    // src/service/users/register.rs:54-56 + register.rs:41-43: an existing user
    let (again, _) = register(&s, "alice", "x", false, |_| {});
    assert_err(&again, 400, "M_USER_IN_USE");
    assert_eq!(again.error(), "M_USER_IN_USE: User ID is not available");
}

#[test]
fn tuwunel_refuses_a_bad_mac_and_burns_the_nonce() {
    let s = tuwunel();
    let secret = s.file("registration-shared-secret");
    // register.rs:36-37: 403 M_FORBIDDEN
    let (bad, n) = register(&s, "bob", "pw", false, |b| {
        b["mac"] = json!("00".repeat(20))
    });
    assert_err(&bad, 403, "M_FORBIDDEN");
    assert_eq!(bad.error(), "M_FORBIDDEN: HMAC check failed");
    // register.rs:29-31 + service/admin/register.rs:47-59: consumed although it failed
    let retry = json!({"nonce": n, "username": "bob", "password": "pw", "admin": false,
        "mac": mac(&secret, &n, "bob", "pw", false, None)});
    let r = s.call("POST", "/_synapse/admin/v1/register", None, Some(&retry));
    assert_err(&r, 400, "M_INVALID_PARAM");
    assert_eq!(r.error(), "M_INVALID_PARAM: Unrecognised or expired nonce");
    // the admin flag is in the MAC (:111-115): a notadmin MAC with admin=true is refused
    let (flag, _) = register(&s, "bob", "pw", false, |b| b["admin"] = json!(true));
    assert_err(&flag, 403, "M_FORBIDDEN");
    // user_type is in the MAC when present (:117-119), and never stored (:45-54)
    let (ut, _) = register(&s, "bob", "pw", false, |b| b["user_type"] = json!("bot"));
    assert_err(&ut, 403, "M_FORBIDDEN");
    let n2 = nonce(&s);
    let body = json!({"nonce": n2, "username": "bob", "password": "pw", "user_type": "bot",
        "mac": mac(&secret, &n2, "bob", "pw", false, Some("bot")).to_uppercase(), "inhibit_login": true});
    // uppercase hex is accepted (:145-151)
    assert_eq!(
        s.call("POST", "/_synapse/admin/v1/register", None, Some(&body))
            .status,
        200
    );
    let d = details(&s, &s.admin_token(), "bob");
    assert_eq!(d.status, 200);
    assert!(d.body.get("user_type").is_none(), "{:?}", d.body);
}

#[test]
fn tuwunel_nonces_expire_after_the_ttl_and_beyond_the_cap() {
    // NONCE_TTL (service/admin/register.rs:27), shortened by the knob
    let s = FakeServer::start(Flavor::Tuwunel, &[("FAKE_TUWUNEL_NONCE_TTL", "1")], None);
    let secret = s.file("registration-shared-secret");
    let n = nonce(&s);
    std::thread::sleep(std::time::Duration::from_millis(1300));
    let body = json!({"nonce": n, "username": "late", "password": "pw",
        "mac": mac(&secret, &n, "late", "pw", false, None)});
    assert_err(
        &s.call("POST", "/_synapse/admin/v1/register", None, Some(&body)),
        400,
        "M_INVALID_PARAM",
    );
    // NONCE_CAP (:28, 38-41): the oldest outstanding nonce is dropped
    let s = FakeServer::start(Flavor::Tuwunel, &[("FAKE_TUWUNEL_NONCE_CAP", "2")], None);
    let secret = s.file("registration-shared-secret");
    let first = nonce(&s);
    let (_, _) = (nonce(&s), nonce(&s));
    let body = json!({"nonce": first, "username": "early", "password": "pw",
        "mac": mac(&secret, &first, "early", "pw", false, None)});
    assert_err(
        &s.call("POST", "/_synapse/admin/v1/register", None, Some(&body)),
        400,
        "M_INVALID_PARAM",
    );
}

#[test]
fn tuwunel_request_parsing_order() {
    let s = tuwunel();
    let secret = s.file("registration-shared-secret");
    let n = nonce(&s);
    // args.rs:145-158: a missing field is M_BAD_JSON before the handler (nonce not consumed)
    let no_mac = json!({"nonce": n, "username": "carol", "password": "pw"});
    assert_err(
        &s.call("POST", "/_synapse/admin/v1/register", None, Some(&no_mac)),
        400,
        "M_BAD_JSON",
    );
    let wrong_type = json!({"nonce": n, "username": "carol", "password": "pw", "admin": "no",
        "mac": mac(&secret, &n, "carol", "pw", false, None)});
    assert_err(
        &s.call(
            "POST",
            "/_synapse/admin/v1/register",
            None,
            Some(&wrong_type),
        ),
        400,
        "M_BAD_JSON",
    );
    // Content-Type is not checked (args.rs, ruma incoming requests): text/plain works
    let good = json!({"nonce": n, "username": "carol", "password": "pw",
        "mac": mac(&secret, &n, "carol", "pw", false, None), "inhibit_login": true});
    let a = s.raw(
        "POST",
        "/_synapse/admin/v1/register",
        None,
        Some(good.to_string().as_bytes()),
        "text/plain",
    );
    assert_eq!(a.status, 200, "{:?}", a.body);
    // args.rs:113-118: not JSON -> M_NOT_JSON, even before authentication
    let nj = s.raw(
        "POST",
        "/_synapse/admin/v1/registration_tokens/new",
        None,
        Some(b"{x"),
        "application/json",
    );
    assert_err(&nj, 400, "M_NOT_JSON");
}
