//! Shared-secret registration on Dendrite: nonces, the MAC, limits on names and passwords.

use super::{keys, user_exists};
use crate::common::dendrite::Dendrite;
use crate::common::synapse::shared_secret_mac;
use crate::common::unique_user;
use serde_json::{json, Value};

pub(super) fn register_body(
    d: &Dendrite,
    nonce: &str,
    user: &str,
    password: &str,
    admin: bool,
) -> Value {
    let mac = shared_secret_mac(&d.shared_secret, nonce, user, password, admin, None);
    json!({"nonce": nonce, "username": user, "password": password, "admin": admin, "mac": mac})
}

pub(super) fn shared_secret_registration_answer_and_account_type(d: &Dendrite) {
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
pub(super) fn nonce_stays_valid_after_use(d: &Dendrite) {
    let nonce = d.nonce();
    let (a, b) = (unique_user("reuse-a"), unique_user("reuse-b"));
    let (s, v) = d.post_register(register_body(d, &nonce, &a, "password-1", false));
    assert_eq!(s, 200, "{v}");
    let (s, v) = d.post_register(register_body(d, &nonce, &b, "password-1", false));
    assert_eq!(s, 200, "the same nonce again: {v}");
    assert!(user_exists(d, &a) && user_exists(d, &b));
}

pub(super) fn unknown_nonce_is_a_500_without_errcode(d: &Dendrite) {
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

pub(super) fn wrong_secret_is_403_bad_mac(d: &Dendrite) {
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
pub(super) fn user_type_is_not_in_the_mac_and_is_ignored(d: &Dendrite) {
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

pub(super) fn password_length_limits(d: &Dendrite) {
    let user = unique_user("pwlen");
    let long = "x".repeat(513);
    // (password, the answer: its whole body, or (a string) only its error text)
    for (password, answer) in [
        (
            "seven77",
            json!({"errcode": "M_WEAK_PASSWORD", "error": "password too weak: min 8 characters"}),
        ),
        (
            long.as_str(),
            json!("password too long: max 512 characters"),
        ),
        (
            "",
            json!({"errcode": "M_MISSING_PARAM", "error": "Missing password"}),
        ),
    ] {
        let (s, v) = d.register(&user, password, false);
        assert_eq!(s, 400, "{v}");
        if answer.is_string() {
            assert_eq!(v["error"], answer, "{v}");
        } else {
            assert_eq!(v, answer);
        }
        assert!(!user_exists(d, &user));
    }
    let (s, v) = d.register(&user, "eight888", false);
    assert_eq!(s, 200, "8 characters are enough: {v}");
    assert!(d.can_login(&user, "eight888"));
}

pub(super) fn existing_and_invalid_names(d: &Dendrite) {
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
