//! The operators' command lines on tuwunel, from a checkout against an inventory shaped like a
//! matrix-docker-ansible-deploy (MDAD) one with `matrix_homeserver_implementation: tuwunel`. The
//! tuwunel here is **the FAKE** (tests/servers/fake_tuwunel.py; no registry these machines reach
//! ships tuwunel, docs/tuwunel.md traces its behaviour to tuwunel 1.9.0's source): these tests
//! show that the role finds what an MDAD operator sets for tuwunel and picks backend tuwunel for
//! every tag. The shared secret comes from the line MDAD's tuwunel docs give for extending its
//! environment (`matrix_tuwunel_environment_variables_extension`, TUWUNEL_REGISTRATION_SHARED_SECRET),
//! the URL from the `--publish` in `matrix_tuwunel_container_extra_arguments` (MDAD publishes no
//! port for tuwunel). State is read back from the FAKE's admin API and logins.

use crate::common::fakes::{FakeServer, Flavor};
use crate::common::operator::*;
use crate::common::*;
use serde_json::{json, Value};

fn fake_tuwunel() -> (FakeServer, String) {
    let admin_pw = random_secret("admin-pw");
    let seed = json!({"users": [{"username": "admin", "password": admin_pw, "admin": true}]});
    let s = FakeServer::start(Flavor::Tuwunel, &[], Some(&seed));
    let token = s.login("admin", &admin_pw).body["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    (s, token)
}

fn vars_yml(s: &FakeServer, secret_line: bool, extra: &str) -> String {
    let port = s.url.rsplit(':').next().unwrap();
    let env = if secret_line {
        format!(
            "matrix_tuwunel_environment_variables_extension: |\n  TUWUNEL_LOG=info\n  TUWUNEL_REGISTRATION_SHARED_SECRET={}\n",
            s.file("registration-shared-secret")
        )
    } else {
        String::new()
    };
    format!(
        "---\nmatrix_domain: localhost\nmatrix_homeserver_implementation: tuwunel\n\
         matrix_homeserver_generic_secret_key: '{}'\n\
         matrix_playbook_reverse_proxy_type: playbook-managed-traefik\n\
         matrix_tuwunel_container_extra_arguments: ['--publish=127.0.0.1:{port}:6167']\n{env}{extra}",
        random_secret("generic-key")
    )
}

fn record(s: &FakeServer, token: &str, user: &str) -> Option<Value> {
    let a = s.call(
        "GET",
        &format!("/_synapse/admin/v2/users/@{user}:localhost"),
        Some(token),
        None,
    );
    (a.status == 200).then_some(a.body)
}

fn changed(out: &str) -> bool {
    recap(out).contains("changed=1")
}

#[test]
fn fake_tuwunel_every_tag_from_an_mdad_inventory() {
    let (s, token) = fake_tuwunel();
    let c = Checkout::new();
    c.link_mdad_inventory(&vars_yml(
        &s,
        true,
        &format!("matrix_user_management_access_token: '{token}'\n"),
    ));
    let pw = random_secret("John-pw");
    let (code, out) = c.just(&["register-user", "john", &pw, "yes"]);
    assert_eq!(code, 0, "{out}");
    assert!(changed(&out), "{out}");
    assert_eq!(
        record(&s, &token, "john").expect("john exists")["admin"],
        true
    );
    assert_eq!(s.login("john", &pw).status, 200);
    assert!(!out.contains(&pw) && !out.contains(&token));
    let (code, out) = c.just(&["register-user", "john", &pw, "yes"]);
    assert!(code == 0 && recap(&out).contains("changed=0"), "{out}");

    let (code, out) = c.ansible_playbook(&[
        "-i",
        "inventory/hosts",
        "setup.yml",
        "--tags=update-user-admin",
        "--extra-vars=username=john admin=no",
    ]);
    assert!(code == 0 && changed(&out), "{out}");
    assert_eq!(record(&s, &token, "john").unwrap()["admin"], false);

    let (code, out) = c.just(&["lock-user", "john"]);
    assert!(code == 0 && changed(&out), "{out}");
    assert_eq!(record(&s, &token, "john").unwrap()["locked"], true);
    assert_eq!(s.login("john", &pw).errcode(), "M_USER_LOCKED");

    let (code, out) = c.just(&["generate-matrix-registration-token", "yes", "2031-12-31"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = c.just(&["list-matrix-registration-tokens"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0/1"), "the one-time token is listed: {out}");
}

#[test]
fn fake_tuwunel_without_a_shared_secret_names_the_line_to_add() {
    let (s, _) = fake_tuwunel();
    let c = Checkout::new();
    c.link_mdad_inventory(&vars_yml(&s, false, ""));
    let (code, out) = c.just(&["register-user", "john", "some-password-1", "no"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("matrix_tuwunel_environment_variables_extension")
            && out.contains("TUWUNEL_REGISTRATION_SHARED_SECRET"),
        "{out}"
    );
    assert_eq!(out.matches("fatal:").count(), 1, "{out}");
    assert!(
        !s.log().contains("/_synapse/admin/v1/register"),
        "a request was sent"
    );
}
