//! What a real Dendrite v0.13.8 (tests/servers/dendrite.sh, from the Go module proxy) offers for
//! the account lifecycle of issue 19, on SQLite and on PostgreSQL (`sqlite::NAME`,
//! `postgres::NAME`), without restarting it: deactivation through the database
//! (`userapi_accounts.is_deactivated` and `userapi_devices`) or through its own client API
//! (`/account/deactivate` after an admin password reset), reactivation through the database,
//! password resets, and the HTTP APIs it does not have (locks, listing). State is read back from
//! the database. docs/lifecycle-dendrite.md has the facts and the recommendation.

use crate::common::dendrite::{on_both_databases, Dendrite};
use crate::common::postgres::lit;
use crate::common::{random_secret, unique_user};
use serde_json::{json, Value};

on_both_databases!(
    is_deactivated_alone_refuses_login_but_not_old_tokens,
    is_deactivated_and_deleted_devices_end_the_account_at_once,
    clearing_is_deactivated_restores_login_with_the_kept_password,
    password_reset_works_on_a_deactivated_account_without_enabling_login,
    own_deactivation_after_an_admin_password_reset,
    user_interactive_auth_deactivates_the_user_it_names,
    deactivated_by_database_stays_in_rooms_until_evacuated,
    no_http_api_for_locks_deactivation_or_listing,
    accounts_table_for_listing,
);

fn sql_bool(d: &Dendrite, v: bool) -> &'static str {
    match (d.database.is_some(), v) {
        (true, true) => "TRUE",
        (true, false) => "FALSE",
        (false, true) => "1",
        (false, false) => "0",
    }
}

/// A new account with a password (shared-secret registration, whose device is logged out).
fn new_user(d: &Dendrite, prefix: &str) -> (String, String) {
    let user = unique_user(prefix);
    let password = random_secret("pw");
    let (s, v) = d.register(&user, &password, false);
    assert_eq!(s, 200, "{v}");
    let t = v["access_token"].as_str().unwrap().to_string();
    let (s, _) = d.request(
        "POST",
        "/_matrix/client/v3/logout",
        Some(&t),
        Some(json!({})),
    );
    assert_eq!(s, 200);
    (user, password)
}

/// `is_deactivated` as stored: true/false.
fn is_deactivated(d: &Dendrite, localpart: &str) -> bool {
    let v = d.sql(&format!(
        "SELECT is_deactivated FROM userapi_accounts WHERE localpart = {} AND server_name = 'localhost';",
        lit(localpart)
    ));
    match v.trim() {
        "1" | "t" => true,
        "0" | "f" => false,
        other => panic!("is_deactivated of {localpart}: {other:?}"),
    }
}

fn set_deactivated(d: &Dendrite, localpart: &str, value: bool) {
    d.sql(&format!(
        "UPDATE userapi_accounts SET is_deactivated = {} WHERE localpart = {} AND server_name = 'localhost';",
        sql_bool(d, value),
        lit(localpart)
    ));
    assert_eq!(is_deactivated(d, localpart), value);
}

fn delete_devices(d: &Dendrite, localpart: &str) {
    d.sql(&format!(
        "DELETE FROM userapi_devices WHERE localpart = {} AND server_name = 'localhost';",
        lit(localpart)
    ));
    assert!(d.device_ids(localpart).is_empty());
}

fn whoami(d: &Dendrite, token: &str) -> (u16, Value) {
    d.request(
        "GET",
        "/_matrix/client/v3/account/whoami",
        Some(token),
        None,
    )
}

const LOGIN_REFUSED: &str = "The username or password was incorrect or the account does not exist.";

fn assert_login_refused(d: &Dendrite, user: &str, password: &str) {
    assert_eq!(
        d.login(user, password),
        (
            403,
            json!({"errcode": "M_FORBIDDEN", "error": LOGIN_REFUSED})
        ),
        "{user}"
    );
}

fn assert_token_refused(d: &Dendrite, token: &str) {
    assert_eq!(
        whoami(d, token),
        (
            401,
            json!({"errcode": "M_UNKNOWN_TOKEN", "error": "Unknown token"})
        )
    );
}

fn is_deactivated_alone_refuses_login_but_not_old_tokens(d: &Dendrite) {
    let (user, pw) = new_user(d, "deact-flag");
    let token = d.token(&user, &pw);
    set_deactivated(d, &user, true);
    assert_login_refused(d, &user, &pw);
    // The flag is only read by the password login: the old session goes on.
    let (s, v) = whoami(d, &token);
    assert_eq!(
        (s, v["user_id"].as_str()),
        (200, Some(d.user_id(&user).as_str()))
    );
    let (s, _) = d.request(
        "GET",
        "/_matrix/client/v3/sync?timeout=0",
        Some(&token),
        None,
    );
    assert_eq!(s, 200);
}

fn is_deactivated_and_deleted_devices_end_the_account_at_once(d: &Dendrite) {
    let (user, pw) = new_user(d, "deact-db");
    let token = d.token(&user, &pw);
    let second = d.token(&user, &pw);
    assert_eq!(d.device_ids(&user).len(), 2);
    // One transaction, as a backend would write it.
    d.sql(&format!(
        "BEGIN; UPDATE userapi_accounts SET is_deactivated = {} WHERE localpart = {u} AND server_name = 'localhost'; \
         DELETE FROM userapi_devices WHERE localpart = {u} AND server_name = 'localhost'; COMMIT;",
        sql_bool(d, true),
        u = lit(&user)
    ));
    assert!(is_deactivated(d, &user) && d.device_ids(&user).is_empty());
    assert_login_refused(d, &user, &pw);
    assert_token_refused(d, &token);
    assert_token_refused(d, &second);
    let (s, v) = d.request(
        "GET",
        "/_matrix/client/v3/sync?timeout=0",
        Some(&token),
        None,
    );
    assert_eq!((s, &v["errcode"]), (401, &json!("M_UNKNOWN_TOKEN")));
    // The name stays taken; the profile stays readable.
    let (s, v) = d.request(
        "GET",
        &format!("/_matrix/client/v3/register/available?username={user}"),
        None,
        None,
    );
    assert_eq!((s, &v["errcode"]), (400, &json!("M_USER_IN_USE")));
    let (s, _) = d.request(
        "GET",
        &format!("/_matrix/client/v3/profile/{}", d.user_id(&user)),
        None,
        None,
    );
    assert_eq!(s, 200);
}

fn clearing_is_deactivated_restores_login_with_the_kept_password(d: &Dendrite) {
    let (user, pw) = new_user(d, "react-db");
    let token = d.token(&user, &pw);
    let hash = d.password_hash(&user);
    set_deactivated(d, &user, true);
    delete_devices(d, &user);
    assert_login_refused(d, &user, &pw);
    assert_eq!(d.password_hash(&user), hash, "deactivation keeps the hash");
    set_deactivated(d, &user, false);
    assert!(d.can_login(&user, &pw), "reactivated by the database");
    assert_token_refused(d, &token);
}

fn password_reset_works_on_a_deactivated_account_without_enabling_login(d: &Dendrite) {
    let (user, pw) = new_user(d, "reset-deact");
    set_deactivated(d, &user, true);
    let new_pw = random_secret("new-pw");
    let (s, v) = d.admin(
        "POST",
        &format!("/_dendrite/admin/resetPassword/{}", d.user_id(&user)),
        Some(json!({"password": new_pw, "logout_devices": false})),
    );
    assert_eq!((s, v), (200, json!({"password_updated": true})));
    assert_login_refused(d, &user, &new_pw);
    assert_login_refused(d, &user, &pw);
    // logout_devices must be a JSON boolean.
    let (s, v) = d.admin(
        "POST",
        &format!("/_dendrite/admin/resetPassword/{}", d.user_id(&user)),
        Some(json!({"password": new_pw, "logout_devices": "yes"})),
    );
    assert_eq!(s, 400, "{v}");
    set_deactivated(d, &user, false);
    assert!(
        d.can_login(&user, &new_pw),
        "the password set while deactivated"
    );
}

/// Dendrite's own deactivation (`POST /_matrix/client/v3/account/deactivate`, user-interactive
/// password auth) for an account whose password the caller does not know: reset it first.
fn own_deactivation_after_an_admin_password_reset(d: &Dendrite) {
    let (user, pw) = new_user(d, "deact-api");
    let old = d.token(&user, &pw);
    let temporary = random_secret("tmp-pw");
    let (s, _) = d.admin(
        "POST",
        &format!("/_dendrite/admin/resetPassword/{}", d.user_id(&user)),
        Some(json!({"password": temporary, "logout_devices": true})),
    );
    assert_eq!(s, 200);
    assert_token_refused(d, &old);
    let token = d.token(&user, &temporary);
    let (s, v) = d.request(
        "POST",
        "/_matrix/client/v3/account/deactivate",
        Some(&token),
        Some(json!({})),
    );
    assert_eq!(s, 401, "{v}");
    assert_eq!(v["flows"], json!([{"stages": ["m.login.password"]}]));
    let session = v["session"].as_str().unwrap().to_string();
    let (s, v) = d.request(
        "POST",
        "/_matrix/client/v3/account/deactivate",
        Some(&token),
        Some(
            json!({"erase": true, "auth": {"type": "m.login.password", "session": session,
                     "identifier": {"type": "m.id.user", "user": user}, "password": temporary}}),
        ),
    );
    assert_eq!((s, v), (200, json!({})));
    assert!(is_deactivated(d, &user));
    assert!(d.device_ids(&user).is_empty());
    assert_token_refused(d, &token);
    assert_login_refused(d, &user, &temporary);
    assert_login_refused(d, &user, &pw);
}

/// The user-interactive auth of `/account/deactivate` is not tied to the caller: Dendrite
/// deactivates the account named in `auth` (here with the admin's token), not the caller's.
fn user_interactive_auth_deactivates_the_user_it_names(d: &Dendrite) {
    let (user, pw) = new_user(d, "uia-named");
    let (s, v) = d.admin(
        "POST",
        "/_matrix/client/v3/account/deactivate",
        Some(json!({})),
    );
    assert_eq!(s, 401, "{v}");
    let (s, v) = d.admin(
        "POST",
        "/_matrix/client/v3/account/deactivate",
        Some(
            json!({"auth": {"type": "m.login.password", "session": v["session"],
                     "identifier": {"type": "m.id.user", "user": user}, "password": pw}}),
        ),
    );
    assert_eq!((s, v), (200, json!({})));
    assert!(is_deactivated(d, &user));
    assert!(!is_deactivated(d, &d.admin_user));
    let (s, _) = whoami(d, &d.admin_token);
    assert_eq!(s, 200, "the caller is untouched");
}

fn joined(d: &Dendrite, room: &str) -> Vec<String> {
    let (s, v) = d.admin(
        "GET",
        &format!("/_matrix/client/v3/rooms/{room}/joined_members"),
        None,
    );
    assert_eq!(s, 200, "{v}");
    let mut m: Vec<String> = v["joined"].as_object().unwrap().keys().cloned().collect();
    m.sort();
    m
}

fn deactivated_by_database_stays_in_rooms_until_evacuated(d: &Dendrite) {
    let (s, v) = d.admin(
        "POST",
        "/_matrix/client/v3/createRoom",
        Some(json!({"preset": "public_chat"})),
    );
    assert_eq!(s, 200, "{v}");
    let room = v["room_id"].as_str().unwrap().to_string();
    let (user, pw) = new_user(d, "rooms");
    let token = d.token(&user, &pw);
    let (s, v) = d.request(
        "POST",
        &format!("/_matrix/client/v3/join/{room}"),
        Some(&token),
        Some(json!({})),
    );
    assert_eq!(s, 200, "{v}");
    set_deactivated(d, &user, true);
    delete_devices(d, &user);
    assert!(joined(d, &room).contains(&d.user_id(&user)), "still joined");
    let (s, v) = d.admin(
        "POST",
        &format!("/_dendrite/admin/evacuateUser/{}", d.user_id(&user)),
        None,
    );
    assert_eq!((s, v), (200, json!({"affected": [room.clone()]})));
    assert!(!joined(d, &room).contains(&d.user_id(&user)));
}

fn no_http_api_for_locks_deactivation_or_listing(d: &Dendrite) {
    let (user, _) = new_user(d, "no-api");
    let id = d.user_id(&user);
    let unrecognized = json!({"errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"});
    for (method, path, body) in [
        (
            "PUT",
            format!("/_synapse/admin/v2/users/{id}"),
            Some(json!({"locked": true})),
        ),
        (
            "POST",
            format!("/_synapse/admin/v1/deactivate/{id}"),
            Some(json!({"erase": false})),
        ),
        ("GET", "/_synapse/admin/v2/users".to_string(), None),
        ("GET", "/_synapse/admin/v3/users".to_string(), None),
        ("GET", "/_dendrite/admin/users".to_string(), None),
    ] {
        assert_eq!(
            d.admin(method, &path, body),
            (404, unrecognized.clone()),
            "{method} {path}"
        );
    }
    // The user directory finds no one who shares no room with the caller.
    let (s, v) = d.admin(
        "POST",
        "/_matrix/client/v3/user_directory/search",
        Some(json!({"search_term": user, "limit": 10})),
    );
    assert_eq!((s, v), (200, json!({"results": [], "limited": false})));
}

fn accounts_table_for_listing(d: &Dendrite) {
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let (user, _) = new_user(d, "listing");
    let after = before + 60_000;
    let row = d.sql(&format!(
        "SELECT a.created_ts, a.account_type, a.is_deactivated, a.appservice_id, p.display_name \
         FROM userapi_accounts a LEFT JOIN userapi_profiles p \
         ON p.localpart = a.localpart AND p.server_name = a.server_name \
         WHERE a.localpart = {} AND a.server_name = 'localhost';",
        lit(&user)
    ));
    let cols: Vec<&str> = row.split('|').collect();
    assert_eq!(cols.len(), 5, "{row}");
    let created: i64 = cols[0].parse().unwrap();
    assert!(
        (before - 5_000..after).contains(&created),
        "created_ts is in milliseconds: {created} vs {before}"
    );
    assert_eq!(cols[1], "1", "account_type 1 = user");
    assert!(matches!(cols[2], "0" | "f"), "{row}");
    assert_eq!((cols[3], cols[4]), ("", user.as_str()));
}
