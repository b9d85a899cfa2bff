//! The users-as-code tags against a real Dendrite (Go module proxy) on a real PostgreSQL (Debian),
//! reached as an MDAD inventory reaches them: the client API on
//! `matrix_dendrite_container_http_host_bind_address`, the shared secret MDAD derives from its
//! generic key, and MDAD's Postgres (superuser `matrix`, `postgres_connection_password`) on the
//! port `postgres_container_postgres_bind_port` publishes, which the role hands the module as
//! `database` (Dendrite has no API that lists accounts, deactivates them or sets admin flags).
//! Every run is checked in `userapi_accounts` (account_type 1 user, 3 admin, 4 appservice;
//! is_deactivated) and with logins.

use super::{item, plan_of};
use crate::common::dendrite::Dendrite;
use crate::common::operator::*;
use crate::common::postgres::{lit, Postgres};
use crate::common::*;
use crate::operator_backends::{changed_count, dendrite_for, port_of, vars_yml};
use serde_json::json;
use std::sync::OnceLock;

/// MDAD's Postgres with Dendrite's accounts database, and the Dendrite on it.
pub(super) struct Mdad {
    pub pg: Postgres,
    pub d: Dendrite,
    pub key: String,
    pub pg_password: String,
}

impl Mdad {
    fn start() -> Mdad {
        let pg = Postgres::start();
        // MDAD's matrix_dendrite_user_api_database; this Dendrite keeps all its tables there.
        let db = pg.create_database("dendrite_userapi", "dendrite");
        let key = random_secret("generic-key");
        let d = dendrite_for(&key, &db);
        let pg_password = pg.superuser().password();
        Mdad {
            pg,
            d,
            key,
            pg_password,
        }
    }

    /// The vars.yml: Dendrite's client API and MDAD's Postgres published, the harness admin's
    /// token for the role, plus `extra` lines.
    fn vars(&self, extra: &str) -> String {
        vars_yml(
            "dendrite",
            &self.key,
            &self.pg_password,
            &format!(
                "matrix_dendrite_container_http_host_bind_address: '127.0.0.1:{}'\n\
                 postgres_container_postgres_bind_port: '127.0.0.1:{}'\n\
                 matrix_user_management_access_token: '{}'\n\
                 {extra}",
                port_of(&self.d.url),
                self.pg.port,
                self.d.admin_token
            ),
        )
    }

    /// The secrets of the setup itself, never to be printed.
    fn secrets(&self) -> Vec<String> {
        vec![
            self.key.clone(),
            self.pg_password.clone(),
            self.d.admin_token.clone(),
            self.d.shared_secret.clone(),
            self.d.admin_password.clone(),
        ]
    }

    /// userapi_accounts.is_deactivated, None if the account does not exist.
    fn deactivated(&self, name: &str) -> Option<bool> {
        self.d
            .sql(&format!(
                "SELECT is_deactivated FROM userapi_accounts WHERE localpart = {} AND server_name = 'localhost';",
                lit(name)
            ))
            .lines()
            .next()
            .map(|l| match l.trim() {
                "t" => true,
                "f" => false,
                other => panic!("is_deactivated of {name}: {other:?}"),
            })
    }

    fn exists(&self, name: &str) -> bool {
        self.d.account_type(name).is_some()
    }
}

/// The MDAD setup the tests that deactivate nothing unlisted share (exclusive mode has its own).
fn shared() -> &'static Mdad {
    static M: OnceLock<Mdad> = OnceLock::new();
    M.get_or_init(Mdad::start)
}

fn assert_no_secret(secrets: &[String], out: &str) {
    for s in secrets {
        assert!(!out.contains(s.as_str()), "a secret in the output: {out}");
    }
}

/// MDAD's lists (baibot's computed entry, matrix_user_creator_users_additional) and
/// matrix_user_management_users converge on Dendrite in one call: `--check` first writes nothing,
/// the real run creates (initial_type admin is account_type 3; bot and support are regular
/// accounts, as MDAD's matrix-user-creator makes them on Dendrite) and deactivates through the
/// database, a re-run changes nothing, and a changed entry converges only its account while an
/// initial_type change changes nothing.
#[test]
fn mdad_lists_and_the_full_list_converge_on_dendrite() {
    let m = shared();
    let d = &m.d;
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
    let sup_pw = random_secret("sup-pw");
    let plain_pw = random_secret("paul-pw");
    let carol_pw = random_secret("carol-pw");
    let dave_pw = random_secret("dave-pw");
    let erin_pw = random_secret("erin-pw");
    let dave_file = c.path().join("dave.password");
    std::fs::write(&dave_file, format!("{dave_pw}\n")).unwrap();
    // erin exists already: her entry deactivates her.
    let (st, v) = d.register(&erin, &erin_pw, false);
    assert_eq!(st, 200, "{v}");
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
            item(json!({"username": sup, "initial_password": sup_pw, "initial_type": "support"})),
            item(json!({"username": plain, "initial_password": plain_pw, "initial_type": "user"})),
            item(json!({"username": carol, "password": carol_pw, "admin": carol_admin})),
            item(json!({"username": dave, "password_file": dave_file, "admin": true})),
            item(json!({"username": erin, "state": "deactivated"})),
        )
    };
    c.link_mdad_inventory(&m.vars(&lists(false, "admin")));
    let mut secrets = m.secrets();
    secrets.extend([
        bot_pw.clone(),
        alice_pw.clone(),
        sup_pw.clone(),
        plain_pw.clone(),
        carol_pw.clone(),
        dave_pw.clone(),
    ]);

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
    for n in [&bot, &alice, &sup, &plain, &carol, &dave] {
        assert!(!m.exists(n), "--check created {n}");
    }
    assert_eq!(
        m.deactivated(&erin),
        Some(false),
        "--check deactivated erin"
    );

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
    let plan = plan_of(&out);
    assert!(plan.contains("created (6)"), "{plan}\n{out}");
    assert!(plan.contains(&format!("deactivated (1): {erin}")), "{plan}");
    for (n, t) in [
        (&bot, 1),
        (&alice, 3),
        (&sup, 1),
        (&plain, 1),
        (&carol, 1),
        (&dave, 3),
    ] {
        assert_eq!(d.account_type(n), Some(t), "account_type of {n}: {out}");
        assert_eq!(m.deactivated(n), Some(false), "{n}");
    }
    assert_eq!(m.deactivated(&erin), Some(true), "erin: {out}");
    assert!(
        !d.can_login(&erin, &erin_pw),
        "a deactivated account logs in"
    );
    for (n, pw) in [
        (&bot, &bot_pw),
        (&alice, &alice_pw),
        (&sup, &sup_pw),
        (&plain, &plain_pw),
        (&carol, &carol_pw),
    ] {
        assert!(d.can_login(n, pw), "{n} cannot log in");
    }
    assert!(
        d.can_login(&dave, &dave_pw),
        "password_file read on the target"
    );

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

    // carol's entry now says admin: converged alone. alice's initial_type changes nothing.
    c.link_mdad_inventory(&m.vars(&lists(true, "user")));
    let (code, out) = c.just(&["ensure-matrix-users-created"]);
    assert_eq!(code, 0, "{out}");
    assert_no_secret(&secrets, &out);
    let plan = plan_of(&out);
    assert!(
        plan.contains(&format!("made admins (1): {carol}")),
        "{plan}\n{out}"
    );
    assert!(plan.contains("unchanged: 6"), "{plan}");
    assert_eq!(d.account_type(&carol), Some(3));
    assert_eq!(
        d.account_type(&alice),
        Some(3),
        "initial_type is create-only"
    );
    assert!(d.can_login(&alice, &alice_pw) && d.can_login(&carol, &carol_pw));
    assert_eq!(m.deactivated(&erin), Some(true));
}

/// Entries Dendrite cannot honour fail alone, each named by its list and index: a bad
/// initial_type, and a lock (Dendrite has none). The good entry is created.
#[test]
fn bad_entries_fail_alone_on_dendrite() {
    let m = shared();
    let c = Checkout::new();
    let (good, typo, locked) = (
        unique_user("good"),
        unique_user("typo"),
        unique_user("locked"),
    );
    let good_pw = random_secret("good-pw");
    let lists = format!(
        "matrix_user_creator_users_additional:\n{}{}\
         matrix_user_management_users:\n{}",
        item(json!({"username": good, "initial_password": good_pw, "initial_type": "user"})),
        item(
            json!({"username": typo, "initial_password": "typo-pw-123", "initial_type": "superuser"})
        ),
        item(json!({"username": locked, "password": "locked-pw-123", "locked": true})),
    );
    c.link_mdad_inventory(&m.vars(&lists));
    let (code, out) = c.just(&["ensure-matrix-users-created"]);
    assert_ne!(code, 0, "{out}");
    assert_no_secret(&m.secrets(), &out);
    assert_eq!(m.d.account_type(&good), Some(1), "the good entry: {out}");
    assert!(m.d.can_login(&good, &good_pw));
    for bad in [&typo, &locked] {
        assert!(!m.exists(bad), "{bad} was created: {out}");
    }
    for expected in [
        format!("matrix_user_creator_users_additional[1] ({typo}): "),
        "superuser".to_string(),
        format!("matrix_user_management_users[0] ({locked}): "),
    ] {
        assert!(out.contains(&expected), "missing {expected:?}: {out}");
    }
    assert_eq!(out.matches("fatal:").count(), 1, "reported once: {out}");
}

/// Exclusive mode on a Dendrite of its own: the accounts no list names are deactivated in the
/// database, except another admin (account_type 3), an application service's account
/// (account_type 4, inserted with SQL as Dendrite stores one: this harness's Dendrite has no
/// application service configured), the acting admin and the `keep` matches; past
/// max_deactivations the run fails and nothing is deactivated.
/// Without MDAD's Postgres published, what needs Dendrite's database stops before anything runs,
/// naming the vars.yml line; creating accounts alone does not need it.
#[test]
fn exclusive_without_the_published_postgres_names_the_line() {
    let m = shared();
    let c = Checkout::new();
    let name = unique_user("nodb");
    let without_postgres = |extra: &str| {
        vars_yml(
            "dendrite",
            &m.key,
            &m.pg_password,
            &format!(
                "matrix_dendrite_container_http_host_bind_address: '127.0.0.1:{}'\n\
                 matrix_user_management_access_token: '{}'\n\
                 matrix_user_management_users:\n{}{extra}",
                port_of(&m.d.url),
                m.d.admin_token,
                item(json!({"username": name, "password": "nodb-pw-1234"})),
            ),
        )
    };
    c.link_mdad_inventory(&without_postgres(
        "matrix_user_management_users_exclusive: true\n",
    ));
    let (code, out) = c.just(&["ensure-matrix-users-created"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("ensure-matrix-users-created writes the dendrite database here")
            && out.contains("postgres_container_postgres_bind_port: '127.0.0.1:5432'"),
        "{out}"
    );
    assert!(!m.exists(&name), "ran although refused: {out}");
    assert_no_secret(&m.secrets(), &out);
    c.link_mdad_inventory(&without_postgres(""));
    let (code, out) = c.just(&["ensure-matrix-users-created"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(m.d.account_type(&name), Some(1), "{out}");
}

#[test]
fn exclusive_deactivates_exactly_the_unnamed_dendrite_accounts() {
    let m = Mdad::start();
    let d = &m.d;
    let pw = random_secret("exclusive-pw");
    for n in [
        "alice", "bob", "stray1", "stray2", "stray3", "kept_1", "oldbot",
    ] {
        let (s, v) = d.register(n, &pw, false);
        assert_eq!(s, 200, "{n}: {v}");
    }
    let (s, v) = d.register("otheradmin", &pw, true);
    assert_eq!(s, 200, "{v}");
    d.sql(
        "INSERT INTO userapi_accounts (localpart, server_name, created_ts, password_hash, appservice_id, account_type) \
         VALUES ('bridged_42', 'localhost', 0, NULL, 'test-bridge', 4);",
    );
    assert_eq!(d.account_type("bridged_42"), Some(4));
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
        "bridged_42",
        "harness-admin",
    ];
    let mut secrets = m.secrets();
    secrets.push(pw.clone());

    // Three unnamed accounts, at most two allowed: refused before anything is written.
    c.link_mdad_inventory(&m.vars(&settings(2)));
    let (code, out) = c.just(&["ensure-matrix-users-created"]);
    assert_ne!(code, 0, "{out}");
    assert_no_secret(&secrets, &out);
    assert!(
        out.contains("3 accounts are named in no entry of users and would be deactivated, more than matrix_user_management_users_max_deactivations (2) allows")
            && out.contains("@stray1:localhost, @stray2:localhost, @stray3:localhost"),
        "{out}"
    );
    for n in all {
        assert_eq!(m.deactivated(n), Some(false), "{n} deactivated: {out}");
    }

    // --check shows exactly those three and writes nothing.
    c.link_mdad_inventory(&m.vars(&settings(5)));
    let (code, out) = c.just(&["ensure-matrix-users-created", "--check"]);
    assert_eq!(code, 0, "{out}");
    let plan = plan_of(&out);
    assert!(
        plan.contains("to deactivate, named in no list (3): stray1, stray2, stray3"),
        "{plan}\n{out}"
    );
    for n in all {
        assert_eq!(m.deactivated(n), Some(false), "--check deactivated {n}");
    }

    // The real run deactivates exactly them.
    let (code, out) = c.just(&["ensure-matrix-users-created"]);
    assert_eq!(code, 0, "{out}");
    assert_no_secret(&secrets, &out);
    assert!(
        plan_of(&out).contains("deactivated, named in no list (3): stray1, stray2, stray3"),
        "{out}"
    );
    for n in all {
        let expected = n.starts_with("stray");
        assert_eq!(m.deactivated(n), Some(expected), "{n}: {out}");
    }
    assert_eq!(d.account_type("otheradmin"), Some(3));
    assert_eq!(d.account_type("bridged_42"), Some(4));
    assert!(!d.can_login("stray1", &pw));
    assert!(d.can_login("alice", &pw) && d.can_login("kept_1", &pw));

    // Converged: a re-run changes nothing.
    let (code, out) = c.just(&["ensure-matrix-users-created"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(changed_count(&out), "changed=0", "{out}");
}

/// list-users on Dendrite reads its database (Dendrite has no API that lists accounts) through
/// MDAD's published Postgres, with no admin credentials: the table shows each account as
/// `userapi_accounts` holds it, and the filters narrow it. Without the published Postgres it
/// stops before anything runs, naming the vars.yml line.
#[test]
fn list_users_reads_the_dendrite_database() {
    let m = shared();
    let d = &m.d;
    let c = Checkout::new();
    let tag = unique_user("lst");
    let (admin, plain, gone) = (
        format!("{tag}-admin"),
        format!("{tag}-plain"),
        format!("{tag}-gone"),
    );
    for (name, is_admin) in [(&admin, true), (&plain, false), (&gone, false)] {
        let (st, v) = d.register(name, &random_secret("pw"), is_admin);
        assert_eq!(st, 200, "{v}");
    }
    d.sql(&format!(
        "UPDATE userapi_accounts SET is_deactivated = TRUE WHERE localpart = {} AND server_name = 'localhost';",
        lit(&gone)
    ));
    let vars = |postgres: bool| {
        vars_yml(
            "dendrite",
            &m.key,
            &m.pg_password,
            &format!(
                "matrix_dendrite_container_http_host_bind_address: '127.0.0.1:{}'\n{}",
                port_of(&d.url),
                if postgres {
                    format!(
                        "postgres_container_postgres_bind_port: '127.0.0.1:{}'\n",
                        m.pg.port
                    )
                } else {
                    String::new()
                }
            ),
        )
    };
    c.link_mdad_inventory(&vars(false));
    let (code, out) = c.just(&["list-users"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("list-users reads the dendrite database here")
            && out.contains("postgres_container_postgres_bind_port: '127.0.0.1:5432'"),
        "{out}"
    );
    assert_no_secret(&m.secrets(), &out);

    c.link_mdad_inventory(&vars(true));
    // The table's row of `name`: user ID, admin, type, state, created.
    let row = |out: &str, name: &str| -> Option<Vec<String>> {
        let id = d.user_id(name);
        out.lines()
            .find(|l| l.contains(&format!("\"{id} ")))
            .map(|l| {
                l.split_whitespace()
                    .map(|w| w.trim_matches(|c| c == '"' || c == ',').to_string())
                    .collect()
            })
    };
    let want = |name: &str, admin: &str, state: &str| {
        let created = crate::dendrite_user_info::stored(d, name).unwrap()["created"]
            .as_str()
            .unwrap()
            .to_string();
        Some(vec![
            d.user_id(name),
            admin.to_string(),
            "regular".to_string(),
            state.to_string(),
            created,
        ])
    };
    let (code, out) = c.just(&["list-users", &format!("name={tag}")]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(row(&out, &admin), want(&admin, "yes", "active"), "{out}");
    assert_eq!(row(&out, &plain), want(&plain, "no", "active"), "{out}");
    assert_eq!(row(&out, &gone), want(&gone, "no", "deactivated"), "{out}");
    assert!(out.contains("3 account(s)"), "{out}");
    assert_no_secret(&m.secrets(), &out);

    let (code, out) = c.just(&["list-users", "admins=yes", &format!("name={tag}")]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(row(&out, &admin), want(&admin, "yes", "active"), "{out}");
    assert!(
        row(&out, &plain).is_none() && row(&out, &gone).is_none(),
        "{out}"
    );
    assert!(out.contains("1 account(s)"), "{out}");
    let (code, out) = c.just(&["list-users", "deactivated=yes", &format!("name={tag}")]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(row(&out, &gone), want(&gone, "no", "deactivated"), "{out}");
    assert!(out.contains("1 account(s)"), "{out}");
    let (code, out) = c.just(&["list-users", &format!("username={plain}")]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(row(&out, &plain), want(&plain, "no", "active"), "{out}");
    assert!(out.contains("1 account(s)"), "{out}");
}
