//! Synapse on a real PostgreSQL (Debian's, a throwaway cluster): what the operators' recipe
//! `UPDATE users SET admin = 1 WHERE name = '@john:example.com'` does to a running Synapse, read
//! back through Synapse's admin API and the database. docs/dendrite.md lists the facts.

use crate::common::postgres::{lit, Postgres};
use crate::common::{unique_user, Synapse};
use serde_json::{json, Value};

fn admin_api_as(s: &Synapse, token: &str, user_id: &str) -> (u16, Value) {
    let r = reqwest::blocking::Client::new()
        .get(format!(
            "{}/_synapse/admin/v2/users/{}",
            s.url,
            crate::common::urlenc(user_id)
        ))
        .bearer_auth(token)
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

fn login(s: &Synapse, user: &str, password: &str) -> String {
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/_matrix/client/v3/login", s.url))
        .json(&json!({"type": "m.login.password",
                      "identifier": {"type": "m.id.user", "user": user}, "password": password}))
        .send()
        .unwrap();
    assert!(r.status().is_success());
    r.json::<Value>().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Synapse keeps its data in PostgreSQL (no SQLite file), in the `users` table the operators'
/// recipe updates; these are its columns.
#[test]
fn synapse_stores_users_in_postgres() {
    let pg = Postgres::start();
    let db = pg.create_database("synapse", "synapse");
    let s = Synapse::start_on(&db);
    assert!(!s.dir.path().join("homeserver.db").exists(), "no SQLite");
    assert_eq!(
        db.sql("SELECT name, admin, deactivated, is_guest FROM users WHERE name = '@harness-admin:localhost';"),
        "@harness-admin:localhost|1|0|0"
    );
    let user = unique_user("pguser");
    s.register_raw(&user, "password-1", false, true);
    assert_eq!(
        db.sql(&format!(
            "SELECT admin, substr(password_hash, 1, 4) FROM users WHERE name = {};",
            lit(&format!("@{user}:localhost"))
        )),
        "0|$2b$"
    );
    let columns = db.sql(
        "SELECT column_name || ' ' || data_type FROM information_schema.columns \
         WHERE table_name = 'users' AND column_name IN \
         ('name', 'password_hash', 'admin', 'deactivated', 'user_type', 'is_guest', 'locked') \
         ORDER BY column_name;",
    );
    assert_eq!(
        columns,
        "admin smallint\ndeactivated smallint\nis_guest smallint\nlocked boolean\n\
         name text\npassword_hash text\nuser_type text"
    );
    // admin is a smallint: a boolean is refused.
    let (ok, _, err) = db.try_sql(&format!(
        "UPDATE users SET admin = true WHERE name = {};",
        lit(&format!("@{user}:localhost"))
    ));
    assert!(!ok);
    assert!(
        err.contains("column \"admin\" is of type smallint but expression is of type boolean"),
        "{err}"
    );
    // The database Synapse demands: UTF8 with C collation.
    assert_eq!(
        db.sql("SELECT pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database WHERE datname = 'synapse';"),
        "UTF8|C|C"
    );
}

/// The operators' recipe on PostgreSQL: the UPDATE lands at once in the database, but the
/// running Synapse keeps answering from its caches (is_server_admin, get_user_by_id) until it is
/// restarted; promotion and demotion alike.
#[test]
fn admin_flag_by_sql_needs_a_synapse_restart() {
    let pg = Postgres::start();
    let db = pg.create_database("synapse", "synapse");
    let s = Synapse::start_on(&db);
    let user = unique_user("john");
    let user_id = format!("@{user}:localhost");
    s.register_raw(&user, "password-1", false, true);
    let token = login(&s, &user, "password-1");

    // Before: not an admin.
    let (st, v) = admin_api_as(&s, &token, &user_id);
    assert_eq!(st, 403, "{v}");
    assert_eq!(
        v,
        json!({"errcode": "M_FORBIDDEN", "error": "You are not a server admin"})
    );
    assert_eq!(s.user(&user_id).unwrap()["admin"], false);

    assert_eq!(
        db.sql(&format!(
            "UPDATE users SET admin = 1 WHERE name = {} RETURNING name;",
            lit(&user_id)
        )),
        user_id,
        "one row updated"
    );
    assert_eq!(
        db.value(&format!(
            "SELECT admin FROM users WHERE name = {};",
            lit(&user_id)
        )),
        Some("1".into())
    );
    // The running Synapse has not noticed.
    assert_eq!(
        admin_api_as(&s, &token, &user_id).0,
        403,
        "cached: still no admin"
    );
    assert_eq!(
        s.user(&user_id).unwrap()["admin"],
        false,
        "the admin API's own view is cached too"
    );

    s.restart();
    let (st, v) = admin_api_as(&s, &token, &user_id);
    assert_eq!(st, 200, "admin after the restart: {v}");
    assert_eq!(v["admin"], true);
    assert_eq!(s.user(&user_id).unwrap()["admin"], true);

    // Demotion the same way: still an admin until the next restart.
    db.sql(&format!(
        "UPDATE users SET admin = 0 WHERE name = {};",
        lit(&user_id)
    ));
    assert_eq!(
        admin_api_as(&s, &token, &user_id).0,
        200,
        "cached: still admin"
    );
    s.restart();
    assert_eq!(admin_api_as(&s, &token, &user_id).0, 403);
}

/// The cluster only takes passwords, and only on 127.0.0.1 and its own socket.
#[test]
fn cluster_requires_the_password() {
    let pg = Postgres::start();
    let db = pg.create_database("app", "app_owner");
    assert_eq!(db.sql("SELECT current_user;"), "app_owner");
    let (ok, _, err) = crate::common::postgres::psql(&db.url, "wrong-password", "SELECT 1;");
    assert!(!ok);
    assert!(err.contains("password authentication failed"), "{err}");
    let settings = db.sql(
        "SELECT current_setting('listen_addresses') || ' ' || current_setting('password_encryption');",
    );
    assert_eq!(settings, "127.0.0.1 scram-sha-256");
    assert!(pg.url.starts_with("postgresql://matrix@127.0.0.1:"));
    assert!(!pg.url.contains(&db.password()), "no password in URLs");
}
