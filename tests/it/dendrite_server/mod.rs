//! What a real Dendrite does, pinned down for the Dendrite backends: shared-secret registration,
//! the admin APIs (password reset, registration tokens), profiles, sessions, and the admin flag
//! in `userapi_accounts.account_type`. Every check runs against Dendrite on SQLite and on
//! PostgreSQL (module `sqlite::` and `postgres::`), and reads server state back from the
//! database, not only from answers. docs/dendrite.md lists the facts.

mod accounts;
mod registration;
mod tokens;

use crate::common::dendrite::{on_both_databases, Dendrite};
use crate::common::postgres::Postgres;
use crate::common::unique_user;
use serde_json::{json, Value};
use tokens::TOKENS;

on_both_databases!(
    registration::shared_secret_registration_answer_and_account_type,
    registration::nonce_stays_valid_after_use,
    registration::unknown_nonce_is_a_500_without_errcode,
    registration::wrong_secret_is_403_bad_mac,
    registration::user_type_is_not_in_the_mac_and_is_ignored,
    registration::password_length_limits,
    registration::existing_and_invalid_names,
    accounts::inhibit_login_is_ignored_and_logout_removes_the_device,
    accounts::registration_device_can_be_deleted_with_password_uia,
    accounts::reset_password_keeps_sessions_unless_asked,
    accounts::reset_password_errors,
    accounts::profile_lookups,
    accounts::displayname_and_availability,
    accounts::whoami_login_logout,
    tokens::registration_token_create_get_delete,
    tokens::registration_token_update,
    tokens::registration_token_errors,
    tokens::registration_token_list_valid_filter,
    tokens::registration_tokens_cannot_be_used_to_register,
    accounts::admin_flag_by_sql_takes_effect_at_once,
    accounts::synapse_user_admin_api_is_absent,
    accounts::schema_of_the_tables_the_backends_use,
);

fn user_exists(d: &Dendrite, localpart: &str) -> bool {
    d.account_type(localpart).is_some()
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

/// Sessions and the admin flag survive a restart (one server per database: it restarts).
fn restart_keeps_sessions_and_the_admin_flag(d: &mut Dendrite) {
    let user = unique_user("restart");
    assert_eq!(d.register(&user, "password-1", false).0, 200);
    let token = d.token(&user, "password-1");
    d.set_account_type(&user, 3);
    d.restart();
    assert_eq!(d.request("GET", TOKENS, Some(&token), None).0, 200);
    d.set_account_type(&user, 1);
    assert_eq!(d.request("GET", TOKENS, Some(&token), None).0, 403);
    assert!(d.can_login(&user, "password-1"));
}

#[test]
fn restart_keeps_sessions_and_the_admin_flag_sqlite() {
    restart_keeps_sessions_and_the_admin_flag(&mut Dendrite::start(None, &[]));
}

#[test]
fn restart_keeps_sessions_and_the_admin_flag_postgres() {
    let pg = Postgres::start();
    let db = pg.create_database("dendrite", "dendrite");
    restart_keeps_sessions_and_the_admin_flag(&mut Dendrite::start(Some(&db), &[]));
}

/// Without client_api.registration_requires_token, the token admin API refuses to create.
#[test]
fn token_admin_api_needs_registration_requires_token() {
    let d = Dendrite::start(None, &[("DENDRITE_NO_TOKENS", "1")]);
    let (s, v) = d.admin(
        "POST",
        &format!("{TOKENS}/new"),
        Some(json!({"token": "t1"})),
    );
    assert_eq!(s, 403);
    assert_eq!(
        v,
        json!({"errcode": "M_FORBIDDEN", "error": "Registration via tokens is not enabled on this homeserver"})
    );
    assert!(d.token_row("t1").is_none());
    // Listing does not look at that setting; an empty list is null, not [].
    let (s, v) = d.admin("GET", TOKENS, None);
    assert_eq!((s, &v), (200, &json!({"registration_tokens": null})));
    assert_eq!(
        d.admin("GET", &format!("{TOKENS}?valid=true"), None).1,
        json!({"registration_tokens": null})
    );
}

/// With registration open (and no captcha), the flows offered have no token stage, and a token
/// auth is "unimplemented".
#[test]
fn open_registration_offers_no_token_stage() {
    let d = Dendrite::start(None, &[("DENDRITE_OPEN_REGISTRATION", "1")]);
    let (s, _) = d.admin(
        "POST",
        &format!("{TOKENS}/new"),
        Some(json!({"token": "open_tok", "uses_allowed": 2})),
    );
    assert_eq!(s, 200);
    let user = unique_user("open");
    let (s, v) = d.request(
        "POST",
        "/_matrix/client/v3/register",
        None,
        Some(json!({"username": user, "password": "password-1"})),
    );
    assert_eq!(s, 401, "{v}");
    assert_eq!(v["flows"], json!([{"stages": ["m.login.dummy"]}]), "{v}");
    let session = v["session"].as_str().unwrap();
    let (s, v) = d.request(
        "POST",
        "/_matrix/client/v3/register",
        None,
        Some(json!({"username": user, "password": "password-1",
                    "auth": {"type": "m.login.registration_token", "token": "open_tok",
                             "session": session}})),
    );
    assert_eq!(s, 501, "{v}");
    assert_eq!(
        v,
        json!({"errcode": "M_UNKNOWN", "error": "unknown/unimplemented auth type"})
    );
    assert!(!user_exists(&d, &user));
    assert_eq!(d.token_row("open_tok"), Some("open_tok|2|0|0|".into()));
}

/// With Dendrite's default rate limits (5 requests, 500 ms cool-off, per caller), profile
/// look-ups are not limited at all: the handler never consults the limiter.
#[test]
fn profile_lookups_are_not_rate_limited() {
    let d = Dendrite::start(None, &[("DENDRITE_RATE_LIMITING", "default")]);
    assert!(d.dir.path().join("dendrite.yaml").exists());
    let cfg = std::fs::read_to_string(d.dir.path().join("dendrite.yaml")).unwrap();
    assert!(cfg.contains("threshold: 5"), "default limits in force");
    let user = unique_user("rl");
    assert_eq!(d.register(&user, "password-1", false).0, 200);
    let http = reqwest::blocking::Client::new(); // one connection: one caller
    for i in 0..40 {
        let r = http
            .get(format!(
                "{}/_matrix/client/v3/profile/{}",
                d.url,
                d.user_id(&user)
            ))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "look-up {i}");
    }
}

/// The config the script wrote: no federation, no key servers, no identity servers, no
/// phone-home, registration only by shared secret; and the running process has sockets on
/// 127.0.0.1 only.
#[test]
fn config_and_sockets_stay_on_localhost() {
    let d = Dendrite::shared_sqlite();
    let cfg: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(d.dir.path().join("dendrite.yaml")).unwrap())
            .unwrap();
    let g = &cfg["global"];
    assert_eq!(g["server_name"].as_str(), Some("localhost"));
    assert_eq!(g["disable_federation"].as_bool(), Some(true));
    assert_eq!(g["report_stats"]["enabled"].as_bool(), Some(false));
    assert_eq!(
        g["trusted_third_party_id_servers"]
            .as_sequence()
            .map(|s| s.len()),
        Some(0)
    );
    assert_eq!(
        cfg["federation_api"]["key_perspectives"]
            .as_sequence()
            .map(|s| s.len()),
        Some(0)
    );
    let c = &cfg["client_api"];
    assert_eq!(c["registration_disabled"].as_bool(), Some(true));
    assert_eq!(c["registration_requires_token"].as_bool(), Some(true));
    assert_eq!(c["guests_disabled"].as_bool(), Some(true));
    assert_eq!(c["rate_limiting"]["enabled"].as_bool(), Some(false));
    assert_eq!(
        c["registration_shared_secret"].as_str(),
        Some(d.shared_secret.as_str())
    );

    // Every TCP socket of the process (listening or connected) is on 127.0.0.1.
    let pid = std::fs::read_to_string(d.dir.path().join("dendrite.pid")).unwrap();
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{}/fd", pid.trim()))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            l.strip_prefix("socket:[")
                .and_then(|r| r.strip_suffix(']'))
                .map(String::from)
        })
        .collect();
    let mut seen = 0;
    for table in [
        "/proc/net/tcp",
        "/proc/net/tcp6",
        "/proc/net/udp",
        "/proc/net/udp6",
    ] {
        for line in std::fs::read_to_string(table).unwrap().lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if !inodes.iter().any(|i| i == f[9]) {
                continue;
            }
            seen += 1;
            for addr in [f[1], f[2]] {
                let host = addr.split(':').next().unwrap();
                assert!(
                    host == "0100007F" || host == "00000000" && addr == f[2],
                    "{table}: a socket of Dendrite on {addr} (not 127.0.0.1)"
                );
            }
        }
    }
    assert!(seen >= 1, "the listener was found");
}

/// Dendrite's own create-account tool (through `dendrite.sh admin`, password on stdin) makes an
/// admin over HTTP with the shared secret and hands back a working token.
#[test]
fn create_account_tool_makes_an_admin() {
    use std::io::Write;
    let d = Dendrite::shared_sqlite();
    let user = unique_user("tooladmin");
    let mut child =
        std::process::Command::new(crate::common::repo().join("tests/servers/dendrite.sh"))
            .arg("admin")
            .arg(d.dir.path())
            .arg(&user)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"tool-password-1\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(!token.is_empty());
    assert_eq!(d.account_type(&user), Some(3));
    assert_eq!(d.request("GET", TOKENS, Some(&token), None).0, 200);
    assert!(d.can_login(&user, "tool-password-1"));
    assert_eq!(d.device_ids(&user), ["shared_secret_registration"]);
}
