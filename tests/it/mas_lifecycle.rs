//! register_user's account lifecycle (issue 19: `state`, `reactivate`, `erase`, `locked`,
//! `logout_devices`) with backend mas, against the FAKE Matrix Authentication Service
//! (`tests/servers/fake_mas.py`, not a real MAS: no registry carries MAS; it answers as MAS 1.22
//! did in tests/data/mas/transcripts.jsonl, kept honest by tests/it/mas_fake_conformance/).
//!
//! Every test checks the FAKE's state through its admin API (`deactivated_at`, `locked_at`) and
//! its compatibility password login, not only what the module said; the harness of
//! `mas_backend` checks that every request the module sent (for the lifecycle actions: with its
//! content type and body, which the FAKE logs) has the shape of one the real MAS answered.
//! Hostile answers to these requests are in `hostile_backends::mas_lifecycle`.

use crate::common::fake_mas::FakeMas;
use crate::mas_backend::{check, logged, no_secret_in, task, STRONG, STRONG2};
use serde_json::{json, Value};

/// An account made through the module (created with a password), for the tests to act on.
fn account(mas: &FakeMas, name: &str) -> String {
    task(
        mas,
        "register_user",
        json!({"username": name, "password": STRONG}),
    )
    .ok();
    mas.user(name).unwrap()["id"].as_str().unwrap().to_string()
}

/// `deactivated_at` and `locked_at` of the FAKE's user: whether each is set.
fn standing(mas: &FakeMas, name: &str) -> (bool, bool) {
    let u = mas.user(name).expect("the user exists on the FAKE MAS");
    let set = |k: &str| !u["attributes"][k].is_null();
    (set("deactivated_at"), set("locked_at"))
}

/// The FAKE's log lines of `action` (`lock`, `deactivate`, ...) on the user `id`.
fn actions(mas: &FakeMas, id: &str, action: &str) -> Vec<String> {
    let path = format!(" POST /api/admin/v1/users/{id}/{action} ");
    mas.log()
        .lines()
        .filter(|l| l.contains(&path))
        .map(|l| l.split_once(&path).unwrap().1.to_string())
        .collect()
}

#[test]
fn state_deactivated_deactivates_an_active_account_once_and_check_mode_changes_nothing() {
    let mas = FakeMas::start();
    let id = account(&mas, "bob");
    assert!(mas.can_login("bob", STRONG));
    let args = json!({"username": "bob", "state": "deactivated"});

    // Check mode predicts the change and sends no write.
    let c = check(&mas, "register_user", args.clone()).ok();
    assert!(c.changed(), "{}", c.stdout);
    assert_eq!(c.json["deactivated"], true);
    assert_eq!(c.json["diff"]["before"]["deactivated"], false);
    assert_eq!(c.json["diff"]["after"]["deactivated"], true);
    assert_eq!(standing(&mas, "bob"), (false, false));
    assert!(actions(&mas, &id, "deactivate").is_empty(), "{}", mas.log());
    assert!(mas.can_login("bob", STRONG));

    let r = task(&mas, "register_user", args.clone()).ok();
    assert!(r.changed(), "{}", r.stdout);
    assert_eq!(r.json["deactivated"], true);
    assert_eq!(r.json["user_id"], "@bob:localhost");
    assert!(r.msg().contains("deactivated"), "{}", r.msg());
    // MAS's quirk: deactivation does not set locked_at.
    assert_eq!(standing(&mas, "bob"), (true, false));
    assert!(
        !mas.can_login("bob", STRONG),
        "a deactivated account logs in"
    );
    let (s, v) = mas.compat_login("bob", STRONG);
    assert_eq!(s, 403, "{v}");
    // erase defaults to false: MAS is asked to skip the erasure (recorded shape).
    assert_eq!(
        actions(&mas, &id, "deactivate"),
        ["200 ctype=application/json body={\"skip_erase\":true}"]
    );

    // Idempotent: already deactivated is ok, unchanged, and nothing is sent again.
    let again = task(&mas, "register_user", args).ok();
    assert!(!again.changed(), "{}", again.stdout);
    assert_eq!(again.json["deactivated"], false);
    assert_eq!(actions(&mas, &id, "deactivate").len(), 1, "{}", mas.log());
    assert_eq!(standing(&mas, "bob"), (true, false));
}

#[test]
fn erase_true_deactivates_without_skip_erase_and_false_skips_it() {
    let mas = FakeMas::start();
    let ann = account(&mas, "ann");
    let cid = account(&mas, "cid");
    task(
        &mas,
        "register_user",
        json!({"username": "ann", "state": "deactivated", "erase": true}),
    )
    .ok();
    task(
        &mas,
        "register_user",
        json!({"username": "cid", "state": "deactivated", "erase": false}),
    )
    .ok();
    // No body at all (MAS's skip_erase defaults to false: it erases), as `users-deactivate-dave`;
    // and `{"skip_erase": true}` as `users-deactivate-erin-skip-erase`.
    assert_eq!(actions(&mas, &ann, "deactivate"), ["200 ctype=- body=-"]);
    assert_eq!(
        actions(&mas, &cid, "deactivate"),
        ["200 ctype=application/json body={\"skip_erase\":true}"]
    );
    assert_eq!(standing(&mas, "ann"), (true, false));
    assert_eq!(standing(&mas, "cid"), (true, false));
    assert!(!mas.can_login("ann", STRONG) && !mas.can_login("cid", STRONG));
}

#[test]
fn a_missing_account_with_state_deactivated_is_ok_and_not_created() {
    let mas = FakeMas::start();
    let r = task(
        &mas,
        "register_user",
        json!({"username": "ghost", "state": "deactivated", "password": STRONG}),
    )
    .ok();
    assert!(!r.changed(), "{}", r.stdout);
    assert!(r.msg().contains("does not exist"), "{}", r.msg());
    assert!(mas.user("ghost").is_none(), "nothing is created");
    assert_eq!(
        logged(&mas, "POST", "/api/admin/v1/users"),
        0,
        "{}",
        mas.log()
    );
    no_secret_in(&r, &[STRONG]);
}

#[test]
fn a_deactivated_account_comes_back_only_with_reactivate_and_its_new_password() {
    let mas = FakeMas::start();
    let id = account(&mas, "dora");
    task(
        &mas,
        "register_user",
        json!({"username": "dora", "state": "deactivated"}),
    )
    .ok();
    assert_eq!(standing(&mas, "dora"), (true, false));

    // state=present (the default) does not bring it back: it fails, naming reactivate.
    let r = task(
        &mas,
        "register_user",
        json!({"username": "dora", "password": STRONG2}),
    )
    .fails_with("reactivate");
    no_secret_in(&r, &[STRONG2]);
    assert_eq!(standing(&mas, "dora"), (true, false));
    assert!(actions(&mas, &id, "reactivate").is_empty());

    // Check mode predicts the reactivation and sends nothing.
    let args = json!({"username": "dora", "password": STRONG2, "reactivate": true});
    let c = check(&mas, "register_user", args.clone()).ok();
    assert!(c.changed() && c.json["reactivated"] == true, "{}", c.stdout);
    assert_eq!(standing(&mas, "dora"), (true, false));
    assert!(actions(&mas, &id, "reactivate").is_empty());

    let r = task(&mas, "register_user", args.clone()).ok();
    assert!(r.changed(), "{}", r.stdout);
    assert_eq!(r.json["reactivated"], true);
    no_secret_in(&r, &[STRONG, STRONG2]);
    assert_eq!(standing(&mas, "dora"), (false, false));
    assert_eq!(actions(&mas, &id, "reactivate"), ["200 ctype=- body=-"]);
    assert!(
        mas.can_login("dora", STRONG2),
        "the reactivated account logs in with the password given"
    );
    assert!(
        !mas.can_login("dora", STRONG),
        "the old password is replaced"
    );

    // Active now: a re-run changes nothing and does not reactivate again.
    let again = task(&mas, "register_user", args).ok();
    assert!(!again.changed(), "{}", again.stdout);
    assert_eq!(actions(&mas, &id, "reactivate").len(), 1);
}

#[test]
fn a_reactivation_whose_password_is_refused_says_the_account_is_active_again() {
    // The FAKE refuses weak passwords (minimum complexity 3, MAS's default).
    let mas = FakeMas::start();
    account(&mas, "eve");
    task(
        &mas,
        "register_user",
        json!({"username": "eve", "state": "deactivated"}),
    )
    .ok();
    let r = task(
        &mas,
        "register_user",
        json!({"username": "eve", "password": "password123", "reactivate": true}),
    )
    .fails_with("was reactivated");
    assert!(r.msg().contains("too weak"), "{}", r.msg());
    no_secret_in(&r, &["password123"]);
    assert_eq!(standing(&mas, "eve"), (false, false), "it is active again");
    assert!(mas.can_login("eve", STRONG), "with the password it had");
}

#[test]
fn locked_true_locks_and_false_unlocks_and_a_lock_refuses_logins() {
    let mas = FakeMas::start();
    let id = account(&mas, "finn");
    let lock = |want: bool| {
        task(
            &mas,
            "register_user",
            json!({"username": "finn", "password": STRONG, "locked": want}),
        )
        .ok()
    };
    // Check mode: predicted, not sent.
    let c = check(
        &mas,
        "register_user",
        json!({"username": "finn", "password": STRONG, "locked": true}),
    )
    .ok();
    assert!(
        c.changed() && c.json["lock_changed"] == true,
        "{}",
        c.stdout
    );
    assert_eq!(standing(&mas, "finn"), (false, false));
    assert!(actions(&mas, &id, "lock").is_empty());

    let r = lock(true);
    assert!(r.changed(), "{}", r.stdout);
    assert_eq!(r.json["lock_changed"], true);
    assert_eq!(standing(&mas, "finn"), (false, true));
    let (s, v) = mas.compat_login("finn", STRONG);
    assert_eq!((s, &v["errcode"]), (401, &json!("M_USER_LOCKED")), "{v}");
    assert_eq!(actions(&mas, &id, "lock"), ["200 ctype=- body=-"]);
    assert!(!lock(true).changed(), "locked already");
    assert_eq!(actions(&mas, &id, "lock").len(), 1);

    let r = lock(false);
    assert!(r.changed(), "{}", r.stdout);
    assert_eq!(r.json["lock_changed"], false);
    assert_eq!(standing(&mas, "finn"), (false, false));
    assert!(mas.can_login("finn", STRONG));
    assert_eq!(actions(&mas, &id, "unlock"), ["200 ctype=- body=-"]);
    assert!(!lock(false).changed(), "unlocked already");
    assert_eq!(actions(&mas, &id, "unlock").len(), 1);

    // A new account asked to be locked is created, then locked.
    let r = task(
        &mas,
        "register_user",
        json!({"username": "gus", "password": STRONG, "locked": true}),
    )
    .ok();
    assert!(r.json["created"] == true && r.json["lock_changed"] == true);
    assert_eq!(standing(&mas, "gus"), (false, true));
    assert!(!mas.can_login("gus", STRONG));
}

#[test]
fn logout_devices_is_refused_on_mas_before_anything_is_sent_for_the_account() {
    let mas = FakeMas::start();
    let id = account(&mas, "hal");
    let before = mas.log().lines().count();
    let r = task(
        &mas,
        "register_user",
        json!({"username": "hal", "password": STRONG2, "update_password": "always",
               "logout_devices": true}),
    )
    .fails_with("logout_devices");
    no_secret_in(&r, &[STRONG2]);
    let sent: Vec<String> = mas
        .log()
        .lines()
        .skip(before)
        .filter(|l| l.contains("/api/admin/v1/"))
        .map(str::to_string)
        .collect();
    assert!(
        sent.iter()
            .all(|l| !l.contains(&id) && !l.contains("by-username/hal")),
        "a request about hal was sent: {sent:?}\n{}",
        mas.log()
    );
    assert!(mas.can_login("hal", STRONG) && !mas.can_login("hal", STRONG2));
}

#[test]
fn a_users_list_with_mixed_states_converges_each_account() {
    let mas = FakeMas::start();
    account(&mas, "ivy");
    account(&mas, "jon");
    account(&mas, "kai");
    task(
        &mas,
        "register_user",
        json!({"username": "kai", "state": "deactivated"}),
    )
    .ok();
    let users = json!([
        {"username": "ivy", "state": "deactivated"},
        {"username": "jon", "password": STRONG, "locked": true},
        {"username": "kai", "password": STRONG2},
        {"username": "lee", "password": STRONG, "locked": true},
        {"username": "max", "state": "deactivated"},
    ]);
    let r = task(
        &mas,
        "register_user",
        json!({"users": users, "reactivate": true}),
    )
    .ok();
    assert!(r.changed(), "{}", r.stdout);
    assert_eq!(r.json["created"], 1, "{}", r.stdout);
    assert_eq!(r.json["deactivated"], 1, "{}", r.stdout);
    assert_eq!(r.json["reactivated"], 1, "{}", r.stdout);
    assert_eq!(r.json["locks_changed"], 2, "{}", r.stdout);
    assert_eq!(r.json["failed_count"], 0, "{}", r.stdout);
    no_secret_in(&r, &[STRONG, STRONG2]);
    assert_eq!(standing(&mas, "ivy"), (true, false));
    assert_eq!(standing(&mas, "jon"), (false, true));
    assert_eq!(standing(&mas, "kai"), (false, false));
    assert_eq!(standing(&mas, "lee"), (false, true));
    assert!(
        mas.user("max").is_none(),
        "a missing account is not created"
    );
    assert!(!mas.can_login("ivy", STRONG));
    assert!(!mas.can_login("jon", STRONG));
    assert!(mas.can_login("kai", STRONG2));
    assert!(!mas.can_login("lee", STRONG));

    // The same list again changes nothing.
    let again = task(
        &mas,
        "register_user",
        json!({"users": users, "reactivate": true}),
    )
    .ok();
    assert!(!again.changed(), "{}", again.stdout);
    let results: &Value = &again.json["results"];
    assert!(results.as_array().is_none_or(|a| a.is_empty()), "{results}");
}
