//! registration_token and registration_token_info with backend mas.

use super::{check, task};
use crate::common::fake_mas::FakeMas;
use serde_json::{json, Value};

#[test]
fn registration_tokens_on_mas() {
    let mas = FakeMas::start();
    // Check mode creates nothing.
    let r = check(
        &mas,
        "registration_token",
        json!({"token": "spring", "max_usage": 3, "ex_date": "2030-01-01"}),
    )
    .ok();
    assert!(r.changed());
    assert!(mas.registration_token("spring").is_none());

    let r = task(
        &mas,
        "registration_token",
        json!({"token": "spring", "max_usage": 3, "ex_date": "2030-01-01"}),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(r.json["token"]["name"], "spring");
    assert_eq!(r.json["token"]["valid"], true);
    let t = mas.registration_token("spring").unwrap();
    assert_eq!(t["attributes"]["usage_limit"], 3);
    assert_eq!(t["attributes"]["expires_at"], "2030-01-01T00:00:00Z");

    // The same again: unchanged. A new limit and expiry: updated in place.
    let same = task(
        &mas,
        "registration_token",
        json!({"token": "spring", "max_usage": 3, "ex_date": "2030-01-01"}),
    )
    .ok();
    assert!(!same.changed(), "{}", same.stdout);
    let r = task(
        &mas,
        "registration_token",
        json!({"token": "spring", "max_usage": 0, "ex_date": "2031-06-01T10:00:00Z"}),
    )
    .ok();
    assert!(r.changed());
    let t = mas.registration_token("spring").unwrap();
    assert_eq!(
        t["attributes"]["usage_limit"],
        Value::Null,
        "0 is unlimited"
    );
    assert_eq!(t["attributes"]["expires_at"], "2031-06-01T10:00:00Z");
    assert_eq!(t["id"], mas.registration_token("spring").unwrap()["id"]);

    // Check mode predicts an update and a revocation, with a diff, and writes neither.
    let r = check(
        &mas,
        "registration_token",
        json!({"token": "spring", "max_usage": 9}),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(r.json["diff"]["before"]["max_usage"], 0);
    assert_eq!(r.json["diff"]["after"]["max_usage"], 9);
    let r = check(
        &mas,
        "registration_token",
        json!({"token": "spring", "state": "disabled"}),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(r.json["diff"]["after"]["disabled"], true);
    let t = mas.registration_token("spring").unwrap();
    assert_eq!(t["attributes"]["usage_limit"], Value::Null);
    assert!(t["attributes"]["revoked_at"].is_null());

    // disabled revokes, once.
    let r = task(
        &mas,
        "registration_token",
        json!({"token": "spring", "state": "disabled"}),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(r.json["token"]["disabled"], true);
    assert_eq!(r.json["token"]["valid"], false);
    assert!(!mas.registration_token("spring").unwrap()["attributes"]["revoked_at"].is_null());
    assert!(!task(
        &mas,
        "registration_token",
        json!({"token": "spring", "state": "disabled"})
    )
    .ok()
    .changed());

    // present on a revoked token un-revokes it only when asked.
    task(&mas, "registration_token", json!({"token": "spring"})).fails_with("unrevoke: true");
    assert!(!mas.registration_token("spring").unwrap()["attributes"]["revoked_at"].is_null());
    let r = task(
        &mas,
        "registration_token",
        json!({"token": "spring", "unrevoke": true}),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(r.json["token"]["valid"], true);
    assert!(mas.registration_token("spring").unwrap()["attributes"]["revoked_at"].is_null());

    // MAS cannot delete.
    task(
        &mas,
        "registration_token",
        json!({"token": "spring", "state": "absent"}),
    )
    .fails_with("use state=disabled");
    assert!(mas.registration_token("spring").is_some());

    // Without a name MAS picks one; the module returns it.
    let r = task(
        &mas,
        "registration_token",
        json!({"one_time": true, "expires_in": "7d"}),
    )
    .ok();
    let name = r.json["token"]["name"].as_str().unwrap().to_string();
    assert_eq!(name.len(), 12, "{name}");
    let t = mas.registration_token(&name).unwrap();
    assert_eq!(t["attributes"]["usage_limit"], 1);
    assert!(!t["attributes"]["expires_at"].is_null());
}

#[test]
fn registration_token_info_on_mas() {
    let mas = FakeMas::start();
    // More tokens than one page of the module's listing (100), one revoked, one expired.
    for i in 0..105 {
        let (s, v) = mas.admin(
            "POST",
            "/api/admin/v1/user-registration-tokens",
            Some(&json!({"token": format!("tok{i:03}"), "usage_limit": 2})),
        );
        assert_eq!(s, 201, "{v}");
    }
    let (_, past) = mas.admin(
        "POST",
        "/api/admin/v1/user-registration-tokens",
        Some(&json!({"token": "old", "expires_at": "2020-01-01T00:00:00Z"})),
    );
    assert_eq!(past["data"]["attributes"]["valid"], false);
    let revoked = mas.registration_token("tok104").unwrap();
    let (s, _) = mas.admin(
        "POST",
        &format!(
            "/api/admin/v1/user-registration-tokens/{}/revoke",
            revoked["id"].as_str().unwrap()
        ),
        None,
    );
    assert_eq!(s, 200);

    let all = task(&mas, "registration_token_info", json!({})).ok();
    assert!(!all.changed());
    assert_eq!(all.json["tokens"].as_array().unwrap().len(), 106);
    assert_eq!(mas.registration_tokens().len(), 106);
    let valid = task(&mas, "registration_token_info", json!({"valid": true})).ok();
    let names: Vec<&str> = valid.json["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 104);
    assert!(!names.contains(&"old") && !names.contains(&"tok104"));
    let invalid = task(&mas, "registration_token_info", json!({"valid": false})).ok();
    assert_eq!(invalid.json["tokens"].as_array().unwrap().len(), 2);

    let one = task(&mas, "registration_token_info", json!({"token": "tok104"})).ok();
    assert_eq!(
        one.json["tokens"],
        json!([{"name": "tok104", "max_usage": 2, "used": 0, "expiration_date": null,
                "disabled": true, "valid": false}])
    );
    let none = task(&mas, "registration_token_info", json!({"token": "missing"})).ok();
    assert_eq!(none.json["tokens"], json!([]));
}
