//! The account lifecycle on the FAKE MAS (tests/servers/fake_mas.py, not a real MAS): what the
//! recorded exchanges (tests/data/mas/transcripts.jsonl, replayed by mas_fake_conformance) do
//! not show, taken from MAS 1.22's source (docs/mas-fake.md, "Account lifecycle"): what lock,
//! unlock, deactivate and reactivate do to compatibility sessions, logins and email addresses,
//! the listing filters `filter[search]` (PostgreSQL ILIKE) and `filter[has-active-*]`, and, with
//! a real Synapse 1.163 delegating to the fake, that an old access token stops working there.

use crate::common::fake_mas::{FakeMas, FakeMasOptions};
use crate::common::Synapse;
use serde_json::{json, Value};

fn create(fake: &FakeMas, username: &str) -> String {
    let (s, v) = fake.admin(
        "POST",
        "/api/admin/v1/users",
        Some(&json!({ "username": username })),
    );
    assert_eq!(s, 201, "{v}");
    v["data"]["id"].as_str().unwrap().to_string()
}

fn action(fake: &FakeMas, id: &str, what: &str, body: Option<&Value>) -> Value {
    let (s, v) = fake.admin("POST", &format!("/api/admin/v1/users/{id}/{what}"), body);
    assert_eq!(s, 200, "{what}: {v}");
    assert_eq!(
        v["data"]["id"], id,
        "{what} answered about another user: {v}"
    );
    v["data"]["attributes"].clone()
}

/// A timestamp to the microsecond (MAS answers 9 fractional digits when it sets the value, 6
/// when it reads it back).
fn micros(v: &Value) -> String {
    let t = v.as_str().expect("a timestamp");
    let (sec, frac) = t.trim_end_matches('Z').split_once('.').unwrap_or((t, ""));
    format!("{sec}.{:0<6}", &frac[..frac.len().min(6)])
}

fn strong_password() -> String {
    format!("Vq7!{}#Lm9", crate::common::random_secret("pw"))
}

fn set_password(fake: &FakeMas, id: &str, password: &str) {
    let (s, v) = fake.admin(
        "POST",
        &format!("/api/admin/v1/users/{id}/set-password"),
        Some(&json!({ "password": password })),
    );
    assert_eq!(s, 204, "{v}");
}

/// Usernames of a listing (one page is enough here: fewer than 10 users).
fn listed(fake: &FakeMas, query: &str) -> Vec<String> {
    let (s, v) = fake.admin_get(&format!("/api/admin/v1/users?{query}"));
    assert_eq!(s, 200, "{query}: {v}");
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["attributes"]["username"].as_str().unwrap().to_string())
        .collect()
}

fn login_token(fake: &FakeMas, user: &str, password: &str) -> String {
    let (s, v) = fake.compat_login(user, password);
    assert_eq!(s, 200, "{v}");
    let token = v["access_token"].as_str().unwrap().to_string();
    assert!(token.starts_with("mct_"), "a compatibility token");
    token
}

#[test]
fn lock_and_deactivation_end_logins_and_sessions_as_mas_does() {
    let fake = FakeMas::start();
    let pw = strong_password();
    let kim = create(&fake, "kim");
    set_password(&fake, &kim, &pw);
    let (s, v) = fake.admin(
        "POST",
        "/api/admin/v1/user-emails",
        Some(&json!({"user_id": kim, "email": "kim@example.com"})),
    );
    assert_eq!(s, 201, "{v}");
    let token = login_token(&fake, "kim", &pw);
    let active = fake.introspect(&token);
    assert_eq!(
        (&active["active"], &active["username"], &active["client_id"]),
        (&json!(true), &json!("kim"), &json!("legacy")),
        "{active}"
    );
    assert_eq!(active["sub"], kim.as_str());
    assert!(active["device_id"].is_string() && active.get("exp").is_none());
    assert_eq!(
        listed(&fake, "filter[has-active-compat-session]=true"),
        ["kim"]
    );

    // Lock: 401 M_USER_LOCKED before the password is checked, tokens inactive, sessions kept.
    let locked = action(&fake, &kim, "lock", None);
    assert!(locked["locked_at"].is_string() && locked["deactivated_at"].is_null());
    for password in [pw.as_str(), "wrong"] {
        assert_eq!(
            fake.compat_login("kim", password),
            (
                401,
                json!({"errcode": "M_USER_LOCKED", "error": "User account has been locked"})
            )
        );
    }
    assert_eq!(fake.introspect(&token), json!({"active": false}));
    assert_eq!(listed(&fake, "filter[status]=locked"), ["kim"]);
    assert!(listed(&fake, "filter[status]=active").is_empty());
    assert_eq!(
        listed(&fake, "filter[has-active-compat-session]=true"),
        ["kim"]
    );

    // Unlock: the same token is active again.
    let unlocked = action(&fake, &kim, "unlock", None);
    assert!(unlocked["locked_at"].is_null());
    assert_eq!(fake.introspect(&token)["active"], true);

    // Deactivate (no body): not locked, sessions finished, email addresses removed.
    let second = login_token(&fake, "kim", &pw);
    let deactivated = action(&fake, &kim, "deactivate", None);
    assert!(deactivated["deactivated_at"].is_string() && deactivated["locked_at"].is_null());
    assert_eq!(fake.introspect(&token), json!({"active": false}));
    assert_eq!(fake.introspect(&second), json!({"active": false}));
    assert_eq!(
        fake.compat_login("kim", &pw),
        (
            403,
            json!({"errcode": "M_FORBIDDEN", "error": "Invalid username/password"})
        )
    );
    assert!(
        fake.emails_of(&kim).is_empty(),
        "deactivation removes emails"
    );
    assert!(listed(&fake, "filter[status]=locked").is_empty());
    assert_eq!(listed(&fake, "filter[status]=deactivated"), ["kim"]);
    assert_eq!(
        listed(&fake, "filter[has-active-compat-session]=false"),
        ["kim"]
    );
    let again = action(
        &fake,
        &kim,
        "deactivate",
        Some(&json!({"skip_erase": true})),
    );
    assert_eq!(
        micros(&again["deactivated_at"]),
        micros(&deactivated["deactivated_at"]),
        "a second deactivation keeps the first time"
    );

    // Locked while deactivated: listed as locked now; reactivation does not unlock.
    action(&fake, &kim, "lock", None);
    assert_eq!(listed(&fake, "filter[status]=locked"), ["kim"]);
    let reactivated = action(&fake, &kim, "reactivate", None);
    assert!(reactivated["deactivated_at"].is_null() && reactivated["locked_at"].is_string());
    assert_eq!(fake.compat_login("kim", &pw).0, 401);
    action(&fake, &kim, "unlock", None);
    assert!(fake.can_login("kim", &pw), "the password survives");
    assert_eq!(
        fake.introspect(&token),
        json!({"active": false}),
        "finished sessions stay finished after reactivation"
    );
}

#[test]
fn search_filter_is_a_case_insensitive_like_pattern() {
    let fake = FakeMas::start();
    for name in ["a_b", "axb", "kim.k"] {
        create(&fake, name);
    }
    assert_eq!(listed(&fake, "filter[search]=a_b"), ["a_b", "axb"]);
    assert_eq!(listed(&fake, "filter[search]=a%5C_b"), ["a_b"]);
    assert_eq!(listed(&fake, "filter[search]=M.K"), ["kim.k"]);
    assert_eq!(listed(&fake, "filter[search]=%25").len(), 3);
    assert_eq!(listed(&fake, "filter[search]=k%25k"), ["kim.k"]);
    let (s, _) = fake.admin_get("/api/admin/v1/users?filter[search]=a%5C");
    assert_eq!(
        s, 500,
        "PostgreSQL refuses a pattern ending with the escape"
    );
    // The other filters of MAS 1.22's listing: no OAuth 2.0 sessions in the fake.
    assert!(listed(&fake, "filter[has-active-oauth2-session]=true").is_empty());
    assert_eq!(
        listed(&fake, "filter[has-active-oauth2-session]=false").len(),
        3
    );
    let unknown = "01JZZZZZZZZZZZZZZZZZZZZZZZ";
    let (s, v) = fake.admin_get(&format!(
        "/api/admin/v1/users?filter[active-oauth2-client]={unknown}"
    ));
    assert_eq!(
        (s, v),
        (
            404,
            json!({"errors": [{"title": format!("Client ID {unknown} not found")}]})
        )
    );
}

/// With a real Synapse delegating to the fake: Synapse asks the fake's introspection about each
/// token it has not seen for 2 minutes (its `mas_token_introspection` cache keeps answers,
/// active or not, for 2 minutes), and checks that the token's device still exists.
#[test]
fn synapse_refuses_old_tokens_of_locked_and_deactivated_users() {
    let port = crate::common::free_port();
    let fake = FakeMas::start_with(&FakeMasOptions {
        homeserver_url: Some(format!("http://127.0.0.1:{port}")),
        ..Default::default()
    });
    let synapse = Synapse::start_delegating(port, &[&fake.synapse_config()]);
    let whoami = |token: &str| -> (u16, Value) {
        let r = reqwest::blocking::Client::new()
            .get(format!("{}/_matrix/client/v3/account/whoami", synapse.url))
            .bearer_auth(token)
            .send()
            .unwrap();
        (r.status().as_u16(), r.json().unwrap_or(Value::Null))
    };
    let refused = |token: &str, why: &str| {
        let (s, v) = whoami(token);
        assert_eq!(
            (s, &v["errcode"]),
            (401, &json!("M_UNKNOWN_TOKEN")),
            "{why}: {v}"
        );
    };
    let pw = strong_password();
    let lea = create(&fake, "lea");
    set_password(&fake, &lea, &pw);
    let used = login_token(&fake, "lea", &pw);
    let unseen = login_token(&fake, "lea", &pw);
    let (s, v) = whoami(&used);
    assert_eq!((s, &v["user_id"]), (200, &json!("@lea:localhost")), "{v}");

    // Lock: a token Synapse asks about now is refused; one it validated before the lock is
    // still accepted from Synapse's cache (up to 2 minutes): a lock under MAS is not immediate.
    action(&fake, &lea, "lock", None);
    refused(&unseen, "a locked user's token");
    assert_eq!(whoami(&used).0, 200, "Synapse's introspection cache");
    action(&fake, &lea, "unlock", None);
    let after_unlock = login_token(&fake, "lea", &pw);
    assert_eq!(whoami(&after_unlock).0, 200, "unlocked: logins work again");

    // Deactivation: the fake tells Synapse (delete_user), which deletes the devices, so even
    // the cached token is refused at once.
    action(&fake, &lea, "deactivate", None);
    refused(&used, "a deactivated user's cached token");
    refused(&after_unlock, "a deactivated user's token");
    // Reactivation goes to Synapse synchronously. Synapse 1.163 answers it with 500 until the
    // background update profiles_full_user_id_key_idx has run on its fresh database
    // (docs/lifecycle-synapse.md), and so does the fake then: wait for it.
    synapse.wait_for_profile_index();
    // A new login works, old sessions stay ended.
    action(&fake, &lea, "reactivate", None);
    let fresh = login_token(&fake, "lea", &pw);
    assert_eq!(whoami(&fresh).0, 200);
    refused(&used, "a session from before the deactivation");
}
