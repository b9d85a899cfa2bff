//! Class 1 of issue 18: every answer that names a subject (user, ULID, token, address, resource
//! type) is checked against what was asked before it is used; nothing is done to the subject an
//! answer names instead.

use super::mas_shaped::*;
use super::{ensure, failure, run, table, with, STRONG};
use crate::common::hostile::{Hostile, Reply, Req};
use serde_json::{json, Value};

const ALICE_EMAIL: &str = "alice@example.org";

/// Every row: what the module ran with, and what it must not have done to `victim`.
fn no_writes_about(h: &Hostile, victim: &str) -> Result<(), String> {
    let w = writes_about(h, victim);
    ensure!(w.is_empty(), "requests acted on {victim}: {w:?}");
    Ok(())
}

#[test]
fn a_mas_lookup_answering_another_users_record_is_not_that_user() {
    // `GET /users/by-username/alice` answers mallory's record (a caching proxy, a compromised
    // MAS); whatever is asked of alice must not be done to mallory's ULID.
    let stand_in = || {
        mas_like(|r| {
            if is(r, "GET", "/users/by-username/alice") {
                return Some(one(200, user(MALLORY, "mallory", false)));
            }
            if r.method == "POST" && r.path.starts_with(&format!("{API}/users/{MALLORY}/")) {
                return Some(one(200, user(MALLORY, "mallory", true)));
            }
            if is(r, "POST", "/users") {
                return Some(error(409, "User already exists"));
            }
            if is(r, "POST", "/user-emails") {
                return Some(one(201, email(EMAIL_ID, MALLORY, ALICE_EMAIL)));
            }
            None
        })
    };
    let rows: &[(&str, (&str, Value))] = &[
        (
            "user_admin admin=true",
            ("user_admin", json!({"username": "alice", "admin": true})),
        ),
        (
            "register_user admin=true",
            (
                "register_user",
                json!({"username": "alice", "password": STRONG, "admin": true}),
            ),
        ),
        (
            "register_user update_password=always",
            (
                "register_user",
                json!({"username": "alice", "password": STRONG, "update_password": "always"}),
            ),
        ),
        (
            "register_user email",
            (
                "register_user",
                json!({"username": "alice", "password": STRONG, "email": ALICE_EMAIL}),
            ),
        ),
    ];
    table(rows, false, |(module, extra)| {
        let mas = stand_in();
        let r = run(module, mas_args(&mas.url, extra.clone()))?;
        ensure!(!mas.requests().is_empty(), "the stand-in was never asked");
        no_writes_about(&mas, MALLORY)?;
        failure(&r, &["mallory"], &[CLIENT_SECRET, STRONG, ACCESS_TOKEN])
    });
}

#[test]
fn a_mas_creation_answered_with_another_user_sets_nothing_on_it() {
    // `POST /users {"username": "alice"}` answers 201 with mallory: no password, admin flag or
    // address of alice may land on mallory's ULID.
    let mas = mas_like(|r| {
        if is(r, "POST", "/users") {
            return Some(one(201, user(MALLORY, "mallory", false)));
        }
        if r.method == "POST" && r.path.ends_with("/set-password") {
            return Some(Reply::Full(204, "", Vec::new()));
        }
        if r.method == "POST" && r.path.ends_with("/set-admin") {
            return Some(one(200, user(MALLORY, "mallory", true)));
        }
        None
    });
    let r = run(
        "register_user",
        mas_args(
            &mas.url,
            json!({"username": "alice", "password": STRONG, "admin": true, "email": ALICE_EMAIL}),
        ),
    )
    .unwrap();
    let checked = no_writes_about(&mas, MALLORY)
        .and_then(|_| failure(&r, &["mallory", "alice"], &[CLIENT_SECRET, STRONG]));
    assert!(checked.is_ok(), "{}", checked.unwrap_err());
    assert_eq!(sent(&mas, "POST", "/users"), 1);
}

#[test]
fn a_mas_resource_of_another_type_is_not_a_user() {
    // The look-up answers a `user-email` resource that carries a username: not a user, so no
    // set-admin may go to its id.
    let stand_in = || {
        mas_like(|r| {
            if is(r, "GET", "/users/by-username/alice") {
                let mut data = email(EMAIL_ID, ALICE, ALICE_EMAIL);
                data["attributes"]["username"] = json!("alice");
                data["attributes"]["admin"] = json!(false);
                return Some(one(200, data));
            }
            if r.method == "POST" && r.path.starts_with(&format!("{API}/users/{EMAIL_ID}/")) {
                return Some(one(200, user(EMAIL_ID, "alice", true)));
            }
            None
        })
    };
    let rows: &[(&str, (&str, Value))] = &[
        (
            "user_admin",
            ("user_admin", json!({"username": "alice", "admin": true})),
        ),
        (
            "register_user",
            (
                "register_user",
                json!({"username": "alice", "password": STRONG, "admin": true}),
            ),
        ),
    ];
    table(rows, false, |(module, extra)| {
        let mas = stand_in();
        let r = run(module, mas_args(&mas.url, extra.clone()))?;
        no_writes_about(&mas, EMAIL_ID)?;
        failure(&r, &["user-email"], &[CLIENT_SECRET, STRONG])
    });
}

/// A Dendrite-shaped server: versions, its signing keys (Dendrite serves them on its one
/// listener), shared-secret registration answering `answer`, logout.
fn dendrite_like(server_name: &'static str, answer: &'static str) -> Hostile {
    Hostile::start(super::guarded(move |r: &Req| {
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/_matrix/client/versions") => {
                Reply::json(200, json!({"versions": ["r0.6.1", "v1.1", "v1.2"]}))
            }
            ("GET", "/_matrix/key/v2/server") => Reply::json(
                200,
                json!({"server_name": server_name, "valid_until_ts": 4102444800000u64,
                   "verify_keys": {"ed25519:auto": {"key": "Noi6WqcDj0QmPxCNQqgezwTlBKrfqehY1u2FyWP9uYw"}},
                   "old_verify_keys": {}}),
            ),
            ("GET", "/_synapse/admin/v1/register") => {
                Reply::json(200, json!({"nonce": "d3ndr1te-nonce"}))
            }
            ("POST", "/_synapse/admin/v1/register") => Reply::json(
                200,
                json!({"user_id": answer, "access_token": "dendrite-session-token-42",
                   "home_server": answer.rsplit(':').next(), "device_id": "shared_secret_registration"}),
            ),
            ("POST", "/_matrix/client/v3/logout") => Reply::json(200, json!({})),
            _ => Reply::json(
                404,
                json!({"errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"}),
            ),
        }
    }))
}

#[test]
fn a_dendrite_registration_answered_on_another_server_is_not_created() {
    // Asked for bob on the server named localhost (its keys say so, or server_name does), the
    // registration answers @bob:evil.example: not the account asked for.
    let rows: &[(&str, Value)] = &[
        (
            "no server_name (the server's keys name localhost)",
            json!({}),
        ),
        ("server_name localhost", json!({"server_name": "localhost"})),
    ];
    table(rows, false, |extra| {
        let hs = dendrite_like("localhost", "@bob:evil.example");
        let r = run(
            "register_user",
            with(
                &json!({"backend": "dendrite", "homeserver_url": hs.url,
                        "shared_secret": "dendrite-s3cret-77", "username": "bob",
                        "password": STRONG, "retries": 0}),
                extra.clone(),
            ),
        )?;
        failure(&r, &["@bob:evil.example"], &["dendrite-s3cret-77", STRONG])?;
        ensure!(!r.changed(), "reported changed: {}", r.stdout);
        ensure!(
            !r.msg().contains("created @bob:evil.example"),
            "reported created: {}",
            r.msg()
        );
        Ok(())
    });
}

/// A Dendrite-shaped token API where every answer is about `othertok`.
fn dendrite_tokens_about_othertok(get_finds: bool) -> Hostile {
    let other = json!({"token": "othertok", "uses_allowed": null, "pending": 0, "completed": 0,
                       "expiry_time": null});
    Hostile::start(super::guarded(move |r: &Req| {
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/_matrix/client/v3/account/whoami") => {
                Reply::json(200, json!({"user_id": "@admin:localhost"}))
            }
            ("GET", "/_dendrite/admin/registrationTokens/advtok") if get_finds => {
                Reply::json(200, other.clone())
            }
            ("GET", "/_dendrite/admin/registrationTokens/advtok") => Reply::json(
                404,
                json!({"errcode": "M_NOT_FOUND", "error": "token: advtok not found"}),
            ),
            ("POST", "/_dendrite/admin/registrationTokens/new") => Reply::json(200, other.clone()),
            _ => Reply::json(
                404,
                json!({"errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"}),
            ),
        }
    }))
}

/// A MAS-shaped token API: the list holds advtok (or nothing), and every write answers othertok.
fn mas_tokens_about_othertok(list_has_advtok: bool) -> Hostile {
    mas_like(move |r| {
        let other = regtoken(OTHER_ID, "othertok", true, json!(5), Value::Null);
        if is(r, "GET", "/user-registration-tokens") {
            let items = if list_has_advtok {
                vec![regtoken(ADV_ID, "advtok", true, json!(3), Value::Null)]
            } else {
                vec![]
            };
            let n = items.len();
            return Some(page("user-registration-tokens", n, items, None));
        }
        if is(r, "POST", "/user-registration-tokens") {
            return Some(one(201, other));
        }
        if r.method == "PUT" || (r.method == "POST" && r.path.contains(ADV_ID)) {
            return Some(one(200, other));
        }
        None
    })
}

#[test]
fn token_answers_about_another_token_fail() {
    // Asked for advtok, the service answers about othertok: never "created token othertok" or
    // "token othertok is as asked".
    type Row = (&'static str, bool, &'static str, Value);
    let rows: &[(&str, Row)] = &[
        (
            "MAS create",
            (
                "mas",
                false,
                "registration_token",
                json!({"token": "advtok"}),
            ),
        ),
        (
            "MAS present (update)",
            (
                "mas",
                true,
                "registration_token",
                json!({"token": "advtok", "max_usage": 5}),
            ),
        ),
        (
            "Dendrite create",
            (
                "dendrite",
                false,
                "registration_token",
                json!({"token": "advtok"}),
            ),
        ),
        (
            "Dendrite present",
            (
                "dendrite",
                true,
                "registration_token",
                json!({"token": "advtok"}),
            ),
        ),
        (
            "Dendrite info",
            (
                "dendrite",
                true,
                "registration_token_info",
                json!({"token": "advtok"}),
            ),
        ),
    ];
    table(rows, false, |(backend, exists, module, extra)| {
        let (hs, args) = if *backend == "mas" {
            let hs = mas_tokens_about_othertok(*exists);
            let a = mas_args(&hs.url, extra.clone());
            (hs, a)
        } else {
            let hs = dendrite_tokens_about_othertok(*exists);
            let a = with(
                &json!({"backend": "dendrite", "homeserver_url": hs.url,
                        "access_token": "dendrite-admin-tok-31", "retries": 0}),
                extra.clone(),
            );
            (hs, a)
        };
        let r = run(module, args)?;
        failure(
            &r,
            &["othertok", "advtok"],
            &[CLIENT_SECRET, "dendrite-admin-tok-31"],
        )?;
        if *backend == "dendrite" && *exists {
            // Only read: nothing can have changed. (Where the service wrote something, whether
            // a failure also says changed is the fix's choice; the message must say what exists.)
            ensure!(!r.changed(), "reported changed: {}", r.stdout);
        }
        ensure!(!hs.requests().is_empty(), "the service was never asked");
        Ok(())
    });
}

#[test]
fn a_mas_address_answer_must_be_the_address_and_user_asked_for() {
    // alice exists without addresses; adding alice@example.org answers with another address,
    // or with the right address on mallory's ULID.
    let rows: &[(&str, (&'static str, &'static str))] = &[
        ("another address", (ALICE, "mallory@evil.example")),
        ("another user", (MALLORY, ALICE_EMAIL)),
    ];
    table(rows, false, |(owner, address)| {
        let (owner, address) = (*owner, *address);
        let mas = mas_like(move |r| {
            if is(r, "GET", "/users/by-username/alice") {
                return Some(one(200, user(ALICE, "alice", false)));
            }
            if is(r, "POST", "/user-emails") {
                return Some(one(201, email(EMAIL_ID, owner, address)));
            }
            None
        });
        let r = run(
            "register_user",
            mas_args(
                &mas.url,
                json!({"username": "alice", "password": STRONG, "email": ALICE_EMAIL}),
            ),
        )?;
        let named = if owner == MALLORY { MALLORY } else { address };
        failure(&r, &[named], &[CLIENT_SECRET, STRONG])?;
        ensure!(
            sent(&mas, "POST", "/user-emails") == 1,
            "the address was not even asked for: {:?}",
            mas.requests()
        );
        Ok(())
    });
}

#[test]
fn a_mas_user_listing_naming_what_is_not_a_user_fails_user_info() {
    // user_info lists MAS's users in full: an item of another resource type, a user listed twice
    // (on two pages), or a look-up that answers another user's record is a failure, and no list
    // is returned.
    type Handler = fn(&Req) -> Option<Reply>;
    type Row = (Handler, Value, &'static [&'static str]);
    let rows: &[(&str, Row)] = &[
        (
            "a user-email in the users listing",
            (
                |r| {
                    is(r, "GET", "/users").then(|| {
                        page(
                            "users",
                            2,
                            vec![
                                user(ALICE, "alice", false),
                                email(EMAIL_ID, ALICE, ALICE_EMAIL),
                            ],
                            None,
                        )
                    })
                },
                json!({}),
                &["user-email"],
            ),
        ),
        (
            "the same user on two pages",
            (
                |r| {
                    (r.method == "GET" && r.path.starts_with(&format!("{API}/users?"))).then(|| {
                        if r.path.contains("page[after]") {
                            page("users", 2, vec![user(OTHER_ID, "alice", false)], None)
                        } else {
                            page("users", 2, vec![user(ALICE, "alice", false)], Some(ALICE))
                        }
                    })
                },
                json!({}),
                &["twice"],
            ),
        ),
        (
            "a look-up answering mallory's record",
            (
                |r| {
                    (r.method == "GET" && r.path.starts_with(&format!("{API}/users/by-username/")))
                        .then(|| one(200, user(MALLORY, "mallory", true)))
                },
                json!({"username": "alice"}),
                &["mallory"],
            ),
        ),
    ];
    table(rows, true, |(handler, extra, want)| {
        let mas = mas_like(*handler);
        let r = run("user_info", mas_args(&mas.url, extra.clone()))?;
        failure(&r, want, &[CLIENT_SECRET])?;
        ensure!(
            r.json.get("users").is_none(),
            "a list was returned: {}",
            r.stdout
        );
        Ok(())
    });
}
