//! Behaviour under concurrency and faults, against real Synapse servers: races on one account, a
//! server that is down when the task starts or comes up while it retries, a server killed in
//! the middle of a bulk run, and secrets kept out of the process list and the servers' logs.

use crate::common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[test]
fn twenty_concurrent_runs_create_the_account_once() {
    let s = Synapse::shared();
    let name = unique_user("race");
    let args = json!({"homeserver_url": s.url, "shared_secret": s.shared_secret, "server_name": "localhost",
                      "username": name, "password": random_secret("race-pw")});
    let runs: Vec<Run> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|_| scope.spawn(|| run_module("register_user", args.clone())))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let failed: Vec<&str> = runs
        .iter()
        .filter(|r| r.failed())
        .map(|r| r.stdout.as_str())
        .collect();
    assert!(failed.is_empty(), "no run may fail: {failed:?}");
    let created = runs.iter().filter(|r| r.json["created"] == true).count();
    assert_eq!(created, 1, "exactly one run creates the account");
    assert_eq!(runs.iter().filter(|r| r.changed()).count(), 1);
    assert!(s.user(&format!("@{name}:localhost")).is_some());
}

#[test]
fn a_server_that_is_down_fails_clearly_after_bounded_retries() {
    let port = free_port();
    let started = Instant::now();
    let r = run_module(
        "register_user",
        json!({"homeserver_url": format!("http://127.0.0.1:{port}"), "shared_secret": "s3cret-down",
               "server_name": "localhost", "username": "alice", "password": "pw-123456",
               "retries": 5, "timeout": 3}),
    )
    .fails_with("connection refused");
    assert!(r.msg().contains("attempts"), "{}", r.msg());
    // A hang guard, not a speed target: backoff sleeps stop once the timeout has passed.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_server_that_comes_up_while_the_module_retries_is_used() {
    let dir = tempfile::Builder::new()
        .prefix("synapse-late-")
        .tempdir()
        .unwrap();
    let secret = random_secret("late-secret");
    std::fs::write(dir.path().join("shared-secret"), format!("{secret}\n")).unwrap();
    let port = free_port();
    let name = unique_user("late");
    let args = json!({"homeserver_url": format!("http://127.0.0.1:{port}"), "shared_secret": secret,
                      "server_name": "localhost", "username": name, "password": "late-password",
                      "retries": 20, "timeout": 90});
    // Generous bounds: a loaded machine can take many seconds to start Synapse.
    let module = std::thread::spawn(move || run_module("register_user", args));
    std::thread::sleep(Duration::from_millis(300));
    let s = Synapse::start_in(dir, port, &[], &[]);
    let r = module.join().unwrap().ok();
    assert_eq!(r.json["created"], true, "{}", r.stdout);
    assert!(s.user(&format!("@{name}:localhost")).is_some());
}

/// SIGKILL in the middle of a bulk import, then a restart: entries in flight fail or succeed, and
/// a re-run converges with every account there exactly once.
#[test]
fn a_bulk_run_survives_a_crash_and_a_rerun_converges() {
    // Synapse's default bcrypt cost makes each registration take a while, so the crash lands
    // in the middle of the run.
    let s = Synapse::start(&[("SYNAPSE_BCRYPT_ROUNDS", "12")], &[]);
    let users: Vec<Value> = (0..40)
        .map(|i| json!({"username": format!("crash{i:02}"), "password": format!("crash-password-{i}")}))
        .collect();
    let args = json!({"homeserver_url": s.url, "shared_secret": s.shared_secret, "server_name": "localhost",
                      "users": users, "concurrency": 2, "retries": 2, "timeout": 5});
    let first = {
        let args = args.clone();
        std::thread::spawn(move || run_module("register_user", args))
    };
    // Crash once a few accounts exist: mid-run, whatever the machine's speed.
    let deadline = Instant::now() + Duration::from_secs(120);
    while s.admin_get("/_synapse/admin/v2/users?name=crash").1["total"]
        .as_u64()
        .unwrap_or(0)
        < 3
    {
        assert!(Instant::now() < deadline, "the bulk run never got going");
        std::thread::sleep(Duration::from_millis(50));
    }
    s.kill();
    let first = first.join().unwrap();
    s.restart();
    let created_first = first.json["created"].as_u64().unwrap_or(0);
    assert!(
        created_first < 40,
        "the crash interrupted the run: {}",
        first.msg()
    );
    assert!(
        created_first > 0,
        "some accounts were created before the crash"
    );

    let second = run_module("register_user", args).ok();
    assert_eq!(
        second.json["existing"].as_u64().unwrap() + second.json["created"].as_u64().unwrap(),
        40
    );
    let (status, list) = s.admin_get("/_synapse/admin/v2/users?name=crash&limit=100");
    assert_eq!(status, 200, "{list}");
    let mut names: Vec<String> = list["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    let want: Vec<String> = (0..40).map(|i| format!("@crash{i:02}:localhost")).collect();
    assert_eq!(names, want, "every account exactly once");
    for i in [0, 17, 39] {
        assert!(s.can_login(&format!("crash{i:02}"), &format!("crash-password-{i}")));
    }
}

/// While a module waits on a server that never answers, its secrets are nowhere in the process
/// table: Ansible hands them over in a file, and the module never passes them on.
#[test]
fn secrets_stay_out_of_the_process_list() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let secret = random_secret("proc-secret");
    let password = random_secret("proc-password");
    let args = json!({"homeserver_url": format!("http://127.0.0.1:{port}"), "shared_secret": secret,
                      "server_name": "localhost", "username": "alice", "password": password,
                      "retries": 0, "timeout": 3});
    // Generous bounds: a loaded machine can take many seconds to start Synapse.
    let module = std::thread::spawn(move || run_module("register_user", args));
    let mut seen_module = false;
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let text = String::from_utf8_lossy(&cmdline);
            if text.contains("register_user") {
                seen_module = true;
            }
            assert!(
                !text.contains(&secret) && !text.contains(&password),
                "secret in a process's arguments: {text}"
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(seen_module, "the scan saw the module running");
    let r = module.join().unwrap();
    assert!(r.failed());
    assert!(!r.stdout.contains(&secret) && !r.stdout.contains(&password));
    drop(silent);
}

#[test]
fn secrets_stay_out_of_the_servers_logs() {
    let s = Synapse::shared();
    let name = unique_user("logscan");
    let password = random_secret("log-password");
    run_module(
        "register_user",
        json!({"homeserver_url": s.url, "shared_secret": s.shared_secret, "server_name": "localhost",
               "username": name, "password": password, "update_password": "always", "access_token": s.admin_token}),
    )
    .ok();
    run_module("user_admin", json!({"homeserver_url": s.url, "access_token": s.admin_token, "username": name, "admin": true})).ok();
    let log = s.log();
    assert!(log.contains(&name), "the log was read (it names the user)");
    for secret in [&password, &s.shared_secret, &s.admin_token] {
        assert!(
            !log.contains(secret.as_str()),
            "a secret is in Synapse's log"
        );
    }
}

/// Synapse rate-limits profile look-ups (rc_profile: a burst of 500, then one a second, each
/// refusal delayed by half a second). A bulk import past that limit must stop looking up and
/// register directly, not wait out 429 after 429.
#[test]
fn bulk_beyond_the_profile_rate_limit_stops_looking_up() {
    let s = Synapse::start(&[], &[]);
    let users: Vec<Value> = (0..600)
        .map(|i| json!({"username": format!("many{i:03}"), "password": "many-password"}))
        .collect();
    let args = json!({"homeserver_url": s.url, "shared_secret": s.shared_secret, "server_name": "localhost",
                      "users": users, "concurrency": 8});
    let r = run_module("register_user", args.clone()).ok();
    assert_eq!(r.json["created"], 600);
    let r = run_module("register_user", args).ok();
    assert_eq!(
        r.json["existing"], 600,
        "the re-run converges without look-ups"
    );
    assert!(
        r.json["warnings"][0]
            .as_str()
            .is_some_and(|w| w.contains("600 accounts without admin credentials")),
        "a long list without credentials is warned about: {}",
        r.json["warnings"]
    );
    assert_eq!(
        r.json["results"],
        json!([]),
        "nothing changed, nothing listed"
    );
    let limited = s.log().matches("Too Many Requests (rc_profile)").count();
    assert!(limited > 0, "the test must reach the limit");
    assert!(
        limited <= 2 * 8,
        "after the first refusals no look-up is sent: {limited} refusals"
    );
    let (_, list) = s.admin_get("/_synapse/admin/v2/users?name=many&limit=1");
    assert_eq!(list["total"], 600);
}
