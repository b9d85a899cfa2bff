//! Messages a person can trust.

use crate::common::hostile::{Hostile, Reply};
use crate::common::{random_secret, run_module, unique_user, Synapse};
use serde_json::{json, Value};

#[test]
fn messages_escape_control_and_bidi_characters_everywhere() {
    let evil = "ok\u{202e}txt.exe\u{2066}\n\r\u{1b}[31mred\u{0}";
    let hs = Hostile::start(move |r| {
        if r.method == "GET" {
            Reply::json(200, json!({"nonce": "n"}))
        } else {
            Reply::json(400, json!({"errcode": "M_UNKNOWN", "error": evil}))
        }
    });
    let r = run_module(
        "register_user",
        json!({"homeserver_url": hs.url, "shared_secret": "s3cret-bidi", "username": "alice",
               "password": "pw-bidi-12"}),
    );
    assert!(r.failed());
    let mut cases = 0;
    for bad in ['\u{202e}', '\u{2066}', '\n', '\r', '\u{1b}', '\u{0}'] {
        assert!(!r.msg().contains(bad), "{bad:?} in {:?}", r.msg());
        cases += 1;
    }
    assert!(r.msg().contains("\\u{202e}"), "{}", r.msg());
    // In a bulk entry's message too, and in messages about bad input.
    let r = run_module(
        "register_user",
        json!({"homeserver_url": hs.url, "shared_secret": "s3cret-bidi",
               "users": [{"username": "bob", "password": "pw-bob-123"}, {"username": "x\u{202e}y", "password": "pw-x-12345"}]}),
    );
    for item in r.json["results"].as_array().unwrap() {
        let m = item["msg"].as_str().unwrap_or("");
        assert!(!m.contains('\u{202e}') && !m.contains('\n'), "{m:?}");
        cases += 1;
    }
    for token in ["t\u{202e}k", "a\nb"] {
        let r = run_module(
            "registration_token",
            json!({"backend": "synapse", "homeserver_url": hs.url, "access_token": "tok-s3cret", "token": token}),
        );
        assert!(
            r.failed() && !r.msg().contains('\u{202e}') && !r.msg().contains('\n'),
            "{:?}",
            r.msg()
        );
        cases += 1;
    }
    assert_eq!(cases, 10);
}

#[test]
fn messages_name_the_option_given_and_the_user() {
    let hs = Hostile::start(|r| {
        if r.method == "GET" {
            Reply::html(502, "<html>Bad Gateway</html>")
        } else {
            Reply::empty(500)
        }
    });
    let mut cases = 0;
    // The alias the user wrote, not the option's name.
    for alias in ["name", "user"] {
        let r = run_module(
            "register_user",
            json!({"homeserver_url": hs.url, "shared_secret": "s3cret-alias", alias: "Bad Name", "password": "pw-12345"}),
        );
        assert!(r.msg().starts_with(&format!("{alias} ")), "{}", r.msg());
        let r = run_module(
            "user_admin",
            json!({"homeserver_url": hs.url, "access_token": "tok-alias", alias: "Bad", "admin": true}),
        );
        assert!(r.msg().starts_with(&format!("{alias} ")), "{}", r.msg());
        cases += 2;
    }
    // The nonce request fails: the message names the user.
    let r = run_module(
        "register_user",
        json!({"homeserver_url": hs.url, "shared_secret": "s3cret-nonce", "username": "carol", "password": "pw-12345", "retries": 0}),
    );
    assert!(r.failed() && r.msg().contains("'carol'"), "{}", r.msg());
    cases += 1;
    // The connection drops on the registration itself: every entry's message names its user.
    let drop = Hostile::start(|r| {
        if r.method == "GET" {
            Reply::json(200, json!({"nonce": "n"}))
        } else {
            Reply::Hangup
        }
    });
    let r = run_module(
        "register_user",
        json!({"homeserver_url": drop.url, "shared_secret": "s3cret-drop", "retries": 0, "users": [
            {"username": "erin", "password": "pw-12345"}, {"username": "frank", "password": "pw-12345"}]}),
    );
    for (i, who) in ["erin", "frank"].iter().enumerate() {
        let m = r.json["results"][i]["msg"].as_str().unwrap_or("");
        assert!(m.contains(&format!("'{who}'")), "{m}");
    }
    cases += 1;
    // Bulk: a failed entry given with an alias keeps its name, and duplicates point at the first.
    let r = run_module(
        "register_user",
        json!({"homeserver_url": hs.url, "shared_secret": "s3cret-bulk", "retries": 0, "users": [
            {"user": "dave", "password": "pw-12345"},
            {"name": "dave", "password": "pw-12345"},
            {"username": "dave", "password": "pw-12345"},
            {"user": "Bad Name", "password": "pw-12345"}]}),
    );
    let results = r.json["results"].as_array().unwrap();
    assert_eq!(results[0]["username"], "dave");
    assert!(results[1]["msg"].as_str().unwrap().contains("users[0]"));
    assert!(
        results[2]["msg"].as_str().unwrap().contains("users[0]"),
        "{}",
        results[2]
    );
    assert_eq!(results[3]["username"], "Bad Name");
    assert!(
        results[0]["msg"].as_str().unwrap().contains("dave"),
        "{}",
        results[0]
    );
    cases += 4;
    assert_eq!(cases, 10);
}

#[test]
fn a_byte_order_mark_in_a_secret_file_is_removed_with_a_warning() {
    let s = Synapse::shared();
    let dir = tempfile::tempdir().unwrap();
    let (secret_file, pw_file) = (dir.path().join("secret"), dir.path().join("pw"));
    std::fs::write(&secret_file, format!("\u{feff}{}\n", s.shared_secret)).unwrap();
    let pw = random_secret("bom-pw");
    std::fs::write(&pw_file, format!("\u{feff}{pw}")).unwrap();
    let name = unique_user("bom");
    let r = run_module(
        "register_user",
        json!({"homeserver_url": s.url, "shared_secret_file": secret_file, "server_name": "localhost",
               "username": name, "password_file": pw_file}),
    )
    .ok();
    assert!(
        r.json["warnings"].to_string().contains("byte order mark"),
        "{}",
        r.stdout
    );
    assert!(s.can_login(&name, &pw));
}

#[test]
fn dates_outside_years_0000_to_9999_are_refused_before_any_request() {
    let hs = Hostile::always(Reply::json(200, json!({})));
    let mut cases = 0;
    for date in [
        "+10000-01-01",
        "+99999-12-31T00:00:00",
        "-0001-01-01",
        "+12345-06-07 08:09:10",
    ] {
        for backend in ["synapse", "matrix_registration"] {
            let r = run_module(
                "registration_token",
                json!({"backend": backend, "homeserver_url": hs.url, "api_url": hs.url,
                       "access_token": if backend == "synapse" { json!("tok-s3cret") } else { Value::Null },
                       "admin_secret": if backend == "synapse" { Value::Null } else { json!("adm-s3cret") },
                       "ex_date": date}),
            );
            assert!(r.failed(), "{date}: {}", r.stdout);
            assert!(r.msg().contains("ex_date"), "{}", r.msg());
            cases += 1;
        }
    }
    assert!(hs.requests().is_empty(), "{:?}", hs.requests());
    assert_eq!(cases, 8);
}
