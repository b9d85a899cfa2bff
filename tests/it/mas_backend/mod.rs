//! Backend `mas` of every module, against the FAKE Matrix Authentication Service
//! (`tests/servers/fake_mas.py`, see docs/mas-fake.md): no registry carries MAS, so these tests run
//! against a stand-in that answers as a real MAS 1.22 did in the recorded exchanges
//! (tests/data/mas/transcripts.jsonl, kept honest by tests/it/mas_fake_conformance/). Every test
//! checks MAS's state through the fake's admin API (users, e-mails, tokens, password logins), not
//! only what the module said.

mod register_user;
mod tokens;
mod user_admin;
mod user_info;

use crate::common::fake_mas::FakeMas;
use crate::common::{run_module_with, Run};
use serde_json::{json, Value};

pub(crate) const STRONG: &str = "Plum-Orbit-Lantern-42-Quietly";
pub(crate) const STRONG2: &str = "Velvet-Harbor-Cactus-77-Softly";

/// The MAS options of a module: URL and the admin client's credentials (the secret in a file).
pub(crate) fn mas_args(mas: &FakeMas, extra: Value) -> Value {
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

pub(crate) fn check_mode() -> [(&'static str, Value); 2] {
    [
        ("_ansible_check_mode", json!(true)),
        ("_ansible_diff", json!(true)),
    ]
}

/// Lines of the fake's request log with this method and path prefix.
pub(crate) fn logged(mas: &FakeMas, method: &str, path: &str) -> usize {
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

/// The lifecycle actions whose log lines (of the FAKE) also show what was sent: the request's
/// content type and body (` ctype=<type or -> body=<JSON or ->`), part of their shape.
const BODY_SHOWN: &[&str] = &["/lock", "/unlock", "/deactivate", "/reactivate"];

/// A recorded lifecycle request's body, as the fake logs it.
fn logged_body(request: &Value) -> String {
    let ctype = request["headers"]["Content-Type"].as_str().unwrap_or("-");
    let body = match &request["body"] {
        Value::Null => "-".to_string(),
        b => serde_json::to_string(b).unwrap(),
    };
    format!("ctype={ctype} body={body}")
}

/// The shape of a line of the fake's log: method, path and query keys, and for the lifecycle
/// actions the content type and body sent.
fn logged_shape(line: &str) -> String {
    let f: Vec<&str> = line.split_whitespace().collect();
    let sh = shape(f[1], f[2]);
    if f.len() > 4 {
        format!("{sh} {}", f[4..].join(" "))
    } else {
        sh
    }
}

/// The shapes of the requests a real MAS answered in the recording (its own, not Synapse's);
/// for the lifecycle actions with the content type and body sent.
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
            let path = x["request"]["path"].as_str().unwrap();
            let sh = shape(x["request"]["method"].as_str().unwrap(), path);
            if BODY_SHOWN.iter().any(|a| path.ends_with(a)) {
                format!("{sh} {}", logged_body(&x["request"]))
            } else {
                sh
            }
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

pub(crate) fn run_with(mas: &FakeMas, module: &str, args: Value, flags: &[(&str, Value)]) -> Run {
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
        let sh = logged_shape(line);
        assert!(
            recorded.contains(&sh),
            "{module} sent {sh}, a request the recording does not show ({line})"
        );
    }
    r
}

/// A module run against `mas` with its MAS options and `extra` (checked as `run_with` does).
pub(crate) fn task(mas: &FakeMas, module: &str, extra: Value) -> Run {
    run(mas, module, mas_args(mas, extra))
}

/// The same in check mode, with diff.
pub(crate) fn check(mas: &FakeMas, module: &str, extra: Value) -> Run {
    run_with(mas, module, mas_args(mas, extra), &check_mode())
}

pub(crate) fn no_secret_in(run: &Run, secrets: &[&str]) {
    for s in secrets {
        assert!(
            !run.stdout.contains(s) && !run.stderr.contains(s),
            "a secret leaked into the output: {}",
            run.stdout
        );
    }
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
    // The lifecycle actions: their bodies are part of the shape, as the fake logs them.
    let t = "2026-12-03T21:00:00.000000Z";
    let u = "/api/admin/v1/users/01M83PX7NDQB6KXCB3W5STR3DY";
    for line in [
        format!("{t} POST {u}/lock 200 ctype=- body=-"),
        format!("{t} POST {u}/deactivate 200 ctype=- body=-"),
        format!("{t} POST {u}/deactivate 200 ctype=application/json body={{\"skip_erase\":true}}"),
        format!("{t} POST {u}/reactivate 200 ctype=- body=-"),
    ] {
        assert!(recorded.contains(&logged_shape(&line)), "{line}");
    }
    for line in [
        format!("{t} POST {u}/lock 200"),
        format!("{t} POST {u}/lock 200 ctype=application/json body={{}}"),
        format!("{t} POST {u}/deactivate 200 ctype=application/json body=-"),
        format!("{t} POST {u}/deactivate 200 ctype=application/json body={{\"erase\":true}}"),
        format!("{t} POST {u}/reactivate 200 ctype=application/json body=<20 bytes>"),
    ] {
        assert!(!recorded.contains(&logged_shape(&line)), "{line}");
    }
}
