//! register_user's long lists on a real Dendrite v0.13.8 (tests/servers/dendrite.sh, from the Go
//! module proxy) on SQLite and on PostgreSQL (Debian's): with `database`, the accounts are read
//! in one listing of `userapi_accounts` (src/api/dendrite_listing.rs), Dendrite having no HTTP
//! API that lists them. What the listing says decides: existing accounts cost no registration
//! attempt and no look-up or database connection of their own, and their admin flag is known
//! without admin credentials.

use crate::common::dendrite::{on_both_databases, Dendrite};
use crate::common::postgres::{lit, Postgres};
use crate::common::{random_secret, unique_user};
use crate::dendrite_lifecycle::{deactivated, new_user, run};
use serde_json::{json, Value};

on_both_databases!(a_long_list_is_read_from_one_listing);

/// The warnings a run gave (none: an empty list).
fn warnings(r: &crate::common::Run) -> Vec<String> {
    r.json["warnings"]
        .as_array()
        .map(|w| w.iter().map(|w| w.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

/// `n` new accounts to create, named after `prefix`.
fn new_entries(prefix: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"username": format!("{prefix}-n{i}"), "password": random_secret("pw")}))
        .collect()
}

fn a_long_list_is_read_from_one_listing(d: &Dendrite) {
    let prefix = unique_user("many");
    let (old, old_pw) = new_user(d, "many-old");
    let admin = unique_user("many-admin");
    let (s, v) = d.register(&admin, &random_secret("pw"), true);
    assert_eq!(s, 200, "{v}");
    let (gone, gone_pw) = new_user(d, "many-gone");
    // Deactivated in the database alone, its device left in place: the listing says it is
    // deactivated, so nothing is written (a deactivation would delete the device).
    let (quiet, quiet_pw) = new_user(d, "many-quiet");
    d.token(&quiet, &quiet_pw);
    d.sql(&format!(
        "UPDATE userapi_accounts SET is_deactivated = TRUE WHERE localpart = {} AND server_name = 'localhost';",
        lit(&quiet)
    ));
    assert_eq!(d.device_ids(&quiet).len(), 1);

    let mut users = vec![
        json!({"username": old, "password": old_pw, "admin": false}),
        json!({"username": admin, "password": random_secret("pw"), "admin": true}),
        json!({"username": gone, "state": "deactivated"}),
        json!({"username": quiet, "state": "deactivated"}),
    ];
    users.extend(new_entries(&prefix, 50));

    let r = run(d, json!({"users": users})).ok();
    assert!(r.changed(), "{}", r.stdout);
    assert_eq!(
        (
            &r.json["created"],
            &r.json["existing"],
            &r.json["deactivated"]
        ),
        (&json!(50), &json!(4), &json!(1)),
        "{}",
        r.stdout
    );
    assert_eq!(r.json["failed_count"], 0);
    // The listing showed the admin flags: nothing to warn about, without admin credentials.
    assert_eq!(warnings(&r), Vec::<String>::new(), "{}", r.stdout);
    for i in 0..50 {
        assert_eq!(d.account_type(&format!("{prefix}-n{i}")), Some(1), "n{i}");
    }
    assert_eq!(deactivated(d, &gone), Some(true));
    assert!(d.device_ids(&gone).is_empty());
    assert!(!d.can_login(&gone, &gone_pw));
    assert_eq!(deactivated(d, &quiet), Some(true));
    assert_eq!(d.device_ids(&quiet).len(), 1, "nothing was written for it");
    assert_eq!(d.account_type(&admin), Some(3));
    assert_eq!(d.account_type(&old), Some(1));
    assert!(d.can_login(&old, &old_pw));

    // Again, with a shared secret Dendrite refuses: any registration attempt would fail, as
    // one does here.
    let wrong = random_secret("wrong-secret");
    let stranger = unique_user("many-stranger");
    let r = run(
        d,
        json!({"username": stranger, "password": random_secret("pw"), "shared_secret": wrong}),
    );
    assert!(r.failed(), "{}", r.stdout);
    assert_eq!(d.account_type(&stranger), None);
    let r = run(d, json!({"users": users, "shared_secret": wrong})).ok();
    assert!(!r.changed(), "{}", r.stdout);
    assert_eq!(
        (
            &r.json["created"],
            &r.json["existing"],
            &r.json["deactivated"]
        ),
        (&json!(0), &json!(54), &json!(0)),
        "{}",
        r.stdout
    );
    assert_eq!(warnings(&r), Vec::<String>::new(), "{}", r.stdout);
    assert_eq!(d.device_ids(&quiet).len(), 1);
}

/// The module's connections to PostgreSQL, from the cluster's log (`log_connections`; the
/// module names itself `matrix-users`).
fn module_connections(pg: &Postgres) -> usize {
    pg.log()
        .lines()
        .filter(|l| {
            l.contains("connection authorized") && l.contains("application_name=matrix-users")
        })
        .count()
}

/// On a Dendrite and PostgreSQL cluster of its own (nothing else connects): a re-run of a long
/// list makes two connections (the count, then the rows), not one per account.
#[test]
fn postgres_a_long_list_costs_two_connections_not_one_per_account() {
    let pg = Postgres::start();
    let db = pg.create_database("dendrite", "dendrite");
    let d = Dendrite::start(Some(&db), &[]);
    pg.superuser()
        .sql("ALTER SYSTEM SET log_connections = on; SELECT pg_reload_conf();");
    let prefix = unique_user("conn");
    let (gone, _) = new_user(&d, "conn-gone");
    let mut users = new_entries(&prefix, 60);
    users.push(json!({"username": gone, "state": "deactivated"}));

    let r = run(&d, json!({"users": users})).ok();
    assert_eq!(
        (&r.json["created"], &r.json["deactivated"]),
        (&json!(60), &json!(1)),
        "{}",
        r.stdout
    );
    // A backend logs its connection before it takes a query: all are in the log by now.
    let first = module_connections(&pg);
    assert!(
        first >= 3,
        "the listing and the deactivation:\n{}",
        pg.log()
    );

    let r = run(&d, json!({"users": users})).ok();
    assert!(!r.changed(), "{}", r.stdout);
    assert_eq!(r.json["existing"], 61, "{}", r.stdout);
    assert_eq!(
        module_connections(&pg) - first,
        2,
        "the re-run's connections:\n{}",
        pg.log()
    );
}
