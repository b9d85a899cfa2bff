//! user_info against a real Synapse (from PyPI): accounts in distinct states made through
//! Synapse's own admin API, every filter compared with what Synapse's API says of each account;
//! one account, a missing one, check mode, bad input; and Synapse-shaped hostile servers (a
//! listing naming a non-user-ID or an account twice, pages that loop or never end, a web page
//! answering 200, a record of another user): each is a failure, never a shorter list.
//! The FAKE MAS listing is in mas_backend::user_info.

use crate::common::hostile::{Hostile, Reply, ELEMENT_PAGE};
use crate::common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;

fn args(s: &Synapse, extra: Value) -> Value {
    merged(
        json!({"homeserver_url": s.url, "access_token": s.admin_token}),
        extra,
    )
}

fn admin(s: &Synapse, method: &str, path: &str, body: Value) -> (u16, Value) {
    let r = reqwest::blocking::Client::new()
        .request(method.parse().unwrap(), format!("{}{path}", s.url))
        .bearer_auth(&s.admin_token)
        .json(&body)
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

fn put_user(s: &Synapse, id: &str, body: Value) {
    let (st, v) = admin(
        s,
        "PUT",
        &format!("/_synapse/admin/v2/users/{}", urlenc(id)),
        body,
    );
    assert!(st == 200 || st == 201, "PUT {id}: {st} {v}");
}

/// Seven accounts named `<tag>-<role>` in distinct states, made through Synapse's admin API;
/// their user IDs.
fn seed(s: &Synapse, tag: &str) -> Vec<String> {
    let id = |role: &str| format!("@{tag}-{role}:localhost");
    let pw = "Seed-Password-42";
    put_user(
        s,
        &id("plain"),
        json!({"password": pw, "displayname": "Plain Person"}),
    );
    put_user(s, &id("admin"), json!({"password": pw, "admin": true}));
    put_user(s, &id("bot"), json!({"password": pw, "user_type": "bot"}));
    put_user(
        s,
        &id("support"),
        json!({"password": pw, "user_type": "support"}),
    );
    put_user(s, &id("locked"), json!({"password": pw}));
    put_user(s, &id("locked"), json!({"locked": true}));
    put_user(s, &id("gone"), json!({"password": pw}));
    put_user(s, &id("gonelocked"), json!({"password": pw}));
    put_user(s, &id("gonelocked"), json!({"locked": true}));
    for who in ["gone", "gonelocked"] {
        let (st, v) = admin(
            s,
            "POST",
            &format!("/_synapse/admin/v1/deactivate/{}", urlenc(&id(who))),
            json!({"erase": false}),
        );
        assert_eq!(st, 200, "deactivate {who}: {v}");
    }
    put_user(
        s,
        &id("mail"),
        json!({"password": pw, "threepids": [{"medium": "email", "address": format!("{tag}@example.org")}]}),
    );
    [
        "plain",
        "admin",
        "bot",
        "support",
        "locked",
        "gone",
        "gonelocked",
        "mail",
    ]
    .iter()
    .map(|r| id(r))
    .collect()
}

/// An account as Synapse's own `GET /v2/users/<id>` says, in the module's shape (addresses left
/// out: listings do not show them).
fn synapse_says(s: &Synapse, id: &str) -> Value {
    let u = s.user(id).expect("seeded account exists");
    let created = chrono::DateTime::from_timestamp(u["creation_ts"].as_i64().unwrap(), 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    json!({
        "user_id": id,
        "admin": u["admin"] == true,
        "user_type": u["user_type"],
        "deactivated": u["deactivated"] == true,
        "locked": u["locked"] == true,
        "displayname": u["displayname"],
        "created": created,
        "emails": null,
    })
}

fn listed(r: &Run) -> Vec<Value> {
    let users = r.json["users"].as_array().expect("users").clone();
    assert_eq!(r.json["count"], users.len(), "count is the number listed");
    users
}

#[test]
fn every_filter_returns_exactly_the_accounts_synapse_says() {
    let s = Synapse::shared();
    let tag = unique_user("uinfo");
    let ids = seed(s, &tag);
    let truth: Vec<Value> = ids.iter().map(|id| synapse_says(s, id)).collect();
    // The states the seeding was meant to make, as Synapse stores them.
    let count = |f: &dyn Fn(&Value) -> bool| truth.iter().filter(|u| f(u)).count();
    assert_eq!(count(&|u| u["admin"] == true), 1);
    assert_eq!(count(&|u| u["deactivated"] == true), 2);
    assert_eq!(count(&|u| u["locked"] == true), 2);
    assert_eq!(count(&|u| !u["user_type"].is_null()), 2);

    type Want = fn(&Value) -> bool;
    let rows: &[(Value, Want)] = &[
        (json!({}), |_| true),
        (json!({"admins": true}), |u| u["admin"] == true),
        (json!({"admins": false}), |u| u["admin"] == false),
        (json!({"deactivated": true}), |u| u["deactivated"] == true),
        (json!({"deactivated": false}), |u| u["deactivated"] == false),
        (json!({"locked": true}), |u| u["locked"] == true),
        (json!({"locked": false}), |u| u["locked"] == false),
        (json!({"deactivated": false, "locked": false}), |u| {
            u["deactivated"] == false && u["locked"] == false
        }),
        (json!({"user_type": "bot"}), |u| u["user_type"] == "bot"),
        (json!({"user_type": "regular"}), |u| {
            u["user_type"].is_null()
        }),
        (
            json!({"admins": false, "user_type": "regular", "deactivated": false}),
            |u| u["admin"] == false && u["user_type"].is_null() && u["deactivated"] == false,
        ),
    ];
    for (filter, want) in rows {
        // `name` keeps this test's accounts apart from those other tests add meanwhile.
        let name = tag.to_uppercase();
        let r = run_module(
            "user_info",
            args(s, merged(json!({"name": name}), filter.clone())),
        )
        .ok();
        assert!(!r.changed());
        let got = listed(&r);
        let expected: Vec<Value> = truth.iter().filter(|u| want(u)).cloned().collect();
        let got_set: BTreeSet<String> = got.iter().map(Value::to_string).collect();
        let want_set: BTreeSet<String> = expected.iter().map(Value::to_string).collect();
        assert_eq!(got_set, want_set, "filter {filter}");
        assert_eq!(
            got.len(),
            expected.len(),
            "filter {filter}: each account once"
        );
        assert!(!r.stdout.contains(&s.admin_token));
    }
}

#[test]
fn the_whole_listing_is_what_synapse_lists() {
    // Other tests add accounts while this runs: every account Synapse listed before is listed,
    // and nothing Synapse did not list after.
    let s = Synapse::shared();
    let tag = unique_user("uiall");
    seed(s, &tag);
    let synapse_lists = || -> BTreeSet<String> {
        let mut all = BTreeSet::new();
        let mut from = 0u64;
        loop {
            let (st, v) = s.admin_get(&format!(
                "/_synapse/admin/v2/users?deactivated=true&locked=true&guests=false&limit=500&from={from}"
            ));
            assert_eq!(st, 200, "{v}");
            for u in v["users"].as_array().unwrap() {
                all.insert(u["name"].as_str().unwrap().to_string());
            }
            match v["next_token"].as_str() {
                Some(t) => from = t.parse().unwrap(),
                None => return all,
            }
        }
    };
    let before = synapse_lists();
    let r = run_module("user_info", args(s, json!({}))).ok();
    let after = synapse_lists();
    let got: Vec<String> = listed(&r)
        .iter()
        .map(|u| u["user_id"].as_str().unwrap().to_string())
        .collect();
    let got_set: BTreeSet<String> = got.iter().cloned().collect();
    assert_eq!(got.len(), got_set.len(), "no account twice");
    assert!(
        before.is_subset(&got_set),
        "missing: {:?}",
        before.difference(&got_set).collect::<Vec<_>>()
    );
    assert!(
        got_set.is_subset(&after),
        "not on Synapse: {:?}",
        got_set.difference(&after).collect::<Vec<_>>()
    );
    assert!(got_set.contains(&format!("@{tag}-gonelocked:localhost")));
}

#[test]
fn one_account_a_localpart_a_missing_one_and_check_mode() {
    let s = Synapse::shared();
    let tag = unique_user("uione");
    seed(s, &tag);
    let id = format!("@{tag}-mail:localhost");
    let mut want = synapse_says(s, &id);
    want["emails"] = json!([format!("{tag}@example.org")]);

    let r = run_module("user_info", args(s, json!({"username": id}))).ok();
    assert_eq!(r.json["users"], json!([want.clone()]));
    assert_eq!(r.json["count"], 1);

    // A localpart: the server name comes from the admin's token.
    let r = run_module(
        "user_info",
        args(s, json!({"username": format!("{tag}-mail")})),
    )
    .ok();
    assert_eq!(r.json["users"], json!([want.clone()]));

    // Check mode reads the same (read-only).
    let r = run_module_with(
        "user_info",
        args(s, json!({"username": id})),
        &[("_ansible_check_mode", json!(true))],
    )
    .ok();
    assert!(!r.changed());
    assert_eq!(r.json["users"], json!([want]));

    // The filters apply to the one account too.
    let r = run_module(
        "user_info",
        args(s, json!({"username": id, "admins": true})),
    )
    .ok();
    assert_eq!(r.json["users"], json!([]));

    let ghost = format!("@{tag}-ghost:localhost");
    let r = run_module("user_info", args(s, json!({"username": ghost}))).ok();
    assert_eq!(r.json["users"], json!([]));
    assert_eq!(r.json["count"], 0);
    assert!(s.user(&ghost).is_none(), "reading never creates");
}

#[test]
fn bad_input_is_one_failure_naming_the_option() {
    let s = Synapse::shared();
    for (extra, names) in [
        (json!({"user_type": "robot"}), "user_type"),
        (json!({"name": ""}), "name"),
        (
            json!({"backend": "dendrite"}),
            "Dendrite has no API that lists",
        ),
        (json!({"backend": "dendrite_sqlite"}), "backend"),
        (json!({"username": "@x:bad server"}), "username"),
        (json!({"admins": "maybe"}), "admins"),
        (json!({"timeout": 0}), "timeout"),
        (
            json!({"client_id": "01J0000000000000000000ADMN"}),
            "client_id",
        ),
    ] {
        let r = run_module("user_info", args(s, extra.clone())).fails_with(names);
        assert!(r.json.get("users").is_none(), "{extra}: {}", r.stdout);
        assert!(!r.stdout.contains(&s.admin_token));
    }
    let r = run_module("user_info", json!({"homeserver_url": s.url})).fails_with("access_token");
    assert!(r.json.get("users").is_none());
}

/// A Synapse-shaped server whose listing pages are `page(from)`; every other path a Matrix 404.
fn synapse_like(page: impl Fn(u64) -> Reply + Send + Sync + 'static) -> Hostile {
    Hostile::start(move |r| {
        let (path, query) = r.path.split_once('?').unwrap_or((&r.path, ""));
        if path == "/_synapse/admin/v3/users" {
            let from = query
                .split('&')
                .find_map(|q| q.strip_prefix("from="))
                .map_or(0, |f| f.parse().unwrap_or(0));
            return page(from);
        }
        if path.ends_with("/account/whoami") {
            return Reply::json(200, json!({"user_id": "@admin:localhost"}));
        }
        if let Some(id) = path.strip_prefix("/_synapse/admin/v2/users/") {
            let _ = id;
            return Reply::json(200, entry("@mallory:localhost"));
        }
        Reply::json(
            404,
            json!({"errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"}),
        )
    })
}

fn entry(name: &str) -> Value {
    json!({"name": name, "user_type": null, "is_guest": false, "admin": false, "deactivated": false,
           "shadow_banned": false, "displayname": null, "avatar_url": null,
           "creation_ts": 1796317760000u64, "erased": false, "last_seen_ts": null, "locked": false})
}

fn users_page(names: &[String], total: u64, next: Option<&str>) -> Reply {
    let users: Vec<Value> = names.iter().map(|n| entry(n)).collect();
    let mut v = json!({"users": users, "total": total});
    if let Some(n) = next {
        v["next_token"] = json!(n);
    }
    Reply::json(200, v)
}

#[test]
fn hostile_listings_fail_and_never_give_a_partial_list() {
    type Page = fn(u64) -> Reply;
    let rows: &[(&str, Page, &[&str])] = &[
        (
            "a name that is not a user ID",
            |_| users_page(&["@ok:localhost".into(), "not-a-user".into()], 2, None),
            &["not a user ID"],
        ),
        (
            "an account twice, on two pages",
            |from| {
                if from == 0 {
                    users_page(&["@twice:localhost".into()], 2, Some("1"))
                } else {
                    users_page(&["@twice:localhost".into()], 2, None)
                }
            },
            &["twice"],
        ),
        (
            "the same next_token again",
            |from| users_page(&[format!("@u{from}:localhost")], 3000, Some("1000")),
            &["cursor"],
        ),
        (
            "a next_token that goes back",
            |from| {
                let next = if from == 0 { "1000" } else { "0" };
                users_page(&[format!("@u{from}:localhost")], 3000, Some(next))
            },
            &["forward"],
        ),
        (
            "next_token for ever",
            |from| {
                users_page(
                    &[format!("@u{from}:localhost")],
                    60,
                    Some(&(from + 1).to_string()),
                )
            },
            &["pages"],
        ),
        (
            "a web page answering 200",
            |_| Reply::html(200, ELEMENT_PAGE),
            &[],
        ),
        ("an empty 200", |_| Reply::empty(200), &[]),
        (
            "a JSON object without users",
            |_| Reply::json(200, json!({"total": 0})),
            &["users"],
        ),
        (
            "an entry without name",
            |_| Reply::json(200, json!({"users": [{"admin": true}], "total": 1})),
            &["without a user ID"],
        ),
    ];
    let token = random_secret("hostile-tok");
    for (what, page, words) in rows {
        let server = synapse_like(*page);
        let r = run_module(
            "user_info",
            json!({"homeserver_url": server.url, "access_token": token, "timeout": 5, "retries": 0}),
        );
        assert!(r.failed(), "{what}: must fail: {}", r.stdout);
        assert_ne!(r.code, 0, "{what}");
        assert!(
            r.json.get("users").is_none(),
            "{what}: no list on failure: {}",
            r.stdout
        );
        assert!(r.json.get("count").is_none(), "{what}: {}", r.stdout);
        for w in *words {
            assert!(
                r.msg().contains(w),
                "{what}: message lacks {w:?}: {}",
                r.msg()
            );
        }
        assert!(!r.stdout.contains(&token), "{what}: token leaked");
        assert!(
            !server.requests().is_empty(),
            "{what}: the server was asked"
        );
        assert!(
            server.requests().len() <= 5,
            "{what}: {} requests",
            server.requests().len()
        );
    }
}

#[test]
fn a_redirected_listing_is_reported_never_followed() {
    let elsewhere = Hostile::always(Reply::json(200, json!({"users": [], "total": 0})));
    let target = format!("{}/_synapse/admin/v3/users", elsewhere.url);
    let server = synapse_like(move |_| Reply::Redirect(302, target.clone()));
    let token = random_secret("hostile-tok");
    let r = run_module(
        "user_info",
        json!({"homeserver_url": server.url, "access_token": token, "retries": 0}),
    );
    assert!(r.failed(), "{}", r.stdout);
    assert!(r.json.get("users").is_none(), "{}", r.stdout);
    assert!(r.msg().contains("redirect"), "{}", r.msg());
    assert!(elsewhere.requests().is_empty(), "the redirect was followed");
    assert!(!r.stdout.contains(&token));
}

#[test]
fn check_mode_with_a_login_reads_nothing_and_says_so() {
    // Check mode never logs in (a login leaves a device); with admin_username the accounts
    // cannot be read, which the module says instead of returning an empty list.
    let hs =
        crate::common::hostile::fake_homeserver("localhost", false, |u| format!("@{u}:localhost"));
    let r = run_module_with(
        "user_info",
        json!({"homeserver_url": hs.url, "admin_username": "root", "admin_password": "adm-s3cret-pw"}),
        &[("_ansible_check_mode", json!(true))],
    );
    assert!(!r.failed() && !r.changed(), "{}", r.stdout);
    assert!(
        r.msg().contains("check mode") && r.msg().contains("access_token"),
        "{}",
        r.msg()
    );
    assert!(
        r.json.get("users").is_none() && r.json.get("count").is_none(),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("adm-s3cret-pw"));
    assert!(
        hs.requests_to("POST", "/_matrix/client/v3/login")
            .is_empty(),
        "no login"
    );
}

#[test]
fn a_record_of_another_user_fails() {
    let server = synapse_like(|_| users_page(&[], 0, None));
    let token = random_secret("hostile-tok");
    let r = run_module(
        "user_info",
        json!({"homeserver_url": server.url, "access_token": token, "username": "@alice:localhost"}),
    );
    assert!(r.failed(), "{}", r.stdout);
    assert!(r.json.get("users").is_none(), "{}", r.stdout);
    assert!(
        r.msg().contains("mallory") || r.msg().contains("another"),
        "{}",
        r.msg()
    );
}

/// tuwunel, through the FAKE tuwunel (tests/servers/fake_tuwunel.py, which follows tuwunel
/// v1.9.0's source; no registry ships tuwunel): locked accounts are listed (tuwunel leaves them
/// out unless asked), its `creation_ts` of 0 is no creation time, and the result matches the
/// FAKE's own records.
#[test]
fn fake_tuwunel_lists_locked_accounts_and_no_creation_time() {
    use crate::common::fakes::{FakeServer, Flavor};
    let admin_pw = random_secret("admin-pw");
    let pw = "Seed-Password-42";
    let seeded = json!({"users": [
        {"username": "admin", "password": admin_pw, "admin": true},
        {"username": "tu-plain", "password": pw, "displayname": "Plain"},
        {"username": "tu-boss", "password": pw, "admin": true},
        {"username": "tu-frozen", "password": pw, "locked": true},
        {"username": "tu-gone", "password": pw, "deactivated": true},
    ]});
    let s = FakeServer::start(Flavor::Tuwunel, &[], Some(&seeded));
    let login = s.login("admin", &admin_pw);
    assert_eq!(login.status, 200, "{:?}", login.body);
    let token = login.body["access_token"].as_str().unwrap().to_string();
    let says = |user: &str| -> Value {
        let a = s.call(
            "GET",
            &format!("/_synapse/admin/v2/users/@{user}:localhost"),
            Some(&token),
            None,
        );
        assert_eq!(a.status, 200, "{:?}", a.body);
        let u = a.body;
        json!({"user_id": format!("@{user}:localhost"), "admin": u["admin"] == true,
               "user_type": null, "deactivated": u["deactivated"] == true,
               "locked": u["locked"] == true, "displayname": u["displayname"],
               "created": null, "emails": null})
    };
    let mine = ["tu-plain", "tu-boss", "tu-frozen", "tu-gone"];
    let truth: Vec<Value> = mine.iter().map(|u| says(u)).collect();
    let base = json!({"backend": "tuwunel", "homeserver_url": s.url, "access_token": token});
    type Want = fn(&Value) -> bool;
    let rows: &[(Value, Want)] = &[
        (json!({}), |_| true),
        (json!({"locked": true}), |u| u["locked"] == true),
        (json!({"admins": true}), |u| u["admin"] == true),
        (json!({"deactivated": true}), |u| u["deactivated"] == true),
        (json!({"deactivated": false}), |u| u["deactivated"] == false),
    ];
    for (filter, want) in rows {
        let a = merged(base.clone(), merged(json!({"name": "tu-"}), filter.clone()));
        let r = run_module("user_info", a).ok();
        let got: BTreeSet<String> = listed(&r).iter().map(Value::to_string).collect();
        let expected: BTreeSet<String> = truth
            .iter()
            .filter(|u| want(u))
            .map(Value::to_string)
            .collect();
        assert_eq!(got, expected, "filter {filter}");
        assert!(!r.stdout.contains(&token));
    }
    // Everything: the admin and tuwunel's own server user too.
    let r = run_module("user_info", base.clone()).ok();
    let ids: BTreeSet<String> = listed(&r)
        .iter()
        .map(|u| u["user_id"].as_str().unwrap().to_string())
        .collect();
    for u in [
        "admin",
        "conduit",
        "tu-plain",
        "tu-boss",
        "tu-frozen",
        "tu-gone",
    ] {
        assert!(
            ids.contains(&format!("@{u}:localhost")),
            "{u} missing: {ids:?}"
        );
    }
    assert_eq!(ids.len(), 6, "{ids:?}");
    let r = run_module("user_info", merged(base, json!({"username": "tu-frozen"}))).ok();
    assert_eq!(r.json["users"], json!([says("tu-frozen")]), "{}", r.stdout);
}
