//! The account lifecycle of issue 19 on the FAKE tuwunel (tests/servers/fake_tuwunel.py, not a
//! real tuwunel: no registry ships it; docs/tuwunel.md traces the FAKE to tuwunel 1.9.0's
//! source), through backend tuwunel's copy of Synapse's admin API.

use super::tuwunel_backend::{admin_token, fake_tuwunel, record, reg_args, with};
use crate::common::{random_secret, run_module};
use serde_json::{json, Value};

/// The account lifecycle of issue 19 on the FAKE tuwunel, through its copy of Synapse's admin
/// API (docs/tuwunel.md 4.3, 4.4): deactivation (with erasure), reactivation with a password,
/// locks. Checked on the FAKE's own record and by logins.
#[test]
fn fake_tuwunel_deactivates_reactivates_and_locks() {
    let (s, admin_pw) = fake_tuwunel(
        &[
            json!({"username": "leaver", "password": "leaver-pw-1"}),
            json!({"username": "suspect", "password": "suspect-pw-1"}),
        ],
        &[],
    );
    let token = admin_token(&s, &admin_pw);
    let args = |extra: Value| {
        reg_args(
            &s,
            with(
                json!({"admin_username": "admin", "admin_password": admin_pw}),
                extra,
            ),
        )
    };
    let r = run_module(
        "register_user",
        args(json!({"username": "leaver", "state": "deactivated", "erase": true})),
    )
    .ok();
    assert!(r.changed());
    let rec = record(&s, &token, "leaver").unwrap();
    assert_eq!(
        (&rec["deactivated"], &rec["erased"]),
        (&json!(true), &json!(true)),
        "{rec}"
    );
    assert_eq!(
        s.login("leaver", "leaver-pw-1").errcode(),
        "M_USER_DEACTIVATED"
    );
    let again = run_module(
        "register_user",
        args(json!({"username": "leaver", "state": "deactivated", "erase": true})),
    )
    .ok();
    assert!(!again.changed());

    let back = random_secret("back-pw");
    let r = run_module(
        "register_user",
        args(json!({"username": "leaver", "password": back, "reactivate": true})),
    )
    .ok();
    assert!(r.changed() && r.json["reactivated"] == true, "{}", r.stdout);
    assert_eq!(record(&s, &token, "leaver").unwrap()["deactivated"], false);
    assert_eq!(s.login("leaver", &back).status, 200);

    let r = run_module(
        "register_user",
        args(json!({"username": "suspect", "create": false, "locked": true})),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(record(&s, &token, "suspect").unwrap()["locked"], true);
    assert_eq!(
        s.login("suspect", "suspect-pw-1").errcode(),
        "M_USER_LOCKED"
    );
    let r = run_module(
        "register_user",
        args(json!({"username": "suspect", "create": false, "locked": false})),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(s.login("suspect", "suspect-pw-1").status, 200);
}
