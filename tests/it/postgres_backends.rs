//! user_admin's PostgreSQL backends against a real PostgreSQL (Debian's, a throwaway cluster from
//! tests/servers/postgres.sh): `synapse_postgres` with a real Synapse on it, read back through
//! Synapse's admin API before and after a restart and from the database; how `database` and its
//! password are taken (a password in the URL refused and masked, wrong passwords explained);
//! and TLS as libpq's sslmode asks for it. (Dendrite on PostgreSQL: tests/it/dendrite_backends.rs.)

use crate::common::postgres::{lit, Database, Postgres};
use crate::common::{run_module, run_module_with, unique_user, Run, Synapse};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

struct SynapseOnPostgres {
    pg: Postgres,
    db: Database,
    synapse: Synapse,
}

fn shared() -> &'static SynapseOnPostgres {
    static S: OnceLock<SynapseOnPostgres> = OnceLock::new();
    S.get_or_init(|| {
        let pg = Postgres::start();
        let db = pg.create_database("synapse", "synapse");
        let synapse = Synapse::start_on(&db);
        SynapseOnPostgres { pg, db, synapse }
    })
}

fn args(db: &Database, username: &str, admin: bool) -> Value {
    json!({"backend": "synapse_postgres", "database": db.url,
           "database_password_file": db.password_file, "username": username, "admin": admin})
}

fn stored_admin(db: &Database, user_id: &str) -> Option<String> {
    db.value(&format!(
        "SELECT admin FROM users WHERE name = {};",
        lit(user_id)
    ))
}

/// The row version: every UPDATE makes a new one, so an unchanged xmin proves no write.
fn xmin(db: &Database, user_id: &str) -> String {
    db.value(&format!(
        "SELECT xmin FROM users WHERE name = {};",
        lit(user_id)
    ))
    .unwrap()
}

fn assert_secret_free(r: &Run, secret: &str) {
    assert!(
        !r.stdout.contains(secret) && !r.stderr.contains(secret),
        "the secret leaked: {} {}",
        r.stdout,
        r.stderr
    );
}

/// The whole story on one Synapse (it restarts): check mode, promotion, the cached API until a
/// restart, no write when the flag matches, demotion.
#[test]
fn synapse_postgres_sets_the_flag_and_synapse_sees_it_after_a_restart() {
    let pg = Postgres::start();
    let db = pg.create_database("synapse", "synapse");
    let s = Synapse::start_on(&db);
    let user = unique_user("john");
    let id = format!("@{user}:localhost");
    s.register_raw(&user, "password-1", false, true);
    assert_eq!(s.user(&id).unwrap()["admin"], false, "the API before");

    let r = run_module_with(
        "user_admin",
        args(&db, &id, true),
        &[
            ("_ansible_check_mode", json!(true)),
            ("_ansible_diff", json!(true)),
        ],
    )
    .ok();
    assert!(r.changed(), "{}", r.stdout);
    assert_eq!(r.json["diff"]["after"]["admin"], true);
    assert_eq!(
        r.json["restart_required"], false,
        "check mode changed nothing"
    );
    assert_eq!(stored_admin(&db, &id), Some("0".into()));

    let before = xmin(&db, &id);
    let r = run_module("user_admin", args(&db, &id, true)).ok();
    assert!(r.changed(), "{}", r.stdout);
    assert_eq!(r.json["restart_required"], true);
    assert!(
        r.json["warnings"][0]
            .as_str()
            .unwrap()
            .contains("restart Synapse"),
        "{}",
        r.stdout
    );
    assert_eq!(stored_admin(&db, &id), Some("1".into()));
    assert_ne!(xmin(&db, &id), before);
    assert_secret_free(&r, &db.password());
    assert_eq!(
        s.user(&id).unwrap()["admin"],
        false,
        "the running Synapse still answers from its cache"
    );
    s.restart();
    assert_eq!(
        s.user(&id).unwrap()["admin"],
        true,
        "the API after a restart"
    );

    // Already an admin: no write at all (the row version stays), no restart needed.
    let before = xmin(&db, &id);
    let r = run_module("user_admin", args(&db, &id, true)).ok();
    assert!(!r.changed(), "{}", r.stdout);
    assert_eq!(r.json["restart_required"], false);
    assert_eq!(xmin(&db, &id), before, "nothing was written");

    // Demotion, by localpart and server_name.
    let mut demote = args(&db, &user, false);
    demote["server_name"] = json!("localhost");
    let r = run_module("user_admin", demote).ok();
    assert!(r.changed());
    assert_eq!(stored_admin(&db, &id), Some("0".into()));
    s.restart();
    assert_eq!(s.user(&id).unwrap()["admin"], false);
}

#[test]
fn synapse_postgres_refuses_missing_users_and_other_databases() {
    let env = shared();
    let nobody = format!("@{}:localhost", unique_user("nobody"));
    run_module("user_admin", args(&env.db, &nobody, true)).fails_with("does not exist");
    run_module_with(
        "user_admin",
        args(&env.db, &nobody, true),
        &[("_ansible_check_mode", json!(true))],
    )
    .fails_with("does not exist");
    assert_eq!(stored_admin(&env.db, &nobody), None, "never created");

    // The right server, the wrong database: the cluster superuser's own database has no users.
    let pg_dir = env.db.password_file.parent().unwrap();
    let other = json!({"backend": "synapse_postgres",
        "database": format!("postgresql://matrix@127.0.0.1:{}/matrix", env.db.port),
        "database_password_file": pg_dir.join("password"),
        "username": "@someone:localhost", "admin": true});
    run_module("user_admin", other).fails_with("has no users table: is it Synapse's database?");
    // Dendrite's backend on Synapse's database: no userapi_accounts.
    let mut wrong = args(&env.db, "@someone:localhost", true);
    wrong["backend"] = json!("dendrite_postgres");
    run_module("user_admin", wrong).fails_with("has no userapi_accounts table");
}

/// A password inside the URL is refused and never shown; a wrong or missing password is
/// explained without echoing anything; errors name the option.
#[test]
fn passwords_are_taken_apart_from_the_url_and_never_shown() {
    let env = shared();
    let db = &env.db;
    let user = unique_user("pw");
    let id = format!("@{user}:localhost");
    env.synapse.register_raw(&user, "password-1", false, true);
    let real = db.password();

    let with_password = db.url.replace(
        "postgresql://synapse@",
        &format!("postgresql://synapse:{real}@"),
    );
    let r = run_module(
        "user_admin",
        json!({"backend": "synapse_postgres", "database": with_password,
               "username": id, "admin": true}),
    )
    .fails_with("contains a password");
    assert!(r.msg().contains("database_password"), "{}", r.msg());
    assert_secret_free(&r, &real);
    assert_eq!(stored_admin(db, &id), Some("0".into()), "nothing written");

    let wrong = "wrong-db-password-4711";
    let r = run_module(
        "user_admin",
        json!({"backend": "synapse_postgres", "database": db.url, "database_password": wrong,
               "username": id, "admin": true}),
    )
    .fails_with("password authentication failed");
    assert!(
        r.msg()
            .starts_with("cannot connect to PostgreSQL database (synapse@127.0.0.1:"),
        "{}",
        r.msg()
    );
    assert!(r.msg().contains("database_password"), "{}", r.msg());
    assert_secret_free(&r, wrong);

    run_module(
        "user_admin",
        json!({"backend": "synapse_postgres", "database": db.url, "username": id, "admin": true}),
    )
    .fails_with("give database_password or database_password_file");

    // The password inline (no_log) works like the file.
    let r = run_module(
        "user_admin",
        json!({"backend": "synapse_postgres", "database": db.url, "database_password": real,
               "username": id, "admin": true}),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(stored_admin(db, &id), Some("1".into()));
    assert_secret_free(&r, &real);
    assert_eq!(
        r.json["invocation"]["module_args"]["database_password"],
        "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    );

    // Nothing listens: the error names the option and the server.
    let closed = crate::common::free_port();
    run_module(
        "user_admin",
        json!({"backend": "synapse_postgres", "username": id, "admin": true,
               "database": format!("postgresql://synapse@127.0.0.1:{closed}/synapse"),
               "database_password": "x", "timeout": 5}),
    )
    .fails_with(&format!(
        "cannot connect to PostgreSQL database (synapse@127.0.0.1:{closed}/synapse)"
    ));
    // A URL for a SQLite backend, a path for a PostgreSQL one.
    run_module(
        "user_admin",
        json!({"backend": "synapse_sqlite", "database": db.url, "username": id, "admin": true}),
    )
    .fails_with("is a PostgreSQL connection string");
    run_module(
        "user_admin",
        json!({"backend": "synapse_postgres", "database": "/var/lib/synapse/homeserver.db",
               "database_password": "x", "username": id, "admin": true}),
    )
    .fails_with("database must be a PostgreSQL URL");
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (Debian's openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for IP 127.0.0.1 only (not the name localhost).
fn make_certificates(dir: &Path, ca: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={ca}"),
            "-keyout",
            &format!("{ca}.key"),
            "-out",
            &format!("{ca}.pem"),
        ],
    );
}

/// TLS as sslmode asks: the cluster gets a certificate and, from then on, takes TCP connections
/// only over TLS (hostssl), so every connection that works below was encrypted.
#[test]
fn tls_follows_sslmode() {
    let pg = Postgres::start();
    let db = pg.create_database("synapse", "synapse");
    // The table as Synapse creates it (the columns this backend reads and writes).
    db.sql(
        "CREATE TABLE users (name TEXT, admin SMALLINT DEFAULT 0 NOT NULL, UNIQUE(name));
            INSERT INTO users (name) VALUES ('@tls:localhost');",
    );

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_certificates(d, "ca");
    make_certificates(d, "other-ca");
    std::fs::write(d.join("san.ext"), "subjectAltName = IP:127.0.0.1\n").unwrap();
    openssl(
        d,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.pem",
        ],
    );
    // The server reads its key as the cluster owner, which wants it private.
    let key_dir = pg.dir.path();
    for f in ["server.pem", "server.key"] {
        std::fs::copy(d.join(f), key_dir.join(f)).unwrap();
    }
    let as_root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    if as_root {
        let st = Command::new("chown")
            .arg("postgres:")
            .arg(key_dir.join("server.pem"))
            .arg(key_dir.join("server.key"))
            .status()
            .unwrap();
        assert!(st.success());
    }
    let st = Command::new("chmod")
        .arg("600")
        .arg(key_dir.join("server.key"))
        .status()
        .unwrap();
    assert!(st.success());
    let superuser = pg.superuser();
    let hba = pg.dir.path().join("data/pg_hba.conf");
    let text = std::fs::read_to_string(&hba).unwrap();
    std::fs::write(&hba, text.replace("host all all", "hostssl all all")).unwrap();
    superuser.sql(&format!(
        "ALTER SYSTEM SET ssl = on; ALTER SYSTEM SET ssl_cert_file = {}; ALTER SYSTEM SET ssl_key_file = {};",
        lit(key_dir.join("server.pem").to_str().unwrap()),
        lit(key_dir.join("server.key").to_str().unwrap())
    ));
    superuser.sql("SELECT pg_reload_conf();");
    let (ok, on, err) = crate::common::postgres::psql(
        &format!("{}?sslmode=require", superuser.url),
        &superuser.password(),
        "SHOW ssl;",
    );
    assert!(ok && on == "on", "ssl on: {on} {err}");

    let ca = d.join("ca.pem");
    let other = d.join("other-ca.pem");
    let run = |url: String, admin: bool| {
        run_module(
            "user_admin",
            json!({"backend": "synapse_postgres", "database": url,
                   "database_password_file": db.password_file,
                   "username": "@tls:localhost", "admin": admin, "timeout": 10}),
        )
    };
    let base = &db.url; // postgresql://synapse@127.0.0.1:PORT/synapse
    let by_name = base.replace("@127.0.0.1:", "@localhost:");

    let (ca_shown, other) = (ca.display(), other.display());
    let stored = || db.value("SELECT admin FROM users WHERE name = '@tls:localhost';");
    // (database URL, admin asked for, None = changed or Some(what the failure says),
    //  users.admin afterwards where the case checks it)
    let cases: [(String, bool, Option<&str>, Option<&str>); 8] = [
        // Without TLS the server refuses (hostssl): the other cases did use TLS.
        (
            format!("{base}?sslmode=disable"),
            true,
            Some("no encryption"),
            None,
        ),
        // libpq's default (prefer) and require: encrypted, certificate not checked.
        (base.clone(), true, None, None),
        (format!("{base}?sslmode=require"), false, None, Some("0")),
        // verify-full: the chain and the name (the certificate is for 127.0.0.1).
        (
            format!("{base}?sslmode=verify-full&sslrootcert={ca_shown}"),
            true,
            None,
            None,
        ),
        (
            format!("{base}?sslmode=verify-full&sslrootcert={other}"),
            false,
            Some("certificate"),
            None,
        ),
        (
            format!("{by_name}?sslmode=verify-full&sslrootcert={ca_shown}"),
            false,
            Some("certificate"),
            None,
        ),
        // verify-ca: the chain only, so the name localhost passes; another CA does not.
        (
            format!("{by_name}?sslmode=verify-ca&sslrootcert={ca_shown}"),
            false,
            None,
            None,
        ),
        (
            format!("{by_name}?sslmode=verify-ca&sslrootcert={other}"),
            true,
            Some("certificate"),
            None,
        ),
    ];
    for (url, admin, failure, after) in cases {
        match failure {
            Some(message) => {
                run(url, admin).fails_with(message);
            }
            None => assert!(run(url, admin).ok().changed()),
        }
        if let Some(value) = after {
            assert_eq!(stored(), Some(value.into()));
        }
    }
    // ca_path is the CA when the URL names none.
    let r = run_module(
        "user_admin",
        json!({"backend": "synapse_postgres", "database": format!("{base}?sslmode=verify-full"),
               "database_password_file": db.password_file, "ca_path": ca,
               "username": "@tls:localhost", "admin": true}),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(stored(), Some("1".into()));
}

/// What the module sends, from PostgreSQL's own statement log (its sessions are the ones named
/// matrix-users): check mode reads in a read-only transaction and rolls back; a change locks the
/// row, updates it and commits, in one transaction; a run with nothing to change writes nothing.
#[test]
fn one_transaction_and_a_read_only_one_in_check_mode() {
    let env = shared();
    let superuser = env.pg.superuser();
    superuser.sql(
        "ALTER SYSTEM SET log_statement = 'all'; ALTER SYSTEM SET log_line_prefix = '[%a %p] ';",
    );
    superuser.sql("SELECT pg_reload_conf();");
    let user = unique_user("logged");
    let id = format!("@{user}:localhost");
    env.synapse.register_raw(&user, "password-1", false, true);

    // The statements since `from` (a byte offset in the log) of the module's sessions that
    // named this user (other tests share the cluster).
    let statements = |from: usize| -> Vec<String> {
        let log = env.pg.log();
        let lines: Vec<&str> = log[from..]
            .lines()
            .filter(|l| l.starts_with("[matrix-users "))
            .collect();
        let session = |l: &str| l.split(']').next().unwrap().to_string();
        let ours: Vec<String> = lines
            .iter()
            .filter(|l| l.contains("DETAIL:") && l.contains(&id))
            .map(|l| session(l))
            .collect();
        lines
            .iter()
            .filter(|l| l.contains("] LOG:") && ours.contains(&session(l)))
            .filter_map(|l| l.split_once(": ").map(|(_, rest)| rest.to_string()))
            .map(|l| {
                l.split_once(": ")
                    .map_or(l.clone(), |(_, sql)| sql.to_string())
            })
            .collect()
    };
    let wait_for_log = |from: usize, last: &str| {
        for _ in 0..50 {
            if statements(from).iter().any(|s| s == last) {
                return statements(from);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("no {last:?} in the log: {:?}", statements(from));
    };

    let from = env.pg.log().len();
    run_module_with(
        "user_admin",
        args(&env.db, &id, true),
        &[("_ansible_check_mode", json!(true))],
    )
    .ok();
    let check = wait_for_log(from, "ROLLBACK");
    let check = &check[check.iter().position(|s| s.starts_with("START")).unwrap()..];
    assert_eq!(
        check,
        [
            "START TRANSACTION READ ONLY",
            "SELECT admin FROM users WHERE name = $1",
            "ROLLBACK"
        ],
        "{check:?}"
    );

    let from = env.pg.log().len();
    run_module("user_admin", args(&env.db, &id, true)).ok();
    let write = wait_for_log(from, "COMMIT");
    let write = &write[write.iter().position(|s| s.starts_with("START")).unwrap()..];
    assert_eq!(
        write,
        [
            "START TRANSACTION READ WRITE",
            "SELECT admin FROM users WHERE name = $1 FOR UPDATE",
            "UPDATE users SET admin = $1 WHERE name = $2",
            "COMMIT"
        ],
        "{write:?}"
    );

    let from = env.pg.log().len();
    run_module("user_admin", args(&env.db, &id, true)).ok();
    let same = wait_for_log(from, "ROLLBACK");
    assert!(
        !same.iter().any(|s| s.starts_with("UPDATE")),
        "no write when the flag matches: {same:?}"
    );
    assert_eq!(stored_admin(&env.db, &id), Some("1".into()));
}
