//! Secrets go only where they were meant to go.

use super::{args_for, assert_clean_failure, each_module_fails_cleanly, mreg_args_for, MODULES};
use crate::common::hostile::{Hostile, Reply, TlsServer};
use crate::common::{random_secret, run_module};
use serde_json::json;

#[test]
fn redirects_are_reported_never_followed() {
    let target = Hostile::always(Reply::json(
        200,
        json!({"nonce": "x", "user_id": "@alice:localhost"}),
    ));
    let mut cases = 0;
    for status in [301, 302, 303, 307, 308] {
        let to = target.url.clone();
        let hs = Hostile::start(move |r| Reply::Redirect(status, format!("{to}{}", r.path)));
        cases += each_module_fails_cleanly(
            &hs.url,
            || random_secret("redir-secret"),
            &["redirect", &target.url],
        );
        let secret = random_secret("redir-secret");
        let r = run_module(
            "registration_token",
            mreg_args_for("registration_token", &hs.url, &secret),
        );
        assert_clean_failure(&r, &secret, &["redirect", "api_url"]);
        cases += 1;
    }
    assert!(
        target.requests().is_empty(),
        "the redirect target got requests: {:?}",
        target.requests()
    );
    assert_eq!(cases, 25);
}

#[test]
fn a_login_is_never_redirected() {
    let target = Hostile::always(Reply::json(200, json!({"access_token": "stolen"})));
    let to = target.url.clone();
    let hs = Hostile::start(move |r| Reply::Redirect(307, format!("{to}{}", r.path)));
    let r = run_module(
        "user_admin",
        json!({"homeserver_url": hs.url, "admin_username": "root", "admin_password": "login-s3cret-pw",
               "username": "alice", "admin": true, "server_name": "localhost"}),
    );
    assert_clean_failure(
        &r,
        "login-s3cret-pw",
        &["redirect", "/_matrix/client/v3/login"],
    );
    assert!(target.requests().is_empty());
}

#[test]
fn https_is_never_downgraded_to_http() {
    let plain = Hostile::always(Reply::json(200, json!({"nonce": "x"})));
    let tls = TlsServer::start(Some(&plain.url));
    let secret = random_secret("downgrade-secret");
    let mut a = args_for("register_user", &tls.url, &secret);
    a["ca_path"] = json!(tls.cert);
    let r = run_module("register_user", a);
    assert_clean_failure(&r, &secret, &["redirect", "plain http", &plain.url]);
    assert!(plain.requests().is_empty(), "nothing may reach plain http");
    assert!(!tls.requests().is_empty(), "the https server was asked");
}

#[test]
fn a_self_signed_certificate_in_ca_path_works_and_validate_certs_false_warns() {
    for san in [true, false] {
        self_signed(san);
    }
}

fn self_signed(san: bool) {
    let tls = TlsServer::start_with(None, san);
    let mut a = args_for("register_user", &tls.url, "s3cret-tls-1");
    a["server_name"] = json!(null);
    a["ca_path"] = json!(tls.cert);
    let r = run_module("register_user", a.clone()).ok();
    assert_eq!(r.json["user_id"], "@alice:localhost");
    assert!(tls.requests().contains("POST /_synapse/admin/v1/register"));
    // Without ca_path the certificate is refused...
    a["ca_path"] = json!(null);
    let r = run_module("register_user", a.clone());
    assert!(r.failed(), "{}", r.stdout);
    // ...and with validate_certs=false it is accepted, with a warning.
    a["validate_certs"] = json!(false);
    let r = run_module("register_user", a).ok();
    let warnings = r.json["warnings"].to_string();
    assert!(warnings.contains("not checked"), "{}", r.stdout);
}

#[test]
fn credentials_in_url_options_are_refused_and_masked_everywhere() {
    let mut cases = 0;
    for (url, pw) in [
        ("http://admin:urlpass-1@127.0.0.1:8008", "urlpass-1"),
        ("https://admin:urlpass-2@matrix.example.org/", "urlpass-2"),
        ("http://:urlpass-3@127.0.0.1", "urlpass-3"),
        ("http://admin:url pass-4@[::1:8008", "url pass-4"),
        ("http://admin:urlpass-5@host:notaport/x", "urlpass-5"),
        ("ftp://admin:urlpass-6@host", "urlpass-6"),
        ("http://urlpass-7@host", "urlpass-7"),
    ] {
        for module in MODULES {
            let mut a = args_for(module, "http://127.0.0.1:9", "some-s3cret");
            a["homeserver_url"] = json!(url);
            let r = run_module(module, a);
            assert!(r.failed(), "{url}: {}", r.stdout);
            assert!(!r.stdout.contains(pw), "{module} {url}: {}", r.stdout);
            let shown = r.json["invocation"]["module_args"]["homeserver_url"].as_str();
            if let Some(shown) = shown {
                assert!(shown.contains("********"), "{shown}");
            }
            cases += 1;
        }
        let mut a = mreg_args_for("registration_token_info", url, "adm-s3cret");
        a["api_url"] = json!(url);
        let r = run_module("registration_token_info", a);
        assert!(r.failed() && !r.stdout.contains(pw), "{}", r.stdout);
        cases += 1;
    }
    assert_eq!(cases, 35);
}

#[test]
fn echoed_secrets_are_scrubbed_cut_or_escaped() {
    // The server echoes the request body: raw, JSON-escaped, Python-escaped, cut at the excerpt
    // boundary, and HTML-escaped.
    let secret = "Qz\"pä<ss>\\wörd-Secret-Tail-987";
    let shared = "Sh4red\"Secret-ä-Value-4242";
    let mut cases = 0;
    type Echo = fn(&str) -> String;
    let echoes: [(&str, Echo); 6] = [
        ("raw", |b| format!("bad request: {b}")),
        ("json", |b| {
            serde_json::to_string(&json!({"echo": b})).unwrap()
        }),
        ("python", |b| {
            let j = serde_json::to_string(b).unwrap();
            j.chars()
                .map(|c| {
                    if c.is_ascii() {
                        c.to_string()
                    } else {
                        format!("\\u{:04x}", c as u32)
                    }
                })
                .collect()
        }),
        ("cut", |b| {
            let at = b.find("Qz").unwrap();
            let pad = "x".repeat(120usize.saturating_sub(at + 4));
            format!("{pad}{b}")
        }),
        ("html", |b| {
            b.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
        }),
        ("control", |b| format!("\u{202e}evil\n{b}")),
    ];
    for (name, echo) in echoes {
        let hs = Hostile::start(move |r| {
            if r.method == "GET" {
                Reply::json(200, json!({"nonce": "n"}))
            } else {
                Reply::Full(400, "text/plain", echo(&r.body_text()).into_bytes())
            }
        });
        let r = run_module(
            "register_user",
            json!({"homeserver_url": hs.url, "shared_secret": shared, "username": "alice",
                   "password": secret, "server_name": null}),
        );
        assert!(r.failed(), "{name}: {}", r.stdout);
        for needle in [
            "Qz\"p",
            "Qz\\\"p",
            "Secret-Tail",
            "w\\u00f6rd",
            "rd-Secret",
            "Sh4red",
            "Secret-\\u00e4",
        ] {
            assert!(
                !r.stdout.contains(needle),
                "{name}: {needle:?} in {}",
                r.stdout
            );
        }
        assert!(
            !r.msg().contains('\u{202e}') && !r.msg().contains('\n'),
            "{name}: {:?}",
            r.msg()
        );
        cases += 1;
    }
    assert_eq!(cases, 6);
}
