//! Long lists of users on a real Synapse: with admin credentials, which accounts exist comes from
//! one paged admin listing (no look-up and no registration attempt per existing account), and
//! the result lists only what changed.

use crate::common::*;
use serde_json::{json, Value};

fn users(prefix: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"username": format!("{prefix}{i:04}"), "password": "scale-password-1"}))
        .collect()
}

/// Request lines of Synapse's access log that contain `what`.
fn requests(s: &Synapse, what: &str) -> usize {
    s.log()
        .lines()
        .filter(|l| l.contains("Processed request") && l.contains(what))
        .count()
}

#[test]
fn a_rerun_with_an_admin_token_registers_nothing_and_sends_no_registration() {
    let s = Synapse::start(&[], &[]);
    let list = users("scale", 1000);
    let args = json!({"homeserver_url": s.url, "shared_secret": s.shared_secret,
                      "access_token": s.admin_token, "users": list, "concurrency": 8});
    let r = run_module("register_user", args.clone()).ok();
    assert_eq!(r.json["created"], 1000);
    assert_eq!(r.json["results"].as_array().unwrap().len(), 1000);
    let (_, listed) = s.admin_get("/_synapse/admin/v2/users?guests=false&limit=1");
    assert_eq!(listed["total"], 1001, "1000 accounts and the harness admin");

    let registrations = requests(&s, "POST /_synapse/admin/v1/register");
    assert!(registrations >= 1000, "the access log shows each request");
    let lookups = requests(&s, "GET /_synapse/admin/v2/users/%40");
    let r = run_module("register_user", args).ok();
    assert!(!r.changed());
    assert_eq!(r.json["created"], 0);
    assert_eq!(r.json["existing"], 1000);
    assert_eq!(r.json["results"], json!([]), "only changes are listed");
    assert_eq!(
        r.json["invocation"]["module_args"]["users"],
        "(1000 entries, not echoed)"
    );
    assert_eq!(
        requests(&s, "POST /_synapse/admin/v1/register"),
        registrations,
        "no registration request on a re-run"
    );
    assert_eq!(
        requests(&s, "GET /_synapse/admin/v2/users/%40"),
        lookups,
        "no look-up per account"
    );
    assert!(requests(&s, "GET /_synapse/admin/v2/users?guests=false") >= 1);
}

#[test]
fn a_partly_existing_list_registers_exactly_the_missing_ones() {
    let s = Synapse::start(&[], &[]);
    let all = users("part", 150);
    let base = json!({"homeserver_url": s.url, "shared_secret": s.shared_secret,
                      "access_token": s.admin_token, "concurrency": 8});
    let mut first = base.clone();
    first["users"] = json!(all[..100]);
    run_module("register_user", first).ok();

    let registrations = requests(&s, "POST /_synapse/admin/v1/register");
    let mut second = base.clone();
    second["users"] = json!(all);
    let r = run_module("register_user", second.clone()).ok();
    assert!(r.changed());
    assert_eq!(r.json["created"], 50);
    assert_eq!(r.json["existing"], 100);
    let results = r.json["results"].as_array().unwrap();
    assert_eq!(results.len(), 50);
    for (k, e) in results.iter().enumerate() {
        assert_eq!(e["index"], 100 + k as u64);
        assert_eq!(e["created"], true);
    }
    assert_eq!(
        requests(&s, "POST /_synapse/admin/v1/register") - registrations,
        50,
        "exactly one registration per missing account"
    );
    for i in [0, 99, 100, 149] {
        assert!(s.user(&format!("@part{i:04}:localhost")).is_some());
    }

    // Asked for, every account is listed.
    second["report_unchanged"] = json!(true);
    let r = run_module("register_user", second).ok();
    assert!(!r.changed());
    assert_eq!(r.json["results"].as_array().unwrap().len(), 150);
}

#[test]
fn admin_given_for_existing_accounts_converges_with_credentials() {
    let s = Synapse::shared();
    let name = unique_user("promote");
    s.register_raw(&name, "promote-pw-1", false, true);
    let id = format!("@{name}:localhost");
    let args = json!({"homeserver_url": s.url, "shared_secret": s.shared_secret,
                      "access_token": s.admin_token, "username": name,
                      "password": "promote-pw-1", "admin": "yes"});

    // Check mode predicts, changes nothing.
    let r = run_module_with(
        "register_user",
        args.clone(),
        &[("_ansible_check_mode", json!(true))],
    )
    .ok();
    assert!(r.changed());
    assert_eq!(r.json["admin_updated"], true);
    assert_eq!(s.user(&id).unwrap()["admin"], false);

    let r = run_module("register_user", args.clone()).ok();
    assert!(r.changed());
    assert_eq!(r.json["created"], false);
    assert_eq!(r.json["admin_updated"], true);
    assert_eq!(s.user(&id).unwrap()["admin"], true);
    let r = run_module("register_user", args.clone()).ok();
    assert!(!r.changed(), "converged: {}", r.stdout);

    // Without admin given, an existing admin stays one.
    let mut unasked = args.clone();
    unasked.as_object_mut().unwrap().remove("admin");
    assert!(!run_module("register_user", unasked).ok().changed());
    assert_eq!(s.user(&id).unwrap()["admin"], true);

    // Without credentials, the module cannot tell or change it: it says what to run.
    let mut plain = args;
    plain.as_object_mut().unwrap().remove("access_token");
    plain["admin"] = json!(false);
    plain["server_name"] = json!("localhost");
    let r = run_module("register_user", plain).ok();
    assert!(!r.changed());
    let warning = r.json["warnings"][0].as_str().unwrap_or_default();
    assert!(
        warning.contains("admin=no") && warning.contains("--tags=update-user-admin"),
        "{warning}"
    );
    assert_eq!(s.user(&id).unwrap()["admin"], true);
}

#[test]
fn bulk_entries_converge_their_admin_flags() {
    let s = Synapse::shared();
    let (a, b) = (unique_user("bulkadm"), unique_user("bulkadm"));
    s.register_raw(&a, "bulk-adm-pw", false, true);
    s.register_raw(&b, "bulk-adm-pw", true, true);
    let args = json!({"homeserver_url": s.url, "shared_secret": s.shared_secret,
                      "access_token": s.admin_token, "users": [
                          {"username": a, "password": "bulk-adm-pw", "admin": true},
                          {"username": b, "password": "bulk-adm-pw", "admin": false}]});
    let r = run_module("register_user", args.clone()).ok();
    assert_eq!(r.json["admin_flags_changed"], 2);
    assert_eq!(s.user(&format!("@{a}:localhost")).unwrap()["admin"], true);
    assert_eq!(s.user(&format!("@{b}:localhost")).unwrap()["admin"], false);
    assert!(!run_module("register_user", args).ok().changed());
}
