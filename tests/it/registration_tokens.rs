//! registration_token and registration_token_info against real servers: matrix-registration
//! 0.7.2 (the API matrix-docker-ansible-deploy deployed) and 0.9.1.post1, both in front of a real
//! Synapse, and Synapse's own registration tokens (registration_requires_token).

use crate::common::*;
use serde_json::{json, Value};
use std::sync::OnceLock;

struct Servers {
    synapse: Synapse,
    m09: Mreg,
    m07: Mreg,
}

fn servers() -> &'static Servers {
    static S: OnceLock<Servers> = OnceLock::new();
    S.get_or_init(|| {
        let synapse = Synapse::start_with_token_registration();
        let m09 = Mreg::start("0.9", &synapse);
        let m07 = Mreg::start("0.7", &synapse);
        Servers { synapse, m09, m07 }
    })
}

fn mreg_args(m: &Mreg, extra: Value) -> Value {
    let mut v = json!({"api_url": m.url, "admin_secret": m.admin_secret});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

fn synapse_args(s: &Synapse, extra: Value) -> Value {
    let mut v =
        json!({"backend": "synapse", "homeserver_url": s.url, "access_token": s.admin_token});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

fn both() -> [&'static Mreg; 2] {
    let s = servers();
    [&s.m07, &s.m09]
}

#[test]
fn mreg_one_time_token_registers_once_then_is_used_up() {
    let s = servers();
    for m in both() {
        let r = run_module(
            "registration_token",
            mreg_args(m, json!({"one_time": "yes", "ex_date": "2031-12-31"})),
        )
        .ok();
        assert!(r.changed());
        let t = &r.json["token"];
        let name = t["name"].as_str().unwrap().to_string();
        assert_eq!(t["max_usage"], 1, "{}", r.stdout);
        assert_eq!(t["used"], 0);
        assert_eq!(t["expiration_date"], "2031-12-31T00:00:00Z");
        assert_eq!(t["valid"], true);
        assert_eq!(
            r.json["registration_url"],
            format!("{}/register?token={name}", m.url)
        );
        assert!(!m.token(&name).is_null(), "{} has the token", m.version);

        // Listed, among the valid ones.
        let info = run_module(
            "registration_token_info",
            mreg_args(m, json!({"valid": true})),
        )
        .ok();
        assert!(!info.changed());
        assert!(info.json["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == name.as_str()));

        // A person registers with it, through the service's page.
        let user = unique_user(&format!("viatoken{}", m.version.replace('.', "")));
        let (status, body) = m.register(&user, "long-enough-pw", &name);
        assert_eq!(status, 200, "{} registration: {body}", m.version);
        assert!(s.synapse.user(&format!("@{user}:localhost")).is_some());

        // Used up: no longer valid, and a second registration is refused.
        let info = run_module(
            "registration_token_info",
            mreg_args(m, json!({"token": name})),
        )
        .ok();
        let t = &info.json["tokens"][0];
        assert_eq!(t["used"], 1);
        assert_eq!(t["valid"], false);
        let again = unique_user("reuse");
        let (status, _) = m.register(&again, "long-enough-pw", &name);
        assert_eq!(status, 400);
        assert!(s.synapse.user(&format!("@{again}:localhost")).is_none());
        let valid = run_module(
            "registration_token_info",
            mreg_args(m, json!({"valid": true})),
        )
        .ok();
        assert!(!valid.json["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == name.as_str()));
    }
}

#[test]
fn mreg_disabled_token_refuses_registration() {
    let s = servers();
    for m in both() {
        let name = run_module("registration_token", mreg_args(m, json!({})))
            .ok()
            .json["token"]["name"]
            .as_str()
            .unwrap()
            .to_string();
        let args = mreg_args(m, json!({"token": name, "state": "disabled"}));
        let r = run_module_with(
            "registration_token",
            args.clone(),
            &[("_ansible_check_mode", json!(true))],
        )
        .ok();
        assert!(r.changed());
        let server = m.token(&name);
        assert!(
            server["valid"] == true || server["active"] == true,
            "check mode left it usable: {server}"
        );

        let r = run_module_with(
            "registration_token",
            args.clone(),
            &[("_ansible_diff", json!(true))],
        )
        .ok();
        assert!(r.changed());
        assert_eq!(r.json["token"]["disabled"], true, "{}", r.stdout);
        assert_eq!(r.json["diff"]["before"]["disabled"], false);
        let r = run_module("registration_token", args).ok();
        assert!(!r.changed(), "disabling twice is no change: {}", r.stdout);

        let user = unique_user("refused");
        let (status, _) = m.register(&user, "long-enough-pw", &name);
        assert_eq!(status, 400, "{}", m.version);
        assert!(s.synapse.user(&format!("@{user}:localhost")).is_none());
    }
}

#[test]
fn mreg_check_mode_creates_nothing_and_absent_points_to_disabled() {
    // Services of its own: it counts tokens, and other tests create some in parallel.
    let own = [
        Mreg::start("0.7", &servers().synapse),
        Mreg::start("0.9", &servers().synapse),
    ];
    for m in &own {
        let before = m.tokens().len();
        let r = run_module_with(
            "registration_token",
            mreg_args(m, json!({"one_time": true})),
            &[("_ansible_check_mode", json!(true))],
        )
        .ok();
        assert!(r.changed());
        assert!(r.json["token"].is_null());
        assert_eq!(m.tokens().len(), before);
        run_module(
            "registration_token",
            mreg_args(m, json!({"token": "SomeToken", "state": "absent"})),
        )
        .fails_with("state=disabled");
        run_module(
            "registration_token",
            mreg_args(m, json!({"token": "NoSuchTokenHere"})),
        )
        .fails_with("picks token names itself");
        assert_eq!(m.tokens().len(), before);
    }
}

#[test]
fn mreg_09_converges_usage_limits_and_refuses_expiry_changes() {
    let m = &servers().m09;
    let name = run_module("registration_token", mreg_args(m, json!({"max_usage": 3})))
        .ok()
        .json["token"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let r = run_module(
        "registration_token",
        mreg_args(m, json!({"token": name, "max_usage": 5})),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(m.token(&name)["max_usage"], 5);
    let r = run_module(
        "registration_token",
        mreg_args(m, json!({"token": name, "max_usage": 5})),
    )
    .ok();
    assert!(!r.changed());
    run_module(
        "registration_token",
        mreg_args(m, json!({"token": name, "ex_date": "2032-01-01"})),
    )
    .fails_with("cannot change the expiry");
    assert!(m.token(&name)["expiration_date"].is_null());
}

#[test]
fn mreg_07_limits_are_explained() {
    let m = &Mreg::start("0.7", &servers().synapse);
    let before = m.tokens().len();
    run_module("registration_token", mreg_args(m, json!({"max_usage": 5}))).fails_with("needs 0.9");
    assert_eq!(m.tokens().len(), before);
    let name = run_module(
        "registration_token",
        mreg_args(m, json!({"one_time": false})),
    )
    .ok()
    .json["token"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    run_module(
        "registration_token",
        mreg_args(m, json!({"token": name, "one_time": true})),
    )
    .fails_with("cannot change the usage limit");
}

#[test]
fn bad_input_fails_clearly_and_changes_nothing() {
    let s = servers();
    // A service of its own: it counts tokens, and other tests create some in parallel.
    let m = &Mreg::start("0.9", &s.synapse);
    let before = m.tokens().len();
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let cases: Vec<(Value, &str)> = vec![
        (json!({"ex_date": "2020-01-01"}), "is in the past"),
        (json!({"ex_date": "31/12/2030"}), "is not a date"),
        (json!({"ex_date": "2030-02-30"}), "is not a date"),
        (json!({"expires_in": "soon"}), "is not a duration"),
        (json!({"expires_in": "-1d"}), "is not a duration"),
        (json!({"max_usage": -1}), "max_usage must be 0"),
        (json!({"max_usage": "many"}), "'max_usage'"),
        (json!({"one_time": "perhaps"}), "'one_time'"),
        (
            json!({"one_time": true, "max_usage": 2}),
            "mutually exclusive: one_time|max_usage",
        ),
        (
            json!({"ex_date": "2031-01-01", "expires_in": "7d"}),
            "mutually exclusive: ex_date|expires_in",
        ),
        (
            json!({"token": "../etc", "state": "disabled"}),
            "may only contain",
        ),
        (
            json!({"token": "a%2Fb", "state": "disabled"}),
            "may only contain",
        ),
        (json!({"state": "disabled"}), "needs token"),
        (json!({"state": "gone"}), "value of state must be one of"),
        (
            json!({"admin_secret": "wrong-admin-secret-1"}),
            "refused admin_secret",
        ),
        (
            json!({"api_url": nowhere, "retries": 0}),
            "connection refused",
        ),
        (
            json!({"api_url": "matrix-registration.example"}),
            "api_url is not a valid URL",
        ),
        (json!({"admin_secret": null}), "needs admin_secret"),
        (json!({"api_url": null}), "needs api_url"),
    ];
    for (change, want) in cases {
        let mut args = mreg_args(m, json!({}));
        for (k, v) in change.as_object().unwrap() {
            if v.is_null() {
                args.as_object_mut().unwrap().remove(k);
            } else {
                args[k] = v.clone();
            }
        }
        let r = run_module("registration_token", args).fails_with(want);
        assert!(!r.stdout.contains(&m.admin_secret) && !r.stdout.contains("wrong-admin-secret-1"));
    }
    assert_eq!(m.tokens().len(), before, "no bad input may create a token");
    run_module(
        "registration_token_info",
        mreg_args(m, json!({"admin_secret": "nope-nope"})),
    )
    .fails_with("refused admin_secret");
    run_module(
        "registration_token",
        synapse_args(&s.synapse, json!({"access_token": "syt_bogus_token"})),
    )
    .fails_with("access token was refused");
}

#[test]
fn synapse_named_token_converges_registers_and_is_used_up() {
    let s = &servers().synapse;
    let name = unique_user("workshop");
    let args = synapse_args(
        s,
        json!({"token": name, "one_time": "yes", "ex_date": "2031-06-30T18:00:00Z"}),
    );

    let r = run_module_with(
        "registration_token",
        args.clone(),
        &[("_ansible_check_mode", json!(true))],
    )
    .ok();
    assert!(r.changed());
    assert_eq!(
        s.admin_get(&format!("/_synapse/admin/v1/registration_tokens/{name}"))
            .0,
        404
    );

    let r = run_module("registration_token", args.clone()).ok();
    assert!(r.changed());
    assert!(r.json.get("registration_url").is_none());
    let (status, server) = s.admin_get(&format!("/_synapse/admin/v1/registration_tokens/{name}"));
    assert_eq!(status, 200);
    assert_eq!(server["uses_allowed"], 1);
    assert_eq!(
        server["expiry_time"], 1_940_608_800_000i64,
        "2031-06-30T18:00:00Z in ms"
    );
    let r = run_module("registration_token", args.clone()).ok();
    assert!(!r.changed(), "same token, same settings: {}", r.stdout);

    let user = unique_user("synreg");
    assert!(s.register_with_token(&user, "synapse-token-pw", &name));
    assert!(s.user(&format!("@{user}:localhost")).is_some());
    let info = run_module(
        "registration_token_info",
        synapse_args(s, json!({"token": name})),
    )
    .ok();
    assert_eq!(info.json["tokens"][0]["used"], 1);
    assert_eq!(info.json["tokens"][0]["valid"], false);
    let again = unique_user("synreuse");
    assert!(!s.register_with_token(&again, "synapse-token-pw", &name));
    assert!(s.user(&format!("@{again}:localhost")).is_none());

    let r = run_module(
        "registration_token",
        synapse_args(s, json!({"token": name, "max_usage": 3})),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(
        s.admin_get(&format!("/_synapse/admin/v1/registration_tokens/{name}"))
            .1["uses_allowed"],
        3
    );
}

#[test]
fn synapse_disable_and_delete() {
    let s = &servers().synapse;
    let name = unique_user("todisable");
    run_module(
        "registration_token",
        synapse_args(s, json!({"token": name})),
    )
    .ok();
    let r = run_module(
        "registration_token",
        synapse_args(s, json!({"token": name, "state": "disabled"})),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(r.json["token"]["disabled"], true);
    // Synapse has no flag: the token now expires at the moment it was disabled.
    let server = s
        .admin_get(&format!("/_synapse/admin/v1/registration_tokens/{name}"))
        .1;
    assert!(
        server["expiry_time"].as_i64().unwrap() <= chrono_now_ms(),
        "{server}"
    );
    let user = unique_user("disabledreg");
    assert!(
        !s.register_with_token(&user, "synapse-token-pw", &name),
        "a disabled token registers nobody"
    );
    let r = run_module(
        "registration_token",
        synapse_args(s, json!({"token": name, "state": "disabled"})),
    )
    .ok();
    assert!(!r.changed());
    let invalid = run_module(
        "registration_token_info",
        synapse_args(s, json!({"valid": false})),
    )
    .ok();
    assert!(invalid.json["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["name"] == name.as_str()));

    let absent = synapse_args(s, json!({"token": name, "state": "absent"}));
    let r = run_module_with(
        "registration_token",
        absent.clone(),
        &[("_ansible_check_mode", json!(true))],
    )
    .ok();
    assert!(r.changed());
    assert_eq!(
        s.admin_get(&format!("/_synapse/admin/v1/registration_tokens/{name}"))
            .0,
        200
    );
    let r = run_module("registration_token", absent.clone()).ok();
    assert!(r.changed());
    assert_eq!(
        s.admin_get(&format!("/_synapse/admin/v1/registration_tokens/{name}"))
            .0,
        404
    );
    let r = run_module("registration_token", absent).ok();
    assert!(!r.changed());
}

#[test]
fn synapse_login_credentials_leave_no_device() {
    let s = &servers().synapse;
    let admin_id = format!("@{}:localhost", s.admin_user);
    let before = s.device_count(&admin_id);
    let r = run_module(
        "registration_token_info",
        json!({"backend": "synapse", "homeserver_url": s.url, "admin_username": s.admin_user, "admin_password": s.admin_password}),
    )
    .ok();
    assert!(r.json["tokens"].is_array());
    assert_eq!(s.device_count(&admin_id), before);
    assert!(!r.stdout.contains(&s.admin_password));
}

fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
