//! A real Synapse (tests/servers/synapse.sh, Synapse 1.163) that delegates authentication to the
//! FAKE MAS (`matrix_authentication_service: {enabled: true, endpoint, secret_path}`), with the
//! fake linked back to it: users created through the fake's admin API are provisioned on Synapse
//! through `/_synapse/mas/*`, as a real MAS does. The test replays the recorded `synapse-*`
//! exchanges (tests/data/mas/transcripts.jsonl) against this Synapse and compares status and
//! body exactly; it also checks the MAS answers that depend on the homeserver's own answers.

use crate::common::fake_mas::{FakeMas, FakeMasOptions};
use crate::common::synapse::shared_secret_mac;
use crate::common::Synapse;
use serde_json::{json, Value};

const TRANSCRIPTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/mas/transcripts.jsonl"
);

fn recorded() -> Vec<Value> {
    std::fs::read_to_string(TRANSCRIPTS)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn exchange<'a>(all: &'a [Value], id: &str) -> &'a Value {
    all.iter()
        .find(|x| x["id"] == id)
        .unwrap_or_else(|| panic!("no exchange {id}"))
}

struct Setup {
    fake: FakeMas,
    synapse: Synapse,
}

fn start() -> Setup {
    let port = crate::common::free_port();
    let synapse_url = format!("http://127.0.0.1:{port}");
    let fake = FakeMas::start_with(&FakeMasOptions {
        homeserver_url: Some(synapse_url.clone()),
        ..Default::default()
    });
    let config = fake.synapse_config();
    let synapse = Synapse::start_delegating(port, &[&config]);
    assert_eq!(synapse.url, synapse_url);
    Setup { fake, synapse }
}

fn create(fake: &FakeMas, body: Value) -> (u16, Value) {
    fake.admin("POST", "/api/admin/v1/users", Some(&body))
}

/// Status and body of a MAS exchange, replayed through the fake's admin API, must be the
/// recorded ones (the homeserver's URL in error titles aside).
fn assert_mas_answer(s: &Setup, all: &[Value], id: &str, got: (u16, Value)) {
    let x = exchange(all, id);
    assert_eq!(got.0 as u64, x["response"]["status"], "{id}: {}", got.1);
    let want = serde_json::to_string(&x["response"]["body"])
        .unwrap()
        .replace("http://127.0.0.1:18108", &s.synapse.url);
    if x["response"]["status"] == 201 {
        assert_eq!(
            got.1["data"]["attributes"]["username"],
            x["response"]["body"]["data"]["attributes"]["username"],
            "{id}"
        );
    } else {
        assert_eq!(got.1, serde_json::from_str::<Value>(&want).unwrap(), "{id}");
    }
}

fn id_of(v: &Value) -> String {
    v["data"]["id"].as_str().unwrap().to_string()
}

#[test]
fn synapse_under_the_fake_mas_answers_as_recorded() {
    let all = recorded();
    let s = start();
    let fake = &s.fake;
    let post = |id: &str| exchange(&all, id)["request"]["body"].clone();

    // --- the MAS side, in the recording's order, with answers that come from Synapse
    assert_mas_answer(
        &s,
        &all,
        "users-create-alice",
        create(fake, post("users-create-alice")),
    );
    for id in [
        "users-create-255-chars",
        "users-create-numeric",
        "users-create-numeric-skip-false",
        "users-create-numeric-skip-true",
    ] {
        assert_mas_answer(&s, &all, id, create(fake, post(id)));
    }
    assert_mas_answer(
        &s,
        &all,
        "users-by-username-numeric-after-failure",
        fake.admin_get("/api/admin/v1/users/by-username/1234"),
    );
    // A pre-MAS account: the recording inserted the row into Synapse's users table.
    {
        let db = rusqlite::Connection::open(s.synapse.dir.path().join("homeserver.db")).unwrap();
        db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
        db.execute(
            "INSERT INTO users (name, password_hash, creation_ts) VALUES ('@legacy:localhost', NULL, 1700000000)",
            [],
        )
        .unwrap();
    }
    for id in [
        "users-create-synapse-only-skip-false",
        "users-create-synapse-only-skip-true",
        "users-create-carol-displayname",
        "users-create-dave",
        "users-create-erin",
        "users-create-frank",
    ] {
        assert_mas_answer(&s, &all, id, create(fake, post(id)));
    }
    let dave = id_of(&fake.admin_get("/api/admin/v1/users/by-username/dave").1);
    let erin = id_of(&fake.admin_get("/api/admin/v1/users/by-username/erin").1);
    let (st, _) = fake.admin(
        "POST",
        &format!("/api/admin/v1/users/{dave}/deactivate"),
        None,
    );
    assert_eq!(st, 200);
    let (st, _) = fake.admin(
        "POST",
        &format!("/api/admin/v1/users/{erin}/deactivate"),
        Some(&json!({"skip_erase": true})),
    );
    assert_eq!(st, 200);
    // MAS reactivates on Synapse synchronously; a fresh Synapse refuses that with 500 until a
    // background update has run (the recording's Synapse was past it).
    s.synapse.wait_for_profile_index();
    let (st, v) = fake.admin(
        "POST",
        &format!("/api/admin/v1/users/{erin}/reactivate"),
        None,
    );
    assert_eq!(st, 200, "{v}");
    // cli.md: bob came from `mas-cli manage register-user`; the admin API stands in for it.
    let (st, v) = create(fake, json!({"username": "bob"}));
    assert_eq!(st, 201, "{v}");

    // --- the Synapse side: every recorded synapse-* exchange
    let secret = std::fs::read_to_string(s.synapse.secret_file())
        .unwrap()
        .trim()
        .to_string();
    let admin_token = fake.admin_token();
    let http = reqwest::blocking::Client::new();
    let mut replayed = 0;
    for x in all
        .iter()
        .filter(|x| x["id"].as_str().unwrap().starts_with("synapse-"))
    {
        let id = x["id"].as_str().unwrap();
        let req = &x["request"];
        let url = format!("{}{}", s.synapse.url, req["path"].as_str().unwrap());
        let mut r = http.request(req["method"].as_str().unwrap().parse().unwrap(), url);
        match req["headers"]["Authorization"].as_str() {
            None => {}
            Some("Bearer <admin token>") => r = r.bearer_auth(&admin_token),
            Some(other) => panic!("{id}: unknown placeholder {other}"),
        }
        if !req["body"].is_null() {
            let mut body = req["body"].clone();
            let password = crate::common::random_secret("pw");
            if body["password"] == "<password>" {
                body["password"] = json!(password);
            }
            if body["mac"] == "<hmac-sha1 hex>" {
                body["mac"] = json!(shared_secret_mac(
                    &secret,
                    body["nonce"].as_str().unwrap(),
                    body["username"].as_str().unwrap(),
                    &password,
                    body["admin"].as_bool().unwrap(),
                    None,
                ));
            }
            r = r.json(&body);
        }
        let resp = r.send().unwrap();
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string());
        let got: Value = resp.json().unwrap_or(Value::Null);
        assert_eq!(
            status as u64,
            x["response"]["status"],
            "{id}: {got}\nSynapse log:\n{}",
            s.synapse.log()
        );
        assert_eq!(
            ctype.as_deref(),
            x["response"]["content_type"].as_str(),
            "{id}"
        );
        assert_eq!(got, x["response"]["body"], "{id}");
        replayed += 1;
    }
    assert_eq!(replayed, 16, "every synapse-* exchange is replayed");

    // Synapse asked the fake to introspect the MAS admin token (and got it as not a C-S token).
    let log = fake.log();
    assert!(log.contains("POST /oauth2/introspect 200"), "{log}");
    assert!(
        !log.contains(&fake.homeserver_secret),
        "a secret is in the fake's log"
    );
    assert!(!log.contains(&admin_token), "a token is in the fake's log");
}

#[test]
fn synapse_under_mas_refuses_what_a_synapse_backend_would_do() {
    // The answers a backend can detect delegation from (reported to the lead engineer).
    let s = start();
    let http = reqwest::blocking::Client::new();
    let get = |path: &str| {
        let r = http.get(format!("{}{path}", s.synapse.url)).send().unwrap();
        (
            r.status().as_u16(),
            r.json::<Value>().unwrap_or(Value::Null),
        )
    };
    let unrecognized = json!({"errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"});
    assert_eq!(
        get("/_synapse/admin/v1/register"),
        (404, unrecognized.clone())
    );
    assert_eq!(get("/_matrix/client/v3/login"), (404, unrecognized.clone()));
    assert_eq!(
        get("/_synapse/admin/v1/registration_tokens"),
        (404, unrecognized)
    );
    assert_eq!(
        get("/_synapse/admin/v2/users/@alice:localhost"),
        (
            401,
            json!({"errcode": "M_MISSING_TOKEN", "error": "Missing access token"})
        )
    );
    // Synapse reads the fake's discovery document for the clients (MSC2965 auth metadata).
    let (st, meta) = get("/_matrix/client/v1/auth_metadata");
    assert_eq!(st, 200, "{meta}");
    assert_eq!(meta["issuer"], format!("{}/", s.fake.url));
    assert_eq!(
        meta["token_endpoint"],
        format!("{}/oauth2/token", s.fake.url)
    );
    // An unknown or revoked token is inactive for the fake's introspection: Synapse says so.
    let fake = &s.fake;
    let token = fake.admin_token();
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/oauth2/revoke", fake.url))
        .basic_auth(&fake.admin_client_id, Some(&fake.admin_client_secret))
        .form(&[("token", token.as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = http
        .get(format!(
            "{}/_synapse/admin/v2/users/@alice:localhost",
            s.synapse.url
        ))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let v: Value = r.json().unwrap();
    assert_eq!(v["errcode"], "M_UNKNOWN_TOKEN", "{v}");
}

/// The probes a backend can use to tell a Synapse under MAS from a plain one: a plain Synapse
/// answers each of them differently.
#[test]
fn a_plain_synapse_answers_the_same_probes_differently() {
    let plain = Synapse::start(&[], &[]);
    let mas = start();
    let http = reqwest::blocking::Client::new();
    let get = |base: &str, path: &str| {
        let r = http.get(format!("{base}{path}")).send().unwrap();
        (
            r.status().as_u16(),
            r.json::<Value>().unwrap_or(Value::Null),
        )
    };
    let unrecognized = json!({"errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"});

    let (s, v) = get(&plain.url, "/_matrix/client/v3/login");
    assert_eq!(s, 200);
    assert!(v["flows"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["type"] == "m.login.password"));
    assert_eq!(
        get(&mas.synapse.url, "/_matrix/client/v3/login"),
        (404, unrecognized.clone())
    );

    let (s, v) = get(&plain.url, "/_synapse/admin/v1/register");
    assert_eq!(s, 200);
    assert!(v["nonce"].is_string());
    assert_eq!(
        get(&mas.synapse.url, "/_synapse/admin/v1/register"),
        (404, unrecognized.clone())
    );

    assert_eq!(
        get(&plain.url, "/_matrix/client/v1/auth_metadata"),
        (404, unrecognized.clone())
    );
    let (s, v) = get(&mas.synapse.url, "/_matrix/client/v1/auth_metadata");
    assert_eq!(
        (s, &v["issuer"]),
        (200, &json!(format!("{}/", mas.fake.url)))
    );

    assert_eq!(
        get(&plain.url, "/_synapse/admin/v1/registration_tokens"),
        (
            401,
            json!({"errcode": "M_MISSING_TOKEN", "error": "Missing access token"})
        )
    );
    assert_eq!(
        get(&mas.synapse.url, "/_synapse/admin/v1/registration_tokens"),
        (404, unrecognized)
    );
}

/// The synapse backend of every module, pointed at a real Synapse that delegates to the FAKE MAS,
/// fails with a message that names backend mas and MAS's URL (from Synapse's auth metadata); the
/// mas backend then creates the account, and MAS provisions it on that Synapse. A plain Synapse
/// refusing a bad token gets no such message.
#[test]
fn the_synapse_backend_points_to_backend_mas_under_delegation() {
    let s = start();
    let issuer = format!("{}/", s.fake.url);
    let says_mas = format!(
        "delegates authentication to Matrix Authentication Service at {issuer}: use backend mas with api_url {issuer}"
    );
    let mas_token = s.fake.admin_token();

    // Shared-secret registration: 404 M_UNRECOGNIZED.
    crate::common::run_module(
        "register_user",
        json!({"homeserver_url": s.synapse.url, "username": "zed", "password": "Plum-Orbit-Lantern-42",
               "shared_secret_file": s.synapse.secret_file()}),
    )
    .fails_with(&says_mas)
    .fails_with("matrix_authentication_service_enabled");
    // Synapse's token API: 404 M_UNRECOGNIZED.
    crate::common::run_module(
        "registration_token",
        json!({"backend": "synapse", "homeserver_url": s.synapse.url, "access_token": mas_token,
               "token": "spring"}),
    )
    .fails_with(&says_mas);
    crate::common::run_module(
        "registration_token_info",
        json!({"backend": "synapse", "homeserver_url": s.synapse.url, "access_token": mas_token}),
    )
    .fails_with(&says_mas);
    // Synapse's admin API with a MAS token: 401 M_UNKNOWN_TOKEN.
    crate::common::run_module(
        "user_admin",
        json!({"homeserver_url": s.synapse.url, "access_token": mas_token,
               "username": "@zed:localhost", "admin": true}),
    )
    .fails_with(&says_mas);
    assert!(s.fake.user("zed").is_none());

    // Backend mas with that URL creates the account; MAS provisions it on Synapse.
    let r = crate::common::run_module(
        "register_user",
        json!({"backend": "mas", "api_url": issuer, "client_id": s.fake.admin_client_id,
               "client_secret_file": s.fake.admin_client_secret_file(),
               "username": "zed", "password": "Plum-Orbit-Lantern-42", "displayname": "Zed Z."}),
    )
    .ok();
    assert_eq!(r.json["user_id"], "@zed:localhost");
    assert!(s.fake.user("zed").is_some());
    assert!(s.fake.can_login("zed", "Plum-Orbit-Lantern-42"));
    let profile: Value = reqwest::blocking::get(format!(
        "{}/_matrix/client/v3/profile/@zed:localhost",
        s.synapse.url
    ))
    .unwrap()
    .json()
    .unwrap();
    assert_eq!(profile["displayname"], "Zed Z.");

    // A plain Synapse refusing a token is not mistaken for delegation.
    let plain = Synapse::start(&[], &[]);
    let r = crate::common::run_module(
        "user_admin",
        json!({"homeserver_url": plain.url, "access_token": mas_token,
               "username": "@zed:localhost", "admin": true}),
    )
    .fails_with("access token was refused");
    assert!(
        !r.msg().contains("Matrix Authentication Service"),
        "{}",
        r.msg()
    );
}
