//! The user asked for is the user acted on.

use super::assert_clean_failure;
use crate::common::hostile::{fake_homeserver, Hostile, Reply};
use crate::common::{random_secret, run_module, unique_user, Synapse};
use serde_json::json;

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
