//! user_info with backend mas, against the FAKE MAS: accounts in distinct states made through
//! the fake's admin API, each filter compared with the fake's own records; one account with its
//! e-mail addresses; a missing one. Every request the module sends must have the shape of one a
//! real MAS answered in the recording (checked by `run`).

use super::{mas_args, run};
use crate::common::fake_mas::FakeMas;
use serde_json::{json, Value};
use std::collections::BTreeSet;

fn create(mas: &FakeMas, username: &str) -> String {
    let (s, v) = mas.admin(
        "POST",
        "/api/admin/v1/users",
        Some(&json!({"username": username})),
    );
    assert_eq!(s, 201, "{v}");
    v["data"]["id"].as_str().unwrap().to_string()
}

fn act(mas: &FakeMas, id: &str, what: &str, body: Option<&Value>) {
    let (s, v) = mas.admin("POST", &format!("/api/admin/v1/users/{id}/{what}"), body);
    assert_eq!(s, 200, "{what}: {v}");
}

/// A user as the fake's own admin API shows it, in the module's shape.
fn mas_says(data: &Value, emails: Option<Vec<String>>) -> Value {
    let a = &data["attributes"];
    let created = chrono::DateTime::parse_from_rfc3339(a["created_at"].as_str().unwrap())
        .unwrap()
        .to_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    json!({
        "user_id": format!("@{}:localhost", a["username"].as_str().unwrap()),
        "admin": a["admin"] == true,
        "user_type": null,
        "deactivated": !a["deactivated_at"].is_null(),
        "locked": !a["locked_at"].is_null(),
        "displayname": null,
        "created": created,
        "emails": emails,
    })
}

#[test]
fn the_fake_mas_listing_every_filter_and_one_account() {
    let mas = FakeMas::start();
    let plain = create(&mas, "plain");
    let boss = create(&mas, "boss");
    act(&mas, &boss, "set-admin", Some(&json!({"admin": true})));
    let frozen = create(&mas, "frozen");
    act(&mas, &frozen, "lock", None);
    let gone = create(&mas, "gone");
    act(&mas, &gone, "deactivate", None);
    let both = create(&mas, "both");
    act(&mas, &both, "deactivate", None);
    act(&mas, &both, "lock", None);
    let (s, v) = mas.admin(
        "POST",
        "/api/admin/v1/user-emails",
        Some(&json!({"user_id": plain, "email": "plain@example.org"})),
    );
    assert_eq!(s, 201, "{v}");

    let truth: Vec<Value> = mas.users().iter().map(|u| mas_says(u, None)).collect();
    assert_eq!(truth.len(), 5);
    type Want = fn(&Value) -> bool;
    let rows: &[(Value, Want)] = &[
        (json!({}), |_| true),
        (json!({"admins": true}), |u| u["admin"] == true),
        (json!({"deactivated": true}), |u| u["deactivated"] == true),
        (json!({"deactivated": false}), |u| u["deactivated"] == false),
        (json!({"locked": true}), |u| u["locked"] == true),
        (json!({"locked": false, "deactivated": false}), |u| {
            u["locked"] == false && u["deactivated"] == false
        }),
        (json!({"name": "O"}), |u| {
            u["user_id"].as_str().unwrap().contains('o')
        }),
        (json!({"user_type": "bot"}), |_| false),
        (json!({"user_type": "regular"}), |_| true),
    ];
    for (filter, want) in rows {
        let r = run(&mas, "user_info", mas_args(&mas, filter.clone()));
        assert!(!r.failed() && !r.changed(), "{filter}: {}", r.stdout);
        let got: BTreeSet<String> = r.json["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(Value::to_string)
            .collect();
        let expected: BTreeSet<String> = truth
            .iter()
            .filter(|u| want(u))
            .map(Value::to_string)
            .collect();
        assert_eq!(got, expected, "filter {filter}");
        assert_eq!(r.json["count"], expected.len(), "filter {filter}");
        assert!(!r.stdout.contains(&mas.admin_client_secret));
    }

    // One account, with its addresses as MAS keeps them.
    let r = run(
        &mas,
        "user_info",
        mas_args(&mas, json!({"username": "plain"})),
    );
    let data = mas.user("plain").unwrap();
    assert_eq!(
        r.json["users"],
        json!([mas_says(&data, Some(mas.emails_of(&plain)))]),
        "{}",
        r.stdout
    );
    assert_eq!(r.json["users"][0]["emails"], json!(["plain@example.org"]));

    let r = run(
        &mas,
        "user_info",
        mas_args(&mas, json!({"username": "@ghost:localhost"})),
    );
    assert_eq!(r.json["users"], json!([]), "{}", r.stdout);
    assert!(mas.user("ghost").is_none());

    let r = run(
        &mas,
        "user_info",
        mas_args(&mas, json!({"username": "@plain:elsewhere"})),
    );
    assert!(r.failed(), "{}", r.stdout);
    assert!(r.msg().contains("elsewhere"), "{}", r.msg());
    assert!(r.json.get("users").is_none());
}
