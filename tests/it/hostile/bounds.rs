//! Bounded everything.

use super::{args_for, assert_clean_failure, MODULES};
use crate::common::hostile::{fake_homeserver, Hostile, Reply};
use crate::common::module::run_within;
use crate::common::run_module;
use serde_json::{json, Value};
use std::process::Command;

#[test]
fn huge_answers_fail_cleanly() {
    let mut cases = 0;
    for reply in [Reply::HugeWithLength(4 << 30), Reply::Endless] {
        let hs = Hostile::always(reply);
        for module in MODULES {
            let a = args_for(module, &hs.url, "s3cret-huge");
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("args");
            std::fs::write(&p, a.to_string()).unwrap();
            let r = run_within(module, &[p.to_str().unwrap()], 120, None);
            assert_clean_failure(&r, "s3cret-huge", &["MiB"]);
            cases += 1;
        }
    }
    assert_eq!(cases, 8);
}

#[test]
fn args_files_that_block_or_never_end_fail_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let big = dir.path().join("big");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(70 << 20).unwrap();
    let mut cases = 0;
    for module in MODULES {
        for path in [
            "/dev/zero",
            "/dev/urandom",
            fifo.to_str().unwrap(),
            big.to_str().unwrap(),
            "/",
        ] {
            let r = run_within(module, &[path], 30, None);
            assert!(r.failed(), "{path}: {}", r.stdout);
            assert!(r.msg().contains("arguments file"), "{}", r.msg());
            cases += 1;
        }
    }
    assert_eq!(cases, 20);
}

#[test]
fn secret_files_that_block_or_never_end_fail_at_once() {
    let hs = fake_homeserver("localhost", false, |u| format!("@{u}:localhost"));
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let mut cases = 0;
    for path in ["/dev/zero", fifo.to_str().unwrap(), "/dev/stdin"] {
        for (opt, other) in [
            ("shared_secret_file", "shared_secret"),
            ("password_file", "password"),
        ] {
            let mut a = args_for("register_user", &hs.url, "s3cret-files");
            a[other] = Value::Null;
            a[opt] = json!(path);
            let p = dir.path().join("args");
            std::fs::write(&p, a.to_string()).unwrap();
            let r = run_within("register_user", &[p.to_str().unwrap()], 30, None);
            assert!(r.failed(), "{opt}={path}: {}", r.stdout);
            assert!(r.msg().contains(opt), "{}", r.msg());
            cases += 1;
        }
    }
    assert!(hs.requests_to("POST", "/").is_empty());
    assert_eq!(cases, 6);
}

#[test]
fn running_out_of_memory_still_ends_in_one_json_object() {
    // 40 MiB of arguments under a 48 MiB address-space limit: parsing them cannot succeed.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("args");
    let filler = "a".repeat(40 << 20);
    std::fs::write(
        &p,
        json!({"username": filler, "homeserver_url": "http://127.0.0.1:9"}).to_string(),
    )
    .unwrap();
    let r = run_within(
        "register_user",
        &[p.to_str().unwrap()],
        60,
        Some("ulimit -v 120000"),
    );
    assert!(r.failed(), "{}", r.stdout);
    assert!(
        r.msg().contains("memory") || r.msg().contains("arguments"),
        "{}",
        r.msg()
    );
}

#[test]
fn the_sqlite_busy_wait_follows_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("homeserver.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE users (name TEXT PRIMARY KEY, admin SMALLINT DEFAULT 0 NOT NULL);
         INSERT INTO users (name) VALUES ('@alice:localhost');",
    )
    .unwrap();
    conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let r = run_module(
        "user_admin",
        json!({"backend": "synapse_sqlite", "database": db, "username": "@alice:localhost",
               "admin": true, "timeout": 1}),
    );
    assert!(r.failed(), "{}", r.stdout);
    assert!(r.msg().contains("1 s"), "{}", r.msg());
    conn.execute_batch("ROLLBACK").unwrap();
}
