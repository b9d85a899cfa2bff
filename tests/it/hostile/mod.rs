//! Issue 9: never report success that did not happen, never hand a secret to the wrong place.
//! Hostile servers started here on 127.0.0.1 (web pages, empty 200s, redirects, echoing error
//! pages, endless bodies, wrong users), bad input as an attacker or a clumsy operator would give
//! it, and the real Synapse where it can show the fault.

mod answers;
mod bounds;
mod check_mode;
mod identity;
mod messages;
mod secrets;

use crate::common::{run_module, Run};
use serde_json::{json, Value};

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

/// Every module against `url`, each with the secret `secret()` gives it: a clean failure whose
/// message has each of `want`. Returns the number of cases.
fn each_module_fails_cleanly(url: &str, secret: impl Fn() -> String, want: &[&str]) -> usize {
    for module in MODULES {
        let secret = secret();
        let r = run_module(module, args_for(module, url, &secret));
        assert_clean_failure(&r, &secret, want);
    }
    MODULES.len()
}
