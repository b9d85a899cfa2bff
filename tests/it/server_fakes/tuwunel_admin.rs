//! FAKE tuwunel: the Synapse admin API subset, login, lock and registration tokens.
use super::{assert_err, details, json, register, tuwunel, Value};

#[test]
fn tuwunel_admin_api_authentication() {
    let s = tuwunel();
    // auth/dispatch.rs:118-120, 235-240; admin/mod.rs:66-75
    assert_err(
        &s.call("GET", "/_synapse/admin/v2/users", None, None),
        401,
        "M_MISSING_TOKEN",
    );
    assert_err(
        &s.call("GET", "/_synapse/admin/v2/users", Some("nope"), None),
        401,
        "M_UNKNOWN_TOKEN",
    );
    register(&s, "dave", "pw-dave", false, |_| {});
    let t = s.login("dave", "pw-dave").body["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let a = s.call("GET", "/_synapse/admin/v2/users", Some(&t), None);
    assert_err(&a, 403, "M_FORBIDDEN");
    assert_eq!(
        a.error(),
        "M_FORBIDDEN: Only server administrators can use this endpoint"
    );
    // a GET is routed on users/{id}/admin, the PUT is not: 405 (router.rs:16,27; request.rs:179-186)
    let admin = s.admin_token();
    let put = s.call(
        "PUT",
        "/_synapse/admin/v1/users/@dave:localhost/admin",
        Some(&admin),
        Some(&json!({"admin": true})),
    );
    assert_err(&put, 405, "M_UNRECOGNIZED");
    // is_user_admin.rs:18-20: false for a user that does not exist
    let ghost = s.call(
        "GET",
        "/_synapse/admin/v1/users/@ghost:localhost/admin",
        Some(&admin),
        None,
    );
    assert_eq!(
        (ghost.status, ghost.body.clone()),
        (200, json!({"admin": false}))
    );
}

#[test]
fn tuwunel_admin_flag_through_the_v2_put() {
    let s = tuwunel();
    let admin = s.admin_token();
    register(&s, "erin", "pw", false, |_| {});
    let path = "/_synapse/admin/v2/users/@erin:localhost";
    // grant.rs:279-296: revoking a user who never was admin is a 500 (untyped error)
    let never = s.call("PUT", path, Some(&admin), Some(&json!({"admin": false})));
    assert_err(&never, 500, "M_UNKNOWN");
    assert_eq!(never.error(), "@erin:localhost was never an admin.");
    // grant.rs:24-57, 220-257: granted at once (force join)
    let a = s.call("PUT", path, Some(&admin), Some(&json!({"admin": true})));
    assert_eq!((a.status, a.body["admin"].clone()), (200, json!(true)));
    let r = s.call("PUT", path, Some(&admin), Some(&json!({"admin": false})));
    assert_eq!((r.status, r.body["admin"].clone()), (200, json!(false)));
    assert_eq!(details(&s, &admin, "erin").body["admin"], json!(false));
    // grant.rs:298-300: a second revoke is a 500 too, for another reason
    let again = s.call("PUT", path, Some(&admin), Some(&json!({"admin": false})));
    assert_err(&again, 500, "M_UNKNOWN");
    assert!(
        again.error().starts_with("Cannot revoke @erin:localhost"),
        "{:?}",
        again.body
    );
    // create_or_modify.rs:38-40: you may not demote yourself
    let me = s.call(
        "PUT",
        "/_synapse/admin/v2/users/@admin:localhost",
        Some(&admin),
        Some(&json!({"admin": false})),
    );
    assert_err(&me, 400, "M_INVALID_PARAM");
}

#[test]
fn tuwunel_put_creates_with_200_and_no_password_means_deactivated() {
    let s = tuwunel();
    let admin = s.admin_token();
    // create_or_modify.rs:42-48 (users/mod.rs:152-161, 401-406): 200, password "" = deactivated
    let a = s.call(
        "PUT",
        "/_synapse/admin/v2/users/@frank:localhost",
        Some(&admin),
        Some(&json!({})),
    );
    assert_eq!(
        (a.status, a.body["deactivated"].clone()),
        (200, json!(true))
    );
    let b = s.call(
        "PUT",
        "/_synapse/admin/v2/users/@gina:localhost",
        Some(&admin),
        Some(&json!({"password": "pw-g"})),
    );
    assert_eq!(
        (b.status, b.body["deactivated"].clone()),
        (200, json!(false))
    );
    assert_eq!(s.login("gina", "pw-g").status, 200);
    // :34-36 deactivated and locked together
    let both = json!({"deactivated": true, "locked": true});
    assert_err(
        &s.call(
            "PUT",
            "/_synapse/admin/v2/users/@gina:localhost",
            Some(&admin),
            Some(&both),
        ),
        400,
        "M_INVALID_PARAM",
    );
}

#[test]
fn tuwunel_deactivation_kills_sessions_and_a_password_reset_revives_the_account() {
    let s = tuwunel();
    let admin = s.admin_token();
    register(&s, "hank", "pw-h", false, |_| {});
    let old = s.login("hank", "pw-h").body["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let d = s.call(
        "POST",
        "/_synapse/admin/v1/deactivate/@hank:localhost",
        Some(&admin),
        Some(&json!({"erase": true})),
    );
    assert_eq!(d.body, json!({"id_server_unbind_result": "success"}));
    // users/mod.rs:164-184: devices removed -> the old token is unknown
    assert_err(
        &s.call("GET", "/_matrix/client/v3/account/whoami", Some(&old), None),
        401,
        "M_UNKNOWN_TOKEN",
    );
    // session/password.rs:96-98
    assert_err(&s.login("hank", "pw-h"), 403, "M_USER_DEACTIVATED");
    let st = details(&s, &admin, "hank").body;
    assert_eq!(
        (st["deactivated"].clone(), st["erased"].clone()),
        (json!(true), json!(true))
    );
    // reset_password.rs:19-22 + users/mod.rs:412-414: a new password re-activates
    let r = s.call(
        "POST",
        "/_synapse/admin/v1/reset_password/@hank:localhost",
        Some(&admin),
        Some(&json!({"new_password": "pw-2"})),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        details(&s, &admin, "hank").body["deactivated"],
        json!(false)
    );
    assert_eq!(s.login("hank", "pw-2").status, 200);
    // deactivate_account.rs:18-20
    let missing = s.call(
        "POST",
        "/_synapse/admin/v1/deactivate/@nobody:localhost",
        Some(&admin),
        None,
    );
    assert_err(&missing, 404, "M_NOT_FOUND");
}

#[test]
fn tuwunel_locked_accounts() {
    let s = tuwunel();
    let admin = s.admin_token();
    register(&s, "ivy", "pw-i", false, |_| {});
    let old = s.login("ivy", "pw-i").body["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let l = s.call(
        "PUT",
        "/_synapse/admin/v2/users/@ivy:localhost",
        Some(&admin),
        Some(&json!({"locked": true})),
    );
    assert_eq!(l.body["locked"], json!(true));
    // auth.rs:105-121, users/mod.rs:240-245: 401 M_USER_LOCKED with soft_logout
    let w = s.call("GET", "/_matrix/client/v3/account/whoami", Some(&old), None);
    assert_err(&w, 401, "M_USER_LOCKED");
    assert_eq!(w.body["soft_logout"], json!(true));
    // session/mod.rs:141: after the password check
    assert_err(&s.login("ivy", "wrong"), 403, "M_FORBIDDEN");
    assert_err(&s.login("ivy", "pw-i"), 401, "M_USER_LOCKED");
    // list_users.rs:184-187: locked users only with locked=true
    let names = |q: &str| -> Vec<String> {
        let a = s.call(
            "GET",
            &format!("/_synapse/admin/v2/users{q}"),
            Some(&admin),
            None,
        );
        a.body["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(!names("").contains(&"@ivy:localhost".to_string()));
    assert!(names("?locked=true").contains(&"@ivy:localhost".to_string()));
    // mod.rs:247-251: unlocking restores the session
    s.call(
        "PUT",
        "/_synapse/admin/v2/users/@ivy:localhost",
        Some(&admin),
        Some(&json!({"locked": false})),
    );
    assert_eq!(
        s.call("GET", "/_matrix/client/v3/account/whoami", Some(&old), None)
            .status,
        200
    );
    // logout.rs:18-29: the token is gone afterwards
    assert_eq!(
        s.call(
            "POST",
            "/_matrix/client/v3/logout",
            Some(&old),
            Some(&json!({}))
        )
        .status,
        200
    );
    assert_err(
        &s.call("GET", "/_matrix/client/v3/account/whoami", Some(&old), None),
        401,
        "M_UNKNOWN_TOKEN",
    );
}

#[test]
fn tuwunel_user_listing_pages() {
    let s = tuwunel();
    let admin = s.admin_token();
    for u in ["u1", "u2", "u3"] {
        register(&s, u, "pw", false, |_| {});
    }
    // list_users.rs:133-145: next_token = offset string, null at the end
    let (mut from, mut seen) = (String::from("0"), Vec::new());
    for _ in 0..10 {
        let a = s.call(
            "GET",
            &format!("/_synapse/admin/v2/users?limit=2&from={from}"),
            Some(&admin),
            None,
        );
        assert_eq!(a.body["total"], json!(4));
        seen.extend(
            a.body["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["name"].clone()),
        );
        match &a.body["next_token"] {
            Value::String(t) => from = t.clone(),
            Value::Null => break,
            other => panic!("next_token {other}"),
        }
    }
    assert_eq!(seen.len(), 4);
    // list_users.rs:82-86 (v3 deactivated absent = all): the deactivated server user appears
    let v3 = s.call("GET", "/_synapse/admin/v3/users", Some(&admin), None);
    let conduit = v3.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "@conduit:localhost")
        .cloned();
    assert_eq!(
        conduit.map(|u| (u["deactivated"].clone(), u["admin"].clone())),
        Some((json!(true), json!(true)))
    );
    // serde_html_form bool: anything else than true/false is M_BAD_JSON
    assert_err(
        &s.call(
            "GET",
            "/_synapse/admin/v2/users?admins=yes",
            Some(&admin),
            None,
        ),
        400,
        "M_BAD_JSON",
    );
}

#[test]
fn tuwunel_registration_tokens() {
    let s = tuwunel();
    let admin = s.admin_token();
    let config = s.file("registration-token");
    let one = |m: &str, t: &str, b: Option<&Value>| {
        s.call(
            m,
            &format!("/_synapse/admin/v1/registration_tokens/{t}"),
            Some(&admin),
            b,
        )
    };
    // tokens/mod.rs:23-28: config tokens read as unlimited; update.rs:29-33, mod.rs:160-166: 403
    assert_eq!(one("GET", &config, None).body["uses_allowed"], Value::Null);
    assert_err(
        &one("PUT", &config, Some(&json!({"uses_allowed": 1}))),
        403,
        "M_FORBIDDEN",
    );
    assert_err(&one("DELETE", &config, None), 403, "M_FORBIDDEN");
    // create.rs, data.rs:110-130: duplicates refused with 400
    let c = s.call(
        "POST",
        "/_synapse/admin/v1/registration_tokens/new",
        Some(&admin),
        Some(&json!({"token": "tok1", "uses_allowed": 2})),
    );
    assert_eq!(
        (
            c.status,
            c.body["pending"].clone(),
            c.body["completed"].clone()
        ),
        (200, json!(0), json!(0))
    );
    let dup = s.call(
        "POST",
        "/_synapse/admin/v1/registration_tokens/new",
        Some(&admin),
        Some(&json!({"token": "tok1"})),
    );
    assert_err(&dup, 400, "M_INVALID_PARAM");
    // update.rs:49-69: an expiry in the past; data.rs:204-219: listing deletes invalid tokens
    assert_eq!(
        one("PUT", "tok1", Some(&json!({"expiry_time": 1000}))).status,
        200
    );
    let list = s.call(
        "GET",
        "/_synapse/admin/v1/registration_tokens",
        Some(&admin),
        None,
    );
    assert!(!list.body.to_string().contains("tok1"), "{:?}", list.body);
    assert_err(&one("GET", "tok1", None), 404, "M_NOT_FOUND");
    // list.rs:19-21
    let invalid = s.call(
        "GET",
        "/_synapse/admin/v1/registration_tokens?valid=false",
        Some(&admin),
        None,
    );
    assert_eq!(invalid.body, json!({"registration_tokens": []}));
    // the request log never shows a token, a secret or a password
    let log = s.log();
    for secret in [
        config,
        s.file("registration-shared-secret"),
        s.file("admin-password"),
        admin,
    ] {
        assert!(!log.contains(&secret), "a secret in the log");
    }
    assert!(log.contains("registration_tokens/<redacted>"));
}

#[test]
fn tuwunel_msc4323_authorization() {
    let s = tuwunel();
    let admin = s.admin_token();
    register(&s, "jay", "pw-j", false, |_| {});
    let jay = s.login("jay", "pw-j").body["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let lock = |t: &str, who: &str, v: bool| {
        s.call(
            "PUT",
            &format!("/_matrix/client/v1/admin/lock/{who}"),
            Some(t),
            Some(&json!({"locked": v})),
        )
    };
    // admin/mod.rs:29-60, in this order
    assert_err(&lock(&admin, "@admin:localhost", true), 403, "M_FORBIDDEN");
    assert_err(&lock(&jay, "@admin:localhost", true), 403, "M_FORBIDDEN");
    assert_err(&lock(&admin, "@ghost:localhost", true), 404, "M_NOT_FOUND");
    let a = lock(&admin, "@jay:localhost", true);
    assert_eq!((a.status, a.body.clone()), (200, json!({"locked": true})));
    // the same marker as the v2 PUT's `locked` (lock_user.rs:22-31)
    assert_eq!(details(&s, &admin, "jay").body["locked"], json!(true));
    assert_err(&s.login("jay", "pw-j"), 401, "M_USER_LOCKED");
}
