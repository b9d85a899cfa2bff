//! Issue 19's writes on a Synapse-shaped hostile server: deactivation, locks and reactivation are
//! read back by the shared layer (src/servers/checked.rs), so a server that answers success and
//! leaves the account as it was, answers about another user, answers a web page or an empty
//! 200, or creates the account it was asked to lock (201), is a failure that never reports the
//! change as done. What the module sent is checked on the requests the server recorded.

use super::{ensure, failure, guarded, run, table};
use crate::common::hostile::{Hostile, Reply, Req};
use serde_json::{json, Value};

const TOKEN: &str = "syt_hostile_admin_token_0123456789";
const ALICE: &str = "@alice:localhost";
const RECORD: &str = "/_synapse/admin/v2/users/%40alice%3Alocalhost";

fn record(name: &str, deactivated: bool, locked: bool) -> Value {
    json!({"name": name, "admin": false, "deactivated": deactivated, "locked": locked,
        "erased": false, "user_type": null, "displayname": "alice", "creation_ts": 1_700_000_000})
}

/// A Synapse stand-in whose GET of alice's record always shows her active and unlocked, and
/// whose answers to the writes are `write(request)`.
fn synapse_like(write: impl Fn(&Req) -> Option<Reply> + Send + Sync + 'static) -> Hostile {
    Hostile::start(guarded(move |r| {
        if let Some(reply) = write(r) {
            return reply;
        }
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/_matrix/client/v3/account/whoami") => {
                Reply::json(200, json!({"user_id": "@admin:localhost"}))
            }
            ("GET", RECORD) => Reply::json(200, record(ALICE, false, false)),
            ("GET", "/_synapse/admin/v1/register") => Reply::json(200, json!({"nonce": "n0nce"})),
            _ => Reply::json(
                404,
                json!({"errcode": "M_UNRECOGNIZED", "error": "Unrecognized"}),
            ),
        }
    }))
}

fn args(url: &str, extra: Value) -> Value {
    let mut a = json!({"homeserver_url": url, "access_token": TOKEN, "shared_secret": "s3cret",
        "username": "alice"});
    for (k, v) in extra.as_object().unwrap() {
        a[k] = v.clone();
    }
    a
}

type Row = (
    Value,
    fn(&Req) -> Option<Reply>,
    &'static [&'static str],
    (&'static str, &'static str),
);

#[test]
fn lifecycle_writes_that_did_not_happen_are_failures() {
    let deactivate = ("POST", "/_synapse/admin/v1/deactivate/%40alice%3Alocalhost");
    let put = ("PUT", RECORD);
    let rows: &[(&str, Row)] = &[
        (
            "deactivate answers success, the record still shows alice active",
            (
                json!({"state": "deactivated"}),
                |r| {
                    (r.method == "POST" && r.path.contains("/deactivate/"))
                        .then(|| Reply::json(200, json!({"id_server_unbind_result": "success"})))
                },
                &["still active", "not counted as done"],
                deactivate,
            ),
        ),
        (
            "deactivate answers an empty 200",
            (
                json!({"state": "deactivated"}),
                |r| {
                    (r.method == "POST" && r.path.contains("/deactivate/"))
                        .then(|| Reply::empty(200))
                },
                &["deactivating @alice:localhost"],
                deactivate,
            ),
        ),
        (
            "deactivate answers a web page",
            (
                json!({"state": "deactivated"}),
                |r| {
                    (r.method == "POST" && r.path.contains("/deactivate/"))
                        .then(|| Reply::html(200, "<html><body>Welcome</body></html>"))
                },
                &["deactivating @alice:localhost"],
                deactivate,
            ),
        ),
        (
            "lock answers with the record of another user",
            (
                json!({"password": "pw-123456", "locked": true}),
                |r| {
                    (r.method == "PUT")
                        .then(|| Reply::json(200, record("@bob:localhost", false, true)))
                },
                &["@bob:localhost", "not @alice:localhost"],
                put,
            ),
        ),
        (
            "lock answers locked, the record still shows alice unlocked",
            (
                json!({"password": "pw-123456", "locked": true}),
                |r| (r.method == "PUT").then(|| Reply::json(200, record(ALICE, false, true))),
                &["still unlocked", "not counted as done"],
                put,
            ),
        ),
        (
            "lock answers 201: the PUT created an account",
            (
                json!({"password": "pw-123456", "locked": true}),
                |r| (r.method == "PUT").then(|| Reply::json(201, record(ALICE, false, true))),
                &["201", "may have been created"],
                put,
            ),
        ),
        (
            "lock is redirected elsewhere",
            (
                json!({"password": "pw-123456", "locked": true}),
                |r| {
                    (r.method == "PUT")
                        .then(|| Reply::Redirect(307, "http://127.0.0.1:9/elsewhere".into()))
                },
                &["locking @alice:localhost"],
                put,
            ),
        ),
    ];
    table(rows, true, |(extra, write, want, (method, path))| {
        let server = synapse_like(*write);
        let r = run("register_user", args(&server.url, extra.clone()))?;
        failure(&r, want, &[TOKEN, "s3cret", "pw-123456"])?;
        ensure!(
            !r.changed(),
            "a failed write reported changed: {}",
            r.stdout
        );
        let sent = server
            .requests()
            .iter()
            .filter(|q| q.method == *method && q.path == *path)
            .count();
        ensure!(sent == 1, "{method} {path} sent {sent} times, not once");
        Ok(())
    });
}
