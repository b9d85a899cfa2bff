//! `backend: tuwunel` of register_user, user_admin, registration_token and
//! registration_token_info, against the FAKE tuwunel (tests/servers/fake_tuwunel.py, started by
//! tests/servers/fake-tuwunel.sh). No registry these machines reach ships tuwunel; the FAKE
//! follows tuwunel v1.9.0's source line by line (docs/tuwunel.md) and is strict: single-use
//! nonces of a short life, a capped number of them, 405 for Synapse's admin-flag endpoint, 500
//! for revoking a non-admin, 403 for changing a configuration token. Every test reads the FAKE's
//! state back (its admin API, a login, its request log), not only what the module said.

use crate::common::fakes::{FakeServer, Flavor};
use crate::common::hostile::{Hostile, Reply};
use crate::common::{random_secret, run_module, run_module_with, unique_user, Run};
use serde_json::{json, Value};

const CHECK: (&str, Value) = ("_ansible_check_mode", Value::Bool(true));

/// A FAKE tuwunel with an admin "admin" (its password returned) and `users` seeded.
pub(crate) fn fake_tuwunel(users: &[Value], env: &[(&str, &str)]) -> (FakeServer, String) {
    let admin_pw = random_secret("admin-pw");
    let mut all = vec![json!({"username": "admin", "password": admin_pw, "admin": true})];
    all.extend(users.iter().cloned());
    let s = FakeServer::start(Flavor::Tuwunel, env, Some(&json!({"users": all})));
    (s, admin_pw)
}

pub(crate) fn with(mut v: Value, extra: Value) -> Value {
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

/// register_user's options for the FAKE tuwunel: its shared secret from its file (never in the
/// arguments), its server name.
pub(crate) fn reg_args(s: &FakeServer, extra: Value) -> Value {
    let file = s.dir.path().join("registration-shared-secret");
    with(
        json!({"backend": "tuwunel", "homeserver_url": s.url, "server_name": "localhost",
               "shared_secret_file": file.to_str().unwrap()}),
        extra,
    )
}

fn admin_args(s: &FakeServer, admin_pw: &str, extra: Value) -> Value {
    with(
        json!({"backend": "tuwunel", "homeserver_url": s.url,
               "admin_username": "admin", "admin_password": admin_pw}),
        extra,
    )
}

/// Requests in the FAKE's log with this method whose path starts with `prefix`.
fn logged(s: &FakeServer, method: &str, prefix: &str) -> usize {
    let want = format!(" {method} {prefix}");
    s.log().lines().filter(|l| l.contains(&want)).count()
}

/// The FAKE's record of an account (admin API), or None.
pub(crate) fn record(s: &FakeServer, token: &str, user: &str) -> Option<Value> {
    let a = s.call(
        "GET",
        &format!("/_synapse/admin/v2/users/@{user}:localhost"),
        Some(token),
        None,
    );
    match a.status {
        200 => Some(a.body),
        404 => None,
        other => panic!("looking up {user}: {other} {:?}", a.body),
    }
}

pub(crate) fn admin_token(s: &FakeServer, admin_pw: &str) -> String {
    let a = s.login("admin", admin_pw);
    assert_eq!(a.status, 200, "{:?}", a.body);
    a.body["access_token"].as_str().unwrap().to_string()
}

#[test]
fn fake_tuwunel_registers_a_new_account_that_logs_in() {
    let (s, admin_pw) = fake_tuwunel(&[], &[]);
    let name = unique_user("tw-new");
    let pw = random_secret("pw");
    let r = run_module(
        "register_user",
        reg_args(
            &s,
            json!({"username": name, "password": pw, "displayname": "New One"}),
        ),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(r.json["created"], true);
    assert_eq!(r.json["user_id"], format!("@{name}:localhost"));
    assert!(!r.stdout.contains(&pw), "the password leaked");
    // The account really exists and works: the FAKE logs it in with that password.
    let login = s.login(&name, &pw);
    assert_eq!(login.status, 200, "{:?}", login.body);
    assert_eq!(login.body["user_id"], format!("@{name}:localhost"));
    assert_eq!(s.login(&name, "another-password").status, 403);
    let rec = record(&s, &admin_token(&s, &admin_pw), &name).expect("the account exists");
    assert_eq!(rec["displayname"], "New One");
    assert_eq!(rec["admin"], false);
    assert_eq!(rec["deactivated"], false);
    // One nonce, fetched for the one registration.
    assert_eq!(logged(&s, "GET", "/_synapse/admin/v1/register"), 1);
    assert_eq!(logged(&s, "POST", "/_synapse/admin/v1/register"), 1);
}

#[test]
fn fake_tuwunel_existing_account_is_ok_unchanged_and_no_registration_is_sent() {
    let pw = random_secret("pw");
    let (s, admin_pw) = fake_tuwunel(&[json!({"username": "carol", "password": pw})], &[]);
    let before = s.log();
    let r = run_module(
        "register_user",
        reg_args(
            &s,
            json!({"username": "carol", "password": "not-her-password",
                   "admin_username": "admin", "admin_password": admin_pw}),
        ),
    )
    .ok();
    assert!(!r.changed(), "{}", r.stdout);
    assert_eq!(r.json["created"], false);
    assert_eq!(r.json["user_id"], "@carol:localhost");
    // Looked up through the admin API; no nonce fetched, nothing registered; logged out.
    assert!(s.log().len() > before.len());
    assert_eq!(logged(&s, "GET", "/_synapse/admin/v2/users/"), 1);
    assert_eq!(logged(&s, "GET", "/_synapse/admin/v1/register"), 0);
    assert_eq!(logged(&s, "POST", "/_synapse/admin/v1/register"), 0);
    assert_eq!(logged(&s, "POST", "/_matrix/client/v3/logout"), 1);
    assert_eq!(s.login("carol", &pw).status, 200, "her password is kept");
}

#[test]
fn fake_tuwunel_bulk_of_60_with_concurrency_8_under_short_lived_capped_nonces() {
    // Nonces live 5 s and at most 8 are outstanding: a module that fetched nonces ahead of its
    // registrations, or kept one, would lose them. One existing account is locked: tuwunel's
    // listing leaves locked accounts out unless asked (locked=true).
    let seeded = [
        json!({"username": "bulk-old1", "password": random_secret("pw")}),
        json!({"username": "bulk-old2", "password": random_secret("pw"), "deactivated": true}),
        json!({"username": "bulk-old3", "password": random_secret("pw"), "locked": true}),
    ];
    let env = [
        ("FAKE_TUWUNEL_NONCE_TTL", "5"),
        ("FAKE_TUWUNEL_NONCE_CAP", "8"),
    ];
    let (s, admin_pw) = fake_tuwunel(&seeded, &env);
    let mut users: Vec<Value> = (0..57)
        .map(|i| json!({"username": format!("bulk-new{i:02}"), "password": random_secret("pw")}))
        .collect();
    for old in 1..=3 {
        users.push(json!({"username": format!("bulk-old{old}"), "password": "whatever-pw"}));
    }
    // A deactivated account comes back only when asked (issue 19): this list says it stays so.
    users[58]["state"] = json!("deactivated");
    let r = run_module(
        "register_user",
        reg_args(
            &s,
            json!({"users": users, "concurrency": 8,
                   "admin_username": "admin", "admin_password": admin_pw}),
        ),
    )
    .ok();
    assert_eq!(r.json["created"], 57, "{}", r.stdout);
    assert_eq!(r.json["existing"], 3, "{}", r.stdout);
    // One registration per new account, none for the three found by the listing.
    assert_eq!(logged(&s, "POST", "/_synapse/admin/v1/register"), 57);
    assert!(
        s.log().contains("locked=true"),
        "the listing asks for locked accounts"
    );
    let token = admin_token(&s, &admin_pw);
    for (i, u) in users.iter().take(57).enumerate() {
        let name = u["username"].as_str().unwrap();
        let rec = record(&s, &token, name).unwrap_or_else(|| panic!("{name} registered"));
        assert_eq!(rec["deactivated"], false);
        if i % 10 == 0 {
            let pw = u["password"].as_str().unwrap();
            assert_eq!(s.login(name, pw).status, 200, "{name} logs in");
        }
    }
}

#[test]
fn fake_tuwunel_check_mode_writes_nothing() {
    let (s, admin_pw) = fake_tuwunel(&[], &[]);
    let token = admin_token(&s, &admin_pw);
    let name = unique_user("tw-check");
    let r = run_module_with(
        "register_user",
        reg_args(
            &s,
            json!({"username": name, "password": random_secret("pw"), "access_token": token}),
        ),
        &[CHECK],
    )
    .ok();
    assert!(r.changed());
    assert!(r.msg().contains("would be created"), "{}", r.msg());
    assert!(record(&s, &token, &name).is_none(), "nothing was created");
    assert_eq!(logged(&s, "GET", "/_synapse/admin/v1/register"), 0);
    assert_eq!(logged(&s, "POST", "/_synapse/admin/v1/register"), 0);

    let tok = unique_user("tw-check-token");
    let t = run_module_with(
        "registration_token",
        token_args(&s, &token, json!({"token": tok, "max_usage": 2})),
        &[CHECK],
    )
    .ok();
    assert!(t.changed());
    let listed = s.call(
        "GET",
        "/_synapse/admin/v1/registration_tokens",
        Some(&token),
        None,
    );
    assert!(!listed.body.to_string().contains(&tok), "no token created");
    assert_eq!(
        logged(&s, "POST", "/_synapse/admin/v1/registration_tokens"),
        0
    );
}

#[test]
fn fake_tuwunel_user_type_is_refused_before_any_request() {
    let (s, _) = fake_tuwunel(&[], &[]);
    let before = s.log();
    let name = unique_user("tw-bot");
    run_module(
        "register_user",
        reg_args(
            &s,
            json!({"username": name, "password": random_secret("pw"), "user_type": "bot"}),
        ),
    )
    .fails_with("user_type");
    assert_eq!(s.log(), before, "no request reached the FAKE tuwunel");
    assert_eq!(s.login(&name, "x").status, 403, "no account");
}

#[test]
fn fake_tuwunel_admin_flag_goes_through_the_user_record() {
    let pw = random_secret("pw");
    let (s, admin_pw) = fake_tuwunel(&[json!({"username": "dave", "password": pw})], &[]);
    let token = admin_token(&s, &admin_pw);
    let args = |admin: bool| {
        admin_args(
            &s,
            &admin_pw,
            json!({"username": "@dave:localhost", "admin": admin}),
        )
    };
    // Check mode (with a token: it never logs in) predicts and writes nothing.
    let r = run_module_with(
        "user_admin",
        token_args(
            &s,
            &token,
            json!({"username": "@dave:localhost", "admin": true}),
        ),
        &[CHECK],
    )
    .ok();
    assert!(r.changed(), "{}", r.stdout);
    assert_eq!(record(&s, &token, "dave").unwrap()["admin"], false);

    let r = run_module("user_admin", args(true)).ok();
    assert!(r.changed(), "{}", r.stdout);
    assert_eq!(record(&s, &token, "dave").unwrap()["admin"], true);
    let flag = s.call(
        "GET",
        "/_synapse/admin/v1/users/@dave:localhost/admin",
        Some(&token),
        None,
    );
    assert_eq!(flag.body["admin"], true);
    assert!(!run_module("user_admin", args(true)).ok().changed());

    let r = run_module("user_admin", args(false)).ok();
    assert!(r.changed());
    assert_eq!(record(&s, &token, "dave").unwrap()["admin"], false);
    // Already not an admin: nothing is sent (tuwunel answers a revoke of a non-admin with 500).
    assert!(!run_module("user_admin", args(false)).ok().changed());
    assert_eq!(logged(&s, "PUT", "/_synapse/admin/v2/users/"), 2);
    assert_eq!(logged(&s, "PUT", "/_synapse/admin/v1/users/"), 0);

    // A missing account is refused, and not created by the PUT (which would create one).
    run_module(
        "user_admin",
        admin_args(
            &s,
            &admin_pw,
            json!({"username": "@nobody:localhost", "admin": true}),
        ),
    )
    .fails_with("does not exist");
    assert!(record(&s, &token, "nobody").is_none());

    // register_user: admin at creation through the MAC, then converged on an existing account.
    let name = unique_user("tw-admin");
    run_module(
        "register_user",
        reg_args(
            &s,
            json!({"username": name, "password": random_secret("pw"), "admin": true}),
        ),
    )
    .ok();
    assert_eq!(record(&s, &token, &name).unwrap()["admin"], true);
}

#[test]
fn fake_tuwunel_passwords_are_set_but_never_on_a_deactivated_account() {
    let (s, admin_pw) = fake_tuwunel(
        &[
            json!({"username": "erin", "password": "old-pw"}),
            json!({"username": "gone", "password": "old-pw", "deactivated": true}),
        ],
        &[],
    );
    let args = |user: &str, pw: &str| {
        reg_args(
            &s,
            json!({"username": user, "password": pw, "update_password": "always",
                   "admin_username": "admin", "admin_password": admin_pw}),
        )
    };
    let new_pw = random_secret("pw");
    let r = run_module("register_user", args("erin", &new_pw)).ok();
    assert_eq!(r.json["password_updated"], true);
    assert_eq!(s.login("erin", &new_pw).status, 200);
    // tuwunel re-activates an account whose password is set: without reactivate: true the
    // module refuses (issue 19: a deactivated account comes back only when asked), and the
    // password is never sent.
    run_module("register_user", args("gone", &new_pw)).fails_with("reactivate: true");
    let login = s.login("gone", &new_pw);
    assert_eq!(login.errcode(), "M_USER_DEACTIVATED", "{:?}", login.body);
}

fn token_args(s: &FakeServer, token: &str, extra: Value) -> Value {
    with(
        json!({"backend": "tuwunel", "homeserver_url": s.url, "access_token": token}),
        extra,
    )
}

fn server_token(s: &FakeServer, admin: &str, name: &str) -> Option<Value> {
    let a = s.call(
        "GET",
        &format!("/_synapse/admin/v1/registration_tokens/{name}"),
        Some(admin),
        None,
    );
    (a.status == 200).then_some(a.body)
}

#[test]
fn fake_tuwunel_registration_tokens_create_update_disable_delete_list() {
    let (s, admin_pw) = fake_tuwunel(&[], &[]);
    let admin = admin_token(&s, &admin_pw);
    let name = unique_user("tw-token");
    let run = |extra: Value| run_module("registration_token", token_args(&s, &admin, extra));

    let r = run(json!({"token": name, "max_usage": 3, "ex_date": "2031-06-30T18:00:00Z"})).ok();
    assert!(r.changed());
    let t = server_token(&s, &admin, &name).expect("created");
    assert_eq!(t["uses_allowed"], 3);
    assert_eq!(t["expiry_time"], 1_940_608_800_000u64);
    assert!(!run(json!({"token": name, "max_usage": 3})).ok().changed());
    assert!(run(json!({"token": name, "max_usage": 5})).ok().changed());
    assert_eq!(server_token(&s, &admin, &name).unwrap()["uses_allowed"], 5);

    let info = run_module(
        "registration_token_info",
        token_args(&s, &admin, json!({"token": name})),
    )
    .ok();
    assert_eq!(info.json["tokens"][0]["valid"], true, "{}", info.stdout);

    // Disabled: expired now, so tuwunel's next listing deletes it; disabling it again is ok.
    let r = run(json!({"token": name, "state": "disabled"})).ok();
    assert!(r.changed());
    let t = server_token(&s, &admin, &name).expect("not yet cleaned");
    assert!(t["expiry_time"].as_i64().unwrap() <= chrono::Utc::now().timestamp_millis());
    let listed = s.call(
        "GET",
        "/_synapse/admin/v1/registration_tokens",
        Some(&admin),
        None,
    );
    assert!(!listed.body.to_string().contains(&name));
    assert!(
        server_token(&s, &admin, &name).is_none(),
        "tuwunel deleted it"
    );
    let r = run(json!({"token": name, "state": "disabled"})).ok();
    assert!(!r.changed());
    assert!(r.msg().contains("cannot be used"), "{}", r.msg());

    // Present again creates it anew; absent deletes it, twice is ok.
    assert!(run(json!({"token": name})).ok().changed());
    assert!(server_token(&s, &admin, &name).is_some());
    assert!(run(json!({"token": name, "state": "absent"}))
        .ok()
        .changed());
    assert!(server_token(&s, &admin, &name).is_none());
    assert!(!run(json!({"token": name, "state": "absent"}))
        .ok()
        .changed());
}

#[test]
fn fake_tuwunel_config_token_cannot_be_changed_and_the_module_says_why() {
    let (s, admin_pw) = fake_tuwunel(&[], &[]);
    let admin = admin_token(&s, &admin_pw);
    let config = s.file("registration-token");
    let run = |extra: Value| run_module("registration_token", token_args(&s, &admin, extra));
    for state in [
        json!({"max_usage": 2}),
        json!({"state": "disabled"}),
        json!({"state": "absent"}),
    ] {
        let r: Run =
            run(with(json!({"token": config}), state)).fails_with("tuwunel's configuration");
        assert!(!r.changed());
    }
    // Still there, unchanged, as the configuration has it.
    let t = server_token(&s, &admin, &config).expect("the config token stays");
    assert_eq!(t["uses_allowed"], Value::Null);
    assert_eq!(t["expiry_time"], Value::Null);
}

type Req = crate::common::hostile::Req;

/// A proxy in front of the FAKE tuwunel that passes everything through, after `before` (which
/// may act on the FAKE first) and changing what `twist` changes in the FAKE's answer.
fn proxy(
    s: &FakeServer,
    before: impl Fn(&Req, &reqwest::blocking::Client) + Send + Sync + 'static,
    twist: impl Fn(&Req, u16, Value) -> (u16, Value) + Send + Sync + 'static,
) -> Hostile {
    let base = s.url.clone();
    let http = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap();
    Hostile::start(move |req| {
        before(req, &http);
        let m = reqwest::Method::from_bytes(req.method.as_bytes()).unwrap();
        let mut rb = http.request(m, format!("{base}{}", req.path));
        for (k, v) in &req.headers {
            if k.eq_ignore_ascii_case("authorization") || k.eq_ignore_ascii_case("content-type") {
                rb = rb.header(k.as_str(), v.as_str());
            }
        }
        let r = rb.body(req.body.clone()).send().unwrap();
        let status = r.status().as_u16();
        let body: Value = serde_json::from_str(&r.text().unwrap()).unwrap_or(Value::Null);
        let (status, body) = twist(req, status, body);
        Reply::json(status, body)
    })
}

#[test]
fn fake_tuwunel_registration_answer_naming_another_user_fails() {
    let (s, _) = fake_tuwunel(&[], &[]);
    let p = proxy(
        &s,
        |_, _| {},
        |req, status, mut body| {
            if req.method == "POST" && req.path.starts_with("/_synapse/admin/v1/register") {
                body["user_id"] = json!("@mallory:localhost");
            }
            (status, body)
        },
    );
    let name = unique_user("tw-twist");
    let r = run_module(
        "register_user",
        reg_args(
            &s,
            json!({"homeserver_url": p.url, "username": name, "password": random_secret("pw")}),
        ),
    )
    .fails_with("@mallory:localhost");
    assert_ne!(r.json["created"], true);
}

/// A proxy in front of a FAKE tuwunel started with `FAKE_TUWUNEL_NONCE_CAP=1`: before passing
/// on the first registration POST (or every one, with `every`), it fetches a nonce of its own,
/// which drops the one the module is about to use.
fn nonce_thief(s: &FakeServer, every: bool) -> Hostile {
    let url = format!("{}/_synapse/admin/v1/register", s.url);
    let posts = std::sync::atomic::AtomicUsize::new(0);
    let before = move |req: &Req, http: &reqwest::blocking::Client| {
        if req.method == "POST" && req.path.starts_with("/_synapse/admin/v1/register") {
            let n = posts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if every || n == 0 {
                assert_eq!(http.get(&url).send().unwrap().status().as_u16(), 200);
            }
        }
    };
    proxy(s, before, |_, status, body| (status, body))
}

#[test]
fn fake_tuwunel_a_nonce_lost_before_its_registration_is_fetched_again_once() {
    // A nonce fetched by someone else between the module's GET and POST drops the module's
    // (at most one outstanding here): tuwunel answers 400 M_INVALID_PARAM, and the module
    // fetches a fresh one and tries once more - only once.
    let (s, _) = fake_tuwunel(&[], &[("FAKE_TUWUNEL_NONCE_CAP", "1")]);
    for every in [false, true] {
        let q = nonce_thief(&s, every);
        let name = unique_user("tw-nonce");
        let pw = random_secret("pw");
        let r = run_module(
            "register_user",
            reg_args(
                &s,
                json!({"homeserver_url": q.url, "username": name, "password": pw}),
            ),
        );
        let posts = q.requests_to("POST", "/_synapse/admin/v1/register").len();
        assert_eq!(posts, 2, "one retry with a fresh nonce: {}", r.stdout);
        if every {
            assert!(r.failed(), "{}", r.stdout);
            assert!(r.msg().contains("nonce"), "{}", r.msg());
            assert_eq!(s.login(&name, &pw).status, 403, "no account");
        } else {
            assert!(!r.failed() && r.changed(), "{}", r.stdout);
            assert_eq!(s.login(&name, &pw).status, 200);
        }
    }
}

#[test]
fn fake_tuwunel_behind_backend_synapse_is_named_only_after_a_refusal() {
    let (s, admin_pw) = fake_tuwunel(
        &[json!({"username": "dave", "password": random_secret("pw")})],
        &[("FAKE_TUWUNEL_NONCE_CAP", "1")],
    );
    let probes = |s: &FakeServer| logged(s, "GET", "/_tuwunel/server_version");
    // A registration that succeeds asks nothing more (the same code path as on Synapse).
    let name = unique_user("tw-as-synapse");
    run_module(
        "register_user",
        reg_args(
            &s,
            json!({"backend": "synapse", "username": name, "password": random_secret("pw")}),
        ),
    )
    .ok();
    assert_eq!(probes(&s), 0);
    // Synapse's admin-flag endpoint answers 405 on tuwunel: then, and only then, it is asked.
    run_module(
        "user_admin",
        admin_args(
            &s,
            &admin_pw,
            json!({"backend": "synapse", "username": "@dave:localhost", "admin": true}),
        ),
    )
    .fails_with("use backend tuwunel");
    assert_eq!(probes(&s), 1);
    let log = s.log();
    let put = log
        .find(" PUT /_synapse/admin/v1/users/")
        .expect("the PUT was sent");
    assert!(log.find(" GET /_tuwunel/server_version").unwrap() > put);
    let token = admin_token(&s, &admin_pw);
    assert_eq!(record(&s, &token, "dave").unwrap()["admin"], false);
    // tuwunel's refusal of a nonce, not retried under Synapse's rules: named too.
    let q = nonce_thief(&s, true);
    run_module(
        "register_user",
        reg_args(
            &s,
            json!({"backend": "synapse", "homeserver_url": q.url,
                   "username": unique_user("tw-as-synapse"), "password": random_secret("pw")}),
        ),
    )
    .fails_with("use backend tuwunel");
    assert_eq!(probes(&s), 2);
}
