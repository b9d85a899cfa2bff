//! register_user's account lifecycle on a real Dendrite v0.13.8 (tests/servers/dendrite.sh, from
//! the Go module proxy) on SQLite and on PostgreSQL (`sqlite::NAME`, `postgres::NAME`): backend
//! dendrite with `database` (Dendrite has no API to deactivate; docs/lifecycle-dendrite.md). Every
//! result is read back from Dendrite's database and checked through its client API: a
//! deactivated account's password login is refused and a token taken before is refused; a
//! reactivated one logs in with its new password.

use crate::common::dendrite::{on_both_databases, Dendrite};
use crate::common::postgres::lit;
use crate::common::{merged, random_secret, run_module, run_module_with, unique_user, Run};
use serde_json::{json, Value};

on_both_databases!(
    deactivation_ends_login_and_existing_tokens,
    with_admin_credentials_it_leaves_its_rooms_first,
    a_missing_account_stays_missing,
    reactivation_only_when_asked_and_with_the_new_password,
    logout_devices_ends_sessions_only_when_asked,
    locks_and_erasure_are_refused_before_any_write,
    without_database_deactivation_is_refused,
);

const CHECK: (&str, Value) = ("_ansible_check_mode", Value::Bool(true));

/// `database` (and its password) for this server's user API database.
pub(crate) fn database_args(d: &Dendrite) -> Value {
    match &d.database {
        Some(db) => json!({"database": format!("{}?sslmode=disable", db.url),
                           "database_password_file": db.password_file}),
        None => json!({"database": d.dir.path().join("dendrite_userapi.db")}),
    }
}

/// register_user, backend dendrite with its database, on `d`, plus `extra`.
pub(crate) fn args(d: &Dendrite, extra: Value) -> Value {
    merged(
        merged(
            json!({"backend": "dendrite", "homeserver_url": d.url,
                   "shared_secret": d.shared_secret, "server_name": "localhost"}),
            database_args(d),
        ),
        extra,
    )
}

pub(crate) fn run(d: &Dendrite, extra: Value) -> Run {
    run_module("register_user", args(d, extra))
}

fn run_check(d: &Dendrite, extra: Value) -> Run {
    run_module_with("register_user", args(d, extra), &[CHECK])
}

/// A new account with a password, made by hand (its registration device logged out).
pub(crate) fn new_user(d: &Dendrite, prefix: &str) -> (String, String) {
    let user = unique_user(prefix);
    let password = random_secret("pw");
    let (s, v) = d.register(&user, &password, false);
    assert_eq!(s, 200, "{v}");
    let t = v["access_token"].as_str().unwrap();
    let (s, _) = d.request(
        "POST",
        "/_matrix/client/v3/logout",
        Some(t),
        Some(json!({})),
    );
    assert_eq!(s, 200);
    (user, password)
}

/// `is_deactivated` as stored; None: no such account.
pub(crate) fn deactivated(d: &Dendrite, localpart: &str) -> Option<bool> {
    let v = d.sql(&format!(
        "SELECT is_deactivated FROM userapi_accounts WHERE localpart = {} AND server_name = 'localhost';",
        lit(localpart)
    ));
    match v.trim() {
        "" => None,
        "1" | "t" => Some(true),
        "0" | "f" => Some(false),
        other => panic!("is_deactivated of {localpart}: {other:?}"),
    }
}

/// `whoami` with `token`: its status.
fn whoami(d: &Dendrite, token: &str) -> u16 {
    d.request(
        "GET",
        "/_matrix/client/v3/account/whoami",
        Some(token),
        None,
    )
    .0
}

fn assert_login_refused(d: &Dendrite, user: &str, password: &str) {
    let (s, v) = d.login(user, password);
    assert_eq!(
        (s, &v["errcode"]),
        (403, &json!("M_FORBIDDEN")),
        "{user}: {v}"
    );
}

fn deactivation_ends_login_and_existing_tokens(d: &Dendrite) {
    let (user, pw) = new_user(d, "deact");
    let token = d.token(&user, &pw);
    let second = d.token(&user, &pw);
    let id = d.user_id(&user);

    // Check mode predicts it and writes nothing.
    let r = run_check(d, json!({"username": user, "state": "deactivated"})).ok();
    assert!(r.changed() && r.json["deactivated"] == true, "{}", r.stdout);
    assert_eq!(deactivated(d, &user), Some(false));
    assert_eq!(d.device_ids(&user).len(), 2);
    assert_eq!(whoami(d, &token), 200);

    // No admin credentials needed: the database does it.
    let r = run(
        d,
        json!({"username": user, "state": "deactivated", "_ansible_diff": true}),
    )
    .ok();
    assert!(r.changed(), "{}", r.stdout);
    assert_eq!(r.json["deactivated"], true);
    assert_eq!(r.json["user_id"], id);
    assert_eq!(r.msg(), format!("{id} deactivated"));
    assert_eq!(
        r.json["diff"]["before"]["deactivated"], false,
        "{}",
        r.stdout
    );
    assert_eq!(r.json["diff"]["after"]["deactivated"], true);
    assert_eq!(deactivated(d, &user), Some(true));
    assert!(d.device_ids(&user).is_empty(), "its devices are gone");
    assert_login_refused(d, &user, &pw);
    assert_eq!(whoami(d, &token), 401, "a token taken before is refused");
    assert_eq!(whoami(d, &second), 401);

    // Idempotent, in check mode too.
    let r = run(d, json!({"username": user, "state": "deactivated"})).ok();
    assert!(
        !r.changed() && r.json["deactivated"] == false,
        "{}",
        r.stdout
    );
    let r = run_check(d, json!({"username": id, "state": "deactivated"})).ok();
    assert!(!r.changed(), "{}", r.stdout);
    assert_eq!(deactivated(d, &user), Some(true));

    // Many in one task: the active one is deactivated, the deactivated and missing ones are ok.
    let (other, other_pw) = new_user(d, "deact-bulk");
    let other_token = d.token(&other, &other_pw);
    let nobody = unique_user("deact-nobody");
    let users = json!([{"username": user, "state": "deactivated"},
                       {"username": other, "state": "deactivated"},
                       {"username": nobody, "state": "deactivated"}]);
    let r = run(d, json!({"users": users})).ok();
    assert!(r.changed(), "{}", r.stdout);
    assert_eq!(r.json["deactivated"], 1, "{}", r.stdout);
    assert_eq!(r.json["failed_count"], 0);
    assert_eq!(deactivated(d, &other), Some(true));
    assert_eq!(deactivated(d, &nobody), None, "nothing was created");
    assert_login_refused(d, &other, &other_pw);
    assert_eq!(whoami(d, &other_token), 401);
}

/// The members of `room`, as the harness admin (a member) sees them.
fn joined(d: &Dendrite, room: &str) -> Vec<String> {
    let (s, v) = d.admin(
        "GET",
        &format!("/_matrix/client/v3/rooms/{room}/joined_members"),
        None,
    );
    assert_eq!(s, 200, "{v}");
    v["joined"].as_object().unwrap().keys().cloned().collect()
}

fn with_admin_credentials_it_leaves_its_rooms_first(d: &Dendrite) {
    let (s, v) = d.admin(
        "POST",
        "/_matrix/client/v3/createRoom",
        Some(json!({"preset": "public_chat"})),
    );
    assert_eq!(s, 200, "{v}");
    let room = v["room_id"].as_str().unwrap().to_string();
    let join = |user: &str, pw: &str| {
        let token = d.token(user, pw);
        let (s, v) = d.request(
            "POST",
            &format!("/_matrix/client/v3/join/{room}"),
            Some(&token),
            Some(json!({})),
        );
        assert_eq!(s, 200, "{v}");
        token
    };
    let (member, pw) = new_user(d, "rooms");
    let token = join(&member, &pw);
    let (lurker, lurker_pw) = new_user(d, "rooms-db-only");
    join(&lurker, &lurker_pw);
    let (loner, _) = new_user(d, "no-rooms");

    let r = run(
        d,
        json!({"username": member, "state": "deactivated", "access_token": d.admin_token}),
    )
    .ok();
    assert!(r.changed(), "{}", r.stdout);
    assert!(!joined(d, &room).contains(&d.user_id(&member)), "it left");
    assert_eq!(deactivated(d, &member), Some(true));
    assert_eq!(whoami(d, &token), 401);
    // An account in no room: Dendrite answers that none was affected.
    let r = run(
        d,
        json!({"username": loner, "state": "deactivated", "access_token": d.admin_token}),
    )
    .ok();
    assert!(r.changed(), "{}", r.stdout);
    assert_eq!(deactivated(d, &loner), Some(true));
    // Without admin credentials the database alone: deactivated, still a member.
    run(d, json!({"username": lurker, "state": "deactivated"})).ok();
    assert_eq!(deactivated(d, &lurker), Some(true));
    assert!(joined(d, &room).contains(&d.user_id(&lurker)));
}

fn a_missing_account_stays_missing(d: &Dendrite) {
    let nobody = unique_user("nobody");
    for check in [true, false] {
        let a = json!({"username": nobody, "state": "deactivated"});
        let r = if check { run_check(d, a) } else { run(d, a) }.ok();
        assert!(!r.changed(), "{}", r.stdout);
        assert!(r.msg().contains("does not exist"), "{}", r.msg());
        assert_eq!(deactivated(d, &nobody), None, "nothing was created");
    }
    // The same localpart on another server name is another account: not touched.
    let (user, pw) = new_user(d, "elsewhere");
    let mut a = args(d, json!({"username": user, "state": "deactivated"}));
    a["server_name"] = json!("example.org");
    let r = run_module("register_user", a).ok();
    assert!(!r.changed(), "{}", r.stdout);
    assert_eq!(deactivated(d, &user), Some(false));
    assert!(d.can_login(&user, &pw));
}

fn reactivation_only_when_asked_and_with_the_new_password(d: &Dendrite) {
    let (user, pw) = new_user(d, "react");
    run(d, json!({"username": user, "state": "deactivated"})).ok();
    assert_eq!(deactivated(d, &user), Some(true));
    let new_pw = random_secret("new-pw");
    let present = json!({"username": user, "password": new_pw, "access_token": d.admin_token});

    // state=present does not bring it back unless asked.
    run(d, present.clone()).fails_with("reactivate: true");
    run_check(d, present.clone()).fails_with("reactivate: true");
    assert_eq!(deactivated(d, &user), Some(true));

    // The password is set through the admin API: without admin credentials, nothing is done.
    run(
        d,
        json!({"username": user, "password": new_pw, "reactivate": true}),
    )
    .fails_with("access_token");
    assert_eq!(deactivated(d, &user), Some(true));
    assert_login_refused(d, &user, &new_pw);
    assert_login_refused(d, &user, &pw);

    let reactivate = merged(present, json!({"reactivate": true}));
    let r = run_check(d, reactivate.clone()).ok();
    assert!(r.changed() && r.json["reactivated"] == true, "{}", r.stdout);
    assert_eq!(
        deactivated(d, &user),
        Some(true),
        "check mode writes nothing"
    );

    let r = run(d, reactivate.clone()).ok();
    assert!(r.changed(), "{}", r.stdout);
    assert_eq!(r.json["reactivated"], true);
    assert_eq!(r.json["password_updated"], true);
    assert_eq!(deactivated(d, &user), Some(false));
    assert!(
        d.can_login(&user, &new_pw),
        "it logs in with the new password"
    );
    assert_login_refused(d, &user, &pw);

    // Active now: nothing more to do.
    let r = run(d, reactivate).ok();
    assert!(!r.changed(), "{}", r.stdout);
    assert!(d.can_login(&user, &new_pw));

    // Without a password (create=false), and without admin credentials: it comes back with the
    // password it had (Dendrite keeps the hash).
    run(d, json!({"username": user, "state": "deactivated"})).ok();
    assert_login_refused(d, &user, &new_pw);
    let r = run(
        d,
        json!({"username": user, "create": false, "reactivate": true}),
    )
    .ok();
    assert!(r.changed() && r.json["reactivated"] == true, "{}", r.stdout);
    assert_eq!(r.json["password_updated"], false, "{}", r.stdout);
    assert_eq!(deactivated(d, &user), Some(false));
    assert!(d.can_login(&user, &new_pw));
}

fn logout_devices_ends_sessions_only_when_asked(d: &Dendrite) {
    let (user, pw) = new_user(d, "logout");
    let token = d.token(&user, &pw);
    let always = |pw: &str, logout: bool| {
        json!({"username": user, "password": pw, "update_password": "always",
               "logout_devices": logout, "access_token": d.admin_token})
    };
    let pw2 = random_secret("pw2");
    let r = run(d, always(&pw2, false)).ok();
    assert!(
        r.changed() && r.json["password_updated"] == true,
        "{}",
        r.stdout
    );
    assert_eq!(
        whoami(d, &token),
        200,
        "without logout_devices the session goes on"
    );
    assert!(d.can_login(&user, &pw2));
    assert_login_refused(d, &user, &pw);

    let pw3 = random_secret("pw3");
    let r = run(d, always(&pw3, true)).ok();
    assert!(r.changed(), "{}", r.stdout);
    assert_eq!(whoami(d, &token), 401, "logout_devices ends it");
    assert!(d.device_ids(&user).is_empty());
    assert!(d.can_login(&user, &pw3));
}

fn locks_and_erasure_are_refused_before_any_write(d: &Dendrite) {
    // A new account asked to be locked: refused, and not created.
    let fresh = unique_user("lock-new");
    let r = run(
        d,
        json!({"username": fresh, "password": random_secret("pw"), "locked": true,
               "access_token": d.admin_token}),
    )
    .fails_with("locked");
    assert!(r.msg().contains("Dendrite"), "{}", r.msg());
    assert_eq!(deactivated(d, &fresh), None, "nothing was created");

    // An existing one asked to be deactivated and locked: refused before the deactivation.
    let (user, pw) = new_user(d, "lock-old");
    let token = d.token(&user, &pw);
    for locked in [true, false] {
        run(
            d,
            json!({"username": user, "state": "deactivated", "locked": locked,
                   "access_token": d.admin_token}),
        )
        .fails_with("locked");
    }
    // Erasure: Dendrite has none.
    for extra in [json!({}), json!({"access_token": d.admin_token})] {
        run(
            d,
            merged(
                json!({"username": user, "state": "deactivated", "erase": true}),
                extra,
            ),
        )
        .fails_with("Dendrite has no erasure");
    }
    assert_eq!(deactivated(d, &user), Some(false));
    assert_eq!(whoami(d, &token), 200);
    assert!(d.can_login(&user, &pw));
}

fn without_database_deactivation_is_refused(d: &Dendrite) {
    let (user, pw) = new_user(d, "nodb");
    let token = d.token(&user, &pw);
    let mut a = args(
        d,
        json!({"username": user, "state": "deactivated", "access_token": d.admin_token}),
    );
    a.as_object_mut().unwrap().remove("database");
    a.as_object_mut().unwrap().remove("database_password_file");
    run_module("register_user", a).fails_with("state=deactivated");
    assert_eq!(deactivated(d, &user), Some(false));
    assert_eq!(whoami(d, &token), 200);
}

/// `database` is Dendrite's only: with another backend it is refused, naming it.
#[test]
fn database_is_for_backend_dendrite_only() {
    for (o, v) in [
        ("database", json!("/var/lib/synapse/homeserver.db")),
        ("database_password", json!("secret-db-pw")),
    ] {
        let r = run_module(
            "register_user",
            json!({"backend": "synapse", "homeserver_url": "http://127.0.0.1:9",
                   "shared_secret": "s", "username": "alice", "password": "password-1", o: v}),
        )
        .fails_with(&format!("{o} is for backend dendrite only"));
        assert!(!r.stdout.contains("secret-db-pw"), "{}", r.stdout);
    }
    // A password for a SQLite file is a mistake, said before anything is sent.
    run_module(
        "register_user",
        json!({"backend": "dendrite", "homeserver_url": "http://127.0.0.1:9",
               "shared_secret": "s", "username": "alice", "password": "password-1",
               "database": "/var/lib/dendrite/dendrite_userapi.db",
               "database_password": "secret-db-pw"}),
    )
    .fails_with("no password");
}
