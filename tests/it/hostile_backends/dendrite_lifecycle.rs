//! Issue 19's Dendrite requests on a Dendrite-shaped hostile server: with `database`, a
//! deactivation first makes the account leave its rooms (`POST /_dendrite/admin/evacuateUser`)
//! and a reactivation first sets the password (`POST /_dendrite/admin/resetPassword`). An answer
//! that is empty, a web page, the wrong shape or a redirect is a failure, and the database write
//! that would follow is never made: the account's row (in a SQLite file made here with Dendrite's
//! columns) and its devices stay as they were. What the module sent is checked on the requests
//! the server recorded.

use super::{ensure, failure, guarded, run, table, STRONG};
use crate::common::hostile::{Hostile, Reply, Req};
use serde_json::{json, Value};

const TOKEN: &str = "syt_hostile_admin_token_0123456789";
const EVACUATE: &str = "/_dendrite/admin/evacuateUser/%40alice%3Alocalhost";
const RESET: &str = "/_dendrite/admin/resetPassword/%40alice%3Alocalhost";

/// A Dendrite stand-in: a homeserver whose profile of alice exists, and whose answers to the
/// admin writes are `write(request)`.
fn dendrite_like(write: fn(&Req) -> Option<Reply>) -> Hostile {
    Hostile::start(guarded(move |r| {
        if let Some(reply) = write(r) {
            return reply;
        }
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/_matrix/client/versions") => {
                Reply::json(200, json!({"versions": ["v1.1", "v1.2"]}))
            }
            ("GET", p) if p.starts_with("/_matrix/client/v3/profile/") => {
                Reply::json(200, json!({"displayname": "alice"}))
            }
            ("GET", "/_matrix/client/v3/account/whoami") => {
                Reply::json(200, json!({"user_id": "@admin:localhost"}))
            }
            _ => Reply::json(
                404,
                json!({"errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"}),
            ),
        }
    }))
}

/// A user API database with alice (deactivated or not) and two devices of hers.
fn database(dir: &std::path::Path, deactivated: bool) -> String {
    let path = dir.join("dendrite_userapi.db");
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch(&format!(
        "CREATE TABLE userapi_accounts (localpart TEXT NOT NULL PRIMARY KEY, server_name TEXT NOT NULL,
           created_ts BIGINT NOT NULL, password_hash TEXT, appservice_id TEXT,
           is_deactivated BOOLEAN DEFAULT 0, account_type INTEGER NOT NULL);
         CREATE TABLE userapi_devices (access_token TEXT PRIMARY KEY, session_id INTEGER,
           device_id TEXT, localpart TEXT, server_name TEXT NOT NULL);
         INSERT INTO userapi_accounts VALUES ('alice', 'localhost', 0, '$2a$10$x', NULL, {}, 1);
         INSERT INTO userapi_devices VALUES ('t1', 1, 'D1', 'alice', 'localhost');
         INSERT INTO userapi_devices VALUES ('t2', 2, 'D2', 'alice', 'localhost');",
        i32::from(deactivated)
    ))
    .unwrap();
    path.to_str().unwrap().to_string()
}

/// alice's flag and device count as stored.
fn stored(path: &str) -> (bool, i64) {
    let c = rusqlite::Connection::open(path).unwrap();
    let flag: bool = c
        .query_row(
            "SELECT is_deactivated FROM userapi_accounts WHERE localpart = 'alice'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let devices: i64 = c
        .query_row("SELECT count(*) FROM userapi_devices", [], |r| r.get(0))
        .unwrap();
    (flag, devices)
}

type Row = (
    bool,
    fn(&Req) -> Option<Reply>,
    &'static [&'static str],
    &'static str,
);

fn on(path: &'static str, r: &Req, reply: Reply) -> Option<Reply> {
    (r.method == "POST" && r.path == path).then_some(reply)
}

#[test]
fn dendrite_lifecycle_answers_that_did_not_happen_stop_before_the_database() {
    // (deactivate: true, reactivate: false), the answer, what the message says, the path.
    let rows: &[(&str, Row)] = &[
        (
            "evacuateUser answers an empty 200",
            (
                true,
                |r| on(EVACUATE, r, Reply::empty(200)),
                &["deactivating @alice:localhost", "not deactivated"],
                EVACUATE,
            ),
        ),
        (
            "evacuateUser answers a web page",
            (
                true,
                |r| {
                    on(
                        EVACUATE,
                        r,
                        Reply::html(200, "<html><body>Welcome</body></html>"),
                    )
                },
                &["leave its rooms", "not deactivated"],
                EVACUATE,
            ),
        ),
        (
            "evacuateUser answers without affected",
            (
                true,
                |r| on(EVACUATE, r, Reply::json(200, json!({"ok": true}))),
                &["affected", "not deactivated"],
                EVACUATE,
            ),
        ),
        (
            "evacuateUser answers affected of the wrong type",
            (
                true,
                |r| on(EVACUATE, r, Reply::json(200, json!({"affected": 3}))),
                &["affected", "not deactivated"],
                EVACUATE,
            ),
        ),
        (
            "evacuateUser is redirected elsewhere",
            (
                true,
                |r| {
                    on(
                        EVACUATE,
                        r,
                        Reply::Redirect(307, "http://127.0.0.1:9/elsewhere".into()),
                    )
                },
                &["deactivating @alice:localhost"],
                EVACUATE,
            ),
        ),
        (
            "resetPassword answers password_updated false",
            (
                false,
                |r| {
                    on(
                        RESET,
                        r,
                        Reply::json(200, json!({"password_updated": false})),
                    )
                },
                &["reactivating @alice:localhost", "still deactivated"],
                RESET,
            ),
        ),
        (
            "resetPassword answers an empty 200",
            (
                false,
                |r| on(RESET, r, Reply::empty(200)),
                &["reactivating @alice:localhost", "still deactivated"],
                RESET,
            ),
        ),
        (
            "resetPassword answers a web page",
            (
                false,
                |r| on(RESET, r, Reply::html(200, "<html>Login</html>")),
                &["reactivating @alice:localhost", "still deactivated"],
                RESET,
            ),
        ),
        (
            "resetPassword is redirected elsewhere",
            (
                false,
                |r| {
                    on(
                        RESET,
                        r,
                        Reply::Redirect(307, "http://127.0.0.1:9/elsewhere".into()),
                    )
                },
                &["reactivating @alice:localhost"],
                RESET,
            ),
        ),
    ];
    table(rows, true, |(deactivate, write, want, path)| {
        let dir = tempfile::tempdir().unwrap();
        let db = database(dir.path(), !deactivate);
        let server = dendrite_like(*write);
        let mut args = json!({"backend": "dendrite", "homeserver_url": server.url,
            "access_token": TOKEN, "shared_secret": "s3cret", "server_name": "localhost",
            "database": db, "username": "alice"});
        let extra: Value = if *deactivate {
            json!({"state": "deactivated"})
        } else {
            json!({"password": STRONG, "reactivate": true})
        };
        for (k, v) in extra.as_object().unwrap() {
            args[k] = v.clone();
        }
        let before = stored(&db);
        let r = run("register_user", args)?;
        failure(&r, want, &[TOKEN, "s3cret", STRONG])?;
        ensure!(
            !r.changed(),
            "a failed write reported changed: {}",
            r.stdout
        );
        ensure!(
            stored(&db) == before,
            "the database changed: {:?} -> {:?}",
            before,
            stored(&db)
        );
        let sent = server.requests_to("POST", path).len();
        ensure!(sent == 1, "POST {path} sent {sent} times, not once");
        Ok(())
    });
}
