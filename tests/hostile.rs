//! Issue 9: never report success that did not happen, never hand a secret to the wrong place.
//! Hostile servers started here on 127.0.0.1 (web pages, empty 200s, redirects, echoing error
//! pages, endless bodies, wrong users), bad input as an attacker or a clumsy operator would give
//! it, and the real Synapse where it can show the fault.

mod common;

use common::hostile::{fake_homeserver, Hostile, Reply, ELEMENT_PAGE};
use common::*;
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MODULES: [&str; 4] = [
    "register_user",
    "user_admin",
    "registration_token",
    "registration_token_info",
];

/// Arguments that reach `url` with each module, secrets included.
fn args_for(module: &str, url: &str, secret: &str) -> Value {
    match module {
        "register_user" => json!({"homeserver_url": url, "shared_secret": secret,
            "username": "alice", "password": format!("{secret}-pw"), "server_name": "localhost"}),
        "user_admin" => json!({"homeserver_url": url, "access_token": secret,
            "username": "alice", "admin": true, "server_name": "localhost"}),
        "registration_token" => json!({"backend": "synapse", "homeserver_url": url,
            "access_token": secret, "token": "Tok_1", "max_usage": 1}),
        "registration_token_info" => json!({"backend": "synapse", "homeserver_url": url,
            "access_token": secret}),
        _ => unreachable!(),
    }
}

/// The same, with matrix-registration as the token service.
fn mreg_args_for(module: &str, url: &str, secret: &str) -> Value {
    match module {
        "registration_token" => json!({"backend": "matrix_registration", "api_url": url,
            "admin_secret": secret, "max_usage": 1}),
        "registration_token_info" => {
            json!({"backend": "matrix_registration", "api_url": url, "admin_secret": secret})
        }
        _ => unreachable!(),
    }
}

/// A failure that says it was not done and never leaks `secret`.
fn assert_clean_failure(r: &Run, secret: &str, want: &[&str]) {
    assert!(r.failed(), "must fail: {}", r.stdout);
    assert!(
        !r.changed(),
        "nothing may be reported changed: {}",
        r.stdout
    );
    assert_ne!(r.code, 0);
    for w in want {
        assert!(r.msg().contains(w), "message lacks {w:?}: {}", r.msg());
    }
    assert!(!r.stdout.contains(secret), "secret leaked: {}", r.stdout);
    assert!(!r.stderr.contains(secret), "secret leaked to stderr");
}

// ---------------------------------------------------------------------------------------------
// 1. A server that is not a Matrix homeserver never produces success.

#[test]
fn a_web_page_answering_200_is_never_success() {
    let web = Hostile::always(Reply::html(200, ELEMENT_PAGE));
    let mut cases = 0;
    for module in MODULES {
        let secret = random_secret("html-secret");
        let r = run_module(module, args_for(module, &web.url, &secret));
        assert_clean_failure(
            &r,
            &secret,
            &["text/html", "<!doctype html>", "homeserver_url"],
        );
        cases += 1;
    }
    for module in ["registration_token", "registration_token_info"] {
        let secret = random_secret("html-secret");
        let r = run_module(module, mreg_args_for(module, &web.url, &secret));
        assert_clean_failure(&r, &secret, &["text/html", "api_url"]);
        cases += 1;
    }
    // Without server_name (registration path) and with update_password (admin API path).
    for extra in [
        json!({"server_name": null}),
        json!({"update_password": "always", "access_token": "tok-html-1"}),
    ] {
        let mut a = args_for("register_user", &web.url, "s3cret-html");
        for (k, v) in extra.as_object().unwrap() {
            a[k] = v.clone();
        }
        let r = run_module("register_user", a);
        assert_clean_failure(&r, "s3cret-html", &["text/html"]);
        cases += 1;
    }
    assert_eq!(cases, 8);
}

#[test]
fn an_empty_200_is_never_success() {
    let empty = Hostile::always(Reply::empty(200));
    for module in MODULES {
        let secret = random_secret("empty-secret");
        let r = run_module(module, args_for(module, &empty.url, &secret));
        assert_clean_failure(&r, &secret, &["empty body"]);
    }
    let r = run_module(
        "registration_token_info",
        mreg_args_for("registration_token_info", &empty.url, "adm-s3cret"),
    );
    assert_clean_failure(&r, "adm-s3cret", &["empty body"]);
}

#[test]
fn a_json_answer_of_the_wrong_shape_is_never_success() {
    // A JSON API that is not Matrix: a list, a bare string, an object without the fields.
    for body in [json!([1, 2]), json!("ok"), json!({"status": "ok"})] {
        let other = Hostile::always(Reply::json(200, body.clone()));
        for module in MODULES {
            let r = run_module(module, args_for(module, &other.url, "shape-s3cret"));
            assert_clean_failure(&r, "shape-s3cret", &["homeserver_url"]);
        }
    }
}

#[test]
fn a_registration_answer_naming_another_user_fails() {
    // The server says it created someone else.
    let hs = fake_homeserver("localhost", false, |_| "@eve:localhost".to_string());
    let r = run_module(
        "register_user",
        json!({"homeserver_url": hs.url, "shared_secret": "s3cret-wrong-user",
               "username": "alice", "password": "pw-alice-1"}),
    );
    assert_clean_failure(&r, "s3cret-wrong-user", &["@eve:localhost", "alice"]);
    // In bulk, the entry fails and names the user.
    let r = run_module(
        "register_user",
        json!({"homeserver_url": hs.url, "shared_secret": "s3cret-wrong-user",
               "users": [{"username": "bob", "password": "pw-bob-12"}]}),
    );
    assert!(r.failed());
    assert_eq!(r.json["results"][0]["failed"], true);
    assert!(r.json["results"][0]["msg"]
        .as_str()
        .unwrap()
        .contains("@eve:localhost"));
    assert_eq!(r.json["created"], 0);
}

#[test]
fn an_admin_record_of_another_user_is_not_the_user() {
    let hs = Hostile::start(|r| {
        if r.path.starts_with("/_synapse/admin/v2/users/") {
            Reply::json(200, json!({"name": "@mallory:localhost", "admin": true}))
        } else {
            Reply::json(200, json!({}))
        }
    });
    let r = run_module(
        "user_admin",
        args_for("user_admin", &hs.url, "tok-s3cret-rec"),
    );
    assert_clean_failure(&r, "tok-s3cret-rec", &["@alice:localhost"]);
    assert!(hs.requests_to("PUT", "/_synapse").is_empty(), "nothing set");
}

// ---------------------------------------------------------------------------------------------
// 2. Check mode and no_log fail safe.

#[test]
fn check_mode_and_no_log_are_read_as_ansible_booleans() {
    let hs = fake_homeserver("localhost", false, |u| format!("@{u}:localhost"));
    let a = args_for("register_user", &hs.url, "s3cret-flags");
    let mut cases = 0;
    for yes in [
        json!("yes"),
        json!("True"),
        json!(1),
        json!("on"),
        json!(" Y "),
    ] {
        let r = run_module_with(
            "register_user",
            a.clone(),
            &[("_ansible_check_mode", yes.clone())],
        )
        .ok();
        assert!(r.msg().contains("would be created"), "{yes}: {}", r.stdout);
        cases += 1;
    }
    assert!(
        hs.requests_to("POST", "/").is_empty(),
        "check mode must not register: {:?}",
        hs.requests()
    );
    for yes in [json!("yes"), json!("True"), json!(1)] {
        let r = run_module_with(
            "register_user",
            a.clone(),
            &[("_ansible_no_log", yes.clone())],
        );
        assert!(r.json.get("invocation").is_none(), "{yes}: {}", r.stdout);
        cases += 1;
    }
    let before = hs.requests().len();
    for flag in ["_ansible_check_mode", "_ansible_no_log", "_ansible_diff"] {
        for bad in [
            json!("maybe"),
            json!(2),
            json!(""),
            json!([true]),
            json!({"a": 1}),
        ] {
            let r = run_module_with("register_user", a.clone(), &[(flag, bad.clone())]);
            assert!(r.failed(), "{flag}={bad}: {}", r.stdout);
            assert!(r.msg().contains(flag), "{}", r.msg());
            assert!(r.json.get("invocation").is_none());
            cases += 1;
        }
    }
    assert_eq!(
        hs.requests().len(),
        before,
        "an unreadable flag sends nothing"
    );
    assert_eq!(cases, 23);
}

#[test]
fn check_mode_as_a_string_creates_nothing_on_synapse() {
    let s = Synapse::shared();
    let name = unique_user("strcheck");
    let r = run_module_with(
        "register_user",
        json!({"homeserver_url": s.url, "shared_secret": s.shared_secret, "server_name": "localhost",
               "username": name, "password": random_secret("pw")}),
        &[("_ansible_check_mode", json!("yes"))],
    )
    .ok();
    assert!(r.changed());
    assert!(s.user(&format!("@{name}:localhost")).is_none());
}

#[test]
fn check_mode_never_logs_in() {
    // The hostile server records any login; check mode must send none, with every module.
    let hs = fake_homeserver("localhost", false, |u| format!("@{u}:localhost"));
    let login =
        json!({"admin_username": "root", "admin_password": "adm-s3cret-pw", "access_token": null});
    for module in MODULES {
        let mut a = args_for(module, &hs.url, "unused-secret");
        for (k, v) in login.as_object().unwrap() {
            a[k] = v.clone();
        }
        if module == "register_user" {
            a["update_password"] = json!("always");
        }
        let r = run_module_with(module, a, &[("_ansible_check_mode", json!(true))]);
        assert!(
            r.stdout.contains("check mode") && r.stdout.contains("access_token"),
            "{module} must say what it could not predict: {}",
            r.stdout
        );
        assert!(!r.stdout.contains("adm-s3cret-pw"));
    }
    assert!(
        hs.requests_to("POST", "/_matrix/client/v3/login")
            .is_empty(),
        "no login in check mode"
    );
    assert!(hs
        .requests_to("POST", "/_matrix/client/v3/logout")
        .is_empty());
}

#[test]
fn check_mode_with_a_login_predicts_against_synapse_without_a_device() {
    let s = Synapse::shared();
    let name = unique_user("chklogin");
    let admin_id = format!("@{}:localhost", s.admin_user);
    let devices = s.device_count(&admin_id);
    let r = run_module_with(
        "register_user",
        json!({"homeserver_url": s.url, "shared_secret": s.shared_secret, "server_name": "localhost",
               "username": name, "password": random_secret("pw"),
               "admin_username": s.admin_user, "admin_password": s.admin_password}),
        &[("_ansible_check_mode", json!(true))],
    )
    .ok();
    assert!(r.changed());
    assert!(r.stdout.contains("does not log in"), "{}", r.stdout);
    assert_eq!(s.device_count(&admin_id), devices);
    assert!(s.user(&format!("@{name}:localhost")).is_none());
}

// ---------------------------------------------------------------------------------------------
// 3. Secrets go only where they were meant to go.

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
        for module in MODULES {
            let secret = random_secret("redir-secret");
            let r = run_module(module, args_for(module, &hs.url, &secret));
            assert_clean_failure(&r, &secret, &["redirect", &target.url]);
            cases += 1;
        }
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

struct TlsServer {
    child: std::process::Child,
    url: String,
    log: std::path::PathBuf,
    cert: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl TlsServer {
    /// A self-signed certificate made the usual way (`openssl req -x509`), and the https
    /// stand-in of tests/servers/hostile_tls.py using it.
    fn start(redirect: Option<&str>) -> TlsServer {
        TlsServer::start_with(redirect, true)
    }

    /// `san`: with `-addext subjectAltName=...`, or the bare `-subj /CN=localhost` of tutorials.
    fn start_with(redirect: Option<&str>, san: bool) -> TlsServer {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let ok = Command::new(repo().join("tests/servers/tls-cert.sh"))
            .arg(dir.path())
            .arg(if san { "san" } else { "cn" })
            .status()
            .unwrap()
            .success();
        assert!(ok, "openssl req -x509");
        let (port_file, log) = (dir.path().join("port"), dir.path().join("requests.log"));
        std::fs::write(&log, "").unwrap();
        let mut cmd = Command::new("python3");
        cmd.arg(repo().join("tests/servers/hostile_tls.py"))
            .arg(&cert)
            .arg(&key)
            .arg(&port_file)
            .arg(&log);
        if let Some(r) = redirect {
            cmd.arg(r);
        }
        let child = cmd.spawn().unwrap();
        let started = Instant::now();
        while !port_file.exists() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "tls server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let port = std::fs::read_to_string(&port_file).unwrap();
        TlsServer {
            child,
            url: format!("https://localhost:{}", port.trim()),
            log,
            cert,
            _dir: dir,
        }
    }
    fn requests(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

// ---------------------------------------------------------------------------------------------
// 4. The user asked for is the user acted on.

#[test]
fn a_user_of_another_server_is_refused_before_acting() {
    // The server tells its name through its signing keys: refused before any registration.
    let hs = fake_homeserver("localhost", true, |u| format!("@{u}:localhost"));
    let mut cases = 0;
    for id in [
        "@eve:evil.example",
        "@john:localhost:8448",
        "@john:LOCALHOST",
        "@john:127.0.0.1",
    ] {
        let r = run_module(
            "register_user",
            json!({"homeserver_url": hs.url, "shared_secret": "s3cret-foreign", "username": id,
                   "password": "pw-foreign-1"}),
        );
        assert_clean_failure(
            &r,
            "s3cret-foreign",
            &["not on this homeserver", "'localhost'"],
        );
        assert!(
            !r.msg().contains("server_name is"),
            "server_name was never set: {}",
            r.msg()
        );
        cases += 1;
    }
    assert!(
        hs.requests_to("POST", "/").is_empty(),
        "{:?}",
        hs.requests()
    );
    assert!(hs
        .requests_to("GET", "/_matrix/client/v3/profile")
        .is_empty());
    // The same with server_name given.
    for id in ["@eve:evil.example", "@john:localhost:8448"] {
        let r = run_module(
            "register_user",
            json!({"homeserver_url": hs.url, "shared_secret": "s3cret-foreign", "username": id,
                   "password": "pw-foreign-1", "server_name": "localhost"}),
        );
        assert_clean_failure(&r, "s3cret-foreign", &["server_name is 'localhost'"]);
        cases += 1;
    }
    assert!(
        hs.requests().len() <= 4,
        "only key look-ups: {:?}",
        hs.requests()
    );
    assert_eq!(cases, 6);
}

#[test]
fn a_foreign_id_is_never_looked_up_nor_registered_when_the_servers_name_is_unknown() {
    // A server that does not tell its name: no profile look-up of the foreign ID (that would
    // make the homeserver contact evil.example), and no registration either: with the server's
    // name unknown, registering the localpart here could create an account on the wrong server.
    let hs = fake_homeserver("localhost", false, |u| format!("@{u}:localhost"));
    for _ in 0..2 {
        let r = run_module(
            "register_user",
            json!({"homeserver_url": hs.url, "shared_secret": "s3cret-foreign2",
                   "username": "@eve:evil.example", "password": "pw-foreign-2"}),
        );
        assert_clean_failure(
            &r,
            "s3cret-foreign2",
            &["@eve:evil.example", "set server_name"],
        );
    }
    assert!(
        hs.requests_to("GET", "/_matrix/client/v3/profile")
            .is_empty(),
        "{:?}",
        hs.requests()
    );
    assert!(
        hs.requests_to("POST", "/_synapse/admin/v1/register")
            .is_empty()
            && hs
                .requests_to("GET", "/_synapse/admin/v1/register")
                .is_empty(),
        "nothing is registered before the server's name is known: {:?}",
        hs.requests()
    );
}

#[test]
fn a_foreign_id_with_admin_credentials_is_refused_on_synapse() {
    let s = Synapse::shared();
    let name = unique_user("foreign");
    let r = run_module(
        "register_user",
        json!({"homeserver_url": s.url, "shared_secret": s.shared_secret, "access_token": s.admin_token,
               "username": format!("@{name}:evil.example"), "password": random_secret("pw")}),
    );
    assert_clean_failure(
        &r,
        &s.shared_secret,
        &["not on this homeserver", "admin credentials"],
    );
    assert!(!r.msg().contains("server_name is"), "{}", r.msg());
    assert!(s.user(&format!("@{name}:localhost")).is_none());
}

#[test]
fn a_foreign_id_without_server_name_is_refused_on_synapse_before_anything_is_written() {
    // Synapse's client listener here serves no signing keys, and no server_name or admin
    // credentials are given: its name cannot be learnt, so the full ID cannot be checked and
    // nothing is registered (the account of the localpart must not appear), also on a re-run.
    let s = Synapse::shared();
    let name = unique_user("foreign");
    let args = json!({"homeserver_url": s.url, "shared_secret": s.shared_secret,
                      "username": format!("@{name}:localhost:8448"), "password": random_secret("pw")});
    for _ in 0..2 {
        let r = run_module("register_user", args.clone());
        assert_clean_failure(
            &r,
            &s.shared_secret,
            &[&format!("@{name}:localhost:8448"), "set server_name"],
        );
        assert!(s.user(&format!("@{name}:localhost")).is_none());
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Bounded everything.

/// Runs a module with raw argv, killing it after `secs` (a hang is a failure, not a stuck test).
fn run_within(name: &str, argv: &[&str], secs: u64, shell_prefix: Option<&str>) -> Run {
    let bin = module_bin(name);
    let mut cmd = match shell_prefix {
        Some(prefix) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("{prefix}; exec \"$0\" \"$@\""))
                .arg(&bin)
                .args(argv);
            c
        }
        None => {
            let mut c = Command::new(&bin);
            c.args(argv);
            c
        }
    };
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name} {argv:?} still ran after {secs} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("not one JSON object ({e}): {stdout:?} {stderr}"));
    Run {
        json,
        code: out.status.code().unwrap_or(-1),
        stdout,
        stderr,
    }
}

#[test]
fn huge_answers_fail_cleanly() {
    let mut cases = 0;
    for reply in [Reply::HugeWithLength(4 << 30), Reply::Endless] {
        let hs = Hostile::always(reply);
        for module in MODULES {
            let a = args_for(module, &hs.url, "s3cret-huge");
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("args");
            std::fs::write(&p, a.to_string()).unwrap();
            let r = run_within(module, &[p.to_str().unwrap()], 120, None);
            assert_clean_failure(&r, "s3cret-huge", &["MiB"]);
            cases += 1;
        }
    }
    assert_eq!(cases, 8);
}

#[test]
fn args_files_that_block_or_never_end_fail_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let big = dir.path().join("big");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(70 << 20).unwrap();
    let mut cases = 0;
    for module in MODULES {
        for path in [
            "/dev/zero",
            "/dev/urandom",
            fifo.to_str().unwrap(),
            big.to_str().unwrap(),
            "/",
        ] {
            let r = run_within(module, &[path], 30, None);
            assert!(r.failed(), "{path}: {}", r.stdout);
            assert!(r.msg().contains("arguments file"), "{}", r.msg());
            cases += 1;
        }
    }
    assert_eq!(cases, 20);
}

#[test]
fn secret_files_that_block_or_never_end_fail_at_once() {
    let hs = fake_homeserver("localhost", false, |u| format!("@{u}:localhost"));
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let mut cases = 0;
    for path in ["/dev/zero", fifo.to_str().unwrap(), "/dev/stdin"] {
        for (opt, other) in [
            ("shared_secret_file", "shared_secret"),
            ("password_file", "password"),
        ] {
            let mut a = args_for("register_user", &hs.url, "s3cret-files");
            a[other] = Value::Null;
            a[opt] = json!(path);
            let p = dir.path().join("args");
            std::fs::write(&p, a.to_string()).unwrap();
            let r = run_within("register_user", &[p.to_str().unwrap()], 30, None);
            assert!(r.failed(), "{opt}={path}: {}", r.stdout);
            assert!(r.msg().contains(opt), "{}", r.msg());
            cases += 1;
        }
    }
    assert!(hs.requests_to("POST", "/").is_empty());
    assert_eq!(cases, 6);
}

#[test]
fn running_out_of_memory_still_ends_in_one_json_object() {
    // 40 MiB of arguments under a 48 MiB address-space limit: parsing them cannot succeed.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("args");
    let filler = "a".repeat(40 << 20);
    std::fs::write(
        &p,
        json!({"username": filler, "homeserver_url": "http://127.0.0.1:9"}).to_string(),
    )
    .unwrap();
    let r = run_within(
        "register_user",
        &[p.to_str().unwrap()],
        60,
        Some("ulimit -v 120000"),
    );
    assert!(r.failed(), "{}", r.stdout);
    assert!(
        r.msg().contains("memory") || r.msg().contains("arguments"),
        "{}",
        r.msg()
    );
}

#[test]
fn the_sqlite_busy_wait_follows_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("homeserver.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE users (name TEXT PRIMARY KEY, admin SMALLINT DEFAULT 0 NOT NULL);
         INSERT INTO users (name) VALUES ('@alice:localhost');",
    )
    .unwrap();
    conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let r = run_module(
        "user_admin",
        json!({"backend": "synapse_sqlite", "database": db, "username": "@alice:localhost",
               "admin": true, "timeout": 1}),
    );
    assert!(r.failed(), "{}", r.stdout);
    assert!(r.msg().contains("1 s"), "{}", r.msg());
    conn.execute_batch("ROLLBACK").unwrap();
}

// ---------------------------------------------------------------------------------------------
// 6. Messages a person can trust.

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

#[test]
fn check_mode_as_a_string_creates_no_token_on_matrix_registration_or_synapse() {
    let synapse = Synapse::start_with_token_registration();
    let mreg = Mreg::start("0.9", &synapse);
    let before = mreg.tokens().len();
    for check in [json!("yes"), json!("True"), json!(1)] {
        let r = run_module_with(
            "registration_token",
            json!({"backend": "matrix_registration", "api_url": mreg.url,
                   "admin_secret": mreg.admin_secret, "max_usage": 1}),
            &[("_ansible_check_mode", check.clone())],
        )
        .ok();
        assert!(r.changed(), "{check}: {}", r.stdout);
        let name = unique_user("chk").replace('-', "_");
        let r = run_module_with(
            "registration_token",
            json!({"backend": "synapse", "homeserver_url": synapse.url,
                   "access_token": synapse.admin_token, "token": name, "max_usage": 1}),
            &[("_ansible_check_mode", check.clone())],
        )
        .ok();
        assert!(r.changed(), "{check}: {}", r.stdout);
        let (status, _) =
            synapse.admin_get(&format!("/_synapse/admin/v1/registration_tokens/{name}"));
        assert_eq!(
            status, 404,
            "{check}: check mode created Synapse token {name}"
        );
    }
    assert_eq!(mreg.tokens().len(), before, "check mode created a token");
}

#[test]
fn a_login_or_a_password_answer_for_another_user_fails() {
    let hs = Hostile::start(|r| match (r.method.as_str(), r.path.as_str()) {
        ("POST", "/_matrix/client/v3/login") => Reply::json(
            200,
            json!({"user_id": "@mallory:localhost", "access_token": "syt_mallory_token", "device_id": "D"}),
        ),
        ("PUT", p) if p.starts_with("/_synapse/admin/v2/users/") => {
            Reply::json(200, json!({"name": "@mallory:localhost"}))
        }
        ("GET", p) if p.starts_with("/_synapse/admin/v2/users/") => {
            Reply::json(200, json!({"name": "@alice:localhost", "admin": false}))
        }
        _ => Reply::json(200, json!({})),
    });
    let r = run_module(
        "user_admin",
        json!({"homeserver_url": hs.url, "admin_username": "root", "admin_password": "root-s3cret-pw",
               "username": "alice", "admin": true, "server_name": "localhost"}),
    );
    assert_clean_failure(&r, "root-s3cret-pw", &["'root'", "@mallory:localhost"]);
    assert!(!r.stdout.contains("syt_mallory_token"));
    // The session that was opened is closed again.
    assert_eq!(hs.requests_to("POST", "/_matrix/client/v3/logout").len(), 1);
    assert!(hs.requests_to("PUT", "/").is_empty());
    // A password reset answered with another user's record.
    let r = run_module(
        "register_user",
        json!({"homeserver_url": hs.url, "shared_secret": "s3cret-pwset", "access_token": "tok-pwset",
               "username": "alice", "password": "new-pw-123", "update_password": "always",
               "server_name": "localhost"}),
    );
    assert_clean_failure(
        &r,
        "s3cret-pwset",
        &["setting the password of @alice:localhost"],
    );
}

#[test]
fn a_dendrite_password_reset_counts_only_when_the_server_says_so() {
    // A server that looks like Dendrite but answers the reset with `{}` (or a web page).
    let mut cases = 0;
    for reset in [
        Reply::json(200, json!({})),
        Reply::json(200, json!({"password_updated": false})),
        Reply::html(200, ELEMENT_PAGE),
    ] {
        let hs = Hostile::start(move |r| match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/_matrix/client/versions") => Reply::json(200, json!({"versions": ["v1.1"]})),
            ("GET", "/_matrix/client/v3/account/whoami") => {
                Reply::json(200, json!({"user_id": "@admin:localhost"}))
            }
            ("GET", p) if p.starts_with("/_matrix/client/v3/profile/") => {
                Reply::json(200, json!({"displayname": "Alice"}))
            }
            ("POST", p) if p.starts_with("/_dendrite/admin/resetPassword/") => reset.clone(),
            _ => Reply::json(404, json!({"errcode": "M_UNRECOGNIZED", "error": "no"})),
        });
        let r = run_module(
            "register_user",
            json!({"homeserver_url": hs.url, "backend": "dendrite", "shared_secret": "s3cret-dendrite",
                   "access_token": "tok-dendrite", "username": "alice", "password": "new-pw-1234",
                   "update_password": "always"}),
        );
        assert_clean_failure(
            &r,
            "new-pw-1234",
            &["setting the password of @alice:localhost"],
        );
        assert_eq!(
            hs.requests_to("POST", "/_dendrite/admin/resetPassword/")
                .len(),
            1
        );
        cases += 1;
    }
    assert_eq!(cases, 3);
}
