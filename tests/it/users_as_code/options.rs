//! What register_user refuses about users as code before any request: exclusive mode without a
//! list (or with an empty one), its options without it, `origin` at the top level, and exclusive
//! mode where the server cannot list accounts. The homeserver URL points at a closed port: a
//! refusal that needed the server would say so.

use crate::common::run_module;
use serde_json::{json, Value};

fn refused(args: Value, expected: &str) {
    let mut a = json!({"homeserver_url": "http://127.0.0.1:9", "shared_secret": "s3cret-value",
        "server_name": "localhost", "retries": 0, "timeout": 2});
    for (k, v) in args.as_object().unwrap() {
        a[k] = v.clone();
    }
    let r = run_module("register_user", a);
    assert!(r.failed(), "{}", r.json);
    assert!(
        r.msg().contains(expected),
        "expected {expected:?} in {}",
        r.msg()
    );
    assert!(
        !r.msg().contains("connection refused"),
        "asked the server: {}",
        r.msg()
    );
}

#[test]
fn exclusive_and_its_options_are_refused_where_they_cannot_mean_anything() {
    let one = json!([{"username": "alice", "password": "alice-pw-1"}]);
    refused(
        json!({"username": "alice", "password": "alice-pw-1", "exclusive": true}),
        "exclusive deactivates the accounts no entry of users names: give users",
    );
    refused(
        json!({"users": [], "exclusive": true}),
        "exclusive with an empty users list would deactivate every account",
    );
    refused(
        json!({"users": one, "max_deactivations": 50}),
        "max_deactivations is for exclusive: true",
    );
    refused(
        json!({"users": one, "keep": ["bot*"]}),
        "keep is for exclusive: true",
    );
    refused(
        json!({"users": one, "exclusive": true, "max_deactivations": -1}),
        "max_deactivations must be 0 or more",
    );
    refused(
        json!({"username": "alice", "password": "alice-pw-1", "origin": "x[0]"}),
        "origin names an entry of users",
    );
    refused(
        json!({"username": "alice", "initial_password": "alice-pw-1", "password": "x-pw-12345"}),
        "mutually exclusive: password|initial_password",
    );
}

#[test]
fn exclusive_needs_a_server_that_lists_its_accounts() {
    let one = json!([{"username": "alice", "password": "alice-pw-1"}]);
    // Synapse without admin credentials: no listing.
    refused(
        json!({"users": one, "exclusive": true}),
        "which needs admin credentials: give access_token",
    );
    // Dendrite without its database: no API lists accounts.
    refused(
        json!({"users": one, "exclusive": true, "backend": "dendrite"}),
        "Dendrite has no API for either: give database",
    );
    // continuwuity: no listing at all, named with what to do instead.
    let mut args = json!({"users": one, "exclusive": true, "backend": "continuwuity",
        "registration_token": "tok-123456"});
    args.as_object_mut().unwrap().remove("shared_secret");
    let mut a = json!({"homeserver_url": "http://127.0.0.1:9", "server_name": "localhost",
        "retries": 0, "timeout": 2});
    for (k, v) in args.as_object().unwrap() {
        a[k] = v.clone();
    }
    let r = run_module("register_user", a);
    assert!(r.failed(), "{}", r.json);
    assert!(
        r.msg()
            .starts_with("exclusive: backend continuwuity cannot list accounts")
            && r.msg().contains("!admin users list-users"),
        "{}",
        r.msg()
    );
}
