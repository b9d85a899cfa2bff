//! Class 3 of issue 18: masking covers the encodings a secret travels in (Basic
//! `base64(id:secret)`, URL and form encoding, JSON and Python escaping, cut fragments), for every
//! secret option and every secret the module obtains, at every verbosity.

use super::mas_shaped::*;
use super::{all_strings, ensure, run_bounded, table, Bounded};
use crate::common::hostile::{Hostile, Reply};
use serde_json::{json, Value};
use std::time::Duration;

/// Standard base64 (RFC 4648, with padding), as HTTP Basic uses it.
pub fn base64(bytes: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                s.push(T[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

fn form(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// JSON escaping of `s` without the quotes; `ascii` escapes non-ASCII as `\uXXXX`, as Python's
/// json.dumps does.
fn json_escaped(s: &str, ascii: bool) -> String {
    let j = serde_json::to_string(s).unwrap();
    let inner = &j[1..j.len() - 1];
    if !ascii {
        return inner.to_string();
    }
    inner
        .chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                format!("\\u{:04x}", c as u32)
            }
        })
        .collect()
}

/// `Basic base64(CLIENT_ID:CLIENT_SECRET)`, as the module sends it.
fn basic() -> String {
    format!(
        "Basic {}",
        base64(format!("{CLIENT_ID}:{CLIENT_SECRET}").as_bytes())
    )
}

/// The client secret in every encoding it can come back in: raw, the secret's part of the Basic
/// credentials (`CLIENT_ID:` is 27 bytes, so the secret's base64 starts at character 36), form
/// encoded, JSON and Python escaped.
fn secret_encodings() -> Vec<(&'static str, String)> {
    let b64 = base64(format!("{CLIENT_ID}:{CLIENT_SECRET}").as_bytes());
    vec![
        ("raw", CLIENT_SECRET.to_string()),
        ("base64 in Basic", b64[36..].to_string()),
        ("form-encoded", form(CLIENT_SECRET)),
        ("JSON-escaped", json_escaped(CLIENT_SECRET, false)),
        ("Python-escaped", json_escaped(CLIENT_SECRET, true)),
    ]
}

/// Fragments of 8 characters of `secret` (a cut excerpt still gives one away: 8 characters of
/// base64 are 6 bytes of the secret) found anywhere in the output: stdout, stderr, and the decoded
/// strings of the JSON result.
fn fragments_in(r: &crate::common::Run, what: &str, secret: &str) -> Option<String> {
    let text = format!("{}\n{}\n{}", r.stdout, r.stderr, all_strings(&r.json));
    let chars: Vec<char> = secret.chars().collect();
    let n = 8.min(chars.len());
    (0..=chars.len() - n)
        .map(|i| chars[i..i + n].iter().collect::<String>())
        .find(|w| text.contains(w.as_str()))
        .map(|w| format!("{what} fragment {w:?}"))
}

#[test]
fn mas_echoes_of_the_client_credentials_are_masked_in_every_encoding() {
    // The token endpoint (or the revocation endpoint) answers an error that echoes what it got.
    let b64 = base64(format!("{CLIENT_ID}:{CLIENT_SECRET}").as_bytes());
    let cut_at = format!("{}{}", "x".repeat(54), basic());
    // (status, content type, body, answered by the revocation endpoint instead)
    type Echo = (u16, &'static str, String, bool);
    let rows: Vec<(&str, Echo)> = vec![
        (
            "HTML error page echoing the request",
            (400, "text/html", format!("<pre>{}</pre><h1>400 Bad Request</h1><p>POST /oauth2/token grant_type=client_credentials</p>", basic()), false),
        ),
        (
            "JSON invalid_client echoing the header",
            (401, "application/json", json!({"error": "invalid_client", "error_description": format!("client authentication failed: {}", basic())}).to_string(), false),
        ),
        (
            "JSON echoing the header without Basic",
            (400, "application/json", json!({"error": "invalid_request", "error_description": format!("cannot decode {b64}")}).to_string(), false),
        ),
        (
            "JSON echoing the decoded credentials",
            (400, "application/json", json!({"error": "invalid_request", "error_description": format!("bad credentials {CLIENT_ID}:{CLIENT_SECRET}")}).to_string(), false),
        ),
        (
            "Python-escaped JSON echo",
            (400, "application/json", format!("{{\"error\": \"invalid_request\", \"error_description\": \"secret {}\"}}", json_escaped(CLIENT_SECRET, true)), false),
        ),
        (
            "form-encoded echo",
            (400, "application/json", json!({"error": "invalid_request", "error_description": format!("body client_id={CLIENT_ID}&client_secret={}", form(CLIENT_SECRET))}).to_string(), false),
        ),
        (
            "an excerpt cut inside the base64",
            (400, "text/plain", format!("{cut_at} and more"), false),
        ),
        (
            "the revocation endpoint echoes its request",
            (400, "application/json", json!({"error": "invalid_request", "error_description": format!("{} token={ACCESS_TOKEN}&token_type_hint=access_token", basic())}).to_string(), true),
        ),
    ];
    table(&rows, false, |(status, ctype, body, at_revocation)| {
        let (status, ctype, body, at_revocation) = (*status, *ctype, body.clone(), *at_revocation);
        let mas = mas_like(move |r| {
            let endpoint = if at_revocation {
                "/oauth2/revoke"
            } else {
                "/oauth2/token"
            };
            if r.method == "POST" && r.path == endpoint {
                return Some(Reply::Full(status, ctype, body.clone().into_bytes()));
            }
            if is(r, "GET", "/users/by-username/alice") {
                return Some(one(200, user(ALICE, "alice", true)));
            }
            None
        });
        let Bounded { run, .. } = run_bounded(
            "user_admin",
            mas_args(&mas.url, json!({"username": "alice", "admin": true})),
            &[],
            Duration::from_secs(60),
        );
        let r = run.ok_or("the module hung")?;
        let endpoint = if at_revocation {
            "/oauth2/revoke"
        } else {
            "/oauth2/token"
        };
        ensure!(
            !mas.requests_to("POST", endpoint).is_empty(),
            "{endpoint} was never asked: {:?}",
            mas.requests()
        );
        let mut found: Vec<String> = secret_encodings()
            .iter()
            .filter_map(|(what, s)| fragments_in(&r, what, s))
            .collect();
        found.extend(fragments_in(&r, "access token", ACCESS_TOKEN));
        ensure!(found.is_empty(), "{found:?} in the output: {}", r.stdout);
        Ok(())
    });
}

#[test]
fn credentials_in_url_options_never_reach_verbose_output() {
    // `ansible-playbook -v` (and -vvv) prints the whole result: no part of the credentials may be
    // in it, decoded or not, and nothing is sent to the server with them.
    let hs: Hostile = mas_like(|_| None);
    let port = hs.url.rsplit(':').next().unwrap().to_string();
    let urls: Vec<(String, Vec<&str>)> = vec![
        (
            format!("http://urluser-7f3q:urlpass-9k2z@127.0.0.1:{port}"),
            vec!["urluser-7f3q", "urlpass-9k2z"],
        ),
        (
            format!("http://urluser-7f3q:p%40ss-w0rd-77x@127.0.0.1:{port}/"),
            vec![
                "urluser-7f3q",
                "p%40ss-w0rd-77x",
                "p@ss-w0rd-77x",
                "ss-w0rd-77x",
            ],
        ),
        (
            format!("http://tok3n-only-5xq2@127.0.0.1:{port}"),
            vec!["tok3n-only-5xq2"],
        ),
    ];
    type Row = (&'static str, &'static str, Value);
    let cases: &[Row] = &[
        (
            "register_user",
            "homeserver_url",
            json!({"shared_secret": "s3cret-v-1", "username": "alice", "password": "pw-v-12345678"}),
        ),
        (
            "register_user",
            "api_url",
            json!({"backend": "mas", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "username": "alice", "password": "pw-v-12345678"}),
        ),
        (
            "user_admin",
            "homeserver_url",
            json!({"access_token": "tok-v-1", "username": "@alice:localhost", "admin": true}),
        ),
        (
            "user_admin",
            "api_url",
            json!({"backend": "mas", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "username": "alice", "admin": true}),
        ),
        (
            "registration_token",
            "homeserver_url",
            json!({"backend": "dendrite", "access_token": "tok-v-1", "token": "advtok"}),
        ),
        (
            "registration_token",
            "api_url",
            json!({"backend": "mas", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "token": "advtok"}),
        ),
        (
            "registration_token_info",
            "api_url",
            json!({"backend": "matrix_registration", "admin_secret": "adm-v-1"}),
        ),
        (
            "registration_token_info",
            "api_url",
            json!({"backend": "synapse", "access_token": "tok-v-1"}),
        ),
    ];
    type Case = (Row, String, Vec<&'static str>);
    let mut rows: Vec<(String, Case)> = Vec::new();
    for c in cases {
        for (url, secrets) in &urls {
            rows.push((
                format!("{} {} {url}", c.0, c.1),
                (c.clone(), url.clone(), secrets.clone()),
            ));
        }
    }
    let rows: Vec<(&str, _)> = rows.iter().map(|(n, r)| (n.as_str(), r)).collect();
    table(&rows, false, |((module, option, args), url, secrets)| {
        let mut a = args.clone();
        a[*option] = json!(url);
        let before = hs.requests().len();
        let r = run_bounded(
            module,
            a,
            &[
                ("_ansible_verbosity", json!(3)),
                ("_ansible_diff", json!(true)),
            ],
            Duration::from_secs(60),
        )
        .run
        .ok_or("the module hung")?;
        ensure!(
            r.failed(),
            "credentials in {option} must be refused: {}",
            r.stdout
        );
        let text = format!("{}\n{}\n{}", r.stdout, r.stderr, all_strings(&r.json));
        for s in secrets {
            ensure!(!text.contains(s), "{s:?} in the output: {text}");
        }
        ensure!(
            hs.requests().len() == before,
            "requests were sent with the credentials: {:?}",
            &hs.requests()[before..]
                .iter()
                .map(|q| q.all_text())
                .collect::<Vec<_>>()
        );
        Ok(())
    });
}

#[test]
fn a_dendrite_session_token_echoed_at_logout_is_masked() {
    // Dendrite ignores inhibit_login: its registration answer carries the new session's token,
    // which the module logs out. A logout refused with an echo of the request must not show it.
    const SESSION: &str = "syt_Ym9i_DendriteSessionTok3n_4Hq9Zp";
    let hs = Hostile::start(super::guarded(|r| {
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/_synapse/admin/v1/register") => Reply::json(200, json!({"nonce": "n-1"})),
            ("POST", "/_synapse/admin/v1/register") => Reply::json(
                200,
                json!({"user_id": "@bob:localhost", "access_token": SESSION,
                   "home_server": "localhost", "device_id": "shared_secret_registration"}),
            ),
            ("POST", "/_matrix/client/v3/logout") => Reply::json(
                500,
                json!({"errcode": "M_UNKNOWN",
                   "error": format!("logout failed for {}", r.header("authorization").unwrap_or(""))}),
            ),
            _ => Reply::json(404, json!({"errcode": "M_UNRECOGNIZED", "error": "no"})),
        }
    }));
    let r = super::run(
        "register_user",
        json!({"backend": "dendrite", "homeserver_url": hs.url, "shared_secret": "d-s3cret-91",
               "username": "bob", "password": super::STRONG, "server_name": "localhost",
               "retries": 0}),
    )
    .unwrap();
    assert_eq!(
        hs.requests_to("POST", "/_matrix/client/v3/logout").len(),
        1,
        "the session was never logged out: {}",
        r.stdout
    );
    assert!(
        r.stdout.contains("logout failed for"),
        "the echo must reach the output for this to test anything: {}",
        r.stdout
    );
    let found = fragments_in(&r, "session token", SESSION);
    assert!(found.is_none(), "{found:?} in the output: {}", r.stdout);
}
