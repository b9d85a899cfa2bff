//! Dendrite's registration token admin API (`/_dendrite/admin/registrationTokens`).

use super::{keys, user_exists};
use crate::common::dendrite::Dendrite;
use crate::common::{now_ms, unique_user, urlenc};
use serde_json::{json, Value};

pub(super) const TOKENS: &str = "/_dendrite/admin/registrationTokens";

pub(super) fn registration_token_create_get_delete(d: &Dendrite) {
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
pub(super) fn registration_token_update(d: &Dendrite) {
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

pub(super) fn registration_token_errors(d: &Dendrite) {
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
    let (s, _) = d.admin("DELETE", &format!("{TOKENS}/{}", urlenc(&odd)), None);
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

pub(super) fn registration_token_list_valid_filter(d: &Dendrite) {
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
pub(super) fn registration_tokens_cannot_be_used_to_register(d: &Dendrite) {
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
