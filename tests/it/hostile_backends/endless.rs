//! Class 2 of issue 18: one overall deadline per request and per task, honoured by the HTTP
//! client and the database connection alike; every paged listing has a page cap and cursor-loop
//! detection. Every run here is under an external watchdog: a module that does not end is killed
//! and the row fails with how long it ran, never a stuck test. Rows that wait run in parallel.

use super::mas_shaped::*;
use super::slow::{Pace, Silent, Slow};
use super::{ensure, failure, run_bounded, table, STRONG};
use crate::common::hostile::{Hostile, Reply};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Whether a message says a deadline passed.
fn says_timeout(msg: &str) -> bool {
    ["timeout", "timed out", "time out", "did not answer within"]
        .iter()
        .any(|w| msg.contains(w))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cursor {
    /// Every page has a new item and a new cursor, and a `next` link, for ever.
    Fresh,
    /// Every page is the same page, its cursor the one just asked after.
    Repeat,
    /// Two pages, each pointing to the other.
    Alternate,
}

/// A ULID-shaped id for `n` (Crockford base32, 26 characters).
fn ulid(n: usize) -> String {
    const B32: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut s = String::from("01M83PX7");
    for i in (0..18).rev() {
        s.push(B32[((n as u128) >> (i * 5)) as usize & 31] as char);
    }
    s
}

/// A MAS stand-in whose `collection` listing never ends in the way `mode` says; it counts the
/// listing requests.
fn endless_listing(collection: &'static str, mode: Cursor) -> (Hostile, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    let mas = mas_like(move |r| {
        if r.method == "GET" && r.path.split('?').next() == Some(&format!("{API}/{collection}")) {
            let k = counter.fetch_add(1, Ordering::Relaxed);
            let n = match mode {
                Cursor::Fresh => k + 1,
                Cursor::Repeat => 1,
                Cursor::Alternate if r.path.contains(&format!("page[after]={}", ulid(1))) => 2,
                Cursor::Alternate => 1,
            };
            let item = if collection == "users" {
                user(&ulid(n), &format!("listed{n:04}"), false)
            } else {
                regtoken(
                    &ulid(n),
                    &format!("tok{n:04}"),
                    true,
                    Value::Null,
                    Value::Null,
                )
            };
            // The count MAS would give for a list of 60.
            return Some(page(collection, 60, vec![item], Some(&ulid(n))));
        }
        if is(r, "POST", "/users") {
            let name = r.json()["username"].as_str().unwrap_or("").to_string();
            return Some(one(201, user(&ulid(9999), &name, false)));
        }
        if r.method == "POST" && r.path.ends_with("/set-password") {
            return Some(Reply::Full(204, "", Vec::new()));
        }
        None
    });
    (mas, count)
}

#[test]
fn mas_listings_whose_cursor_never_ends_repeats_or_alternates_stop() {
    // register_user lists MAS's users once for 50 or more accounts; user_info lists them all;
    // registration_token_info lists every token. A loop is caught at once; a listing that never ends stops at a page cap (the
    // stand-in says 60 items in all: 200 pages of one item is far beyond that).
    type Row = (&'static str, Cursor, usize);
    let rows: &[(&str, Row)] = &[
        ("users, next never ends", ("users", Cursor::Fresh, 200)),
        (
            "users, the same cursor again",
            ("users", Cursor::Repeat, 10),
        ),
        (
            "users, two cursors alternating",
            ("users", Cursor::Alternate, 10),
        ),
        (
            "users via user_info, next never ends",
            ("users-info", Cursor::Fresh, 200),
        ),
        (
            "users via user_info, the same cursor again",
            ("users-info", Cursor::Repeat, 10),
        ),
        (
            "users via user_info, two cursors alternating",
            ("users-info", Cursor::Alternate, 10),
        ),
        (
            "tokens, next never ends",
            ("user-registration-tokens", Cursor::Fresh, 200),
        ),
        (
            "tokens, the same cursor again",
            ("user-registration-tokens", Cursor::Repeat, 10),
        ),
        (
            "tokens, two cursors alternating",
            ("user-registration-tokens", Cursor::Alternate, 10),
        ),
    ];
    table(rows, true, |(collection, mode, cap)| {
        if *collection == "users-info" {
            let (mas, count) = endless_listing("users", *mode);
            let module = "user_info";
            let ended = run_bounded(
                module,
                mas_args(&mas.url, json!({})),
                &[],
                Duration::from_secs(30),
            );
            let pages = count.load(Ordering::Relaxed);
            let (r, _) = ended
                .ended(module)
                .map_err(|e| format!("{e}, after {pages} listing requests"))?;
            ensure!(
                pages <= *cap,
                "{pages} listing requests (at most {cap} expected)"
            );
            ensure!(pages >= 2, "the next link was never followed: {}", r.msg());
            failure(&r, &[], &[CLIENT_SECRET])?;
            ensure!(
                r.json.get("users").is_none(),
                "a partial list was returned: {}",
                r.stdout
            );
            ensure!(
                ["cursor", "pages", "loop", "repeat"]
                    .iter()
                    .any(|w| r.msg().contains(w)),
                "the message must say the listing did not end: {}",
                r.msg()
            );
            return Ok(());
        }
        let (mas, count) = endless_listing(collection, *mode);
        let (module, args) = if *collection == "users" {
            let users: Vec<Value> = (0..60)
                .map(|i| json!({"username": format!("u{i:03}"), "password": STRONG}))
                .collect();
            ("register_user", mas_args(&mas.url, json!({"users": users})))
        } else {
            ("registration_token_info", mas_args(&mas.url, json!({})))
        };
        let ended = run_bounded(module, args, &[], Duration::from_secs(30));
        let pages = count.load(Ordering::Relaxed);
        let (r, _) = ended
            .ended(module)
            .map_err(|e| format!("{e}, after {pages} listing requests"))?;
        ensure!(
            pages <= *cap,
            "{pages} listing requests (at most {cap} expected)"
        );
        ensure!(
            pages >= 2,
            "the next link was never followed ({pages} requests): {}",
            r.msg()
        );
        failure(&r, &[], &[CLIENT_SECRET, STRONG])?;
        ensure!(
            ["cursor", "pages", "loop", "repeat"]
                .iter()
                .any(|w| r.msg().contains(w)),
            "the message must say the listing did not end: {}",
            r.msg()
        );
        Ok(())
    });
}

#[test]
fn a_trickling_or_silent_answer_ends_within_timeout() {
    // timeout 3 (retries left at their default): whatever the server does, the module ends with
    // a failure saying so within 3 s plus a margin of 5 s, as the watchdog measures it.
    type Row = (Pace, &'static str, fn(&str) -> Value);
    let rows: &[(&str, Row)] = &[
        (
            "MAS discovery body trickles (client credentials)",
            (Pace::Body, "user_admin", |u| {
                json!({"backend": "mas", "api_url": u, "client_id": CLIENT_ID,
                       "client_secret": CLIENT_SECRET, "username": "alice", "admin": true})
            }),
        ),
        (
            "MAS site-config body trickles (access_token)",
            (Pace::Body, "user_admin", |u| {
                json!({"backend": "mas", "api_url": u, "access_token": ACCESS_TOKEN,
                       "username": "alice", "admin": true})
            }),
        ),
        (
            "Dendrite nonce body trickles",
            (Pace::Body, "register_user", |u| {
                json!({"backend": "dendrite", "homeserver_url": u, "shared_secret": "dendrite-s3cret-8",
                       "username": "bob", "password": STRONG})
            }),
        ),
        (
            "Dendrite token body trickles",
            (Pace::Body, "registration_token", |u| {
                json!({"backend": "dendrite", "homeserver_url": u, "access_token": "dendrite-tok-8",
                       "token": "advtok"})
            }),
        ),
        (
            "Dendrite status line and headers trickle",
            (Pace::Head, "register_user", |u| {
                json!({"backend": "dendrite", "homeserver_url": u, "shared_secret": "dendrite-s3cret-8",
                       "username": "bob", "password": STRONG})
            }),
        ),
        (
            "MAS never answers",
            (Pace::Stall, "user_admin", |u| {
                json!({"backend": "mas", "api_url": u, "client_id": CLIENT_ID,
                       "client_secret": CLIENT_SECRET, "username": "alice", "admin": true})
            }),
        ),
    ];
    table(rows, true, |(pace, module, args)| {
        let server = Slow::start(*pace);
        let mut a = args(&server.url);
        a["timeout"] = json!(3);
        let ended = run_bounded(module, a, &[], Duration::from_secs(8));
        let (r, took) = ended.ended(module)?;
        ensure!(!server.requests().is_empty(), "the server was never asked");
        failure(
            &r,
            &[],
            &[
                CLIENT_SECRET,
                ACCESS_TOKEN,
                STRONG,
                "dendrite-s3cret-8",
                "dendrite-tok-8",
            ],
        )?;
        ensure!(
            says_timeout(r.msg()),
            "after {:.1} s, the message must say the deadline passed: {}",
            took.as_secs_f64(),
            r.msg()
        );
        Ok(())
    });
}

#[test]
fn a_postgres_server_that_never_answers_ends_within_timeout() {
    // A host that accepts the connection and never says a word (a firewall's tarpit, a hung
    // PostgreSQL): with `timeout` 3, or with libpq's connect_timeout=3 in the URL, the module ends
    // within 3 s plus a margin of 5 s and names `database` and the deadline.
    type Row = (&'static str, &'static str, Option<i64>);
    let rows: &[(&str, Row)] = &[
        (
            "synapse_postgres, timeout 3",
            ("synapse_postgres", "", Some(3)),
        ),
        (
            "synapse_postgres, timeout 3, sslmode=disable&connect_timeout=3",
            (
                "synapse_postgres",
                "?sslmode=disable&connect_timeout=3",
                Some(3),
            ),
        ),
        (
            "synapse_postgres, connect_timeout=3 in the URL only",
            ("synapse_postgres", "?connect_timeout=3", None),
        ),
        (
            "dendrite_postgres, timeout 3",
            ("dendrite_postgres", "", Some(3)),
        ),
        (
            "dendrite_postgres, timeout 3, sslmode=disable&connect_timeout=3",
            (
                "dendrite_postgres",
                "?sslmode=disable&connect_timeout=3",
                Some(3),
            ),
        ),
        (
            "dendrite_postgres, connect_timeout=3 in the URL only",
            ("dendrite_postgres", "?connect_timeout=3", None),
        ),
    ];
    table(rows, true, |(backend, query, timeout)| {
        let pg = Silent::start();
        let db = if backend.starts_with("synapse") {
            "synapse"
        } else {
            "dendrite"
        };
        let mut a = json!({"backend": backend, "username": "@alice:localhost", "admin": true,
            "database": format!("postgresql://{db}@127.0.0.1:{}/{db}{query}", pg.port),
            "database_password": "pg-s3cret-pw-4411"});
        if let Some(t) = timeout {
            a["timeout"] = json!(t);
        }
        let ended = run_bounded("user_admin", a, &[], Duration::from_secs(8));
        let (conns, bytes) = pg.seen();
        let (r, took) = ended
            .ended("user_admin")
            .map_err(|e| format!("{e} ({conns} connections, {bytes} bytes sent to it)"))?;
        ensure!(conns >= 1 && bytes > 0, "the module never connected");
        failure(&r, &["database"], &["pg-s3cret-pw-4411"])?;
        ensure!(
            says_timeout(r.msg()),
            "after {:.1} s, the message must say the deadline passed: {}",
            took.as_secs_f64(),
            r.msg()
        );
        Ok(())
    });
}
