//! Accounts on Dendrite: sessions and devices, password resets, profiles, whoami, and the admin
//! flag in `userapi_accounts.account_type`.

use super::registration::register_body;
use super::tokens::TOKENS;
use super::{keys, user_exists};
use crate::common::dendrite::Dendrite;
use crate::common::{unique_user, urlenc};
use serde_json::json;

/// `inhibit_login` is not a field Dendrite knows: the registration always creates a session on a
/// device named "shared_secret_registration" (display name = the localpart). Logging that
/// session out with the returned token removes the device.
pub(super) fn inhibit_login_is_ignored_and_logout_removes_the_device(d: &Dendrite) {
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
pub(super) fn registration_device_can_be_deleted_with_password_uia(d: &Dendrite) {
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

pub(super) fn reset_password_keeps_sessions_unless_asked(d: &Dendrite) {
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

pub(super) fn reset_password_errors(d: &Dendrite) {
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
pub(super) fn profile_lookups(d: &Dendrite) {
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
pub(super) fn displayname_and_availability(d: &Dendrite) {
    let user = unique_user("named");
    let nonce = d.nonce();
    let mut body = register_body(d, &nonce, &user, "password-1", false);
    body["displayname"] = json!("Dee Enn");
    let (s, v) = d.post_register(body);
    assert_eq!(s, 200, "{v}");
    let (s, v) = d.request(
        "GET",
        &format!("/_matrix/client/v3/profile/{}", urlenc(&d.user_id(&user))),
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

pub(super) fn whoami_login_logout(d: &Dendrite) {
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

/// Dendrite reads account_type from the database on every request (QueryAccessToken ->
/// GetAccountByLocalpart, no cache): a direct UPDATE makes or unmakes an admin at once.
pub(super) fn admin_flag_by_sql_takes_effect_at_once(d: &Dendrite) {
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
pub(super) fn synapse_user_admin_api_is_absent(d: &Dendrite) {
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
pub(super) fn schema_of_the_tables_the_backends_use(d: &Dendrite) {
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
