//! The users-as-code tags on an MDAD inventory with `matrix_authentication_service_enabled: true`,
//! against **a FAKE** Matrix Authentication Service (`tests/servers/fake_mas.py`, see
//! docs/mas-fake.md): no registry this project reaches has MAS, so these tests show that the role
//! drives MAS's admin API as recorded from a real MAS 1.22, not that a real MAS accepts it. Each
//! test has a fake of its own. State is read back through the fake's admin API (admin flag,
//! lock, deactivation, e-mail addresses) and compatibility logins.

use super::{item, plan_of};
use crate::common::fake_mas::FakeMas;
use crate::common::operator::*;
use crate::common::*;
use crate::operator_backends::{changed_count, mas_lines, vars_yml};
use serde_json::{json, Value};

/// The vars.yml: MAS enabled, its URL and an admin client as the README documents, plus `extra`.
fn vars(mas: &FakeMas, key: &str, extra: &str) -> String {
    vars_yml(
        "synapse",
        key,
        "not-used",
        &format!("{}{extra}", mas_lines(mas)),
    )
}

/// An account made in MAS beforehand (through its admin API), with a password and admin flag.
fn existing(mas: &FakeMas, name: &str, password: &str, admin: bool) -> String {
    let (s, v) = mas.admin(
        "POST",
        "/api/admin/v1/users",
        Some(&json!({"username": name})),
    );
    assert_eq!(s, 201, "{v}");
    let id = v["data"]["id"].as_str().unwrap().to_string();
    let (s, v) = mas.admin(
        "POST",
        &format!("/api/admin/v1/users/{id}/set-password"),
        Some(&json!({"password": password, "skip_password_check": true})),
    );
    assert_eq!(s, 204, "{v}");
    if admin {
        let (s, v) = mas.admin(
            "POST",
            &format!("/api/admin/v1/users/{id}/set-admin"),
            Some(&json!({"admin": true})),
        );
        assert_eq!(s, 200, "{v}");
    }
    id
}

fn attr(mas: &FakeMas, name: &str, key: &str) -> Value {
    mas.user(name)
        .unwrap_or_else(|| panic!("{name} is not in MAS"))["attributes"][key]
        .clone()
}

fn deactivated(mas: &FakeMas, name: &str) -> bool {
    attr(mas, name, "deactivated_at").is_string()
}

fn assert_no_secret(secrets: &[&str], out: &str) {
    for s in secrets {
        assert!(!out.contains(s), "a secret in the output: {out}");
    }
}

/// MDAD's lists and matrix_user_management_users converge in (fake) MAS in one call: `--check`
/// writes nothing, the real run creates (initial_type admin an admin, bot and support regular
/// accounts: MAS has no user types), locks, sets the e-mail address and deactivates, a re-run
/// changes nothing, and a changed entry converges only its account while an initial_type change
/// changes nothing.
#[test]
fn mdad_lists_and_the_full_list_converge_in_mas() {
    let mas = FakeMas::start();
    let key = random_secret("generic-key");
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
    let erin_pw = random_secret("erin-pw");
    let dave_file = c.path().join("dave.password");
    std::fs::write(&dave_file, format!("{dave_pw}\n")).unwrap();
    existing(&mas, &erin, &erin_pw, false);
    let lists = |carol_admin: bool, alice_type: &str| {
        format!(
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
            item(
                json!({"username": dave, "password_file": dave_file, "admin": true, "email": ["dave@example.org"]})
            ),
            item(json!({"username": erin, "state": "deactivated"})),
        )
    };
    c.link_mdad_inventory(&vars(&mas, &key, &lists(false, "admin")));
    let secrets = [
        mas.admin_client_secret.as_str(),
        &key,
        &bot_pw,
        &alice_pw,
        &carol_pw,
        &dave_pw,
        "sup-pw-123",
        "paul-pw-123",
    ];
    let created = [&bot, &alice, &sup, &plain, &carol, &dave];

    // --check: the plan, and nothing written.
    let (code, out) = c.just(&["ensure-matrix-users-created", "--check", "--diff"]);
    assert_eq!(code, 0, "{out}");
    assert_no_secret(&secrets, &out);
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
    for n in created {
        assert!(mas.user(n).is_none(), "--check created {n}");
    }
    assert!(!deactivated(&mas, &erin), "--check deactivated erin");

    // The real run.
    let (code, out) = c.ansible_playbook(&[
        "-i",
        "inventory/hosts",
        "setup.yml",
        "--tags=ensure-matrix-users-created",
    ]);
    assert_eq!(code, 0, "{out}");
    assert_no_secret(&secrets, &out);
    assert_eq!(changed_count(&out), "changed=1", "{out}");
    assert!(plan_of(&out).contains("created (6)"), "{out}");
    for (n, admin) in [
        (&bot, false),
        (&alice, true),
        (&sup, false),
        (&plain, false),
        (&carol, false),
        (&dave, true),
    ] {
        assert_eq!(attr(&mas, n, "admin"), admin, "admin of {n}: {out}");
        assert!(!deactivated(&mas, n), "{n}");
    }
    assert!(attr(&mas, &carol, "locked_at").is_string(), "carol locked");
    assert!(attr(&mas, &dave, "locked_at").is_null());
    let dave_id = mas.user(&dave).unwrap()["id"].as_str().unwrap().to_string();
    assert_eq!(
        mas.emails_of(&dave_id),
        vec!["dave@example.org".to_string()]
    );
    assert!(deactivated(&mas, &erin), "erin: {out}");
    assert!(!mas.can_login(&erin, &erin_pw));
    assert!(mas.can_login(&bot, &bot_pw) && mas.can_login(&alice, &alice_pw));
    assert!(mas.can_login(&sup, "sup-pw-123") && mas.can_login(&plain, "paul-pw-123"));
    assert!(
        mas.can_login(&dave, &dave_pw),
        "password_file read on the target"
    );
    assert!(!mas.can_login(&carol, &carol_pw), "carol is locked");

    // A re-run changes nothing.
    let (code, out) = c.ansible_playbook(&[
        "-i",
        "inventory/hosts",
        "setup.yml",
        "--tags=ensure-users-created",
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(changed_count(&out), "changed=0", "{out}");
    assert!(plan_of(&out).contains("unchanged: 7"), "{out}");
    assert_eq!(mas.emails_of(&dave_id).len(), 1);

    // carol's entry now says admin: converged alone. alice's initial_type changes nothing.
    c.link_mdad_inventory(&vars(&mas, &key, &lists(true, "user")));
    let (code, out) = c.just(&["ensure-matrix-users-created"]);
    assert_eq!(code, 0, "{out}");
    assert_no_secret(&secrets, &out);
    let plan = plan_of(&out);
    assert!(
        plan.contains(&format!("made admins (1): {carol}")),
        "{plan}\n{out}"
    );
    assert!(plan.contains("unchanged: 6"), "{plan}");
    assert_eq!(attr(&mas, &carol, "admin"), true);
    assert!(attr(&mas, &carol, "locked_at").is_string(), "still locked");
    assert_eq!(
        attr(&mas, &alice, "admin"),
        true,
        "initial_type is create-only"
    );
    assert!(mas.can_login(&alice, &alice_pw));
}

/// A bad entry (an initial_type MDAD does not define) fails alone, named by its list and index;
/// the good entry is created.
#[test]
fn bad_entries_fail_alone_in_mas() {
    let mas = FakeMas::start();
    let key = random_secret("generic-key");
    let c = Checkout::new();
    let (good, typo) = (unique_user("good"), unique_user("typo"));
    let lists = format!(
        "matrix_user_creator_users_additional:\n{}{}",
        item(json!({"username": good, "initial_password": "good-pw-123", "initial_type": "user"})),
        item(
            json!({"username": typo, "initial_password": "typo-pw-123", "initial_type": "superuser"})
        ),
    );
    c.link_mdad_inventory(&vars(&mas, &key, &lists));
    let (code, out) = c.just(&["ensure-matrix-users-created"]);
    assert_ne!(code, 0, "{out}");
    assert_no_secret(&[mas.admin_client_secret.as_str(), &key], &out);
    assert!(mas.user(&good).is_some(), "the good entry: {out}");
    assert!(mas.can_login(&good, "good-pw-123"));
    assert!(mas.user(&typo).is_none(), "{typo} was created: {out}");
    for expected in [
        format!("matrix_user_creator_users_additional[1] ({typo}): "),
        "superuser".to_string(),
    ] {
        assert!(out.contains(&expected), "missing {expected:?}: {out}");
    }
    assert_eq!(out.matches("fatal:").count(), 1, "reported once: {out}");
}

/// Exclusive mode in (fake) MAS: the accounts no list names are deactivated, except another
/// admin and the `keep` matches (MAS acts as its admin client, no account); past
/// max_deactivations the run fails and nothing is deactivated.
#[test]
fn exclusive_deactivates_exactly_the_unnamed_mas_accounts() {
    let mas = FakeMas::start();
    let key = random_secret("generic-key");
    let pw = random_secret("exclusive-pw");
    for n in [
        "alice", "bob", "stray1", "stray2", "stray3", "kept_1", "oldbot",
    ] {
        existing(&mas, n, &pw, false);
    }
    existing(&mas, "otheradmin", &pw, true);
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
    let all = [
        "alice",
        "bob",
        "stray1",
        "stray2",
        "stray3",
        "kept_1",
        "oldbot",
        "otheradmin",
    ];
    let secrets = [mas.admin_client_secret.as_str(), &key, &pw];

    c.link_mdad_inventory(&vars(&mas, &key, &settings(2)));
    let (code, out) = c.just(&["ensure-matrix-users-created"]);
    assert_ne!(code, 0, "{out}");
    assert_no_secret(&secrets, &out);
    assert!(
        out.contains("3 accounts are named in no entry of users and would be deactivated, more than matrix_user_management_users_max_deactivations (2) allows")
            && out.contains("@stray1:localhost, @stray2:localhost, @stray3:localhost"),
        "{out}"
    );
    for n in all {
        assert!(!deactivated(&mas, n), "{n} deactivated: {out}");
    }

    c.link_mdad_inventory(&vars(&mas, &key, &settings(5)));
    let (code, out) = c.just(&["ensure-matrix-users-created", "--check"]);
    assert_eq!(code, 0, "{out}");
    let plan = plan_of(&out);
    assert!(
        plan.contains("to deactivate, named in no list (3): stray1, stray2, stray3"),
        "{plan}\n{out}"
    );
    for n in all {
        assert!(!deactivated(&mas, n), "--check deactivated {n}");
    }

    let (code, out) = c.just(&["ensure-matrix-users-created"]);
    assert_eq!(code, 0, "{out}");
    assert_no_secret(&secrets, &out);
    assert!(
        plan_of(&out).contains("deactivated, named in no list (3): stray1, stray2, stray3"),
        "{out}"
    );
    for n in all {
        assert_eq!(deactivated(&mas, n), n.starts_with("stray"), "{n}: {out}");
    }
    assert_eq!(attr(&mas, "otheradmin", "admin"), true);
    assert!(!mas.can_login("stray1", &pw));
    assert!(mas.can_login("alice", &pw) && mas.can_login("kept_1", &pw));

    let (code, out) = c.just(&["ensure-matrix-users-created"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(changed_count(&out), "changed=0", "{out}");
}
