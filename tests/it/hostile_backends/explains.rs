//! Class 4 of issue 18: messages name the option to fix and what answered; a partial success
//! (account created, later step failed) says exactly what exists now.

use super::mas_shaped::*;
use super::{ensure, failure, run, run_bounded, table, with, STRONG};
use crate::common::dendrite::Dendrite;
use crate::common::hostile::{Hostile, Reply, ELEMENT_PAGE};
use serde_json::{json, Value};
use std::time::Duration;

#[test]
fn unusable_token_answers_name_api_url_and_the_client() {
    // The token endpoint answers 200 with something that is not a usable token: the message must
    // say what answered, and name api_url and client_id (what to fix), not only "no access_token".
    // (content type, body, what the message must show of it)
    type Row = (&'static str, Vec<u8>, &'static str);
    let rows: &[(&str, Row)] = &[
        ("a web page", ("text/html; charset=utf-8", ELEMENT_PAGE.as_bytes().to_vec(), "text/html")),
        ("an empty 200", ("", Vec::new(), "empty")),
        (
            "JSON without access_token",
            ("application/json", br#"{"token_type":"Bearer","expires_in":300,"scope":"urn:mas:admin"}"#.to_vec(), "access_token"),
        ),
        (
            "access_token a number",
            ("application/json", br#"{"access_token":42,"token_type":"Bearer","expires_in":300,"scope":"urn:mas:admin"}"#.to_vec(), "access_token"),
        ),
        (
            "access_token empty",
            ("application/json", br#"{"access_token":"","token_type":"Bearer","expires_in":300,"scope":"urn:mas:admin"}"#.to_vec(), "access_token"),
        ),
    ];
    table(rows, false, |(ctype, body, answered)| {
        let (ctype, body) = (*ctype, body.clone());
        let mas = mas_like(move |r| {
            (r.method == "POST" && r.path == "/oauth2/token")
                .then(|| Reply::Full(200, ctype, body.clone()))
        });
        let r = run(
            "user_admin",
            mas_args(&mas.url, json!({"username": "alice", "admin": true})),
        )?;
        failure(&r, &["api_url", "client_id", answered], &[CLIENT_SECRET])?;
        let admin = mas
            .requests()
            .iter()
            .filter(|q| q.path.starts_with(API))
            .count();
        ensure!(
            admin == 0,
            "{admin} admin API requests without a usable token"
        );
        Ok(())
    });
}

#[test]
fn a_sqlite_database_that_is_not_a_file_says_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("homeserver.db.fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let zero = dir.path().join("dendrite_userapi.db");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let subdir = dir.path().join("storage");
    std::fs::create_dir(&subdir).unwrap();
    let missing = dir.path().join("missing.db");
    type Row = (std::path::PathBuf, &'static [&'static str], bool);
    let kinds: Vec<(&str, Row)> = vec![
        ("a directory", (subdir, &["directory"], false)),
        ("a FIFO", (fifo, &["FIFO", "pipe"], false)),
        (
            "a symlink to /dev/zero",
            (zero, &["device", "/dev/zero"], false),
        ),
        (
            "a missing file (still \"does not exist\")",
            (missing, &["does not exist"], true),
        ),
    ];
    let mut rows = Vec::new();
    for backend in ["synapse_sqlite", "dendrite_sqlite"] {
        for (name, row) in &kinds {
            rows.push((format!("{backend}, {name}"), (backend, row.clone())));
        }
    }
    let rows: Vec<(&str, _)> = rows.iter().map(|(n, r)| (n.as_str(), r)).collect();
    table(&rows, true, |(backend, (path, words, missing))| {
        let a = json!({"backend": backend, "database": path, "username": "@alice:localhost",
                       "admin": true, "timeout": 3});
        let (r, _) =
            run_bounded("user_admin", a, &[], Duration::from_secs(20)).ended("user_admin")?;
        failure(&r, &["database"], &[])?;
        ensure!(
            words.iter().any(|w| r.msg().contains(w)),
            "the message must say what it is ({words:?}): {}",
            r.msg()
        );
        if !missing {
            ensure!(
                !r.msg().contains("does not exist"),
                "it exists: {}",
                r.msg()
            );
        }
        Ok(())
    });
}

#[test]
fn a_hanging_revocation_after_creating_says_the_account_exists() {
    // alice is created and her password set; then revoking the task's MAS token hangs. The run
    // may fail, but it must say that @alice:localhost exists now.
    let mas = mas_like(|r| {
        if is(r, "POST", "/users") {
            return Some(one(201, user(ALICE, "alice", false)));
        }
        if is(r, "POST", &format!("/users/{ALICE}/set-password")) {
            return Some(Reply::Full(204, "", Vec::new()));
        }
        if r.method == "POST" && r.path == "/oauth2/revoke" {
            std::thread::sleep(Duration::from_secs(90));
            return Some(Reply::Full(200, "", Vec::new()));
        }
        None
    });
    let a = mas_args(
        &mas.url,
        json!({"username": "alice", "password": STRONG, "timeout": 3, "retries": 1}),
    );
    let (r, _) = run_bounded("register_user", a, &[], Duration::from_secs(30))
        .ended("register_user")
        .unwrap();
    assert_eq!(sent(&mas, "POST", "/users"), 1, "{}", r.stdout);
    assert!(
        !mas.requests_to("POST", "/oauth2/revoke").is_empty(),
        "the revocation was never tried: {}",
        r.stdout
    );
    assert!(!r.stdout.contains(CLIENT_SECRET) && !r.stdout.contains(STRONG));
    if r.failed() {
        assert!(
            r.msg().contains("@alice:localhost")
                && (r.msg().contains("created") || r.msg().contains("exists")),
            "a failure after the creation must say the account exists: {}",
            r.msg()
        );
    } else {
        assert!(r.changed() && r.json["created"] == true, "{}", r.stdout);
        assert!(
            r.json["warnings"].to_string().contains("revok"),
            "a success must warn that the token was not revoked: {}",
            r.stdout
        );
    }
}

#[test]
fn a_user_id_with_an_empty_server_is_a_bad_username() {
    // `@john:` is a user name with nothing after the colon: the user name is wrong, not a
    // server_name the operator never gave.
    let hs = Hostile::always(Reply::json(
        500,
        json!({"errcode": "M_UNKNOWN", "error": "no"}),
    ));
    type Row = (&'static str, &'static str, Value);
    let rows: &[(&str, Row)] = &[
        (
            "register_user",
            (
                "register_user",
                "username",
                json!({"shared_secret": "s3cret-empty-1", "username": "@john:", "password": STRONG}),
            ),
        ),
        (
            "register_user, alias user",
            (
                "register_user",
                "user",
                json!({"shared_secret": "s3cret-empty-1", "user": "@john:", "password": STRONG}),
            ),
        ),
        (
            "register_user, backend mas",
            (
                "register_user",
                "username",
                json!({"backend": "mas", "api_url": "HS", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "username": "@john:", "password": STRONG}),
            ),
        ),
        (
            "register_user, users entry",
            (
                "register_user",
                "users[0]",
                json!({"shared_secret": "s3cret-empty-1", "users": [{"username": "@john:", "password": STRONG}]}),
            ),
        ),
        (
            "user_admin",
            (
                "user_admin",
                "username",
                json!({"access_token": "tok-empty-1", "username": "@john:", "admin": true}),
            ),
        ),
        (
            "user_admin, backend dendrite_sqlite",
            (
                "user_admin",
                "username",
                json!({"backend": "dendrite_sqlite", "database": "/nonexistent/dendrite_userapi.db", "username": "@john:", "admin": true}),
            ),
        ),
    ];
    table(rows, false, |(module, option, args)| {
        let mut a = with(
            &json!({"homeserver_url": hs.url, "retries": 0}),
            args.clone(),
        );
        if a["api_url"] == "HS" {
            a["api_url"] = json!(hs.url);
        }
        let before = hs.requests().len();
        let r = run(module, a)?;
        ensure!(r.failed(), "must fail: {}", r.stdout);
        let msg = match r.json["results"][0]["msg"].as_str() {
            Some(m) => m.to_string(),
            None => r.msg().to_string(),
        };
        ensure!(
            msg.contains(option),
            "the message must name {option}: {msg}"
        );
        ensure!(
            !msg.contains("server_name"),
            "server_name was never given: {msg}"
        );
        ensure!(hs.requests().len() == before, "a bad name sent requests");
        Ok(())
    });
}

/// The README's token service table: the `disable` cell of Dendrite's row.
fn readme_dendrite_disable_cell() -> String {
    let readme = std::fs::read_to_string(crate::common::repo().join("README.md")).unwrap();
    let mut column = None;
    for line in readme.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.get(1) == Some(&"token service") {
            column = cells.iter().position(|c| *c == "disable");
        }
        if let (Some(i), Some(&"Dendrite")) = (column, cells.get(1)) {
            return cells.get(i).unwrap_or(&"").to_string();
        }
    }
    panic!("README.md has no token service table with a Dendrite row");
}

#[test]
fn dendrite_on_sqlite_disables_a_token_or_says_it_cannot() {
    // A REAL Dendrite 0.13.8 on SQLite, which answers token updates with 200 and the old values.
    // Either the module really disables the token (e.g. by deleting and re-creating it, read back
    // here through Dendrite's admin API), or it fails naming the SQLite limitation - and then the
    // README's capability table must say it too (today it promises "expire now" for Dendrite).
    let d = Dendrite::start(None, &[]);
    let http = reqwest::blocking::Client::new();
    let base = format!("{}/_dendrite/admin/registrationTokens", d.url);
    let token = |method: reqwest::Method, path: &str, body: Option<Value>| -> (u16, Value) {
        let mut q = http
            .request(method, format!("{base}{path}"))
            .bearer_auth(&d.admin_token);
        if let Some(b) = body {
            q = q.json(&b);
        }
        let r = q.send().unwrap();
        (r.status().as_u16(), r.json().unwrap_or(Value::Null))
    };
    let (s, v) = token(
        reqwest::Method::POST,
        "/new",
        Some(json!({"token": "advtok", "uses_allowed": 5, "expiry_time": null})),
    );
    assert_eq!(s, 200, "creating advtok: {v}");
    let r = run(
        "registration_token",
        json!({"backend": "dendrite", "homeserver_url": d.url, "access_token": d.admin_token,
               "token": "advtok", "state": "disabled"}),
    )
    .unwrap();
    assert!(!r.stdout.contains(&d.admin_token), "{}", r.stdout);
    let (s, back) = token(reqwest::Method::GET, "/advtok", None);
    if !r.failed() {
        assert_eq!(s, 200, "state=disabled must keep the token: {back}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let used = back["pending"].as_i64().unwrap_or(0) + back["completed"].as_i64().unwrap_or(0);
        let usable = back["uses_allowed"].as_i64().is_none_or(|n| used < n)
            && back["expiry_time"].as_i64().is_none_or(|t| t > now);
        assert!(
            !usable,
            "reported disabled, but Dendrite still has it usable: {back}"
        );
        assert!(r.changed(), "{}", r.stdout);
        return;
    }
    assert!(
        r.msg().contains("SQLite"),
        "the failure must name the SQLite limitation: {}",
        r.msg()
    );
    assert_eq!(
        back["expiry_time"],
        Value::Null,
        "a failure must leave it as it was: {back}"
    );
    let cell = readme_dendrite_disable_cell();
    assert!(
        cell.contains("SQLite"),
        "the module cannot disable Dendrite tokens on SQLite, but README.md's token table promises '{cell}' for Dendrite"
    );
}
