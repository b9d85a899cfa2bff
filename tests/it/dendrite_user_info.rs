//! user_info on a real Dendrite v0.13.8 (tests/servers/dendrite.sh, from the Go module proxy) on
//! SQLite and on PostgreSQL (Debian's): Dendrite has no API that lists or reads accounts, so with
//! `database` the module reads its user API database (src/api/dendrite_records.rs). Accounts are
//! made and changed through Dendrite's own APIs (shared-secret registration, its profile API)
//! and register_user's deactivation; every answer is compared with what Dendrite's tables hold.

use crate::common::dendrite::{on_both_databases, Dendrite};
use crate::common::postgres::lit;
use crate::common::*;
use crate::dendrite_lifecycle::{database_args, new_user};
use serde_json::{json, Value};

on_both_databases!(
    accounts_are_listed_as_dendrite_keeps_them,
    one_account_is_read_by_username,
    without_database_it_is_refused_naming_database,
);

/// user_info, backend dendrite with its database, no admin credentials, plus `extra`.
fn info(d: &Dendrite, extra: Value) -> Run {
    run_module(
        "user_info",
        merged(
            merged(
                json!({"backend": "dendrite", "homeserver_url": d.url}),
                database_args(d),
            ),
            extra,
        ),
    )
}

/// What Dendrite's tables hold of an account, in user_info's shape (None: no such account).
pub(crate) fn stored(d: &Dendrite, localpart: &str) -> Option<Value> {
    let row = d.sql(&format!(
        "SELECT account_type, is_deactivated, created_ts FROM userapi_accounts \
         WHERE localpart = {} AND server_name = 'localhost';",
        lit(localpart)
    ));
    let line = row.lines().next()?;
    let f: Vec<&str> = line.split('|').map(str::trim).collect();
    let account_type: i64 = f[0].parse().unwrap();
    // psql prints t/f, sqlite3 1/0.
    let deactivated = matches!(f[1], "t" | "1");
    let created = chrono::DateTime::from_timestamp_millis(f[2].parse().unwrap())
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let name = d.sql(&format!(
        "SELECT display_name FROM userapi_profiles WHERE localpart = {} AND server_name = 'localhost';",
        lit(localpart)
    ));
    let name = name.lines().next().map(str::trim).filter(|n| !n.is_empty());
    Some(json!({
        "user_id": d.user_id(localpart),
        "admin": account_type == 3,
        "user_type": null,
        "deactivated": deactivated,
        "locked": null,
        "displayname": name,
        "created": created,
        "emails": null,
    }))
}

/// Four accounts named after one tag: a person with a display name set through Dendrite's
/// profile API, an admin, one deactivated by register_user, one deactivated and admin.
fn seed(d: &Dendrite) -> (String, [String; 4]) {
    let tag = unique_user("info");
    let plain = format!("{tag}-plain");
    let (s, v) = d.register(&plain, &random_secret("pw"), false);
    assert_eq!(s, 200, "{v}");
    let t = v["access_token"].as_str().unwrap();
    let (s, v) = d.request(
        "PUT",
        &format!(
            "/_matrix/client/v3/profile/{}/displayname",
            urlenc(&d.user_id(&plain))
        ),
        Some(t),
        Some(json!({"displayname": "Plain Person"})),
    );
    assert_eq!(s, 200, "{v}");
    let admin = format!("{tag}-admin");
    let (s, v) = d.register(&admin, &random_secret("pw"), true);
    assert_eq!(s, 200, "{v}");
    let (gone, _) = new_user(d, &format!("{tag}-gone"));
    let (gone_admin, _) = new_user(d, &format!("{tag}-goneadmin"));
    d.set_account_type(&gone_admin, 3);
    for u in [&gone, &gone_admin] {
        let r = crate::dendrite_lifecycle::run(d, json!({"username": u, "state": "deactivated"}));
        assert!(r.ok().changed());
    }
    (tag, [plain, admin, gone, gone_admin])
}

fn users(r: &Run) -> Vec<Value> {
    r.json["users"].as_array().unwrap().clone()
}

fn accounts_are_listed_as_dendrite_keeps_them(d: &Dendrite) {
    let (tag, seeded) = seed(d);
    let [plain, admin, gone, gone_admin] = &seeded;
    let want = |names: &[&String]| -> Vec<Value> {
        let mut v: Vec<Value> = names.iter().map(|n| stored(d, n).unwrap()).collect();
        v.sort_by_key(|u| u["user_id"].as_str().unwrap().to_string());
        v
    };
    assert_eq!(stored(d, plain).unwrap()["displayname"], "Plain Person");
    assert_eq!(stored(d, gone).unwrap()["deactivated"], true);

    // Every account of the tag, as Dendrite's tables hold it, in user ID order.
    let r = info(d, json!({"name": tag})).ok();
    assert!(!r.changed());
    assert_eq!(
        users(&r),
        want(&[admin, gone, gone_admin, plain]),
        "{}",
        r.stdout
    );
    assert_eq!(r.json["count"], 4);
    // Creation times are recent (Dendrite wrote them in milliseconds).
    let created = users(&r)[0]["created"].as_str().unwrap().to_string();
    let created = chrono::DateTime::parse_from_rfc3339(&created).unwrap();
    let age = chrono::Utc::now().signed_duration_since(created);
    assert!(age.num_hours() < 24 && age.num_seconds() > -60, "{created}");

    let r = info(d, json!({"name": tag, "admins": true})).ok();
    assert_eq!(users(&r), want(&[admin, gone_admin]), "{}", r.stdout);
    let r = info(d, json!({"name": tag, "admins": false})).ok();
    assert_eq!(users(&r), want(&[gone, plain]), "{}", r.stdout);
    let r = info(d, json!({"name": tag, "deactivated": true})).ok();
    assert_eq!(users(&r), want(&[gone, gone_admin]), "{}", r.stdout);
    let r = info(
        d,
        json!({"name": tag, "deactivated": false, "admins": true}),
    )
    .ok();
    assert_eq!(users(&r), want(&[admin]), "{}", r.stdout);
    // Dendrite has no locks: every account counts as unlocked.
    let r = info(d, json!({"name": tag, "locked": true})).ok();
    assert_eq!(users(&r), Vec::<Value>::new());

    // The whole listing holds every non-guest account of the table, each once.
    let r = info(d, json!({})).ok();
    let listed: Vec<String> = users(&r)
        .iter()
        .map(|u| u["user_id"].as_str().unwrap().to_string())
        .collect();
    for n in &seeded {
        assert_eq!(listed.iter().filter(|u| **u == d.user_id(n)).count(), 1);
    }
    assert!(listed.contains(&d.user_id(&d.admin_user)));
    let mut sorted = listed.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), listed.len(), "each once");
}

fn one_account_is_read_by_username(d: &Dendrite) {
    let (tag, [plain, admin, gone, _]) = seed(d);
    let r = info(d, json!({"username": admin, "server_name": "localhost"})).ok();
    assert_eq!(users(&r), vec![stored(d, &admin).unwrap()], "{}", r.stdout);
    let r = info(d, json!({"username": d.user_id(&plain)})).ok();
    assert_eq!(users(&r), vec![stored(d, &plain).unwrap()], "{}", r.stdout);
    // A localpart alone: the server's name from the admin's user ID (whoami), where admin
    // credentials are given; without them and without server_name it is refused.
    let r = info(d, json!({"username": gone, "access_token": d.admin_token})).ok();
    assert_eq!(users(&r), vec![stored(d, &gone).unwrap()], "{}", r.stdout);
    info(d, json!({"username": gone})).fails_with("server_name");
    // The filters apply to one account too.
    let r = info(
        d,
        json!({"username": d.user_id(&gone), "deactivated": false}),
    )
    .ok();
    assert_eq!(users(&r), Vec::<Value>::new());
    let ghost = format!("{tag}-ghost");
    let r = info(d, json!({"username": d.user_id(&ghost)})).ok();
    assert_eq!((users(&r), &r.json["count"]), (vec![], &json!(0)));
    assert_eq!(stored(d, &ghost), None, "reading never creates");
    // Another server name in the same database holds nothing here.
    let r = info(
        d,
        json!({"username": format!("@{admin}:elsewhere.example")}),
    )
    .ok();
    assert_eq!(users(&r), Vec::<Value>::new());
}

fn without_database_it_is_refused_naming_database(d: &Dendrite) {
    let r = run_module(
        "user_info",
        json!({"backend": "dendrite", "homeserver_url": d.url, "access_token": d.admin_token}),
    )
    .fails_with("database is not given");
    assert!(
        r.stdout.contains("Dendrite has no API that lists"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains(&d.admin_token));
    // Its password alone names database.
    run_module(
        "user_info",
        json!({"backend": "dendrite", "homeserver_url": d.url, "database_password": "x"}),
    )
    .fails_with("database_password is the password of database");
    // database is refused where the API lists accounts, before any request.
    let r = run_module(
        "user_info",
        merged(
            json!({"backend": "synapse", "homeserver_url": d.url, "access_token": d.admin_token}),
            database_args(d),
        ),
    )
    .fails_with("not synapse, whose API lists them");
    assert!(r.json.get("users").is_none());
}
