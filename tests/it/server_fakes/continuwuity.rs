//! FAKE continuwuity: token registration, login, MSC4323 (v26.7.3 and the later fix).
use super::{assert_err, json, Value};
use crate::common::fakes::{Answer, FakeServer, Flavor};

fn continuwuity(env: &[(&str, &str)], seed: Option<&Value>) -> FakeServer {
    FakeServer::start(Flavor::Continuwuity, env, seed)
}

fn cs_register(s: &FakeServer, body: &Value) -> Answer {
    s.call("POST", "/_matrix/client/v3/register", None, Some(body))
}

#[test]
fn continuwuity_has_no_synapse_admin_api() {
    let s = continuwuity(&[], None);
    // src/router/router.rs:14,20-22; nothing under /_synapse in src/api/router.rs
    let a = s.call("GET", "/_synapse/admin/v1/register", None, None);
    assert_err(&a, 404, "M_UNRECOGNIZED");
    assert_eq!(a.error(), "not found :(");
    let v = s.call("GET", "/_continuwuity/server_version", None, None);
    assert_eq!(v.body["name"], "continuwuity");
    assert!(v.body["version"].as_str().unwrap().contains("FAKE") && v.server.contains("FAKE"));
    assert_err(
        &s.call("GET", "/_tuwunel/server_version", None, None),
        404,
        "M_UNRECOGNIZED",
    );
}

#[test]
fn continuwuity_token_registration_uiaa() {
    let s = continuwuity(&[], None);
    let token = s.file("registration-token");
    let body = json!({"username": "kim", "password": "pw-k", "inhibit_login": true});
    // register.rs:152-180 + uiaa/mod.rs:217-222: flows and a session
    let first = cs_register(&s, &body);
    assert_eq!(first.status, 401, "{:?}", first.body);
    assert_eq!(
        first.body["flows"],
        json!([{"stages": ["m.login.registration_token"]}])
    );
    let session = first.body["session"].as_str().unwrap().to_string();
    // uiaa/mod.rs:595-615, 426-428: a bad token keeps the session, with M_FORBIDDEN
    let mut b = body.clone();
    b["auth"] = json!({"type": "m.login.registration_token", "token": "wrong", "session": session});
    let bad = cs_register(&s, &b);
    assert_eq!(
        (bad.status, bad.errcode(), bad.body["session"].as_str()),
        (401, "M_FORBIDDEN", Some(session.as_str()))
    );
    // uiaa/mod.rs:409-415: a stage in no flow
    b["auth"] = json!({"type": "m.login.dummy", "session": session});
    assert_err(&cs_register(&s, &b), 400, "M_INVALID_PARAM");
    // the token is trimmed (:596); register.rs:135-147: inhibit_login -> user_id only
    b["auth"] = json!({"type": "m.login.registration_token", "token": format!(" {token} "), "session": session});
    let ok = cs_register(&s, &b);
    assert_eq!(
        (ok.status, ok.body.clone()),
        (200, json!({"user_id": "@kim:localhost"}))
    );
    assert_eq!(s.login("kim", "pw-k").status, 200);
    // uiaa/mod.rs:438-442, 370-372: the completed session is gone
    assert_err(&cs_register(&s, &b), 400, "M_INVALID_PARAM");
    // account.rs:357-359: taken; the username is not lowercased (:338-347)
    let mut c = json!({"username": "kim", "password": "x", "auth": {"type": "m.login.registration_token", "token": token}});
    assert_err(&cs_register(&s, &c), 400, "M_USER_IN_USE");
    c["username"] = json!("Kim2");
    assert_err(&cs_register(&s, &c), 400, "M_INVALID_USERNAME");
    // account/mod.rs:45-61: the availability check without spending a token
    assert_err(
        &s.call(
            "GET",
            "/_matrix/client/v3/register/available?username=kim",
            None,
            None,
        ),
        400,
        "M_USER_IN_USE",
    );
    assert_eq!(
        s.call(
            "GET",
            "/_matrix/client/v3/register/available?username=lee",
            None,
            None
        )
        .body,
        json!({"available": true})
    );
}

#[test]
fn continuwuity_spends_the_token_before_checking_the_name() {
    let seed = json!({"users": [{"username": "admin", "password": "pw-admin", "admin": true},
        {"username": "old", "password": "pw-old", "deactivated": true}],
        "registration_tokens": [{"token": "once", "uses_allowed": 1}]});
    let s = continuwuity(
        &[("FAKE_CONTINUWUITY_REGISTRATION_TOKEN", "0")],
        Some(&seed),
    );
    let validity = |t: &str| {
        s.call(
            "GET",
            &format!("/_matrix/client/v1/register/m.login.registration_token/validity?token={t}"),
            None,
            None,
        )
        .body["valid"]
            .clone()
    };
    assert_eq!(validity("once"), json!(true));
    // uiaa/mod.rs:595-615 + registration_tokens/mod.rs:176-188 before account.rs:357-359
    let r = cs_register(
        &s,
        &json!({"username": "old", "password": "x", "auth": {"type": "m.login.registration_token", "token": "once"}}),
    );
    assert_err(&r, 400, "M_USER_IN_USE");
    assert_eq!(validity("once"), json!(false));
    // register.rs:235-245: no valid token left and no open registration -> 403
    assert_err(
        &cs_register(&s, &json!({"username": "new", "password": "x"})),
        403,
        "M_FORBIDDEN",
    );
    // account.rs:622-623, 52-58: login errors
    assert_err(&s.login("old", "pw-old"), 403, "M_USER_DEACTIVATED");
    assert_err(&s.login("nobody", "x"), 404, "M_NOT_FOUND");
    assert_err(&s.login("admin", "wrong"), 403, "M_FORBIDDEN");
}

#[test]
fn continuwuity_registration_disabled_and_first_run() {
    // register.rs:46-59: refused before any UIAA
    let s = continuwuity(&[("FAKE_CONTINUWUITY_ALLOW_REGISTRATION", "0")], None);
    let r = cs_register(&s, &json!({"username": "x", "password": "y"}));
    assert_err(&r, 403, "M_FORBIDDEN");
    assert!(r.body.get("session").is_none());
    // firstrun/mod.rs:69-93, registration_tokens/mod.rs:144-153: only the first-account token
    let s = continuwuity(
        &[
            ("FAKE_CONTINUWUITY_FIRST_RUN", "1"),
            ("FAKE_CONTINUWUITY_ALLOW_REGISTRATION", "0"),
        ],
        None,
    );
    let config = s.file("registration-token");
    let with = |t: &str, u: &str| {
        cs_register(
            &s,
            &json!({"username": u, "password": "pw-f", "inhibit_login": true,
        "auth": {"type": "m.login.registration_token", "token": t}}),
        )
    };
    assert_eq!(with(&config, "first").status, 401);
    assert_eq!(with(&s.file("first-account-token"), "first").status, 200);
    // firstrun/mod.rs:123-140: the first account is an admin (MSC4323 answers it)
    let t = s.login("first", "pw-f").body["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        s.call(
            "GET",
            "/_matrix/client/v1/admin/lock/@conduit:localhost",
            Some(&t),
            None
        )
        .status,
        200
    );
}

#[test]
fn continuwuity_auth_and_parsing() {
    let s = continuwuity(&[], None);
    // ruma ExtractTokenError through auth.rs:91-95: M_UNAUTHORIZED, not M_MISSING_TOKEN
    assert_err(
        &s.call("GET", "/_matrix/client/v3/account/whoami", None, None),
        401,
        "M_UNAUTHORIZED",
    );
    assert_err(
        &s.call(
            "GET",
            "/_matrix/client/v3/account/whoami",
            Some("nope"),
            None,
        ),
        401,
        "M_UNKNOWN_TOKEN",
    );
    // args.rs:90-97: authentication first, then a body that is not JSON is M_BAD_JSON
    let nj = s.raw(
        "PUT",
        "/_matrix/client/v1/admin/lock/@x:localhost",
        None,
        Some(b"{x"),
        "application/json",
    );
    assert_err(&nj, 401, "M_UNAUTHORIZED");
    let admin = s.admin_token();
    let nj = s.raw(
        "PUT",
        "/_matrix/client/v1/admin/lock/@x:localhost",
        Some(&admin),
        Some(b"{x"),
        "application/json",
    );
    assert_err(&nj, 400, "M_BAD_JSON");
}

fn locked_scenario(fixed: bool) -> (FakeServer, String, Answer) {
    let seed = json!({"users": [{"username": "admin", "password": "pw-admin", "admin": true},
        {"username": "liz", "password": "pw-l"}]});
    let env: &[(&str, &str)] = if fixed {
        &[("FAKE_CONTINUWUITY_LOCK_FIXED", "1")]
    } else {
        &[]
    };
    let s = continuwuity(env, Some(&seed));
    let admin = s.login("admin", "pw-admin").body["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let put = s.call(
        "PUT",
        "/_matrix/client/v1/admin/lock/@liz:localhost",
        Some(&admin),
        Some(&json!({"locked": true})),
    );
    (s, admin, put)
}

#[test]
fn continuwuity_v26_7_3_lock_only_suspends() {
    let (s, admin, put) = locked_scenario(false);
    // lock.rs:62-86: answers locked:true but writes the suspension
    assert_eq!(
        (put.status, put.body.clone()),
        (200, json!({"locked": true}))
    );
    let get = |what: &str| {
        s.call(
            "GET",
            &format!("/_matrix/client/v1/admin/{what}/@liz:localhost"),
            Some(&admin),
            None,
        )
        .body
    };
    assert_eq!(get("lock"), json!({"locked": false}));
    assert_eq!(get("suspend"), json!({"suspended": true}));
    assert_eq!(s.login("liz", "pw-l").status, 200);
    // lock.rs:48-60: who may not
    let liz = s.login("liz", "pw-l").body["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let p = |t: &str, who: &str| {
        s.call(
            "PUT",
            &format!("/_matrix/client/v1/admin/lock/{who}"),
            Some(t),
            Some(&json!({"locked": true})),
        )
    };
    assert_err(&p(&liz, "@admin:localhost"), 403, "M_FORBIDDEN");
    assert_err(&p(&admin, "@admin:localhost"), 403, "M_FORBIDDEN");
    assert_err(&p(&admin, "@ghost:localhost"), 404, "M_NOT_FOUND");
}

#[test]
fn continuwuity_fixed_lock_locks() {
    let (s, admin, put) = locked_scenario(true);
    assert_eq!(put.status, 200);
    // commit 82149397 lock.rs; session.rs:89-91; auth.rs:187-199
    let get = s.call(
        "GET",
        "/_matrix/client/v1/admin/lock/@liz:localhost",
        Some(&admin),
        None,
    );
    assert_eq!(get.body, json!({"locked": true}));
    let l = s.login("liz", "pw-l");
    assert_err(&l, 401, "M_USER_LOCKED");
    assert_eq!(l.body["soft_logout"], json!(true));
}
