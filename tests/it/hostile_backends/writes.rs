//! Issue 18, "writes before it knows": a full user ID on another server is refused before
//! anything is written. Without `server_name` and admin credentials the module must learn the
//! server's name before the first registration, or refuse a full ID it cannot check; it must
//! never register `@eve:localhost` and only then say `@eve:evil.example` was not meant.

use super::{ensure, failure, run, table, STRONG};
use crate::common::hostile::fake_homeserver;
use serde_json::{json, Value};

#[test]
fn a_full_id_that_cannot_be_checked_is_never_registered() {
    // The server is named localhost. With `keys`, it says so at /_matrix/key/v2/server (Synapse
    // does only on a federation listener, Dendrite on its one listener); without, nothing tells
    // its name before a registration answers.
    type Row = (&'static str, bool, Value);
    let eve = json!({"username": "@eve:evil.example"});
    let john = json!({"username": "@john:localhost:8448"});
    let bulk = json!({"users": [{"username": "@eve:evil.example", "password": STRONG}]});
    let rows: &[(&str, Row)] = &[
        (
            "synapse, no keys, @eve:evil.example",
            ("synapse", false, eve.clone()),
        ),
        (
            "synapse, no keys, @john:localhost:8448",
            ("synapse", false, john.clone()),
        ),
        (
            "synapse, no keys, bulk @eve:evil.example",
            ("synapse", false, bulk.clone()),
        ),
        (
            "dendrite, no keys, @eve:evil.example",
            ("dendrite", false, eve.clone()),
        ),
        (
            "dendrite, no keys, @john:localhost:8448",
            ("dendrite", false, john.clone()),
        ),
        (
            "dendrite, no keys, bulk @eve:evil.example",
            ("dendrite", false, bulk.clone()),
        ),
        (
            "dendrite, keys name localhost, @eve:evil.example",
            ("dendrite", true, eve),
        ),
        (
            "dendrite, keys name localhost, @john:localhost:8448",
            ("dendrite", true, john),
        ),
    ];
    table(rows, false, |(backend, keys, who)| {
        let hs = fake_homeserver("localhost", *keys, |u| format!("@{u}:localhost"));
        let mut a = json!({"backend": backend, "homeserver_url": hs.url,
                           "shared_secret": "reg-s3cret-foreign-9", "retries": 0});
        for (k, v) in who.as_object().unwrap() {
            a[k] = v.clone();
        }
        if who.get("users").is_none() {
            a["password"] = json!(STRONG);
        }
        let r = run("register_user", a)?;
        let registrations: Vec<String> = hs
            .requests_to("POST", "/_synapse/admin/v1/register")
            .into_iter()
            .filter(|q| q.json().get("mac").is_some())
            .map(|q| q.body_text())
            .collect();
        ensure!(
            registrations.is_empty(),
            "a registration with a MAC was sent before the server's name was known: {registrations:?}"
        );
        failure(&r, &[], &["reg-s3cret-foreign-9", STRONG])?;
        let shown = format!("{}{}", r.msg(), r.json["results"]);
        ensure!(
            shown.contains("evil.example") || shown.contains("localhost:8448"),
            "the message must name the ID given: {}",
            r.stdout
        );
        Ok(())
    });
}
