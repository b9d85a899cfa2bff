//! The users-as-code tags against a real Synapse (PyPI): MDAD's lists created once with their
//! create-only meaning, the full list converged, a re-run that changes nothing, a changed entry
//! that converges only its account, `--check` that writes nothing, bad entries that fail alone,
//! and exclusive mode (its own Synapse, since it deactivates what no list names).

use super::{item, plan_of};
use crate::common::operator::*;
use crate::common::*;
use crate::synapse_lifecycle_facts::sqlite;
use serde_json::{json, Value};

/// The vars.yml of an MDAD operator with Synapse, its client API published, and an admin token
/// for the role, plus `extra` YAML lines.
fn vars(s: &Synapse, extra: &str) -> String {
    format!(
        "---\n\
         matrix_domain: localhost\n\
         matrix_homeserver_implementation: synapse\n\
         matrix_homeserver_generic_secret_key: 'not-used-with-the-secret-below'\n\
         matrix_synapse_registration_shared_secret: '{secret}'\n\
         matrix_playbook_reverse_proxy_type: playbook-managed-traefik\n\
         postgres_connection_password: 'not-used-by-these-tags'\n\
         matrix_synapse_container_client_api_host_bind_port: '127.0.0.1:{port}'\n\
         matrix_user_management_access_token: '{token}'\n\
         {extra}",
        secret = s.shared_secret,
        port = s.url.rsplit(':').next().unwrap(),
        token = s.admin_token,
    )
}

fn id(name: &str) -> String {
    format!("@{name}:localhost")
}

/// Registrations Synapse logged (one line per request to the shared-secret endpoint).
fn registrations_logged(s: &Synapse) -> usize {
    s.log()
        .lines()
        .filter(|l| l.contains("POST /_synapse/admin/v1/register"))
        .count()
}

#[test]
fn mdad_lists_and_the_full_list_converge_in_one_call() {
    let s = sqlite();
    let c = Checkout::new();
    let bot = unique_user("baibot");
    let (alice, sup, plain) = (
        unique_user("alice"),
        unique_user("helpdesk"),
        unique_user("paul"),
    );
    let (carol, dave, erin) = (
        unique_user("carol"),
        unique_user("dave"),
        unique_user("erin"),
    );
    let bot_pw = random_secret("bot-pw");
    let alice_pw = random_secret("alice-pw");
    let carol_pw = random_secret("carol-pw");
    let dave_pw = random_secret("dave-pw");
    // dave's password lives in a file on the target, as password_file says.
    let dave_file = c.path().join("dave.password");
    std::fs::write(&dave_file, format!("{dave_pw}\n")).unwrap();
    // erin exists already: the list deactivates her.
    s.register_raw(&erin, "erin-pw-1", false, true);
    let lists = |carol_admin: bool, alice_type: &str| {
        format!(
            // MDAD computes matrix_user_creator_users_auto from its bots' settings: baibot here.
            "matrix_bot_baibot_enabled: true\n\
             matrix_bot_baibot_config_user_mxid_localpart: {bot}\n\
             matrix_bot_baibot_config_user_password: '{bot_pw}'\n\
             matrix_user_creator_users_additional:\n{}{}{}\
             matrix_user_management_users:\n{}{}{}",
            item(
                json!({"username": alice, "initial_password": alice_pw, "initial_type": alice_type})
            ),
            item(
                json!({"username": sup, "initial_password": "sup-pw-123", "initial_type": "support"})
            ),
            item(
                json!({"username": plain, "initial_password": "paul-pw-123", "initial_type": "user"})
            ),
            item(
                json!({"username": carol, "password": carol_pw, "admin": carol_admin, "locked": true})
            ),
            item(json!({"username": dave, "password_file": dave_file, "admin": true})),
            item(json!({"username": erin, "state": "deactivated"})),
        )
    };
    c.link_mdad_inventory(&vars(s, &lists(false, "admin")));
    let secrets = [&bot_pw, &alice_pw, &carol_pw, &dave_pw, &s.admin_token];
    let no_secret = |out: &str| {
        for x in secrets {
            assert!(!out.contains(x.as_str()), "a secret in the output: {out}");
        }
    };

    // --check --diff: the plan, and nothing written.
    let (code, out) = c.just(&["ensure-matrix-users-created", "--check", "--diff"]);
    assert_eq!(code, 0, "{out}");
    no_secret(&out);
    let plan = plan_of(&out);
    assert!(
        plan.contains(&format!(
            "to create (6): {bot}, {alice}, {sup}, {plain}, {carol}, {dave}"
        )),
        "{plan}\n{out}"
    );
    assert!(
        plan.contains(&format!("to deactivate (1): {erin}")),
        "{plan}"
    );
    assert!(plan.contains("unchanged: 0"), "{plan}");
    assert!(
        out.contains("+++ after: the plan"),
        "--diff shows the plan: {out}"
    );
    for n in [&bot, &alice, &carol, &dave] {
        assert!(s.user(&id(n)).is_none(), "--check created {n}");
    }
    assert_eq!(
        s.user(&id(&erin)).unwrap()["deactivated"],
        false,
        "--check deactivated erin"
    );

    // The real run: one module call creates them all as declared.
    let (code, out) = c.ansible_playbook(&[
        "-i",
        "inventory/hosts",
        "setup.yml",
        "--tags=ensure-matrix-users-created",
    ]);
    assert_eq!(code, 0, "{out}");
    no_secret(&out);
    assert_eq!(
        out.matches("TASK [matrix_user_management : Converge the declared Matrix users]")
            .count(),
        1,
        "{out}"
    );
    assert!(recap(&out).contains("changed=1"), "{out}");
    assert!(plan_of(&out).contains("created (6)"), "{out}");
    let u = |n: &str| {
        s.user(&id(n))
            .unwrap_or_else(|| panic!("{n} was not created"))
    };
    assert_eq!(u(&bot)["user_type"], "bot");
    assert_eq!(u(&bot)["admin"], false);
    assert_eq!(u(&alice)["admin"], true, "initial_type admin");
    assert_eq!(u(&sup)["user_type"], "support");
    assert_eq!(u(&plain)["user_type"], Value::Null);
    assert_eq!(u(&plain)["admin"], false);
    assert_eq!(u(&carol)["locked"], true);
    assert_eq!(u(&carol)["admin"], false);
    assert_eq!(u(&dave)["admin"], true);
    assert_eq!(u(&erin)["deactivated"], true);
    assert!(s.can_login(&bot, &bot_pw) && s.can_login(&alice, &alice_pw));
    assert!(
        s.can_login(&dave, &dave_pw),
        "password_file read on the target"
    );
    assert!(!s.can_login(&carol, &carol_pw), "carol is locked");

    // A re-run changes nothing.
    let (code, out) = c.just(&["ensure-users-created"]);
    assert_eq!(
        code, 1,
        "no such recipe: the tag's other name is for ansible-playbook: {out}"
    );
    let (code, out) = c.ansible_playbook(&[
        "-i",
        "inventory/hosts",
        "setup.yml",
        "--tags=ensure-users-created",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(recap(&out).contains("changed=0"), "{out}");
    assert!(plan_of(&out).contains("unchanged: 7"), "{out}");

    // MDAD's initial_* mean at creation only: alice stays an admin with her first password.
    // carol's entry now says admin: converged, and nothing else changes.
    c.link_mdad_inventory(&vars(s, &lists(true, "user")));
    let (code, out) = c.just(&["ensure-matrix-users-created"]);
    assert_eq!(code, 0, "{out}");
    let plan = plan_of(&out);
    assert!(
        plan.contains(&format!("made admins (1): {carol}")),
        "{plan}\n{out}"
    );
    assert!(plan.contains("unchanged: 6"), "{plan}");
    assert_eq!(u(&carol)["admin"], true);
    assert_eq!(u(&alice)["admin"], true, "initial_type is create-only");
    assert!(s.can_login(&alice, &alice_pw));
    no_secret(&out);
}

#[test]
fn bad_entries_fail_alone_naming_the_entry() {
    let s = sqlite();
    let c = Checkout::new();
    let (good, typo, extra, foreign, dup) = (
        unique_user("good"),
        unique_user("typo"),
        unique_user("extra"),
        unique_user("foreign"),
        unique_user("dup"),
    );
    let lists = format!(
        "matrix_user_creator_users_additional:\n{}{}{}{}\
         matrix_user_management_users:\n{}{}",
        item(json!({"username": good, "initial_password": "good-pw-123", "initial_type": "user"})),
        item(
            json!({"username": typo, "initial_password": "typo-pw-123", "initial_type": "superuser"})
        ),
        item(
            json!({"username": extra, "initial_password": "extra-pw-123", "initial_type": "user", "initial_admin": true})
        ),
        item(json!({"username": dup, "initial_password": "dup-pw-1234", "initial_type": "user"})),
        item(
            json!({"username": format!("@{foreign}:elsewhere.example"), "password": "foreign-pw-1"})
        ),
        item(json!({"username": dup, "password": "dup-pw-5678", "admin": true})),
    );
    c.link_mdad_inventory(&vars(s, &lists));
    let (code, out) = c.just(&["ensure-matrix-users-created"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        s.user(&id(&good)).is_some(),
        "the good entry is converged: {out}"
    );
    assert!(
        s.user(&id(&dup)).is_some(),
        "the first of two entries is converged"
    );
    assert_eq!(
        s.user(&id(&dup)).unwrap()["admin"],
        false,
        "the duplicate was not applied"
    );
    for bad in [&typo, &extra, &foreign] {
        assert!(s.user(&id(bad)).is_none(), "{bad} was created: {out}");
    }
    for expected in [
        format!("matrix_user_creator_users_additional[1] ({typo}): "),
        "superuser".to_string(),
        format!("matrix_user_creator_users_additional[2] ({extra}): "),
        "initial_admin".to_string(),
        format!("matrix_user_management_users[0] (@{foreign}:elsewhere.example): "),
        format!("matrix_user_management_users[1] ({dup}): '{dup}' is already listed as matrix_user_creator_users_additional[3] ({dup})"),
    ] {
        assert!(out.contains(&expected), "missing {expected:?}: {out}");
    }
    assert_eq!(out.matches("fatal:").count(), 1, "reported once: {out}");
}

/// An application service with an exclusive namespace `bridged_*`, as a bridge registers.
fn appservice_config(dir: &std::path::Path, as_token: &str) -> std::path::PathBuf {
    let registration = dir.join("bridge-registration.yaml");
    std::fs::write(
        &registration,
        format!(
            "id: test-bridge\nurl: null\nas_token: '{as_token}'\nhs_token: '{}'\n\
             sender_localpart: bridgebot\nnamespaces:\n  users:\n    - exclusive: true\n      regex: '@bridged_.*:localhost'\n  aliases: []\n  rooms: []\n",
            random_secret("hs")
        ),
    )
    .unwrap();
    let config = dir.join("appservice.yaml");
    std::fs::write(
        &config,
        format!(
            "app_service_config_files:\n  - {}\n",
            registration.display()
        ),
    )
    .unwrap();
    config
}

/// The bridge registers one of its users, as bridges do (m.login.application_service).
fn appservice_register(s: &Synapse, as_token: &str, name: &str) {
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/_matrix/client/v3/register", s.url))
        .bearer_auth(as_token)
        .json(&json!({"type": "m.login.application_service", "username": name, "inhibit_login": true}))
        .send()
        .unwrap();
    assert!(
        r.status().is_success(),
        "appservice registration: {}",
        r.text().unwrap()
    );
}

#[test]
fn exclusive_deactivates_exactly_the_unnamed_accounts_and_refuses_past_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let as_token = random_secret("as");
    let config = appservice_config(dir.path(), &as_token);
    let s = Synapse::start(&[], &[&config]);
    appservice_register(&s, &as_token, "bridged_42");
    let pw = "exclusive-pw-1";
    for n in [
        "alice", "bob", "stray1", "stray2", "stray3", "kept_1", "oldbot",
    ] {
        s.register_raw(n, pw, false, true);
    }
    s.register_raw("otheradmin", pw, true, true);
    let c = Checkout::new();
    let settings = |max: u32| {
        format!(
            "matrix_user_creator_users_auto:\n{}\
             matrix_user_creator_users_additional:\n{}\
             matrix_user_management_users:\n{}\
             matrix_user_management_users_exclusive: true\n\
             matrix_user_management_users_max_deactivations: {max}\n\
             matrix_user_management_users_keep: ['kept_*']\n",
            item(json!({"username": "oldbot", "initial_password": pw, "initial_type": "bot"})),
            item(json!({"username": "alice", "initial_password": pw, "initial_type": "user"})),
            item(json!({"username": "bob", "password": pw})),
        )
    };
    let state = |n: &str| s.user(&id(n)).unwrap()["deactivated"].as_bool().unwrap();
    let all = [
        "alice",
        "bob",
        "stray1",
        "stray2",
        "stray3",
        "kept_1",
        "oldbot",
        "otheradmin",
        "bridged_42",
    ];

    // Three unnamed accounts, and at most two allowed: refused before anything is written.
    c.link_mdad_inventory(&vars(&s, &settings(2)));
    let (code, out) = c.just(&["ensure-matrix-users-created"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("3 accounts are named in no entry of users and would be deactivated, more than matrix_user_management_users_max_deactivations (2) allows")
            && out.contains("@stray1:localhost, @stray2:localhost, @stray3:localhost"),
        "{out}"
    );
    for n in all {
        assert!(!state(n), "{n} deactivated although the run was refused");
    }

    // With room for them: --check shows exactly those three, writes nothing.
    c.link_mdad_inventory(&vars(&s, &settings(5)));
    let (code, out) = c.just(&["ensure-matrix-users-created", "--check"]);
    assert_eq!(code, 0, "{out}");
    let plan = plan_of(&out);
    assert!(
        plan.contains("to deactivate, named in no list (3): stray1, stray2, stray3"),
        "{plan}\n{out}"
    );
    for n in all {
        assert!(!state(n), "--check deactivated {n}");
    }

    // The real run deactivates exactly them: not the named, the kept, another admin, the
    // bridge's user, the acting admin.
    let (code, out) = c.just(&["ensure-matrix-users-created"]);
    assert_eq!(code, 0, "{out}");
    for n in all {
        let expected = n.starts_with("stray");
        assert_eq!(state(n), expected, "{n}: {out}");
    }
    assert_eq!(s.user(&id(&s.admin_user)).unwrap()["deactivated"], false);
    assert!(!s.can_login("stray1", pw));

    // Converged: a re-run changes nothing and registers nothing (one listing finds them all).
    let before = registrations_logged(&s);
    assert!(
        before >= 8,
        "Synapse's log shows the 8 registrations of the set-up (else this check proves nothing)"
    );
    let (code, out) = c.just(&["ensure-matrix-users-created"]);
    assert_eq!(code, 0, "{out}");
    assert!(recap(&out).contains("changed=0"), "{out}");
    assert_eq!(
        registrations_logged(&s),
        before,
        "a registration attempt on a converged run"
    );
}

#[test]
fn a_list_that_is_not_a_list_is_named_and_nothing_runs() {
    let s = sqlite();
    let c = Checkout::new();
    let name = unique_user("notalist");
    c.link_mdad_inventory(&vars(
        s,
        &format!("matrix_user_management_users: '{name}'\n"),
    ));
    let (code, out) = c.just(&["ensure-matrix-users-created"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("matrix_user_management_users must each be a list"),
        "{out}"
    );
    assert!(
        !out.contains("Converge the declared Matrix users] ***\nchanged"),
        "{out}"
    );
    assert!(s.user(&id(&name)).is_none());
    assert_eq!(out.matches("fatal:").count(), 1, "reported once: {out}");
}

/// An inventory that declares nothing (MDAD with no bots and no additional users): `ok`, said so.
#[test]
fn nothing_declared_is_ok_and_said() {
    let s = sqlite();
    let c = Checkout::new();
    c.link_mdad_inventory(&vars(s, ""));
    let (code, out) = c.just(&["ensure-matrix-users-created"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("No accounts are declared"), "{out}");
    assert!(recap(&out).contains("changed=0"), "{out}");
}
