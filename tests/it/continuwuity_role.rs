//! The operators' command lines on continuwuity, from a checkout against an inventory shaped like
//! a matrix-docker-ansible-deploy (MDAD) one with `matrix_homeserver_implementation:
//! continuwuity`. continuwuity here is **the FAKE** (tests/servers/fake_continuwuity.py; no
//! registry ships continuwuity; docs/continuwuity.md traces it to v26.7.3's source). The role
//! registers with the registration token MDAD's continuwuity docs ask for
//! (`matrix_continuwuity_config_registration_token`, with `allow_registration: true`), reaches the
//! client API through the `--publish` of `matrix_continuwuity_container_extra_arguments`, and
//! every tag continuwuity cannot serve fails naming the admin-room command. State is read back
//! from the FAKE (name availability, logins).

use crate::common::fakes::{FakeServer, Flavor};
use crate::common::operator::*;
use crate::common::*;
use serde_json::json;

fn fake() -> (FakeServer, String) {
    let admin_pw = random_secret("admin-pw");
    let seed = json!({"users": [{"username": "admin", "password": admin_pw, "admin": true}]});
    let s = FakeServer::start(
        Flavor::Continuwuity,
        &[("FAKE_CONTINUWUITY_LOCK_FIXED", "1")],
        Some(&seed),
    );
    let token = s.login("admin", &admin_pw).body["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    (s, token)
}

fn vars_yml(s: &FakeServer, with_token: bool, extra: &str) -> String {
    let port = s.url.rsplit(':').next().unwrap();
    let token = if with_token {
        format!(
            "matrix_continuwuity_config_allow_registration: true\n\
             matrix_continuwuity_config_registration_token: '{}'\n",
            s.file("registration-token")
        )
    } else {
        String::new()
    };
    format!(
        "---\nmatrix_domain: localhost\nmatrix_homeserver_implementation: continuwuity\n\
         matrix_homeserver_generic_secret_key: '{}'\n\
         matrix_playbook_reverse_proxy_type: playbook-managed-traefik\n\
         matrix_continuwuity_container_extra_arguments: ['--publish=127.0.0.1:{port}:6167']\n{token}{extra}",
        random_secret("generic-key")
    )
}

fn registered(s: &FakeServer, user: &str) -> bool {
    let a = s.call(
        "GET",
        &format!("/_matrix/client/v3/register/available?username={user}"),
        None,
        None,
    );
    a.status == 400 && a.errcode() == "M_USER_IN_USE"
}

#[test]
fn fake_continuwuity_tags_from_an_mdad_inventory() {
    let (s, token) = fake();
    let c = Checkout::new();
    c.link_mdad_inventory(&vars_yml(
        &s,
        true,
        &format!("matrix_user_management_access_token: '{token}'\n"),
    ));
    let reg_token = s.file("registration-token");
    let pw = random_secret("John-pw");
    let (code, out) = c.just(&["register-user", "john", &pw, "no"]);
    assert_eq!(code, 0, "{out}");
    assert!(recap(&out).contains("changed=1"), "{out}");
    assert!(registered(&s, "john"));
    assert_eq!(s.login("john", &pw).status, 200);
    assert!(!out.contains(&pw) && !out.contains(&reg_token) && !out.contains(&token));
    let (code, out) = c.just(&["register-user", "john", &pw, "no"]);
    assert!(code == 0 && recap(&out).contains("changed=0"), "{out}");

    let (code, out) = c.just(&["lock-user", "john"]);
    assert!(code == 0 && recap(&out).contains("changed=1"), "{out}");
    assert_eq!(s.login("john", &pw).errcode(), "M_USER_LOCKED");

    for (args, command) in [
        (
            vec!["update-user-admin", "john", "yes"],
            "!admin users make-user-admin",
        ),
        (vec!["list-matrix-registration-tokens"], "!admin token list"),
        (vec!["deactivate-user", "john"], "!admin users deactivate"),
        (vec!["list-users"], "!admin users list-users"),
    ] {
        let (code, out) = c.just(&args);
        assert_ne!(code, 0, "{args:?}: {out}");
        assert!(out.contains(command), "{args:?} names {command}: {out}");
        assert_eq!(out.matches("fatal:").count(), 1, "{args:?}: {out}");
    }
    assert_eq!(
        s.login("admin", "wrong").status,
        403,
        "the FAKE still answers"
    );
}

#[test]
fn fake_continuwuity_without_a_registration_token_names_the_lines_to_add() {
    let (s, _) = fake();
    let c = Checkout::new();
    c.link_mdad_inventory(&vars_yml(&s, false, ""));
    let (code, out) = c.just(&["register-user", "john", "some-password-1", "no"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("matrix_continuwuity_config_allow_registration: true")
            && out.contains("matrix_continuwuity_config_registration_token"),
        "{out}"
    );
    assert!(!registered(&s, "john"));
    assert!(
        !s.log().contains("POST /_matrix/client/v3/register"),
        "a request was sent"
    );
}
