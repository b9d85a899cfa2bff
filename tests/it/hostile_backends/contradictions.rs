//! Class 1 of issue 18, the second half: every write is confirmed from the answer the server
//! gives, and an answer that contradicts the request is a failure that says what answered.

use super::mas_shaped::*;
use super::{ensure, failure, run, table, STRONG};
use crate::common::hostile::{Hostile, Reply, Req, ELEMENT_PAGE};
use serde_json::{json, Value};

/// A page an nginx in front of MAS serves for a path it does not route.
const NGINX_404: &str = "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx/1.24.0</center>\r\n</body>\r\n</html>\r\n";

#[test]
fn a_mas_set_admin_answered_with_the_old_flag_is_not_done() {
    // set-admin answers 200 with the record still showing the old flag.
    let rows: &[(&str, (&str, bool, Value))] = &[
        (
            "user_admin admin=true answered admin:false",
            (
                "user_admin",
                false,
                json!({"username": "alice", "admin": true}),
            ),
        ),
        (
            "user_admin admin=false answered admin:true",
            (
                "user_admin",
                true,
                json!({"username": "alice", "admin": false}),
            ),
        ),
        (
            "register_user admin=true on an existing account",
            (
                "register_user",
                false,
                json!({"username": "alice", "password": STRONG, "admin": true}),
            ),
        ),
    ];
    table(rows, false, |(module, flag, extra)| {
        let flag = *flag;
        let mas = mas_like(move |r| {
            if is(r, "GET", "/users/by-username/alice") {
                return Some(one(200, user(ALICE, "alice", flag)));
            }
            if is(r, "POST", &format!("/users/{ALICE}/set-admin")) {
                return Some(one(200, user(ALICE, "alice", flag)));
            }
            None
        });
        let r = run(module, mas_args(&mas.url, extra.clone()))?;
        let n = sent(&mas, "POST", &format!("/users/{ALICE}/set-admin"));
        ensure!(n == 1, "set-admin sent {n} times, not once");
        failure(&r, &["alice", "admin"], &[CLIENT_SECRET, STRONG])?;
        ensure!(
            !r.msg().contains("is now an admin") && !r.msg().contains("is no longer an admin"),
            "reported as done: {}",
            r.msg()
        );
        Ok(())
    });
}

#[test]
fn a_mas_set_password_answered_with_a_web_page_is_not_set() {
    // MAS answers set-password with 204 and no body; a 200 web page is a proxy's, not MAS's.
    let rows: &[(&str, (bool, &str))] = &[
        (
            "existing account, update_password=always, Element's page",
            (true, ELEMENT_PAGE),
        ),
        (
            "existing account, update_password=always, a login page",
            (
                true,
                "<html><body><form action=\"/login\">Sign in</form></body></html>",
            ),
        ),
        ("new account, Element's page", (false, ELEMENT_PAGE)),
    ];
    table(rows, false, |(exists, page)| {
        let (exists, page) = (*exists, *page);
        let mas = mas_like(move |r| {
            if exists && is(r, "GET", "/users/by-username/alice") {
                return Some(one(200, user(ALICE, "alice", false)));
            }
            if is(r, "POST", "/users") {
                return Some(one(201, user(ALICE, "alice", false)));
            }
            if is(r, "POST", &format!("/users/{ALICE}/set-password")) {
                return Some(Reply::html(200, page));
            }
            None
        });
        let r = run(
            "register_user",
            mas_args(
                &mas.url,
                json!({"username": "alice", "password": STRONG, "update_password": "always"}),
            ),
        )?;
        let n = sent(&mas, "POST", &format!("/users/{ALICE}/set-password"));
        ensure!(n == 1, "set-password sent {n} times, not once");
        failure(&r, &["text/html", "alice"], &[CLIENT_SECRET, STRONG])?;
        ensure!(
            !r.msg().contains("password set"),
            "reported as set: {}",
            r.msg()
        );
        if !exists {
            ensure!(
                r.msg().contains("created") || r.msg().contains("exists"),
                "a created account must be said to exist: {}",
                r.msg()
            );
        }
        Ok(())
    });
}

#[test]
fn a_mas_revoke_answered_as_still_valid_is_not_disabled() {
    let rows: &[(&str, Value)] = &[
        (
            "revoked_at null, valid true",
            json!({"revoked_at": null, "valid": true}),
        ),
        (
            "revoked_at null, valid false",
            json!({"revoked_at": null, "valid": false}),
        ),
        (
            "revoked_at set, valid true",
            json!({"revoked_at": "2026-11-23T08:03:45.775816518Z", "valid": true}),
        ),
    ];
    table(rows, false, |answer| {
        let answer = answer.clone();
        let mas = mas_like(move |r| {
            if is(r, "GET", "/user-registration-tokens") {
                let t = regtoken(ADV_ID, "advtok", true, json!(3), Value::Null);
                return Some(page("user-registration-tokens", 1, vec![t], None));
            }
            if is(
                r,
                "POST",
                &format!("/user-registration-tokens/{ADV_ID}/revoke"),
            ) {
                let mut t = regtoken(ADV_ID, "advtok", true, json!(3), Value::Null);
                t["attributes"]["revoked_at"] = answer["revoked_at"].clone();
                t["attributes"]["valid"] = answer["valid"].clone();
                return Some(one(200, t));
            }
            None
        });
        let r = run(
            "registration_token",
            mas_args(&mas.url, json!({"token": "advtok", "state": "disabled"})),
        )?;
        let n = sent(
            &mas,
            "POST",
            &format!("/user-registration-tokens/{ADV_ID}/revoke"),
        );
        ensure!(n == 1, "revoke sent {n} times, not once");
        failure(&r, &["advtok"], &[CLIENT_SECRET])?;
        ensure!(
            !r.msg().contains("disabled token"),
            "reported disabled: {}",
            r.msg()
        );
        Ok(())
    });
}

#[test]
fn a_mac_token_is_never_used_as_a_bearer_token() {
    // RFC 6749 7.1: the client must understand the token type; `mac` is not `Bearer` (whose
    // name is case-insensitive: `bearer` is the same type, and must keep working).
    let rows: &[(&str, (&str, bool))] = &[
        ("token_type mac", ("mac", false)),
        ("token_type N_A", ("N_A", false)),
        ("token_type bearer (lower case): works", ("bearer", true)),
    ];
    table(rows, false, |(token_type, works)| {
        let (token_type, works) = (*token_type, *works);
        let mas = mas_like(move |r| {
            if r.method == "POST" && r.path == "/oauth2/token" {
                let Reply::Full(s, c, b) = granted(token_type) else {
                    unreachable!()
                };
                let mut v: Value = serde_json::from_slice(&b).unwrap();
                if token_type == "mac" {
                    v["mac_key"] = json!("adijq39jdlaska9asud");
                    v["mac_algorithm"] = json!("hmac-sha-256");
                }
                return Some(Reply::Full(s, c, v.to_string().into_bytes()));
            }
            if is(r, "GET", "/users/by-username/alice") {
                return Some(one(200, user(ALICE, "alice", true)));
            }
            None
        });
        let r = run(
            "user_admin",
            mas_args(&mas.url, json!({"username": "alice", "admin": true})),
        )?;
        let used: Vec<String> = mas
            .requests()
            .iter()
            .filter(|q| q.path.starts_with(API))
            .filter_map(|q| q.header("authorization").map(str::to_string))
            .collect();
        if works {
            ensure!(!r.failed(), "a bearer token must work: {}", r.stdout);
            ensure!(!used.is_empty(), "the admin API was never asked");
            return Ok(());
        }
        ensure!(
            used.is_empty(),
            "the {token_type} token was sent to the admin API: {used:?}"
        );
        failure(&r, &["token_type"], &[CLIENT_SECRET, ACCESS_TOKEN])
    });
}

/// A Dendrite-shaped token API whose advtok has `fields` (wrong JSON types).
fn dendrite_token(fields: Value) -> Hostile {
    let mut t = json!({"token": "advtok", "uses_allowed": 5, "pending": 0, "completed": 0,
                       "expiry_time": null});
    for (k, v) in fields.as_object().unwrap() {
        t[k] = v.clone();
    }
    Hostile::start(super::guarded(move |r: &Req| {
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/_dendrite/admin/registrationTokens/advtok") => Reply::json(200, t.clone()),
            ("GET", p) if p.starts_with("/_dendrite/admin/registrationTokens") => {
                Reply::json(200, json!({"registration_tokens": [t.clone()]}))
            }
            _ => Reply::json(
                404,
                json!({"errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"}),
            ),
        }
    }))
}

#[test]
fn dendrite_token_fields_of_the_wrong_type_are_not_unlimited_or_never_expiring() {
    type Row = (Value, &'static str, Value, &'static str);
    let rows: &[(&str, Row)] = &[
        (
            "uses_allowed \"5\", info",
            (
                json!({"uses_allowed": "5"}),
                "registration_token_info",
                json!({"token": "advtok"}),
                "uses_allowed",
            ),
        ),
        (
            "expiry_time \"never\", info",
            (
                json!({"expiry_time": "never"}),
                "registration_token_info",
                json!({"token": "advtok"}),
                "expiry_time",
            ),
        ),
        (
            "uses_allowed \"5\", listing",
            (
                json!({"uses_allowed": "5"}),
                "registration_token_info",
                json!({}),
                "uses_allowed",
            ),
        ),
        (
            "uses_allowed \"5\", present",
            (
                json!({"uses_allowed": "5"}),
                "registration_token",
                json!({"token": "advtok"}),
                "uses_allowed",
            ),
        ),
        (
            "expiry_time \"never\", present",
            (
                json!({"expiry_time": "never"}),
                "registration_token",
                json!({"token": "advtok"}),
                "expiry_time",
            ),
        ),
        (
            "completed -1, info",
            (
                json!({"completed": -1}),
                "registration_token_info",
                json!({"token": "advtok"}),
                "completed",
            ),
        ),
    ];
    table(rows, false, |(fields, module, extra, field)| {
        let hs = dendrite_token(fields.clone());
        let mut args = json!({"backend": "dendrite", "homeserver_url": hs.url,
                              "access_token": "dendrite-admin-tok-32", "retries": 0});
        for (k, v) in extra.as_object().unwrap() {
            args[k] = v.clone();
        }
        let r = run(module, args)?;
        failure(&r, &[field], &["dendrite-admin-tok-32"])?;
        ensure!(!hs.requests().is_empty(), "never asked");
        Ok(())
    });
}

#[test]
fn an_html_404_from_a_proxy_is_not_no_such_user() {
    // A proxy in front of MAS answers the look-up with its own 404 page: that says nothing about
    // alice, so no account may be created and no "does not exist" be reported.
    let stand_in = || {
        mas_like(|r| {
            if r.method == "GET" && r.path.starts_with(&format!("{API}/users/by-username/")) {
                return Some(Reply::html(404, NGINX_404));
            }
            if is(r, "POST", "/users") {
                return Some(one(201, user(ALICE, "alice", false)));
            }
            if r.method == "POST" && r.path.ends_with("/set-password") {
                return Some(Reply::Full(204, "", Vec::new()));
            }
            None
        })
    };
    let rows: &[(&str, (&str, Value))] = &[
        (
            "register_user",
            (
                "register_user",
                json!({"username": "alice", "password": STRONG}),
            ),
        ),
        (
            "user_admin",
            ("user_admin", json!({"username": "alice", "admin": true})),
        ),
    ];
    table(rows, false, |(module, extra)| {
        let mas = stand_in();
        let r = run(module, mas_args(&mas.url, extra.clone()))?;
        let created = sent(&mas, "POST", "/users");
        ensure!(
            created == 0,
            "POST {API}/users was sent {created} time(s): an account was created"
        );
        failure(&r, &["text/html", "api_url"], &[CLIENT_SECRET, STRONG])?;
        ensure!(
            !r.msg().contains("does not exist"),
            "a proxy's page read as no such user: {}",
            r.msg()
        );
        Ok(())
    });
}
