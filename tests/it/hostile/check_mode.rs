//! Check mode and no_log fail safe.

use super::{args_for, MODULES};
use crate::common::hostile::fake_homeserver;
use crate::common::{random_secret, run_module_with, unique_user, Mreg, Synapse};
use serde_json::json;

#[test]
fn check_mode_and_no_log_are_read_as_ansible_booleans() {
    let hs = fake_homeserver("localhost", false, |u| format!("@{u}:localhost"));
    let a = args_for("register_user", &hs.url, "s3cret-flags");
    let mut cases = 0;
    for yes in [
        json!("yes"),
        json!("True"),
        json!(1),
        json!("on"),
        json!(" Y "),
    ] {
        let r = run_module_with(
            "register_user",
            a.clone(),
            &[("_ansible_check_mode", yes.clone())],
        )
        .ok();
        assert!(r.msg().contains("would be created"), "{yes}: {}", r.stdout);
        cases += 1;
    }
    assert!(
        hs.requests_to("POST", "/").is_empty(),
        "check mode must not register: {:?}",
        hs.requests()
    );
    for yes in [json!("yes"), json!("True"), json!(1)] {
        let r = run_module_with(
            "register_user",
            a.clone(),
            &[("_ansible_no_log", yes.clone())],
        );
        assert!(r.json.get("invocation").is_none(), "{yes}: {}", r.stdout);
        cases += 1;
    }
    let before = hs.requests().len();
    for flag in ["_ansible_check_mode", "_ansible_no_log", "_ansible_diff"] {
        for bad in [
            json!("maybe"),
            json!(2),
            json!(""),
            json!([true]),
            json!({"a": 1}),
        ] {
            let r = run_module_with("register_user", a.clone(), &[(flag, bad.clone())]);
            assert!(r.failed(), "{flag}={bad}: {}", r.stdout);
            assert!(r.msg().contains(flag), "{}", r.msg());
            assert!(r.json.get("invocation").is_none());
            cases += 1;
        }
    }
    assert_eq!(
        hs.requests().len(),
        before,
        "an unreadable flag sends nothing"
    );
    assert_eq!(cases, 23);
}

#[test]
fn check_mode_as_a_string_creates_nothing_on_synapse() {
    let s = Synapse::shared();
    let name = unique_user("strcheck");
    let r = run_module_with(
        "register_user",
        json!({"homeserver_url": s.url, "shared_secret": s.shared_secret, "server_name": "localhost",
               "username": name, "password": random_secret("pw")}),
        &[("_ansible_check_mode", json!("yes"))],
    )
    .ok();
    assert!(r.changed());
    assert!(s.user(&format!("@{name}:localhost")).is_none());
}

#[test]
fn check_mode_never_logs_in() {
    // The hostile server records any login; check mode must send none, with every module.
    let hs = fake_homeserver("localhost", false, |u| format!("@{u}:localhost"));
    let login =
        json!({"admin_username": "root", "admin_password": "adm-s3cret-pw", "access_token": null});
    for module in MODULES {
        let mut a = args_for(module, &hs.url, "unused-secret");
        for (k, v) in login.as_object().unwrap() {
            a[k] = v.clone();
        }
        if module == "register_user" {
            a["update_password"] = json!("always");
        }
        let r = run_module_with(module, a, &[("_ansible_check_mode", json!(true))]);
        assert!(
            r.stdout.contains("check mode") && r.stdout.contains("access_token"),
            "{module} must say what it could not predict: {}",
            r.stdout
        );
        assert!(!r.stdout.contains("adm-s3cret-pw"));
    }
    assert!(
        hs.requests_to("POST", "/_matrix/client/v3/login")
            .is_empty(),
        "no login in check mode"
    );
    assert!(hs
        .requests_to("POST", "/_matrix/client/v3/logout")
        .is_empty());
}

#[test]
fn check_mode_with_a_login_predicts_against_synapse_without_a_device() {
    let s = Synapse::shared();
    let name = unique_user("chklogin");
    let admin = s.new_admin("chkadmin");
    let devices = s.device_count(&admin.user_id);
    let r = run_module_with(
        "register_user",
        json!({"homeserver_url": s.url, "shared_secret": s.shared_secret, "server_name": "localhost",
               "username": name, "password": random_secret("pw"),
               "admin_username": admin.name, "admin_password": admin.password}),
        &[("_ansible_check_mode", json!(true))],
    )
    .ok();
    assert!(r.changed());
    assert!(r.stdout.contains("does not log in"), "{}", r.stdout);
    assert_eq!(s.device_count(&admin.user_id), devices);
    assert!(s.user(&format!("@{name}:localhost")).is_none());
}

#[test]
fn check_mode_as_a_string_creates_no_token_on_matrix_registration_or_synapse() {
    let synapse = Synapse::start_with_token_registration();
    let mreg = Mreg::start("0.9", &synapse);
    let before = mreg.tokens().len();
    for check in [json!("yes"), json!("True"), json!(1)] {
        let r = run_module_with(
            "registration_token",
            json!({"backend": "matrix_registration", "api_url": mreg.url,
                   "admin_secret": mreg.admin_secret, "max_usage": 1}),
            &[("_ansible_check_mode", check.clone())],
        )
        .ok();
        assert!(r.changed(), "{check}: {}", r.stdout);
        let name = unique_user("chk").replace('-', "_");
        let r = run_module_with(
            "registration_token",
            json!({"backend": "synapse", "homeserver_url": synapse.url,
                   "access_token": synapse.admin_token, "token": name, "max_usage": 1}),
            &[("_ansible_check_mode", check.clone())],
        )
        .ok();
        assert!(r.changed(), "{check}: {}", r.stdout);
        let (status, _) =
            synapse.admin_get(&format!("/_synapse/admin/v1/registration_tokens/{name}"));
        assert_eq!(
            status, 404,
            "{check}: check mode created Synapse token {name}"
        );
    }
    assert_eq!(mreg.tokens().len(), before, "check mode created a token");
}
