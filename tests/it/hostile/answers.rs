//! A server that is not a Matrix homeserver never produces success.

use super::{args_for, assert_clean_failure, each_module_fails_cleanly, mreg_args_for};
use crate::common::hostile::{fake_homeserver, Hostile, Reply, ELEMENT_PAGE};
use crate::common::{random_secret, run_module};
use serde_json::json;

#[test]
fn a_web_page_answering_200_is_never_success() {
    let web = Hostile::always(Reply::html(200, ELEMENT_PAGE));
    let mut cases = each_module_fails_cleanly(
        &web.url,
        || random_secret("html-secret"),
        &["text/html", "<!doctype html>", "homeserver_url"],
    );
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
    each_module_fails_cleanly(
        &empty.url,
        || random_secret("empty-secret"),
        &["empty body"],
    );
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
        each_module_fails_cleanly(&other.url, || "shape-s3cret".into(), &["homeserver_url"]);
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
