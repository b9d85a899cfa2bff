//! Tests of the contract as a whole: arguments in, one JSON object out.

use super::mask::url_credentials;
use super::*;
use serde_json::{json, Value};

static OPTS: &[Opt] = &[
    Opt::str("username"),
    Opt::str("password").no_log(),
    Opt::list("users", Kind::Dict)
        .suboptions(&[Opt::str("username"), Opt::str("password").no_log()]),
];
static SPEC: Spec = Spec::new(&[OPTS]);

fn module(v: Value) -> Result<Module> {
    Module::from_args("test_module", &SPEC, v.as_object().unwrap().clone())
}

#[test]
fn flags_are_read_and_ansible_keys_are_not_options() {
    let m = module(json!({
        "username": "alice", "_ansible_check_mode": true, "_ansible_diff": true,
        "_ansible_no_log": false, "_ansible_verbosity": 3, "_ansible_version": "2.19.14",
        "_ansible_some_future_key": {"x": 1}
    }))
    .unwrap();
    assert!(m.check_mode && m.diff_mode && !m.no_log);
    assert_eq!(m.verbosity, 3);
    assert_eq!(m.params.str("username"), Some("alice"));
}

#[test]
fn invocation_masks_no_log_values_including_nested() {
    let m = module(json!({
        "username": "alice", "password": "hunter2-secret",
        "users": [{"username": "bob", "password": "bobs-secret-pw"}]
    }))
    .unwrap();
    let out = render(Some(&m), Ok(Outcome::changed(true)));
    let args = &out["invocation"]["module_args"];
    assert_eq!(args["password"], NO_LOG_PLACEHOLDER);
    assert_eq!(args["users"][0]["password"], NO_LOG_PLACEHOLDER);
    assert_eq!(args["users"][0]["username"], "bob");
    assert_eq!(args["username"], "alice");
    let text = out.to_string();
    assert!(!text.contains("hunter2-secret") && !text.contains("bobs-secret-pw"));
}

#[test]
fn secrets_are_scrubbed_from_messages_and_fields() {
    let m = module(json!({"username": "alice", "password": "s3cr3t-in-msg"})).unwrap();
    let out = render(
        Some(&m),
        Ok(Outcome::changed(false)
            .msg("server said: bad password s3cr3t-in-msg")
            .with("echo", json!({"deep": ["x s3cr3t-in-msg y"]}))),
    );
    let text = out.to_string();
    assert!(!text.contains("s3cr3t-in-msg"), "{text}");
    assert!(text.contains("bad password ********"), "{text}");
}

#[test]
fn validation_errors_cannot_echo_secrets() {
    let e = module(json!({"username": "a", "password": "leak-me-not-123", "pasword": "x"}))
        .unwrap_err();
    let out = render(None, Err(e));
    assert_eq!(out["failed"], true);
    assert!(out["msg"].as_str().unwrap().contains("pasword"));
    assert!(!out.to_string().contains("leak-me-not-123"));
}

#[test]
fn long_lists_are_summarised_in_invocation() {
    let users: Vec<Value> = (0..51)
        .map(|i| json!({"username": format!("u{i}"), "password": format!("secret-{i}-pw")}))
        .collect();
    let m = module(json!({"users": users})).unwrap();
    let out = render(Some(&m), Ok(Outcome::changed(false)));
    assert_eq!(
        out["invocation"]["module_args"]["users"],
        "(51 entries, not echoed)"
    );
    let m = module(json!({"users": users[..50]})).unwrap();
    let out = render(Some(&m), Ok(Outcome::changed(false)));
    assert_eq!(
        out["invocation"]["module_args"]["users"][49]["username"],
        "u49"
    );
}

#[test]
fn task_no_log_drops_invocation() {
    let m = module(json!({"username": "alice", "_ansible_no_log": true})).unwrap();
    let out = render(Some(&m), Ok(Outcome::changed(false)));
    assert!(out.get("invocation").is_none());
}

#[test]
fn diff_only_in_diff_mode_and_warnings_shown() {
    let d = Diff {
        before: json!({"exists": false}),
        after: json!({"exists": true}),
        before_header: Some("@a:b".into()),
        after_header: None,
    };
    let mut m = module(json!({"username": "a"})).unwrap();
    m.warn("careful");
    m.warn("careful");
    let out = render(Some(&m), Ok(Outcome::changed(true).diff(d.clone())));
    assert!(out.get("diff").is_none());
    assert_eq!(out["warnings"], json!(["careful"]));
    let mut m = module(json!({"username": "a", "_ansible_diff": true})).unwrap();
    m.warn("x");
    let out = render(Some(&m), Ok(Outcome::changed(true).diff(d)));
    assert_eq!(out["diff"]["after"]["exists"], true);
    assert_eq!(out["diff"]["before_header"], "@a:b");
}

#[test]
fn failures_set_failed() {
    let m = module(json!({"username": "a"})).unwrap();
    let out = render(Some(&m), Err(Error::new("boom")));
    assert_eq!(out["failed"], true);
    assert_eq!(out["changed"], false);
    assert_eq!(out["msg"], "boom");
    let out = render(Some(&m), Ok(Outcome::changed(true).failed("2 of 3 failed")));
    assert_eq!(out["failed"], true);
    assert_eq!(out["changed"], true);
}

#[test]
fn flags_are_ansible_booleans_and_fail_safe() {
    for (v, want) in [
        (json!(true), Some(true)),
        (json!("yes"), Some(true)),
        (json!("True"), Some(true)),
        (json!(" on "), Some(true)),
        (json!(1), Some(true)),
        (json!(1.0), Some(true)),
        (json!("t"), Some(true)),
        (json!("no"), Some(false)),
        (json!("FALSE"), Some(false)),
        (json!(0), Some(false)),
        (json!("f"), Some(false)),
        (json!("maybe"), None),
        (json!(""), None),
        (json!(2), None),
        (json!("1.0"), None),
        (json!([true]), None),
        (json!({}), None),
    ] {
        assert_eq!(ansible_boolean(&v), want, "{v}");
    }
    let m =
        module(json!({"username": "a", "_ansible_check_mode": "yes", "_ansible_no_log": "True"}))
            .unwrap();
    assert!(m.check_mode && m.no_log);
    let e = module(json!({"username": "a", "_ansible_check_mode": "perhaps"})).unwrap_err();
    assert!(
        e.0.contains("_ansible_check_mode") && e.0.contains("nothing was done"),
        "{e}"
    );
}

#[test]
fn url_credentials_are_masked_even_in_urls_that_do_not_parse() {
    for (url, secret) in [
        ("http://u:pw-one@host:8008/x", "pw-one"),
        ("https://u:pw two@[::1/", "pw two"),
        ("http://token-only@host", "token-only"),
        ("see http://u:p%40ss@h and more", "p%40ss"),
    ] {
        let masked = mask_url_credentials(url);
        assert!(!masked.contains(secret), "{url} -> {masked}");
        assert!(masked.contains("********@"), "{masked}");
    }
    assert_eq!(mask_url_credentials("http://host/a@b"), "http://host/a@b");
    // A database URL's user is a role name: only a password is masked.
    assert_eq!(
        mask_url_credentials("postgresql://synapse@127.0.0.1:5432/synapse"),
        "postgresql://synapse@127.0.0.1:5432/synapse"
    );
    assert_eq!(
        mask_url_credentials("postgres://synapse:db-pw-1@h/synapse"),
        "postgres://synapse:********@h/synapse"
    );
    assert!(url_credentials("postgresql://synapse@h/db").is_empty());
    assert_eq!(
        url_credentials("postgresql://synapse:db-pw-1@h/db"),
        ["db-pw-1"]
    );
    assert_eq!(
        mask_url_credentials("alice@example.org"),
        "alice@example.org"
    );
    let m = module(json!({"username": "http://bob:urlpw-123@host"})).unwrap();
    let out = render(Some(&m), Ok(Outcome::changed(false).msg("x")));
    assert!(!out.to_string().contains("urlpw-123"), "{out}");
}

#[test]
fn messages_are_escaped_and_secrets_scrubbed_in_every_form() {
    let m = module(json!({"username": "a", "password": "p\"w\u{e4}-secret"})).unwrap();
    let out = render(
        Some(&m),
        Ok(Outcome::changed(false).msg(
            "a\u{202e}b\nc: p\\\"w\\u00e4-secret or p\\\"w\u{e4}-secret or p&quot;w\u{e4}-secret",
        )),
    );
    let msg = out["msg"].as_str().unwrap();
    assert!(!msg.contains('\u{202e}') && !msg.contains('\n'), "{msg}");
    assert!(msg.contains("\\u{202e}") && msg.contains("\\n"), "{msg}");
    assert!(!msg.contains("-secret"), "{msg}");
    // A secret cut at the end of an excerpt.
    register_secret("cut-secret-0123456789");
    assert_eq!(
        scrub_text("page ends with cut-secret-01"),
        "page ends with ********"
    );
    assert_eq!(scrub_text("harmless cut"), "harmless cut");
}

#[test]
fn args_files_are_bounded_and_never_block() {
    let e = read_args(Some("/dev/zero")).unwrap_err();
    assert!(e.0.contains("not a regular file"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big");
    let f = std::fs::File::create(&p).unwrap();
    f.set_len(MAX_ARGS_FILE + 1).unwrap();
    let e = read_args(p.to_str()).unwrap_err();
    assert!(e.0.contains("bytes allowed"), "{e}");
}

#[test]
fn args_file_errors_are_clear() {
    let e = read_args(None).unwrap_err();
    assert!(e.0.contains("no arguments file"));
    let e = read_args(Some("/nonexistent/args")).unwrap_err();
    assert!(e
        .0
        .contains("cannot read the arguments file /nonexistent/args"));
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("args");
    std::fs::write(&p, "not json").unwrap();
    let e = read_args(p.to_str()).unwrap_err();
    assert!(e.0.contains("is not valid JSON"), "{e}");
    std::fs::write(&p, "[1,2]").unwrap();
    let e = read_args(p.to_str()).unwrap_err();
    assert!(e.0.contains("must hold a JSON object"), "{e}");
    std::fs::write(&p, r#"{"a": 1}"#).unwrap();
    assert_eq!(read_args(p.to_str()).unwrap()["a"], 1);
}
