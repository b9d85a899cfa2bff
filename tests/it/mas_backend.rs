//! Backend `mas` of every module, against the FAKE Matrix Authentication Service
//! (`tests/servers/fake_mas.py`, see docs/mas-fake.md): no registry carries MAS, so these tests run
//! against a stand-in that answers as a real MAS 1.22 did in the recorded exchanges
//! (tests/data/mas/transcripts.jsonl, kept honest by tests/mas_fake_conformance.rs). Every test
//! checks MAS's state through the fake's admin API (users, e-mails, tokens, password logins), not
//! only what the module said.

use crate::common::fake_mas::{FakeMas, FakeMasOptions};
use crate::common::{run_module_with, Run};
use serde_json::{json, Value};

const STRONG: &str = "Plum-Orbit-Lantern-42-Quietly";
const STRONG2: &str = "Velvet-Harbor-Cactus-77-Softly";

/// The MAS options of a module: URL and the admin client's credentials (the secret in a file).
fn mas_args(mas: &FakeMas, extra: Value) -> Value {
    let mut v = json!({
        "backend": "mas",
        "api_url": mas.url,
        "client_id": mas.admin_client_id,
        "client_secret_file": mas.admin_client_secret_file(),
    });
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

fn check_mode() -> [(&'static str, Value); 2] {
    [
        ("_ansible_check_mode", json!(true)),
        ("_ansible_diff", json!(true)),
    ]
}

/// Lines of the fake's request log with this method and path prefix.
fn logged(mas: &FakeMas, method: &str, path: &str) -> usize {
    mas.log()
        .lines()
        .filter(|l| {
            let mut f = l.split_whitespace().skip(1);
            f.next() == Some(method) && f.next().is_some_and(|p| p.starts_with(path))
        })
        .count()
}

/// A request's shape: ULIDs, usernames and query values replaced, query keys kept in order.
fn shape(method: &str, path: &str) -> String {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let mut segments: Vec<String> = Vec::new();
    for seg in path.split('/') {
        let s = if segments.last().is_some_and(|p| p == "by-username") {
            "{name}".to_string()
        } else if seg.len() == 26 && seg.bytes().all(|b| b.is_ascii_alphanumeric()) {
            "{ulid}".to_string()
        } else {
            seg.to_string()
        };
        segments.push(s);
    }
    let keys: Vec<String> = query
        .split('&')
        .filter(|q| !q.is_empty())
        .map(|q| {
            let k = q.split('=').next().unwrap_or("");
            k.replace("%5B", "[").replace("%5D", "]")
        })
        .collect();
    format!("{method} {} ?{}", segments.join("/"), keys.join("&"))
}

/// The shapes of the requests a real MAS answered in the recording (its own, not Synapse's).
fn recorded_shapes() -> std::collections::HashSet<String> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/mas/transcripts.jsonl"
    ))
    .unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|x| !x["id"].as_str().unwrap().starts_with("synapse-"))
        .map(|x| {
            shape(
                x["request"]["method"].as_str().unwrap(),
                x["request"]["path"].as_str().unwrap(),
            )
        })
        .collect()
}

/// Tokens MAS granted so far.
fn granted(mas: &FakeMas) -> usize {
    mas.log()
        .lines()
        .filter(|l| l.ends_with(" POST /oauth2/token 200"))
        .count()
}

/// Runs a module against `mas` and checks that every token it obtained (with client
/// credentials) was revoked before it exited: the harness's own tokens are never revoked, so the
/// counts are taken around the run.
fn run(mas: &FakeMas, module: &str, args: Value) -> Run {
    run_with(mas, module, args, &[])
}

fn run_with(mas: &FakeMas, module: &str, args: Value, flags: &[(&str, Value)]) -> Run {
    let (grants, revokes) = (granted(mas), logged(mas, "POST", "/oauth2/revoke"));
    // The fake writes a log line just after its answer: wait until the harness's last request
    // is logged, so that the lines after `before` are the module's.
    let mut before = mas.log().lines().count();
    loop {
        std::thread::sleep(std::time::Duration::from_millis(50));
        let now = mas.log().lines().count();
        if now == before {
            break;
        }
        before = now;
    }
    let r = run_module_with(module, args, flags);
    // The fake logs a request just after answering it: the last revocation's line may land a
    // moment after the module exited, so the log is read again until it is complete.
    let mut tries = 0;
    while logged(mas, "POST", "/oauth2/revoke") - revokes < granted(mas) - grants && tries < 50 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        tries += 1;
    }
    assert_eq!(
        logged(mas, "POST", "/oauth2/revoke") - revokes,
        granted(mas) - grants,
        "every token the module obtained is revoked:\n{}",
        mas.log()
    );
    // Every request the module sent has the shape of one a real MAS answered in the recording.
    let recorded = recorded_shapes();
    for line in mas.log().lines().skip(before) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let sh = shape(f[1], f[2]);
        assert!(
            recorded.contains(&sh),
            "{module} sent {sh}, a request the recording does not show ({line})"
        );
    }
    r
}

fn no_secret_in(run: &Run, secrets: &[&str]) {
    for s in secrets {
        assert!(
            !run.stdout.contains(s) && !run.stderr.contains(s),
            "a secret leaked into the output: {}",
            run.stdout
        );
    }
}

#[test]
fn register_user_creates_with_password_admin_displayname_and_emails() {
    let mas = FakeMas::start();
    let r = run(
        &mas,
        "register_user",
        mas_args(
            &mas,
            json!({"username": "alice", "password": STRONG, "admin": true,
                   "displayname": "Alice A.", "email": ["alice@example.org", "a@example.net"]}),
        ),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(r.json["created"], true);
    assert_eq!(r.json["user_id"], "@alice:localhost");
    no_secret_in(&r, &[STRONG, &mas.admin_client_secret]);

    let user = mas.user("alice").expect("alice exists on MAS");
    assert_eq!(user["attributes"]["admin"], true);
    assert!(mas.can_login("alice", STRONG), "the password was set");
    let mut emails = mas.emails_of(user["id"].as_str().unwrap());
    emails.sort();
    assert_eq!(emails, ["a@example.net", "alice@example.org"]);

    // A re-run changes nothing: the account exists, flag and addresses are as asked.
    let again = run(
        &mas,
        "register_user",
        mas_args(
            &mas,
            json!({"username": "alice", "password": STRONG2, "admin": true,
                   "email": "alice@example.org"}),
        ),
    )
    .ok();
    assert!(!again.changed(), "{}", again.stdout);
    assert!(
        mas.can_login("alice", STRONG),
        "on_create keeps the password"
    );
    assert!(!mas.can_login("alice", STRONG2));
}

#[test]
fn an_existing_account_converges_admin_email_and_password_only_when_asked() {
    let mas = FakeMas::start();
    run(
        &mas,
        "register_user",
        mas_args(&mas, json!({"username": "bob", "password": STRONG})),
    )
    .ok();
    let id = mas.user("bob").unwrap()["id"].as_str().unwrap().to_string();

    // Admin and a new address converge; the password is left alone (on_create).
    let r = run_with(
        &mas,
        "register_user",
        mas_args(
            &mas,
            json!({"username": "bob", "password": STRONG2, "admin": true, "email": ["bob@example.org"]}),
        ),
        &[("_ansible_diff", json!(true))],
    )
    .ok();
    assert!(r.changed());
    assert_eq!(r.json["created"], false);
    assert_eq!(r.json["admin_updated"], true);
    assert_eq!(r.json["emails_added"], json!(["bob@example.org"]));
    assert_eq!(r.json["diff"]["before"]["exists"], true);
    assert_eq!(
        r.json["diff"]["after"]["emails_added"],
        json!(["bob@example.org"])
    );
    assert_eq!(mas.user("bob").unwrap()["attributes"]["admin"], true);
    assert_eq!(mas.emails_of(&id), ["bob@example.org"]);
    assert!(mas.can_login("bob", STRONG) && !mas.can_login("bob", STRONG2));

    // update_password=always sets it (and says changed every time).
    let r = run(
        &mas,
        "register_user",
        mas_args(
            &mas,
            json!({"username": "@bob:localhost", "password": STRONG2, "update_password": "always"}),
        ),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(r.json["password_updated"], true);
    assert!(mas.can_login("bob", STRONG2) && !mas.can_login("bob", STRONG));

    // admin: false demotes; an address of another account is a clear failure.
    run(
        &mas,
        "register_user",
        mas_args(&mas, json!({"username": "carol", "password": STRONG})),
    )
    .ok();
    run(
        &mas,
        "register_user",
        mas_args(
            &mas,
            json!({"username": "carol", "password": STRONG, "email": "BOB@example.org"}),
        ),
    )
    .fails_with("another account has this address");
    let carol = mas.user("carol").unwrap();
    assert!(mas.emails_of(carol["id"].as_str().unwrap()).is_empty());
    let r = run(
        &mas,
        "register_user",
        mas_args(
            &mas,
            json!({"username": "bob", "password": STRONG, "admin": false}),
        ),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(mas.user("bob").unwrap()["attributes"]["admin"], false);
}

#[test]
fn check_mode_predicts_and_writes_nothing() {
    let mas = FakeMas::start();
    let r = run_with(
        &mas,
        "register_user",
        mas_args(
            &mas,
            json!({"username": "dave", "password": STRONG, "email": "d@example.org"}),
        ),
        &check_mode(),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(r.json["created"], true);
    assert!(mas.user("dave").is_none(), "check mode created the account");
    assert_eq!(logged(&mas, "POST", "/api/admin/v1/"), 0, "{}", mas.log());

    run(
        &mas,
        "register_user",
        mas_args(&mas, json!({"username": "dave", "password": STRONG})),
    )
    .ok();
    let id = mas.user("dave").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let writes = logged(&mas, "POST", "/api/admin/v1/");
    let r = run_with(
        &mas,
        "register_user",
        mas_args(
            &mas,
            json!({"username": "dave", "password": STRONG2, "admin": true,
                   "email": "d@example.org", "update_password": "always"}),
        ),
        &check_mode(),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(r.json["admin_updated"], true);
    assert_eq!(r.json["emails_added"], json!(["d@example.org"]));
    assert_eq!(mas.user("dave").unwrap()["attributes"]["admin"], false);
    assert!(mas.emails_of(&id).is_empty());
    assert!(mas.can_login("dave", STRONG), "check mode set the password");
    assert_eq!(
        logged(&mas, "POST", "/api/admin/v1/"),
        writes,
        "check mode sent no write:\n{}",
        mas.log()
    );
}

#[test]
fn weak_passwords_are_refused_unless_the_check_is_skipped() {
    let mas = FakeMas::start();
    let r = run(
        &mas,
        "register_user",
        mas_args(&mas, json!({"username": "erin", "password": "abc"})),
    )
    .fails_with("Password is too weak");
    assert!(r.msg().contains("skip_password_check"), "{}", r.msg());
    assert!(r.msg().contains("was created on MAS"), "{}", r.msg());
    assert!(!mas.can_login("erin", "abc"));

    run(
        &mas,
        "register_user",
        mas_args(
            &mas,
            json!({"username": "erin", "password": "abc", "update_password": "always",
                   "skip_password_check": true}),
        ),
    )
    .ok();
    assert!(mas.can_login("erin", "abc"), "skip_password_check set it");

    run(
        &mas,
        "register_user",
        mas_args(
            &mas,
            json!({"username": "frank", "password": "abc", "skip_password_check": true}),
        ),
    )
    .ok();
    assert!(mas.can_login("frank", "abc"));
}

#[test]
fn password_login_disabled_fails_before_creating_anything() {
    let mas = FakeMas::start_with(&FakeMasOptions {
        password_login_disabled: true,
        ..Default::default()
    });
    run(
        &mas,
        "register_user",
        mas_args(&mas, json!({"username": "gina", "password": STRONG})),
    )
    .fails_with("password login disabled");
    assert!(mas.user("gina").is_none());
}

#[test]
fn what_mas_cannot_do_is_refused_before_any_request() {
    let mas = FakeMas::start();
    // fake-mas.sh's readiness check.
    let started = mas.log();
    run(
        &mas,
        "register_user",
        mas_args(
            &mas,
            json!({"username": "bot", "password": STRONG, "user_type": "bot"}),
        ),
    )
    .fails_with("MAS has no user types");
    run(
        &mas,
        "register_user",
        mas_args(
            &mas,
            json!({"users": [{"username": "x", "password": STRONG, "user_type": "bot"}]}),
        ),
    )
    .fails_with("MAS has no user types");
    run(
        &mas,
        "register_user",
        json!({"backend": "mas", "client_id": mas.admin_client_id,
               "client_secret": mas.admin_client_secret, "username": "x", "password": STRONG}),
    )
    .fails_with("backend mas needs api_url");
    run(
        &mas,
        "register_user",
        json!({"backend": "mas", "api_url": mas.url, "username": "x", "password": STRONG}),
    )
    .fails_with("needs MAS admin credentials");
    run(&mas,
        "register_user",
        json!({"shared_secret": "s", "username": "x", "password": STRONG, "email": "x@example.org"}),
    )
    .fails_with("email is for backend mas only");
    assert_eq!(mas.log(), started, "nothing was sent");
}

#[test]
fn bulk_outlives_its_token_and_lists_once() {
    // Tokens live 1 s: a bulk run of 150 accounts (each a creation and a password hash on MAS,
    // about 1.5 s for 60 here) outlives several of them.
    let mas = FakeMas::start_with(&FakeMasOptions {
        token_ttl: Some(1),
        ..Default::default()
    });
    // Ten exist before, one of them without the admin flag asked for.
    for i in 0..10 {
        let (s, v) = mas.admin(
            "POST",
            "/api/admin/v1/users",
            Some(&json!({"username": format!("u{i:03}")})),
        );
        assert_eq!(s, 201, "{v}");
    }
    let users: Vec<Value> = (0..150)
        .map(|i| json!({"username": format!("u{i:03}"), "password": format!("{STRONG}-{i}")}))
        .collect();
    let mut args = mas_args(&mas, json!({"users": users, "concurrency": 4}));
    args["users"][3]["admin"] = json!(true);
    let before_grants = granted(&mas);
    let r = run(&mas, "register_user", args.clone()).ok();
    assert_eq!(r.json["created"], 140, "{}", r.stdout);
    assert_eq!(r.json["existing"], 10);
    assert_eq!(r.json["admin_flags_changed"], 1);
    assert_eq!(r.json["failed_count"], 0);
    // Existing accounts were found by one listing: the only look-up by name is u003's, whose
    // admin flag changed.
    assert_eq!(logged(&mas, "GET", "/api/admin/v1/users/by-username/"), 1);
    assert!(logged(&mas, "GET", "/api/admin/v1/users?") >= 1);
    for i in (10..150).step_by(17) {
        assert!(mas.can_login(&format!("u{i:03}"), &format!("{STRONG}-{i}")));
    }
    assert_eq!(mas.user("u003").unwrap()["attributes"]["admin"], true);
    assert_eq!(mas.users().len(), 150);
    let grants = granted(&mas) - before_grants;
    assert!(
        grants >= 2,
        "the task renewed its token ({grants} grants):\n{}",
        mas.log()
    );

    // The re-run converges: nothing changes.
    let r = run(&mas, "register_user", args).ok();
    assert!(!r.changed(), "{}", r.stdout);
    assert_eq!(r.json["existing"], 150);

    // Check mode over a list with a new name predicts it and writes nothing.
    let users: Vec<Value> = vec![json!({"username": "newcomer", "password": STRONG})];
    let r = run_with(
        &mas,
        "register_user",
        mas_args(&mas, json!({"users": users})),
        &check_mode(),
    )
    .ok();
    assert_eq!(r.json["created"], 1);
    assert!(mas.user("newcomer").is_none());
}

#[test]
fn auth_errors_say_what_is_wrong() {
    let mas = FakeMas::start();
    let base = |extra: Value| {
        let mut v = json!({"backend": "mas", "api_url": mas.url, "username": "x", "admin": true});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    // An id that cannot be a MAS client id is caught before any request.
    run(
        &mas,
        "user_admin",
        base(json!({"client_id": "my-admin-client", "client_secret": "s3cret"})),
    )
    .fails_with("is not a MAS client id");
    // A well-formed id MAS does not know, and the right id with a wrong secret.
    let r = run(&mas,
        "user_admin",
        base(json!({"client_id": "01JZZZZZZZZZZZZZZZZZZZZZZZ", "client_secret": mas.admin_client_secret})),
    )
    .fails_with("invalid_client");
    assert!(r
        .msg()
        .contains("client_id 01JZZZZZZZZZZZZZZZZZZZZZZZ is not a client of MAS"));
    no_secret_in(&r, &[&mas.admin_client_secret]);
    run(
        &mas,
        "user_admin",
        base(json!({"client_id": mas.admin_client_id, "client_secret": "wrong-secret-123"})),
    )
    .fails_with("client_secret is not its secret");
    // A client outside policy.data.admin_clients.
    run(
        &mas,
        "user_admin",
        base(json!({"client_id": mas.client_id, "client_secret": mas.client_secret})),
    )
    .fails_with("add ")
    .fails_with("policy.data.admin_clients");
    // A token without urn:mas:admin.
    let (s, v) = mas.token_request(&mas.client_id, &mas.client_secret, None);
    assert_eq!(s, 200, "{v}");
    let plain = v["access_token"].as_str().unwrap().to_string();
    let r = run(&mas, "user_admin", base(json!({"access_token": plain})))
        .fails_with("not a MAS admin token");
    no_secret_in(&r, &[&plain]);
    // A homeserver's token.
    run(
        &mas,
        "user_admin",
        base(json!({"access_token": "syt_YWxpY2U_AAAAAAAAAAAAAAAAAAAA_000000"})),
    )
    .fails_with("not a MAS access token");
    // A revoked token.
    let revoked = mas.admin_token();
    let http = reqwest::blocking::Client::new();
    let rv = http
        .post(format!("{}/oauth2/revoke", mas.url))
        .basic_auth(&mas.admin_client_id, Some(&mas.admin_client_secret))
        .form(&[("token", revoked.as_str())])
        .send()
        .unwrap();
    assert_eq!(rv.status().as_u16(), 200);
    run(&mas, "user_admin", base(json!({"access_token": revoked}))).fails_with("was revoked");
    // An expired token (a second fake whose tokens live 1 s).
    let short = FakeMas::start_with(&FakeMasOptions {
        token_ttl: Some(1),
        ..Default::default()
    });
    let expired = short.admin_token();
    std::thread::sleep(std::time::Duration::from_millis(2200));
    let mut args = base(json!({"access_token": expired}));
    args["api_url"] = json!(short.url);
    run(&mas, "user_admin", args).fails_with("has expired");
}

#[test]
fn user_admin_sets_the_mas_admin_flag() {
    let mas = FakeMas::start();
    let (s, _) = mas.admin(
        "POST",
        "/api/admin/v1/users",
        Some(&json!({"username": "hank"})),
    );
    assert_eq!(s, 201);
    let args = |admin: bool| mas_args(&mas, json!({"username": "hank", "admin": admin}));

    let r = run_with(&mas, "user_admin", args(true), &check_mode()).ok();
    assert!(r.changed());
    assert_eq!(r.json["diff"]["before"]["admin"], false);
    assert_eq!(r.json["diff"]["after"]["admin"], true);
    assert_eq!(mas.user("hank").unwrap()["attributes"]["admin"], false);

    let r = run(&mas, "user_admin", args(true)).ok();
    assert!(r.changed());
    assert_eq!(r.json["user_id"], "@hank:localhost");
    assert_eq!(mas.user("hank").unwrap()["attributes"]["admin"], true);
    assert!(!run(&mas, "user_admin", args(true)).ok().changed());

    // With an access token, and a full user ID.
    let r = run(
        &mas,
        "user_admin",
        json!({"backend": "mas", "api_url": mas.url, "access_token": mas.admin_token(),
               "username": "@hank:localhost", "admin": false}),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(mas.user("hank").unwrap()["attributes"]["admin"], false);

    run(
        &mas,
        "user_admin",
        mas_args(&mas, json!({"username": "nobody", "admin": true})),
    )
    .fails_with("does not exist");
    assert!(mas.user("nobody").is_none());
    run(
        &mas,
        "user_admin",
        mas_args(
            &mas,
            json!({"username": "@hank:other.example", "admin": true}),
        ),
    )
    .fails_with("not a user of this MAS");
}

fn token_args(mas: &FakeMas, extra: Value) -> Value {
    mas_args(mas, extra)
}

#[test]
fn registration_tokens_on_mas() {
    let mas = FakeMas::start();
    // Check mode creates nothing.
    let r = run_with(
        &mas,
        "registration_token",
        token_args(
            &mas,
            json!({"token": "spring", "max_usage": 3, "ex_date": "2030-01-01"}),
        ),
        &check_mode(),
    )
    .ok();
    assert!(r.changed());
    assert!(mas.registration_token("spring").is_none());

    let r = run(
        &mas,
        "registration_token",
        token_args(
            &mas,
            json!({"token": "spring", "max_usage": 3, "ex_date": "2030-01-01"}),
        ),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(r.json["token"]["name"], "spring");
    assert_eq!(r.json["token"]["valid"], true);
    let t = mas.registration_token("spring").unwrap();
    assert_eq!(t["attributes"]["usage_limit"], 3);
    assert_eq!(t["attributes"]["expires_at"], "2030-01-01T00:00:00Z");

    // The same again: unchanged. A new limit and expiry: updated in place.
    let same = run(
        &mas,
        "registration_token",
        token_args(
            &mas,
            json!({"token": "spring", "max_usage": 3, "ex_date": "2030-01-01"}),
        ),
    )
    .ok();
    assert!(!same.changed(), "{}", same.stdout);
    let r = run(
        &mas,
        "registration_token",
        token_args(
            &mas,
            json!({"token": "spring", "max_usage": 0, "ex_date": "2031-06-01T10:00:00Z"}),
        ),
    )
    .ok();
    assert!(r.changed());
    let t = mas.registration_token("spring").unwrap();
    assert_eq!(
        t["attributes"]["usage_limit"],
        Value::Null,
        "0 is unlimited"
    );
    assert_eq!(t["attributes"]["expires_at"], "2031-06-01T10:00:00Z");
    assert_eq!(t["id"], mas.registration_token("spring").unwrap()["id"]);

    // Check mode predicts an update and a revocation, with a diff, and writes neither.
    let r = run_with(
        &mas,
        "registration_token",
        token_args(&mas, json!({"token": "spring", "max_usage": 9})),
        &check_mode(),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(r.json["diff"]["before"]["max_usage"], 0);
    assert_eq!(r.json["diff"]["after"]["max_usage"], 9);
    let r = run_with(
        &mas,
        "registration_token",
        token_args(&mas, json!({"token": "spring", "state": "disabled"})),
        &check_mode(),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(r.json["diff"]["after"]["disabled"], true);
    let t = mas.registration_token("spring").unwrap();
    assert_eq!(t["attributes"]["usage_limit"], Value::Null);
    assert!(t["attributes"]["revoked_at"].is_null());

    // disabled revokes, once.
    let r = run(
        &mas,
        "registration_token",
        token_args(&mas, json!({"token": "spring", "state": "disabled"})),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(r.json["token"]["disabled"], true);
    assert_eq!(r.json["token"]["valid"], false);
    assert!(!mas.registration_token("spring").unwrap()["attributes"]["revoked_at"].is_null());
    assert!(!run(
        &mas,
        "registration_token",
        token_args(&mas, json!({"token": "spring", "state": "disabled"})),
    )
    .ok()
    .changed());

    // present on a revoked token un-revokes it only when asked.
    run(
        &mas,
        "registration_token",
        token_args(&mas, json!({"token": "spring"})),
    )
    .fails_with("unrevoke: true");
    assert!(!mas.registration_token("spring").unwrap()["attributes"]["revoked_at"].is_null());
    let r = run(
        &mas,
        "registration_token",
        token_args(&mas, json!({"token": "spring", "unrevoke": true})),
    )
    .ok();
    assert!(r.changed());
    assert_eq!(r.json["token"]["valid"], true);
    assert!(mas.registration_token("spring").unwrap()["attributes"]["revoked_at"].is_null());

    // MAS cannot delete.
    run(
        &mas,
        "registration_token",
        token_args(&mas, json!({"token": "spring", "state": "absent"})),
    )
    .fails_with("use state=disabled");
    assert!(mas.registration_token("spring").is_some());

    // Without a name MAS picks one; the module returns it.
    let r = run(
        &mas,
        "registration_token",
        token_args(&mas, json!({"one_time": true, "expires_in": "7d"})),
    )
    .ok();
    let name = r.json["token"]["name"].as_str().unwrap().to_string();
    assert_eq!(name.len(), 12, "{name}");
    let t = mas.registration_token(&name).unwrap();
    assert_eq!(t["attributes"]["usage_limit"], 1);
    assert!(!t["attributes"]["expires_at"].is_null());
}

#[test]
fn registration_token_info_on_mas() {
    let mas = FakeMas::start();
    // More tokens than one page of the module's listing (100), one revoked, one expired.
    for i in 0..105 {
        let (s, v) = mas.admin(
            "POST",
            "/api/admin/v1/user-registration-tokens",
            Some(&json!({"token": format!("tok{i:03}"), "usage_limit": 2})),
        );
        assert_eq!(s, 201, "{v}");
    }
    let (_, past) = mas.admin(
        "POST",
        "/api/admin/v1/user-registration-tokens",
        Some(&json!({"token": "old", "expires_at": "2020-01-01T00:00:00Z"})),
    );
    assert_eq!(past["data"]["attributes"]["valid"], false);
    let revoked = mas.registration_token("tok104").unwrap();
    let (s, _) = mas.admin(
        "POST",
        &format!(
            "/api/admin/v1/user-registration-tokens/{}/revoke",
            revoked["id"].as_str().unwrap()
        ),
        None,
    );
    assert_eq!(s, 200);

    let all = run(&mas, "registration_token_info", mas_args(&mas, json!({}))).ok();
    assert!(!all.changed());
    assert_eq!(all.json["tokens"].as_array().unwrap().len(), 106);
    assert_eq!(mas.registration_tokens().len(), 106);
    let valid = run(
        &mas,
        "registration_token_info",
        mas_args(&mas, json!({"valid": true})),
    )
    .ok();
    let names: Vec<&str> = valid.json["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 104);
    assert!(!names.contains(&"old") && !names.contains(&"tok104"));
    let invalid = run(
        &mas,
        "registration_token_info",
        mas_args(&mas, json!({"valid": false})),
    )
    .ok();
    assert_eq!(invalid.json["tokens"].as_array().unwrap().len(), 2);

    let one = run(
        &mas,
        "registration_token_info",
        mas_args(&mas, json!({"token": "tok104"})),
    )
    .ok();
    assert_eq!(
        one.json["tokens"],
        json!([{"name": "tok104", "max_usage": 2, "used": 0, "expiration_date": null,
                "disabled": true, "valid": false}])
    );
    let none = run(
        &mas,
        "registration_token_info",
        mas_args(&mas, json!({"token": "missing"})),
    )
    .ok();
    assert_eq!(none.json["tokens"], json!([]));
}

/// The shape check of `run_with` has teeth: the modules' listings are recorded shapes, a query
/// the recording lacks is not.
#[test]
fn the_request_shape_check_tells_recorded_from_unrecorded() {
    let recorded = recorded_shapes();
    for (m, p) in [
        (
            "GET",
            "/api/admin/v1/users?page[first]=1000&page[after]=01M83PX7PPXQGT4G5AMB2SEMJ4",
        ),
        ("GET", "/api/admin/v1/users/by-username/some.one"),
        (
            "GET",
            "/api/admin/v1/user-emails?filter[user]=01M83PX7NDQB6KXCB3W5STR3DY",
        ),
        (
            "POST",
            "/api/admin/v1/user-registration-tokens/01M83PXDD5D34GHMYNM5E91EZS/unrevoke",
        ),
        ("POST", "/oauth2/revoke"),
    ] {
        assert!(recorded.contains(&shape(m, p)), "{m} {p}");
    }
    for (m, p) in [
        (
            "GET",
            "/api/admin/v1/user-emails?filter[user]=01M83PX7NDQB6KXCB3W5STR3DY&page[first]=100",
        ),
        (
            "PUT",
            "/api/admin/v1/users/01M83PX7NDQB6KXCB3W5STR3DY/displayname",
        ),
        (
            "GET",
            "/api/admin/v1/user-registration-tokens?filter[token]=x",
        ),
    ] {
        assert!(!recorded.contains(&shape(m, p)), "{m} {p}");
    }
}
