//! The registration link works for the person it is sent to: the generate-matrix-registration-token
//! tag prints a link; a real headless Chromium (Debian's, driven by Selenium) opens it, and the
//! form is filled in as a person would. Then the account must exist on Synapse, log in with the
//! password typed into the page, and the token must be used up. Both matrix-registration
//! generations: 0.7 (what matrix-docker-ansible-deploy deployed) and 0.9. The browser reaches
//! 127.0.0.1 only.

use crate::common::operator::*;
use crate::common::*;
use std::io::Write;
use std::process::{Command, Stdio};

fn browser_registers(url: &str, username: &str, password: &str) -> serde_json::Value {
    let status = Command::new(repo().join("tests/servers/venvs.sh"))
        .arg("browser")
        .status()
        .unwrap();
    assert!(status.success(), "tests/servers/venvs.sh browser");
    let mut child = Command::new(cache_dir().join("venv-browser/bin/python"))
        .arg(repo().join("tests/browser/register.py"))
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The link, name and password go on stdin, not on a command line.
    let screenshot = std::env::var("BROWSER_SCREENSHOT").unwrap_or_default();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            serde_json::json!({"url": url, "username": username, "password": password,
                                "screenshot": screenshot})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "register.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn register_through_the_printed_link(version: &'static str) {
    let s = Synapse::shared();
    let m = Mreg::start(version, s);
    let c = Checkout::new();
    c.link_mdad_inventory(&mdad_vars_yml(
        &random_secret("generic-key"),
        &format!(
            "matrix_registration_enabled: true\nmatrix_registration_admin_secret: '{}'\n\
             matrix_user_management_registration_api_url: '{}'\n",
            m.admin_secret, m.url
        ),
    ));

    let (code, out) = c.just(&["generate-matrix-registration-token", "yes", "2031-12-31"]);
    assert_eq!(code, 0, "{out}");
    let prefix = format!("{}/register?token=", m.url);
    let link: String = out
        .split(&prefix)
        .nth(1)
        .map(|rest| {
            let token: String = rest.chars().take_while(|c| c.is_alphanumeric()).collect();
            format!("{prefix}{token}")
        })
        .unwrap_or_else(|| panic!("the tag prints the link: {out}"));
    let token = link.rsplit('=').next().unwrap().to_string();

    let name = unique_user("browser");
    let password = random_secret("typed-in-the-page");
    let page = browser_registers(&link, &name, &password);

    assert_eq!(
        page["token_field"],
        token.as_str(),
        "the page took the token from the link: {page}"
    );
    assert!(page["error"].is_null(), "the page showed an error: {page}");
    let user_id = format!("@{name}:localhost");
    assert!(
        page["welcome"].as_str().unwrap_or("").contains(&user_id),
        "the page welcomes the new account: {page}"
    );
    let hosts: Vec<&str> = page["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h.as_str())
        .collect();
    assert!(
        hosts.iter().any(|h| h.starts_with("127.0.0.1:")),
        "the page was loaded: {page}"
    );
    // Host names (the pages' CDN links) resolve to nothing; an IP address would not be stopped
    // by the resolver rule, so none but 127.0.0.1 may appear.
    for h in &hosts {
        let host = h.rsplit_once(':').map_or(*h, |(host, _)| host);
        assert!(
            host == "127.0.0.1" || host.parse::<std::net::IpAddr>().is_err(),
            "the page asked for {h}: {page}"
        );
    }

    // Server state: the account exists and logs in with what was typed; the token is used up.
    assert!(s.user(&user_id).is_some(), "{user_id} exists on Synapse");
    assert!(s.can_login(&name, &password));
    let t = m.token(&token);
    assert_eq!(t["used"], 1, "{t}");
    let still_valid = if version == "0.9" {
        &t["active"]
    } else {
        &t["valid"]
    };
    assert_eq!(still_valid, false, "a one-time token is used up: {t}");

    // The link does not work a second time.
    let again = browser_registers(&link, &unique_user("second"), &random_secret("pw"));
    assert!(
        again["welcome"].is_null() && !again["error"].is_null(),
        "{again}"
    );
}

#[test]
fn a_person_registers_through_the_link_on_matrix_registration_0_7() {
    register_through_the_printed_link("0.7");
}

#[test]
fn a_person_registers_through_the_link_on_matrix_registration_0_9() {
    register_through_the_printed_link("0.9");
}
