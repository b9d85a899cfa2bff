//! What a real Dendrite does, pinned down for the Dendrite backends: shared-secret registration,
//! the admin APIs (password reset, registration tokens), profiles, sessions, and the admin flag
//! in `userapi_accounts.account_type`. Every check runs against Dendrite on SQLite and on
//! PostgreSQL (module `sqlite::` and `postgres::`), and reads server state back from the
//! database, not only from answers. docs/dendrite.md lists the facts.
mod common;

use common::dendrite::{shared_secret_mac, Dendrite};
use common::postgres::Postgres;
use common::unique_user;
use serde_json::{json, Value};
use std::sync::OnceLock;

fn sqlite() -> &'static Dendrite {
    static S: OnceLock<Dendrite> = OnceLock::new();
    S.get_or_init(|| Dendrite::start(None, &[]))
}

fn pg() -> &'static Dendrite {
    static P: OnceLock<(Postgres, Dendrite)> = OnceLock::new();
    &P.get_or_init(|| {
        let pg = Postgres::start();
        let db = pg.create_database("dendrite", "dendrite");
        let d = Dendrite::start(Some(&db), &[]);
        (pg, d)
    })
    .1
}

/// Each listed function becomes one test per database: `sqlite::NAME` and `postgres::NAME`.
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[test] fn $name() { super::$name(super::sqlite()) } )* }
        mod postgres { $( #[test] fn $name() { super::$name(super::pg()) } )* }
    };
}

on_both_databases!(
    shared_secret_registration_answer_and_account_type,
    nonce_stays_valid_after_use,
    unknown_nonce_is_a_500_without_errcode,
    wrong_secret_is_403_bad_mac,
    user_type_is_not_in_the_mac_and_is_ignored,
    password_length_limits,
    existing_and_invalid_names,
    inhibit_login_is_ignored_and_logout_removes_the_device,
    registration_device_can_be_deleted_with_password_uia,
    reset_password_keeps_sessions_unless_asked,
    reset_password_errors,
    profile_lookups,
    displayname_and_availability,
    whoami_login_logout,
    registration_token_create_get_delete,
    registration_token_update,
    registration_token_errors,
    registration_token_list_valid_filter,
    registration_tokens_cannot_be_used_to_register,
    admin_flag_by_sql_takes_effect_at_once,
    synapse_user_admin_api_is_absent,
    schema_of_the_tables_the_backends_use,
);

fn user_exists(d: &Dendrite, localpart: &str) -> bool {
    d.account_type(localpart).is_some()
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

fn register_body(d: &Dendrite, nonce: &str, user: &str, password: &str, admin: bool) -> Value {
    let mac = shared_secret_mac(&d.shared_secret, nonce, user, password, admin, None);
    json!({"nonce": nonce, "username": user, "password": password, "admin": admin, "mac": mac})
}

fn shared_secret_registration_answer_and_account_type(d: &Dendrite) {
    let n1 = d.nonce();
    assert_eq!(n1.len(), 16, "nonce {n1:?}");
    assert_ne!(n1, d.nonce(), "every GET makes a new nonce");

    let user = unique_user("plain");
    let (s, v) = d.post_register(register_body(d, &n1, &user, "password-1", false));
    assert_eq!(s, 200, "{v}");
    assert_eq!(keys(&v), ["access_token", "device_id", "user_id"], "{v}");
    assert_eq!(v["user_id"], d.user_id(&user));
    assert_eq!(v["device_id"], "shared_secret_registration");
    assert_eq!(d.account_type(&user), Some(1), "a user is account_type 1");

    let admin = unique_user("admin");
    let (s, v) = d.register(&admin, "password-1", true);
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        d.account_type(&admin),
        Some(3),
        "an admin is account_type 3"
    );
    // The answer's token is a live session.
    let token = v["access_token"].as_str().unwrap();
    let (s, w) = d.request(
        "GET",
        "/_matrix/client/v3/account/whoami",
        Some(token),
        None,
    );
    assert_eq!(s, 200);
    assert_eq!(
        w,
        json!({"user_id": d.user_id(&admin), "device_id": "shared_secret_registration", "is_guest": false})
    );
}

/// Unlike Synapse, Dendrite does not spend a nonce: it stays valid (for 5 minutes, a go-cache
/// entry) and registers any number of users.
fn nonce_stays_valid_after_use(d: &Dendrite) {
    let nonce = d.nonce();
    let (a, b) = (unique_user("reuse-a"), unique_user("reuse-b"));
    let (s, v) = d.post_register(register_body(d, &nonce, &a, "password-1", false));
    assert_eq!(s, 200, "{v}");
    let (s, v) = d.post_register(register_body(d, &nonce, &b, "password-1", false));
    assert_eq!(s, 200, "the same nonce again: {v}");
    assert!(user_exists(d, &a) && user_exists(d, &b));
}

fn unknown_nonce_is_a_500_without_errcode(d: &Dendrite) {
    let user = unique_user("nononce");
    let nonce = "not-a-nonce-from-this-server";
    let (s, v) = d.post_register(register_body(d, nonce, &user, "password-1", false));
    assert_eq!(s, 500, "{v}");
    assert_eq!(
        v,
        json!({"message": format!("incorrect or expired nonce: {nonce}")})
    );
    assert!(!user_exists(d, &user));
}

fn wrong_secret_is_403_bad_mac(d: &Dendrite) {
    let user = unique_user("badmac");
    let nonce = d.nonce();
    let mac = shared_secret_mac("not-the-secret", &nonce, &user, "password-1", false, None);
    let (s, v) = d.post_register(
        json!({"nonce": nonce, "username": user, "password": "password-1",
                                        "admin": false, "mac": mac}),
    );
    assert_eq!(s, 403, "{v}");
    assert_eq!(v, json!({"errcode": "M_FORBIDDEN", "error": "bad mac"}));
    assert!(!user_exists(d, &user));
    // A MAC that is not hex at all is a 400.
    let (s, v) = d.post_register(
        json!({"nonce": nonce, "username": user, "password": "password-1",
                                        "admin": false, "mac": "zz"}),
    );
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["errcode"], "M_BAD_JSON", "{v}");
}

/// Synapse adds NUL user_type to the MAC when user_type is sent; Dendrite has no user_type: a
/// MAC over it is refused, and the field itself is ignored.
fn user_type_is_not_in_the_mac_and_is_ignored(d: &Dendrite) {
    let user = unique_user("bot");
    let nonce = d.nonce();
    let with = shared_secret_mac(
        &d.shared_secret,
        &nonce,
        &user,
        "password-1",
        false,
        Some("bot"),
    );
    let (s, v) = d.post_register(
        json!({"nonce": nonce, "username": user, "password": "password-1",
                                        "admin": false, "user_type": "bot", "mac": with}),
    );
    assert_eq!((s, &v["error"]), (403, &json!("bad mac")), "{v}");
    assert!(!user_exists(d, &user));
    let without = shared_secret_mac(&d.shared_secret, &nonce, &user, "password-1", false, None);
    let (s, v) = d.post_register(
        json!({"nonce": nonce, "username": user, "password": "password-1",
                                        "admin": false, "user_type": "bot", "mac": without}),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(d.account_type(&user), Some(1));
}

fn password_length_limits(d: &Dendrite) {
    let user = unique_user("pwlen");
    let (s, v) = d.register(&user, "seven77", false);
    assert_eq!(s, 400, "{v}");
    assert_eq!(
        v,
        json!({"errcode": "M_WEAK_PASSWORD", "error": "password too weak: min 8 characters"})
    );
    assert!(!user_exists(d, &user));
    let long = "x".repeat(513);
    let (s, v) = d.register(&user, &long, false);
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"], "password too long: max 512 characters", "{v}");
    assert!(!user_exists(d, &user));
    let (s, v) = d.register(&user, "", false);
    assert_eq!(s, 400, "{v}");
    assert_eq!(
        v,
        json!({"errcode": "M_MISSING_PARAM", "error": "Missing password"})
    );
    assert!(!user_exists(d, &user));
    let (s, v) = d.register(&user, "eight888", false);
    assert_eq!(s, 200, "8 characters are enough: {v}");
    assert!(d.can_login(&user, "eight888"));
}

fn existing_and_invalid_names(d: &Dendrite) {
    let user = unique_user("taken");
    assert_eq!(d.register(&user, "password-1", false).0, 200);
    let hash = d.password_hash(&user);
    let (s, v) = d.register(&user, "password-2", true);
    assert_eq!(s, 400, "{v}");
    assert_eq!(
        v,
        json!({"errcode": "M_USER_IN_USE", "error": "Desired user ID is already taken."})
    );
    assert_eq!(
        d.password_hash(&user),
        hash,
        "the existing account is untouched"
    );
    assert_eq!(d.account_type(&user), Some(1));

    // Upper case is folded after the MAC check (the MAC is over the name as sent).
    let upper = user.to_uppercase();
    let (s, v) = d.register(&upper, "password-2", false);
    assert_eq!((s, &v["errcode"]), (400, &json!("M_USER_IN_USE")), "{v}");
    let fresh = unique_user("mixed");
    let (s, v) = d.register(&fresh.to_uppercase(), "password-1", false);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["user_id"], d.user_id(&fresh));

    let (s, v) = d.register("has space", "password-1", false);
    assert_eq!(s, 400, "{v}");
    assert_eq!(
        v,
        json!({"errcode": "M_INVALID_USERNAME",
               "error": "username can only contain characters a-z, 0-9, or '_+-./='"})
    );
}

/// `inhibit_login` is not a field Dendrite knows: the registration always creates a session on a
/// device named "shared_secret_registration" (display name = the localpart). Logging that
/// session out with the returned token removes the device.
fn inhibit_login_is_ignored_and_logout_removes_the_device(d: &Dendrite) {
    let user = unique_user("inhibit");
    let nonce = d.nonce();
    let mut body = register_body(d, &nonce, &user, "password-1", false);
    body["inhibit_login"] = json!(true);
    let (s, v) = d.post_register(body);
    assert_eq!(s, 200, "{v}");
    let token = v["access_token"]
        .as_str()
        .expect("a token despite inhibit_login");
    assert_eq!(d.device_ids(&user), ["shared_secret_registration"]);
    let (s, devs) = d.request("GET", "/_matrix/client/v3/devices", Some(token), None);
    assert_eq!(s, 200);
    let list = devs["devices"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{devs}");
    assert_eq!(list[0]["device_id"], "shared_secret_registration");
    assert_eq!(list[0]["display_name"], json!(user));

    let (s, v) = d.request(
        "POST",
        "/_matrix/client/v3/logout",
        Some(token),
        Some(json!({})),
    );
    assert_eq!((s, &v), (200, &json!({})));
    assert!(d.device_ids(&user).is_empty(), "logout deletes the device");
    let (s, v) = d.request(
        "GET",
        "/_matrix/client/v3/account/whoami",
        Some(token),
        None,
    );
    assert_eq!(s, 401);
    assert_eq!(
        v,
        json!({"errcode": "M_UNKNOWN_TOKEN", "error": "Unknown token"})
    );
}

/// The other way to remove that device: DELETE /devices/{id}, which asks for the password (UIA).
fn registration_device_can_be_deleted_with_password_uia(d: &Dendrite) {
    let user = unique_user("deldev");
    assert_eq!(d.register(&user, "password-1", false).0, 200);
    let token = d.token(&user, "password-1");
    assert_eq!(d.device_ids(&user).len(), 2);
    let path = "/_matrix/client/v3/devices/shared_secret_registration";
    let (s, v) = d.request("DELETE", path, Some(&token), Some(json!({})));
    assert_eq!(s, 401, "{v}");
    assert_eq!(v["flows"], json!([{"stages": ["m.login.password"]}]), "{v}");
    let session = v["session"].as_str().unwrap();
    let (s, v) = d.request(
        "DELETE",
        path,
        Some(&token),
        Some(
            json!({"auth": {"type": "m.login.password", "session": session,
                             "identifier": {"type": "m.id.user", "user": user},
                             "password": "password-1"}}),
        ),
    );
    assert_eq!(s, 200, "{v}");
    let left = d.device_ids(&user);
    assert_eq!(left.len(), 1);
    assert_ne!(left[0], "shared_secret_registration");
}

fn reset_password_keeps_sessions_unless_asked(d: &Dendrite) {
    let user = unique_user("reset");
    assert_eq!(d.register(&user, "password-1", false).0, 200);
    let session = d.token(&user, "password-1");
    let hash = d.password_hash(&user);
    let path = format!("/_dendrite/admin/resetPassword/{}", d.user_id(&user));

    let (s, v) = d.admin("POST", &path, Some(json!({"password": "password-2"})));
    assert_eq!((s, &v), (200, &json!({"password_updated": true})));
    assert_ne!(d.password_hash(&user), hash);
    assert!(!d.can_login(&user, "password-1"));
    assert!(d.can_login(&user, "password-2"));
    let whoami = |t: &str| {
        d.request("GET", "/_matrix/client/v3/account/whoami", Some(t), None)
            .0
    };
    assert_eq!(whoami(&session), 200, "sessions survive a reset by default");
    assert_eq!(d.device_ids(&user).len(), 2);

    // The same password again is still "updated" (no comparison is made).
    let (s, v) = d.admin("POST", &path, Some(json!({"password": "password-2"})));
    assert_eq!((s, &v), (200, &json!({"password_updated": true})));

    let (s, v) = d.admin(
        "POST",
        &path,
        Some(json!({"password": "password-3", "logout_devices": true})),
    );
    assert_eq!((s, &v), (200, &json!({"password_updated": true})));
    assert_eq!(whoami(&session), 401, "logout_devices ends every session");
    assert!(d.device_ids(&user).is_empty());
    assert!(d.can_login(&user, "password-3"));
}

fn reset_password_errors(d: &Dendrite) {
    let user = unique_user("reseterr");
    assert_eq!(d.register(&user, "password-1", false).0, 200);
    let hash = d.password_hash(&user);
    let path = format!("/_dendrite/admin/resetPassword/{}", d.user_id(&user));
    let cases = [
        (
            d.admin("POST", &path, Some(json!({"password": "short"}))),
            400,
            json!({"errcode": "M_WEAK_PASSWORD", "error": "password too weak: min 8 characters"}),
        ),
        (
            d.admin("POST", &path, Some(json!({}))),
            400,
            json!({"errcode": "M_MISSING_PARAM", "error": "Expecting non-empty password."}),
        ),
        (
            d.admin(
                "POST",
                "/_dendrite/admin/resetPassword/@nobody-here:localhost",
                Some(json!({"password": "password-2"})),
            ),
            404,
            json!({"errcode": "M_UNKNOWN", "error": "User does not exist"}),
        ),
        (
            d.admin(
                "POST",
                &format!("/_dendrite/admin/resetPassword/{user}"),
                Some(json!({"password": "password-2"})),
            ),
            400,
            json!({"errcode": "M_INVALID_PARAM",
                   "error": format!("gomatrixserverlib: invalid ID \"{user}\" doesn't start with '@'")}),
        ),
        (
            d.admin(
                "POST",
                &format!("/_dendrite/admin/resetPassword/@{user}:example.org"),
                Some(json!({"password": "password-2"})),
            ),
            400,
            json!({"errcode": "M_INVALID_PARAM", "error": "server name \"example.org\" not known"}),
        ),
        (
            d.request(
                "POST",
                &path,
                Some(&d.token(&user, "password-1")),
                Some(json!({"password": "password-2"})),
            ),
            403,
            json!({"errcode": "M_FORBIDDEN", "error": "This API can only be used by admin users."}),
        ),
        (
            d.request("POST", &path, None, Some(json!({"password": "password-2"}))),
            401,
            json!({"errcode": "M_MISSING_TOKEN", "error": "missing access token"}),
        ),
        (
            d.request(
                "POST",
                &path,
                Some("not-a-token"),
                Some(json!({"password": "password-2"})),
            ),
            401,
            json!({"errcode": "M_UNKNOWN_TOKEN", "error": "Unknown token"}),
        ),
    ];
    for (i, ((s, v), want_s, want_v)) in cases.into_iter().enumerate() {
        assert_eq!((s, &v), (want_s, &want_v), "case {i}");
    }
    assert_eq!(d.password_hash(&user), hash, "no case changed the password");
}

/// Profile look-ups need no token, are not rate-limited (see the rate-limit test), answer 404
/// for an unknown local user, and 500 for a remote one with federation off.
fn profile_lookups(d: &Dendrite) {
    let user = unique_user("profile");
    assert_eq!(d.register(&user, "password-1", false).0, 200);
    let path = format!("/_matrix/client/v3/profile/{}", d.user_id(&user));
    let (s, v) = d.request("GET", &path, None, None);
    assert_eq!((s, &v), (200, &json!({"displayname": user})));
    let (s, v) = d.request("GET", &path, Some(&d.admin_token), None);
    assert_eq!((s, &v), (200, &json!({"displayname": user})));
    let (s, v) = d.request(
        "GET",
        "/_matrix/client/v3/profile/@nobody-here:localhost",
        None,
        None,
    );
    assert_eq!(s, 404);
    assert_eq!(
        v,
        json!({"errcode": "M_NOT_FOUND", "error": "The user does not exist or does not have a profile"})
    );
    let (s, _) = d.request(
        "GET",
        "/_matrix/client/v3/profile/@someone:example.org",
        None,
        None,
    );
    assert_eq!(s, 500, "a remote profile with federation disabled");
    assert!(d.log().contains("federation prohibited by configuration"));
}

/// `displayname` in the shared-secret body (not part of the MAC) sets the display name; and
/// `GET /register/available` tells taken from free without a token even with registration
/// closed (it is rate-limited like /register, unlike profile look-ups).
fn displayname_and_availability(d: &Dendrite) {
    let user = unique_user("named");
    let nonce = d.nonce();
    let mut body = register_body(d, &nonce, &user, "password-1", false);
    body["displayname"] = json!("Dee Enn");
    let (s, v) = d.post_register(body);
    assert_eq!(s, 200, "{v}");
    let (s, v) = d.request(
        "GET",
        &format!(
            "/_matrix/client/v3/profile/{}",
            common::urlenc(&d.user_id(&user))
        ),
        None,
        None,
    );
    assert_eq!((s, &v), (200, &json!({"displayname": "Dee Enn"})));
    assert_eq!(
        d.sql(&format!(
            "SELECT display_name FROM userapi_profiles WHERE localpart = '{user}';"
        )),
        "Dee Enn"
    );

    let available = |name: &str| {
        d.request(
            "GET",
            &format!("/_matrix/client/v3/register/available?username={name}"),
            None,
            None,
        )
    };
    assert_eq!(
        available(&user),
        (
            400,
            json!({"errcode": "M_USER_IN_USE", "error": "Desired User ID is already taken."})
        )
    );
    let free = unique_user("free");
    assert_eq!(available(&free), (200, json!({"available": true})));
    assert!(!user_exists(d, &free));
    assert_eq!(available("has%20space").1["errcode"], "M_INVALID_USERNAME");
}

fn whoami_login_logout(d: &Dendrite) {
    let user = unique_user("session");
    assert_eq!(d.register(&user, "password-1", false).0, 200);
    let (s, v) = d.login(&user, "password-1");
    assert_eq!(s, 200, "{v}");
    assert_eq!(keys(&v), ["access_token", "device_id", "user_id"], "{v}");
    assert_eq!(v["user_id"], d.user_id(&user));
    let token = v["access_token"].as_str().unwrap();
    let device = v["device_id"].as_str().unwrap();
    assert!(d.device_ids(&user).contains(&device.to_string()));
    let (s, w) = d.request(
        "GET",
        "/_matrix/client/v3/account/whoami",
        Some(token),
        None,
    );
    assert_eq!(s, 200);
    assert_eq!(
        w,
        json!({"user_id": d.user_id(&user), "device_id": device, "is_guest": false})
    );
    // Full user IDs log in too.
    assert!(d.can_login(&d.user_id(&user), "password-1"));

    let (s, v) = d.login(&user, "wrong-password");
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["errcode"], "M_FORBIDDEN", "{v}");
    let (s, v) = d.login("nobody-here", "password-1");
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["errcode"], "M_FORBIDDEN", "{v}");

    let (s, v) = d.request(
        "POST",
        "/_matrix/client/v3/logout",
        Some(token),
        Some(json!({})),
    );
    assert_eq!((s, &v), (200, &json!({})));
    assert!(!d.device_ids(&user).contains(&device.to_string()));
    assert_eq!(
        d.request(
            "GET",
            "/_matrix/client/v3/account/whoami",
            Some(token),
            None
        )
        .0,
        401
    );
}

const TOKENS: &str = "/_dendrite/admin/registrationTokens";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn registration_token_create_get_delete(d: &Dendrite) {
    // A named token, no limits.
    let name = unique_user("tok").replace('-', "_");
    let (s, v) = d.admin(
        "POST",
        &format!("{TOKENS}/new"),
        Some(json!({"token": name})),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v,
        json!({"token": name, "uses_allowed": null, "pending": 0, "completed": 0, "expiry_time": null})
    );
    assert_eq!(d.token_row(&name), Some(format!("{name}||0|0|")));

    // With limits.
    let full = unique_user("tokfull").replace('-', "_");
    let expiry = now_ms() + 86_400_000;
    let (s, v) = d.admin(
        "POST",
        &format!("{TOKENS}/new"),
        Some(json!({"token": full, "uses_allowed": 3, "expiry_time": expiry})),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v,
        json!({"token": full, "uses_allowed": 3, "pending": 0, "completed": 0, "expiry_time": expiry})
    );
    assert_eq!(d.token_row(&full), Some(format!("{full}|3|0|0|{expiry}")));

    // Without a name: 16 random characters, or `length` of them.
    let (s, v) = d.admin("POST", &format!("{TOKENS}/new"), Some(json!({})));
    assert_eq!(s, 200, "{v}");
    let random = v["token"].as_str().unwrap().to_string();
    assert_eq!(random.len(), 16);
    assert!(
        random.chars().all(|c| c.is_ascii_alphanumeric()),
        "{random}"
    );
    assert!(d.token_row(&random).is_some());
    let (s, v) = d.admin(
        "POST",
        &format!("{TOKENS}/new"),
        Some(json!({"length": 40})),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["token"].as_str().unwrap().len(), 40);

    // GET: the same five fields, in storage order.
    let (s, v) = d.admin("GET", &format!("{TOKENS}/{full}"), None);
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v,
        json!({"token": full, "uses_allowed": 3, "pending": 0, "completed": 0, "expiry_time": expiry})
    );
    let (s, v) = d.admin("GET", &format!("{TOKENS}/no_such_token"), None);
    assert_eq!(s, 404);
    assert_eq!(
        v,
        json!({"errcode": "M_NOT_FOUND", "error": "token: no_such_token not found"})
    );

    // A second create with the same name: 409, and a body without errcode.
    let (s, v) = d.admin(
        "POST",
        &format!("{TOKENS}/new"),
        Some(json!({"token": name, "uses_allowed": 1})),
    );
    assert_eq!(s, 409);
    assert_eq!(v, json!({"error": format!("token: {name} already exists")}));
    assert_eq!(
        d.token_row(&name),
        Some(format!("{name}||0|0|")),
        "unchanged"
    );

    // DELETE answers {} whether or not the token exists.
    let (s, v) = d.admin("DELETE", &format!("{TOKENS}/{name}"), None);
    assert_eq!((s, &v), (200, &json!({})));
    assert_eq!(d.token_row(&name), None);
    let (s, v) = d.admin("DELETE", &format!("{TOKENS}/{name}"), None);
    assert_eq!((s, &v), (200, &json!({})));
}

/// PUT /registrationTokens/{token} with uses_allowed and/or expiry_time (null = unlimited).
/// On PostgreSQL it updates the row. On SQLite it answers 200 with the *old* values and changes
/// nothing: Dendrite's SQLite statement numbers its parameters $2, $3, $1 in that order of
/// appearance, which SQLite binds by position, so the WHERE clause never matches.
fn registration_token_update(d: &Dendrite) {
    let name = unique_user("tokupd").replace('-', "_");
    let expiry = now_ms() + 86_400_000;
    let later = expiry + 3_600_000;
    let (s, _) = d.admin(
        "POST",
        &format!("{TOKENS}/new"),
        Some(json!({"token": name, "uses_allowed": 3, "expiry_time": expiry})),
    );
    assert_eq!(s, 200);
    let put = |body: Value| d.admin("PUT", &format!("{TOKENS}/{name}"), Some(body));
    let shape = |uses: Value, exp: Value| json!({"token": name, "uses_allowed": uses, "pending": 0, "completed": 0, "expiry_time": exp});

    let (s, v) = put(json!({"uses_allowed": 5}));
    assert_eq!(s, 200, "{v}");
    if d.backend() == "postgres" {
        assert_eq!(v, shape(json!(5), json!(expiry)));
        assert_eq!(d.token_row(&name), Some(format!("{name}|5|0|0|{expiry}")));
        let (s, v) = put(json!({"expiry_time": later}));
        assert_eq!((s, &v), (200, &shape(json!(5), json!(later))));
        let (s, v) = put(json!({"uses_allowed": null, "expiry_time": null}));
        assert_eq!((s, &v), (200, &shape(json!(null), json!(null))));
        assert_eq!(d.token_row(&name), Some(format!("{name}||0|0|")));
    } else {
        assert_eq!(v, shape(json!(3), json!(expiry)), "SQLite: old values");
        assert_eq!(d.token_row(&name), Some(format!("{name}|3|0|0|{expiry}")));
        let (s, v) = put(json!({"expiry_time": later}));
        assert_eq!((s, &v), (200, &shape(json!(3), json!(expiry))));
        let (s, v) = put(json!({"uses_allowed": null, "expiry_time": null}));
        assert_eq!((s, &v), (200, &shape(json!(3), json!(expiry))));
        assert_eq!(d.token_row(&name), Some(format!("{name}|3|0|0|{expiry}")));
    }
    // Common to both: an empty body returns the token as it is; errors.
    let (s, v) = put(json!({}));
    assert_eq!(s, 200);
    assert_eq!(v["token"], json!(name));
    let (s, v) = put(json!({"expiry_time": now_ms() - 1000}));
    assert_eq!(s, 400);
    assert_eq!(
        v,
        json!({"errcode": "M_BAD_JSON", "error": "expiry_time must not be in the past"})
    );
    let (s, v) = put(json!({"uses_allowed": -1}));
    assert_eq!(s, 400);
    assert_eq!(
        v,
        json!({"errcode": "M_BAD_JSON", "error": "uses_allowed must be a non-negative integer or null"})
    );
    let (s, v) = d.admin(
        "PUT",
        &format!("{TOKENS}/no_such_token"),
        Some(json!({"uses_allowed": 1})),
    );
    assert_eq!(s, 404);
    assert_eq!(
        v,
        json!({"errcode": "M_NOT_FOUND", "error": "token: no_such_token not found"})
    );
    assert!(d.token_row("no_such_token").is_none(), "no row was made");
}

fn registration_token_errors(d: &Dendrite) {
    let new = format!("{TOKENS}/new");
    let bad = |body: Value, error: &str| {
        let (s, v) = d.admin("POST", &new, Some(body.clone()));
        assert_eq!(s, 400, "{body}: {v}");
        assert_eq!(
            v,
            json!({"errcode": "M_BAD_JSON", "error": error}),
            "{body}"
        );
    };
    bad(
        json!({"length": 65}),
        "length must be greater than zero and not greater than 64",
    );
    bad(
        json!({"length": -1}),
        "length must be greater than zero and not greater than 64",
    );
    bad(
        json!({"token": "x".repeat(65)}),
        "token must not be longer than 64",
    );
    bad(
        json!({"token": "tökén"}),
        "token must consist only of characters matched by the regex [A-Za-z0-9-_]",
    );
    bad(
        json!({"token": "tok_neg", "uses_allowed": -1}),
        "uses_allowed must be a non-negative integer or null",
    );
    bad(
        json!({"token": "tok_past", "expiry_time": now_ms() - 1000}),
        "expiry_time must not be in the past",
    );
    assert!(d.token_row("tok_neg").is_none() && d.token_row("tok_past").is_none());

    // Despite that message, any ASCII passes ([[:ascii:]] in Dendrite's regex): spaces too.
    let odd = format!("{} !", unique_user("odd"));
    let (s, v) = d.admin("POST", &new, Some(json!({"token": odd})));
    assert_eq!(s, 200, "{v}");
    assert!(d.token_row(&odd).is_some());
    let (s, _) = d.admin(
        "DELETE",
        &format!("{TOKENS}/{}", common::urlenc(&odd)),
        None,
    );
    assert_eq!(s, 200);
    assert!(
        d.token_row(&odd).is_none(),
        "deleted by its URL-encoded name"
    );

    // Not an admin / no token.
    let user = unique_user("tokuser");
    assert_eq!(d.register(&user, "password-1", false).0, 200);
    let t = d.token(&user, "password-1");
    let (s, v) = d.request("GET", TOKENS, Some(&t), None);
    assert_eq!(s, 403);
    assert_eq!(
        v,
        json!({"errcode": "M_FORBIDDEN", "error": "This API can only be used by admin users."})
    );
    let (s, v) = d.request("POST", &new, None, Some(json!({})));
    assert_eq!(s, 401);
    assert_eq!(v["errcode"], "M_MISSING_TOKEN");
}

fn registration_token_list_valid_filter(d: &Dendrite) {
    let p = unique_user("tokl").replace('-', "_");
    let (open, zero, used_up_later) =
        (format!("{p}_open"), format!("{p}_zero"), format!("{p}_exp"));
    for body in [
        json!({"token": open}),
        json!({"token": zero, "uses_allowed": 0}),
        json!({"token": used_up_later, "uses_allowed": 1, "expiry_time": now_ms() + 86_400_000}),
    ] {
        assert_eq!(d.admin("POST", &format!("{TOKENS}/new"), Some(body)).0, 200);
    }
    let names = |query: &str| -> Vec<String> {
        let (s, v) = d.admin("GET", &format!("{TOKENS}{query}"), None);
        assert_eq!(s, 200, "{v}");
        assert_eq!(keys(&v), ["registration_tokens"]);
        v["registration_tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                assert_eq!(
                    keys(t),
                    [
                        "completed",
                        "expiry_time",
                        "pending",
                        "token",
                        "uses_allowed"
                    ]
                );
                t["token"].as_str().unwrap().to_string()
            })
            .filter(|n| n.starts_with(&p))
            .collect()
    };
    let mut all = names("");
    all.sort();
    let mut want = vec![open.clone(), zero.clone(), used_up_later.clone()];
    want.sort();
    assert_eq!(all, want);
    let mut valid = names("?valid=true");
    valid.sort();
    let mut want_valid = vec![open.clone(), used_up_later.clone()];
    want_valid.sort();
    assert_eq!(valid, want_valid, "uses_allowed 0 is not valid");
    assert_eq!(names("?valid=false"), vec![zero]);
    let (s, v) = d.admin("GET", &format!("{TOKENS}?valid=maybe"), None);
    assert_eq!(s, 400);
    assert_eq!(
        v,
        json!({"errcode": "M_BAD_JSON", "error": "invalid 'valid' query parameter"})
    );
}

/// Dendrite has no m.login.registration_token stage: with registration closed (the config that
/// makes the token admin API work), client registration is refused whatever the auth, and the
/// token's counters never move. (With registration open there is no token stage either: see
/// open_registration_offers_no_token_stage.)
fn registration_tokens_cannot_be_used_to_register(d: &Dendrite) {
    let name = unique_user("tokreg").replace('-', "_");
    assert_eq!(
        d.admin(
            "POST",
            &format!("{TOKENS}/new"),
            Some(json!({"token": name, "uses_allowed": 5}))
        )
        .0,
        200
    );
    let user = unique_user("viatoken");
    for body in [
        json!({"username": user, "password": "password-1"}),
        json!({"username": user, "password": "password-1",
               "auth": {"type": "m.login.registration_token", "token": name}}),
    ] {
        let (s, v) = d.request("POST", "/_matrix/client/v3/register", None, Some(body));
        assert_eq!(s, 403, "{v}");
        assert_eq!(
            v,
            json!({"errcode": "M_FORBIDDEN", "error": "Registration is disabled on \"localhost\""})
        );
    }
    assert!(!user_exists(d, &user));
    assert_eq!(d.token_row(&name), Some(format!("{name}|5|0|0|")));
    let (s, v) = d.request(
        "GET",
        &format!("/_matrix/client/v1/register/m.login.registration_token/validity?token={name}"),
        None,
        None,
    );
    assert_eq!(s, 404, "{v}");
    assert_eq!(v["errcode"], "M_UNRECOGNIZED");
}

/// Dendrite reads account_type from the database on every request (QueryAccessToken ->
/// GetAccountByLocalpart, no cache): a direct UPDATE makes or unmakes an admin at once.
fn admin_flag_by_sql_takes_effect_at_once(d: &Dendrite) {
    let user = unique_user("promote");
    assert_eq!(d.register(&user, "password-1", false).0, 200);
    let token = d.token(&user, "password-1");
    let list = || d.request("GET", TOKENS, Some(&token), None).0;
    assert_eq!(list(), 403);
    d.set_account_type(&user, 3);
    assert_eq!(d.account_type(&user), Some(3));
    assert_eq!(list(), 200, "admin at once, no restart");
    d.set_account_type(&user, 1);
    assert_eq!(list(), 403, "and back to a user at once");
}

/// Dendrite has no HTTP API that changes account_type: Synapse's user admin API is not there.
fn synapse_user_admin_api_is_absent(d: &Dendrite) {
    let user = unique_user("noapi");
    assert_eq!(d.register(&user, "password-1", false).0, 200);
    let path = format!("/_synapse/admin/v2/users/{}", d.user_id(&user));
    for (method, body) in [("PUT", Some(json!({"admin": true}))), ("GET", None)] {
        let (s, v) = d.admin(method, &path, body);
        assert_eq!(s, 404, "{method}: {v}");
        assert_eq!(v["errcode"], "M_UNRECOGNIZED", "{method}: {v}");
    }
    let (s, _) = d.admin(
        "PUT",
        &format!("/_synapse/admin/v1/users/{}/admin", d.user_id(&user)),
        Some(json!({"admin": true})),
    );
    assert_eq!(s, 404);
    assert_eq!(d.account_type(&user), Some(1));
}

/// The columns the backends read and write, with their types as each database reports them.
fn schema_of_the_tables_the_backends_use(d: &Dendrite) {
    let columns = |table: &str| -> String {
        if d.backend() == "postgres" {
            d.sql(&format!(
                "SELECT column_name || ' ' || data_type || ' ' || is_nullable FROM information_schema.columns \
                 WHERE table_name = '{table}' ORDER BY ordinal_position;"
            ))
        } else {
            d.sql(&format!(
                "SELECT name || ' ' || type || ' ' || CASE \"notnull\" WHEN 1 THEN 'NO' ELSE 'YES' END \
                 FROM pragma_table_info('{table}') ORDER BY cid;"
            ))
        }
    };
    if d.backend() == "postgres" {
        assert_eq!(
            columns("userapi_accounts"),
            "localpart text NO\nserver_name text NO\ncreated_ts bigint NO\npassword_hash text YES\n\
             appservice_id text YES\nis_deactivated boolean YES\naccount_type smallint NO"
        );
        assert_eq!(
            columns("userapi_registration_tokens"),
            "token text NO\npending bigint YES\ncompleted bigint YES\nuses_allowed bigint YES\n\
             expiry_time bigint YES"
        );
    } else {
        assert_eq!(
            columns("userapi_accounts"),
            "localpart TEXT NO\nserver_name TEXT NO\ncreated_ts BIGINT NO\npassword_hash TEXT YES\n\
             appservice_id TEXT YES\nis_deactivated BOOLEAN YES\naccount_type INTEGER NO"
        );
        assert_eq!(
            columns("userapi_registration_tokens"),
            "token TEXT YES\npending BIGINT YES\ncompleted BIGINT YES\nuses_allowed BIGINT YES\n\
             expiry_time BIGINT YES"
        );
    }
    // Where the data is: SQLite files in the server's directory, or PostgreSQL only.
    let sqlite_file = d.dir.path().join("dendrite_userapi.db");
    assert_eq!(sqlite_file.exists(), d.backend() == "sqlite");
    // The harness admin, as stored: bcrypt hash, not deactivated.
    let row = d.sql(&format!(
        "SELECT server_name, account_type, is_deactivated, substr(password_hash, 1, 4) \
         FROM userapi_accounts WHERE localpart = '{}';",
        d.admin_user
    ));
    let deactivated = if d.backend() == "postgres" { "f" } else { "0" };
    assert_eq!(row, format!("localhost|3|{deactivated}|$2a$"));
}

/// Sessions and the admin flag survive a restart (one server per database: it restarts).
fn restart_keeps_sessions_and_the_admin_flag(d: &mut Dendrite) {
    let user = unique_user("restart");
    assert_eq!(d.register(&user, "password-1", false).0, 200);
    let token = d.token(&user, "password-1");
    d.set_account_type(&user, 3);
    d.restart();
    assert_eq!(d.request("GET", TOKENS, Some(&token), None).0, 200);
    d.set_account_type(&user, 1);
    assert_eq!(d.request("GET", TOKENS, Some(&token), None).0, 403);
    assert!(d.can_login(&user, "password-1"));
}

#[test]
fn restart_keeps_sessions_and_the_admin_flag_sqlite() {
    restart_keeps_sessions_and_the_admin_flag(&mut Dendrite::start(None, &[]));
}

#[test]
fn restart_keeps_sessions_and_the_admin_flag_postgres() {
    let pg = Postgres::start();
    let db = pg.create_database("dendrite", "dendrite");
    restart_keeps_sessions_and_the_admin_flag(&mut Dendrite::start(Some(&db), &[]));
}

/// Without client_api.registration_requires_token, the token admin API refuses to create.
#[test]
fn token_admin_api_needs_registration_requires_token() {
    let d = Dendrite::start(None, &[("DENDRITE_NO_TOKENS", "1")]);
    let (s, v) = d.admin(
        "POST",
        &format!("{TOKENS}/new"),
        Some(json!({"token": "t1"})),
    );
    assert_eq!(s, 403);
    assert_eq!(
        v,
        json!({"errcode": "M_FORBIDDEN", "error": "Registration via tokens is not enabled on this homeserver"})
    );
    assert!(d.token_row("t1").is_none());
    // Listing does not look at that setting; an empty list is null, not [].
    let (s, v) = d.admin("GET", TOKENS, None);
    assert_eq!((s, &v), (200, &json!({"registration_tokens": null})));
    assert_eq!(
        d.admin("GET", &format!("{TOKENS}?valid=true"), None).1,
        json!({"registration_tokens": null})
    );
}

/// With registration open (and no captcha), the flows offered have no token stage, and a token
/// auth is "unimplemented".
#[test]
fn open_registration_offers_no_token_stage() {
    let d = Dendrite::start(None, &[("DENDRITE_OPEN_REGISTRATION", "1")]);
    let (s, _) = d.admin(
        "POST",
        &format!("{TOKENS}/new"),
        Some(json!({"token": "open_tok", "uses_allowed": 2})),
    );
    assert_eq!(s, 200);
    let user = unique_user("open");
    let (s, v) = d.request(
        "POST",
        "/_matrix/client/v3/register",
        None,
        Some(json!({"username": user, "password": "password-1"})),
    );
    assert_eq!(s, 401, "{v}");
    assert_eq!(v["flows"], json!([{"stages": ["m.login.dummy"]}]), "{v}");
    let session = v["session"].as_str().unwrap();
    let (s, v) = d.request(
        "POST",
        "/_matrix/client/v3/register",
        None,
        Some(json!({"username": user, "password": "password-1",
                    "auth": {"type": "m.login.registration_token", "token": "open_tok",
                             "session": session}})),
    );
    assert_eq!(s, 501, "{v}");
    assert_eq!(
        v,
        json!({"errcode": "M_UNKNOWN", "error": "unknown/unimplemented auth type"})
    );
    assert!(!user_exists(&d, &user));
    assert_eq!(d.token_row("open_tok"), Some("open_tok|2|0|0|".into()));
}

/// With Dendrite's default rate limits (5 requests, 500 ms cool-off, per caller), profile
/// look-ups are not limited at all: the handler never consults the limiter.
#[test]
fn profile_lookups_are_not_rate_limited() {
    let d = Dendrite::start(None, &[("DENDRITE_RATE_LIMITING", "default")]);
    assert!(d.dir.path().join("dendrite.yaml").exists());
    let cfg = std::fs::read_to_string(d.dir.path().join("dendrite.yaml")).unwrap();
    assert!(cfg.contains("threshold: 5"), "default limits in force");
    let user = unique_user("rl");
    assert_eq!(d.register(&user, "password-1", false).0, 200);
    let http = reqwest::blocking::Client::new(); // one connection: one caller
    for i in 0..40 {
        let r = http
            .get(format!(
                "{}/_matrix/client/v3/profile/{}",
                d.url,
                d.user_id(&user)
            ))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "look-up {i}");
    }
}

/// The config the script wrote: no federation, no key servers, no identity servers, no
/// phone-home, registration only by shared secret; and the running process has sockets on
/// 127.0.0.1 only.
#[test]
fn config_and_sockets_stay_on_localhost() {
    let d = sqlite();
    let cfg: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(d.dir.path().join("dendrite.yaml")).unwrap())
            .unwrap();
    let g = &cfg["global"];
    assert_eq!(g["server_name"].as_str(), Some("localhost"));
    assert_eq!(g["disable_federation"].as_bool(), Some(true));
    assert_eq!(g["report_stats"]["enabled"].as_bool(), Some(false));
    assert_eq!(
        g["trusted_third_party_id_servers"]
            .as_sequence()
            .map(|s| s.len()),
        Some(0)
    );
    assert_eq!(
        cfg["federation_api"]["key_perspectives"]
            .as_sequence()
            .map(|s| s.len()),
        Some(0)
    );
    let c = &cfg["client_api"];
    assert_eq!(c["registration_disabled"].as_bool(), Some(true));
    assert_eq!(c["registration_requires_token"].as_bool(), Some(true));
    assert_eq!(c["guests_disabled"].as_bool(), Some(true));
    assert_eq!(c["rate_limiting"]["enabled"].as_bool(), Some(false));
    assert_eq!(
        c["registration_shared_secret"].as_str(),
        Some(d.shared_secret.as_str())
    );

    // Every TCP socket of the process (listening or connected) is on 127.0.0.1.
    let pid = std::fs::read_to_string(d.dir.path().join("dendrite.pid")).unwrap();
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{}/fd", pid.trim()))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            l.strip_prefix("socket:[")
                .and_then(|r| r.strip_suffix(']'))
                .map(String::from)
        })
        .collect();
    let mut seen = 0;
    for table in [
        "/proc/net/tcp",
        "/proc/net/tcp6",
        "/proc/net/udp",
        "/proc/net/udp6",
    ] {
        for line in std::fs::read_to_string(table).unwrap().lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if !inodes.iter().any(|i| i == f[9]) {
                continue;
            }
            seen += 1;
            for addr in [f[1], f[2]] {
                let host = addr.split(':').next().unwrap();
                assert!(
                    host == "0100007F" || host == "00000000" && addr == f[2],
                    "{table}: a socket of Dendrite on {addr} (not 127.0.0.1)"
                );
            }
        }
    }
    assert!(seen >= 1, "the listener was found");
}

/// Dendrite's own create-account tool (through `dendrite.sh admin`, password on stdin) makes an
/// admin over HTTP with the shared secret and hands back a working token.
#[test]
fn create_account_tool_makes_an_admin() {
    use std::io::Write;
    let d = sqlite();
    let user = unique_user("tooladmin");
    let mut child = std::process::Command::new(common::repo().join("tests/servers/dendrite.sh"))
        .arg("admin")
        .arg(d.dir.path())
        .arg(&user)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"tool-password-1\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(!token.is_empty());
    assert_eq!(d.account_type(&user), Some(3));
    assert_eq!(d.request("GET", TOKENS, Some(&token), None).0, 200);
    assert!(d.can_login(&user, "tool-password-1"));
    assert_eq!(d.device_ids(&user), ["shared_secret_registration"]);
}
