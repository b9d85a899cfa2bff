//! The modules' Dendrite backends against a real Dendrite (tests/servers/dendrite.sh, from the Go
//! module proxy) on SQLite and on PostgreSQL: register_user (backend dendrite), user_admin
//! (dendrite_sqlite, dendrite_postgres) and the token modules (backend dendrite). The binaries
//! run as Ansible runs them; every result is read back from the server's database, its client
//! API or its admin API, never only from what the module said.

use crate::common::dendrite::{on_both_databases, Dendrite};
use crate::common::{merged, now_ms, run_module, run_module_with, unique_user, Run};
use serde_json::{json, Value};

on_both_databases!(
    register_new_existing_and_check_mode,
    register_leaves_no_device_behind,
    bulk_registration_fails_entries_alone_and_converges,
    wrong_secret_fails_and_creates_nothing,
    dendrite_limits_are_refused_before_any_request,
    update_password_always_uses_reset_password,
    user_admin_writes_account_type_and_counts_at_once,
    user_admin_refuses_missing_and_guest_accounts,
    tokens_create_converge_list_delete,
    token_updates_are_applied_or_reported,
    tokens_are_not_consumed_by_registration,
);

const CHECK: (&str, Value) = ("_ansible_check_mode", Value::Bool(true));

/// register_user with backend dendrite on `d`, plus `extra`.
fn register_args(d: &Dendrite, extra: Value) -> Value {
    merged(
        json!({"backend": "dendrite", "homeserver_url": d.url,
               "shared_secret": d.shared_secret, "server_name": "localhost"}),
        extra,
    )
}

fn register(d: &Dendrite, extra: Value) -> Run {
    run_module("register_user", register_args(d, extra))
}

fn register_check(d: &Dendrite, extra: Value) -> Run {
    run_module_with("register_user", register_args(d, extra), &[CHECK])
}

fn register_new_existing_and_check_mode(d: &Dendrite) {
    let user = unique_user("new");
    let r = register_check(d, json!({"username": user, "password": "password-1"})).ok();
    assert!(r.changed(), "{}", r.stdout);
    assert_eq!(d.account_type(&user), None, "check mode creates nothing");

    let r = register(d, json!({"username": user, "password": "password-1"})).ok();
    assert!(r.changed() && r.json["created"] == true, "{}", r.stdout);
    assert_eq!(r.json["user_id"], d.user_id(&user));
    assert_eq!(d.account_type(&user), Some(1), "a plain user");
    assert!(d.can_login(&user, "password-1"));

    // Existing: no change, nothing written (the stored hash stays), in check mode too.
    let hash = d.password_hash(&user);
    let r = register(d, json!({"username": user, "password": "other-password"})).ok();
    assert!(!r.changed() && r.json["created"] == false, "{}", r.stdout);
    let r = register_check(d, json!({"username": user, "password": "other-password"})).ok();
    assert!(!r.changed(), "{}", r.stdout);
    assert_eq!(d.password_hash(&user), hash);
    assert!(d.can_login(&user, "password-1"));

    // Without server_name the module cannot look up: registering tells (M_USER_IN_USE).
    let r = run_module(
        "register_user",
        json!({"backend": "dendrite", "homeserver_url": d.url, "shared_secret": d.shared_secret,
               "username": user, "password": "other-password"}),
    )
    .ok();
    assert!(!r.changed(), "{}", r.stdout);
    assert_eq!(d.password_hash(&user), hash);

    let admin = unique_user("newadmin");
    register(
        d,
        json!({"username": admin, "password": "password-1", "admin": true}),
    )
    .ok();
    assert_eq!(
        d.account_type(&admin),
        Some(3),
        "admin=true is account_type 3"
    );
}

/// Dendrite ignores inhibit_login and opens a session on device shared_secret_registration;
/// the module logs it out, so the new account has no device and no live token.
fn register_leaves_no_device_behind(d: &Dendrite) {
    let user = unique_user("nodevice");
    let r = register(
        d,
        json!({"username": user, "password": "password-1", "displayname": "No Device"}),
    )
    .ok();
    assert!(r.changed());
    assert!(r.json["warnings"].is_null(), "{}", r.stdout);
    assert_eq!(d.device_ids(&user), Vec::<String>::new());
    let (s, v) = d.request(
        "GET",
        &format!("/_matrix/client/v3/profile/{}", d.user_id(&user)),
        None,
        None,
    );
    assert_eq!((s, &v["displayname"]), (200, &json!("No Device")), "{v}");
    assert!(
        !r.stdout.contains("access_token") && !r.stdout.contains("syt_"),
        "{}",
        r.stdout
    );
}

fn bulk_registration_fails_entries_alone_and_converges(d: &Dendrite) {
    let existing = unique_user("bulk-old");
    register(d, json!({"username": existing, "password": "password-1"})).ok();
    let names: Vec<String> = (0..6).map(|i| unique_user(&format!("bulk{i}"))).collect();
    let mut users: Vec<Value> = names
        .iter()
        .map(|n| json!({"username": n, "password": format!("password-{n}")}))
        .collect();
    users.push(json!({"username": existing, "password": "password-1"}));
    let short = unique_user("bulk-short");
    users.push(json!({"username": short, "password": "seven77"}));

    let r = register(d, json!({"users": users, "concurrency": 4}));
    assert!(
        r.failed(),
        "the short password fails the task: {}",
        r.stdout
    );
    assert_eq!(r.json["created"], 6, "{}", r.stdout);
    assert_eq!(r.json["existing"], 1);
    assert_eq!(r.json["failed_count"], 1);
    assert!(r.msg().contains("shorter than 8"), "{}", r.msg());
    for n in &names {
        assert_eq!(d.account_type(n), Some(1), "{n}");
        assert!(d.device_ids(n).is_empty(), "{n} keeps no device");
    }
    assert_eq!(d.account_type(&short), None);
    assert!(d.can_login(&names[3], &format!("password-{}", names[3])));

    // The re-run without the bad entry: all exist, nothing changes.
    users.pop();
    let r = register(d, json!({"users": users})).ok();
    assert!(!r.changed(), "{}", r.stdout);
    assert_eq!(r.json["existing"], 7);
    let r = register_check(d, json!({"users": users})).ok();
    assert!(!r.changed(), "check mode sees every account: {}", r.stdout);
}

fn wrong_secret_fails_and_creates_nothing(d: &Dendrite) {
    let user = unique_user("badsecret");
    let r = run_module(
        "register_user",
        json!({"backend": "dendrite", "homeserver_url": d.url, "shared_secret": "not-the-secret",
               "server_name": "localhost", "username": user, "password": "password-1"}),
    )
    .fails_with("rejected the shared secret");
    assert!(r.msg().contains("bad mac"), "{}", r.msg());
    assert!(!r.stdout.contains("not-the-secret"), "{}", r.stdout);
    assert_eq!(d.account_type(&user), None);
}

/// No user types and passwords of at least 8 characters: refused before any request, in check
/// mode too, so a check run predicts what a real run does.
fn dendrite_limits_are_refused_before_any_request(d: &Dendrite) {
    let user = unique_user("limits");
    for (extra, want) in [
        (
            json!({"username": user, "password": "password-1", "user_type": "bot"}),
            "Dendrite has no user types",
        ),
        (
            json!({"username": user, "password": "seven77"}),
            "shorter than 8 characters",
        ),
    ] {
        register(d, extra.clone()).fails_with(want);
        register_check(d, extra).fails_with(want);
    }
    assert_eq!(d.account_type(&user), None);
    // Eight characters are enough.
    register(d, json!({"username": user, "password": "eight888"})).ok();
    assert!(d.can_login(&user, "eight888"));
}

fn update_password_always_uses_reset_password(d: &Dendrite) {
    let user = unique_user("pwreset");
    register(d, json!({"username": user, "password": "password-1"})).ok();
    let session = d.token(&user, "password-1");

    let args = json!({"username": user, "password": "password-2", "update_password": "always",
                      "access_token": d.admin_token});
    let r = register_check(d, args.clone()).ok();
    assert!(r.changed() && r.json["password_updated"] == true);
    assert!(d.can_login(&user, "password-1"), "check mode sets nothing");
    let r = register(d, args).ok();
    assert!(
        r.changed() && r.json["password_updated"] == true,
        "{}",
        r.stdout
    );
    assert!(!d.can_login(&user, "password-1"));
    assert!(d.can_login(&user, "password-2"));
    let (s, _) = d.request(
        "GET",
        "/_matrix/client/v3/account/whoami",
        Some(&session),
        None,
    );
    assert_eq!(s, 200, "the reset keeps the account's sessions");
    assert!(!r.stdout.contains(&d.admin_token));

    // Logging in as the admin instead: the admin's session is logged out again.
    let admin_devices = d.device_ids(&d.admin_user).len();
    register(
        d,
        json!({"username": user, "password": "password-3", "update_password": "always",
               "admin_username": d.admin_user, "admin_password": d.admin_password}),
    )
    .ok();
    assert!(d.can_login(&user, "password-3"));
    assert_eq!(d.device_ids(&d.admin_user).len(), admin_devices);

    // A non-admin token is refused by Dendrite, and nothing changes.
    register(
        d,
        json!({"username": user, "password": "password-4", "update_password": "always",
               "access_token": session}),
    )
    .fails_with("lack admin rights");
    assert!(d.can_login(&user, "password-3"));
}

/// user_admin's database backend for this server.
fn admin_args(d: &Dendrite, username: &str, admin: bool) -> Value {
    match &d.database {
        Some(db) => json!({
            "backend": "dendrite_postgres", "database": format!("{}?sslmode=disable", db.url),
            "database_password_file": db.password_file, "username": username, "admin": admin,
        }),
        None => json!({
            "backend": "dendrite_sqlite",
            "database": d.dir.path().join("dendrite_userapi.db"),
            "username": username, "admin": admin,
        }),
    }
}

fn user_admin_writes_account_type_and_counts_at_once(d: &Dendrite) {
    let user = unique_user("promote");
    register(d, json!({"username": user, "password": "password-1"})).ok();
    let id = d.user_id(&user);
    let token = d.token(&user, "password-1");
    // An admin-only API as the account itself: 403 for a user, 200 for an admin.
    let admin_api = || {
        d.request(
            "GET",
            "/_dendrite/admin/registrationTokens",
            Some(&token),
            None,
        )
        .0
    };
    assert_eq!(admin_api(), 403);

    let r = run_module_with(
        "user_admin",
        admin_args(d, &id, true),
        &[CHECK, ("_ansible_diff", json!(true))],
    )
    .ok();
    assert!(r.changed(), "{}", r.stdout);
    assert_eq!(r.json["diff"]["before"]["admin"], false);
    assert_eq!(r.json["diff"]["after"]["admin"], true);
    assert_eq!(d.account_type(&user), Some(1), "check mode writes nothing");

    let r = run_module("user_admin", admin_args(d, &id, true)).ok();
    assert!(r.changed(), "{}", r.stdout);
    assert_eq!(r.json["admin"], true);
    assert_eq!(r.json["restart_required"], false, "{}", r.stdout);
    assert!(r.json["warnings"].is_null(), "{}", r.stdout);
    assert_eq!(d.account_type(&user), Some(3));
    assert_eq!(admin_api(), 200, "Dendrite sees the new flag at once");

    let r = run_module("user_admin", admin_args(d, &id, true)).ok();
    assert!(!r.changed(), "{}", r.stdout);

    // A localpart with server_name works the same.
    let mut args = admin_args(d, &user, false);
    args["server_name"] = json!("localhost");
    let r = run_module("user_admin", args.clone()).ok();
    assert!(r.changed(), "{}", r.stdout);
    assert_eq!(d.account_type(&user), Some(1));
    assert_eq!(admin_api(), 403, "and the demotion at once too");
    let r = run_module("user_admin", args).ok();
    assert!(!r.changed());
}

fn user_admin_refuses_missing_and_guest_accounts(d: &Dendrite) {
    let nobody = d.user_id(&unique_user("nobody"));
    run_module("user_admin", admin_args(d, &nobody, true)).fails_with("does not exist");
    run_module_with("user_admin", admin_args(d, &nobody, true), &[CHECK])
        .fails_with("does not exist");
    // Another server name is another account (userapi_accounts is keyed by both).
    let user = unique_user("elsewhere");
    register(d, json!({"username": user, "password": "password-1"})).ok();
    run_module(
        "user_admin",
        admin_args(d, &format!("@{user}:example.org"), true),
    )
    .fails_with("does not exist");
    assert_eq!(d.account_type(&user), Some(1));
    // A guest account (made one by SQL: guest registration is off) is never promoted.
    d.set_account_type(&user, 2);
    run_module("user_admin", admin_args(d, &d.user_id(&user), true)).fails_with("guest account");
    assert_eq!(d.account_type(&user), Some(2));
    let r = run_module("user_admin", admin_args(d, &d.user_id(&user), false)).ok();
    assert!(!r.changed(), "a guest is not an admin already");
    assert_eq!(d.account_type(&user), Some(2));
}

fn token_args(d: &Dendrite, extra: Value) -> Value {
    merged(
        json!({"backend": "dendrite", "homeserver_url": d.url, "access_token": d.admin_token}),
        extra,
    )
}

fn info(d: &Dendrite, extra: Value) -> Value {
    let r = run_module("registration_token_info", token_args(d, extra)).ok();
    r.json["tokens"].clone()
}

fn tokens_create_converge_list_delete(d: &Dendrite) {
    let name = unique_user("tok").replace('-', "_");
    let args = token_args(
        d,
        json!({"token": name, "max_usage": 2, "ex_date": "2099-12-31"}),
    );
    let r = run_module_with("registration_token", args.clone(), &[CHECK]).ok();
    assert!(r.changed());
    assert_eq!(d.token_row(&name), None, "check mode creates nothing");

    let r = run_module("registration_token", args.clone()).ok();
    assert!(r.changed(), "{}", r.stdout);
    assert_eq!(
        r.json["token"],
        json!({"name": name, "max_usage": 2, "used": 0,
               "expiration_date": "2099-12-31T00:00:00Z", "disabled": false, "valid": true})
    );
    assert_eq!(
        d.token_row(&name),
        Some(format!("{name}|2|0|0|4102358400000")),
        "stored as Synapse's fields, expiry in ms"
    );
    let r = run_module("registration_token", args).ok();
    assert!(!r.changed(), "the same token again: {}", r.stdout);

    // Unlimited is null on Dendrite (0 would allow no use at all).
    let open = format!("{name}_open");
    run_module("registration_token", token_args(d, json!({"token": open}))).ok();
    assert_eq!(d.token_row(&open), Some(format!("{open}||0|0|")));

    // A token named by Dendrite.
    let r = run_module(
        "registration_token",
        token_args(d, json!({"one_time": true})),
    )
    .ok();
    let random = r.json["token"]["name"].as_str().unwrap().to_string();
    assert_eq!(d.token_row(&random), Some(format!("{random}|1|0|0|")));

    let listed = info(d, json!({}));
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for n in [name.as_str(), open.as_str(), random.as_str()] {
        assert!(names.contains(&n), "{n} in {names:?}");
    }
    assert_eq!(
        info(d, json!({"token": open}))[0]["max_usage"],
        0,
        "unlimited is 0 as everywhere"
    );

    // Deleted for real, and a second delete is ok (Dendrite answers 200 either way; the
    // module looks first).
    let r = run_module(
        "registration_token",
        token_args(d, json!({"token": open, "state": "absent"})),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(d.token_row(&open), None);
    let r = run_module(
        "registration_token",
        token_args(d, json!({"token": open, "state": "absent"})),
    )
    .ok();
    assert!(!r.changed(), "{}", r.stdout);
    assert_eq!(info(d, json!({"token": open})), json!([]));
}

/// On PostgreSQL, updates and disabling are applied; on SQLite Dendrite 0.13.8 answers success
/// and keeps the old values, and the module says so instead of reporting a change.
fn token_updates_are_applied_or_reported(d: &Dendrite) {
    let name = unique_user("tokupd").replace('-', "_");
    run_module(
        "registration_token",
        token_args(d, json!({"token": name, "max_usage": 2})),
    )
    .ok();
    let update = run_module(
        "registration_token",
        token_args(d, json!({"token": name, "max_usage": 5})),
    );
    let disable = || {
        run_module(
            "registration_token",
            token_args(d, json!({"token": name, "state": "disabled"})),
        )
    };
    if d.database.is_some() {
        let r = update.ok();
        assert!(r.changed());
        assert_eq!(d.token_row(&name), Some(format!("{name}|5|0|0|")));
        let r = disable().ok();
        assert!(r.changed(), "{}", r.stdout);
        assert_eq!(r.json["token"]["valid"], false);
        assert_eq!(r.json["token"]["disabled"], true);
        let row = d.token_row(&name).unwrap();
        let expiry: i64 = row.rsplit('|').next().unwrap().parse().unwrap();
        assert!(expiry <= now_ms(), "expired by now: {row}");
        assert_eq!(info(d, json!({"token": name}))[0]["valid"], false);
        let r = disable().ok();
        assert!(!r.changed(), "already disabled");
        // Enabled again by a later expiry.
        let r = run_module(
            "registration_token",
            token_args(d, json!({"token": name, "ex_date": "2099-01-01"})),
        )
        .ok();
        assert_eq!(r.json["token"]["valid"], true, "{}", r.stdout);
        assert_eq!(
            d.token_row(&name),
            Some(format!("{name}|5|0|0|4070908800000"))
        );
    } else {
        update.fails_with("kept the old values");
        assert_eq!(d.token_row(&name), Some(format!("{name}|2|0|0|")));
        disable().fails_with("kept the old values");
        assert_eq!(d.token_row(&name), Some(format!("{name}|2|0|0|")));
        assert_eq!(info(d, json!({"token": name}))[0]["valid"], true);
    }
}

/// Dendrite 0.13 has no m.login.registration_token stage: a registration that offers a token
/// is refused, and the token the module made shows no use.
fn tokens_are_not_consumed_by_registration(d: &Dendrite) {
    let name = unique_user("tokuse").replace('-', "_");
    run_module(
        "registration_token",
        token_args(d, json!({"token": name, "one_time": true})),
    )
    .ok();
    let user = unique_user("withtoken");
    let (s, v) = d.request(
        "POST",
        "/_matrix/client/v3/register",
        None,
        Some(json!({"username": user, "password": "password-1",
                    "auth": {"type": "m.login.registration_token", "token": name}})),
    );
    assert_eq!(s, 403, "{v}");
    assert_eq!(d.account_type(&user), None);
    let t = &info(d, json!({"token": name}))[0];
    assert_eq!((&t["used"], &t["valid"]), (&json!(0), &json!(true)), "{t}");
}

/// Without registration_requires_token, Dendrite refuses to create tokens; the module says
/// which setting to change.
#[test]
fn token_creation_needs_registration_requires_token() {
    let d = Dendrite::start(None, &[("DENDRITE_NO_TOKENS", "1")]);
    run_module("registration_token", token_args(&d, json!({"token": "t1"})))
        .fails_with("registration_requires_token: true");
    assert_eq!(d.token_row("t1"), None);
    // An empty list is null on Dendrite: the module lists none.
    assert_eq!(info(&d, json!({})), json!([]));
}

/// Dendrite forgets its nonces when it restarts (and after 5 minutes), and then answers the
/// registration with HTTP 500 `{"message": "incorrect or expired nonce: ..."}`; the module fetches
/// a fresh nonce and tries once more. To make that happen on cue, the module talks to Dendrite
/// through a small pass-through proxy on 127.0.0.1 that restarts the real Dendrite just before
/// forwarding the first registration POST (the nonce the module holds is then unknown).
#[test]
fn an_unknown_nonce_after_a_restart_is_retried_with_a_fresh_one() {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::{Arc, Mutex};

    let d = Dendrite::start(None, &[]);
    let upstream = d.url.trim_start_matches("http://").to_string();
    let secret = d.shared_secret.clone();
    let d = Arc::new(Mutex::new(d));
    // (request line, status) of every request, in order.
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = format!("http://{}", listener.local_addr().unwrap());
    {
        let (d, seen) = (d.clone(), seen.clone());
        std::thread::spawn(move || {
            let restarted = Arc::new(Mutex::new(false));
            for client in listener.incoming() {
                let (d, seen, restarted, upstream) =
                    (d.clone(), seen.clone(), restarted.clone(), upstream.clone());
                std::thread::spawn(move || {
                    let mut client = client.unwrap();
                    // One request per connection: every answer says Connection: close.
                    let mut buf = Vec::new();
                    let mut byte = [0u8; 1];
                    while !buf.ends_with(b"\r\n\r\n") {
                        if client.read(&mut byte).unwrap_or(0) == 0 {
                            return;
                        }
                        buf.push(byte[0]);
                    }
                    let head = String::from_utf8_lossy(&buf).to_string();
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    let mut body = vec![0u8; length];
                    client.read_exact(&mut body).unwrap();
                    let request_line = head.lines().next().unwrap().to_string();
                    if request_line.starts_with("POST /_synapse/admin/v1/register") {
                        let mut r = restarted.lock().unwrap();
                        if !*r {
                            *r = true;
                            d.lock().unwrap().restart();
                        }
                    }
                    let head = head.replacen("\r\n", "\r\nConnection: close\r\n", 1);
                    let mut up = TcpStream::connect(&upstream).unwrap();
                    up.write_all(head.as_bytes()).unwrap();
                    up.write_all(&body).unwrap();
                    let mut answer = Vec::new();
                    up.read_to_end(&mut answer).unwrap();
                    let status = String::from_utf8_lossy(&answer)
                        .split(' ')
                        .nth(1)
                        .unwrap_or("")
                        .to_string();
                    seen.lock().unwrap().push((request_line, status));
                    let _ = client.write_all(&answer);
                });
            }
        });
    }

    let user = unique_user("renonce");
    let r = run_module(
        "register_user",
        json!({"backend": "dendrite", "homeserver_url": proxy, "shared_secret": secret,
               "server_name": "localhost", "username": user, "password": "password-1"}),
    )
    .ok();
    assert!(r.changed() && r.json["created"] == true, "{}", r.stdout);
    let registrations: Vec<(String, String)> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(l, _)| l.contains("/_synapse/admin/v1/register"))
        .cloned()
        .collect();
    let statuses: Vec<String> = registrations
        .iter()
        .map(|(l, s)| format!("{} {s}", l.split(' ').next().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        ["GET 200", "POST 500", "GET 200", "POST 200"],
        "{registrations:?}"
    );
    let d = d.lock().unwrap();
    assert_eq!(d.account_type(&user), Some(1));
    assert!(d.can_login(&user, "password-1"));
    assert!(
        d.device_ids(&user).is_empty(),
        "the registration's session was logged out"
    );
}
