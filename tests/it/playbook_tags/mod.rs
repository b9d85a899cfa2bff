//! The playbook tags, run with a real ansible-playbook against a real Synapse, the way operators
//! run them: `playbooks/setup.yml --tags=register-user --extra-vars='username=.. password=.. admin=yes'`.

mod ansible;
mod lifecycle;

use crate::common::library::module_names;
use crate::common::*;
use ansible::{recap_has, secret_file_line, Ansible};
use std::process::Command;

#[test]
fn register_user_tag_creates_once_then_is_ok() {
    let s = Synapse::shared();
    let a = Ansible::new(s, &secret_file_line(&s.secret_file()));
    let name = unique_user("john");
    let pw = random_secret("john-pw");
    let extra = a.extra_vars(&[("username", &name), ("password", &pw), ("admin", "yes")]);

    let (code, out) = a.playbook(&["--tags=register-user", "--extra-vars", &extra]);
    assert_eq!(code, 0, "{out}");
    assert!(recap_has(&out, "changed=1"), "{out}");
    let u = s.user(&format!("@{name}:localhost")).expect("john exists");
    assert_eq!(
        u["admin"], true,
        "admin=yes arrives as a string and is coerced"
    );
    assert!(s.can_login(&name, &pw));

    let (code, out) = a.playbook(&["--tags=register-user", "--extra-vars", &extra]);
    assert_eq!(code, 0, "{out}");
    assert!(
        recap_has(&out, "changed=0"),
        "second run must be ok, not changed: {out}"
    );
    assert!(!out.contains(&pw));
}

#[test]
fn check_mode_creates_nobody() {
    let s = Synapse::shared();
    let a = Ansible::new(s, &secret_file_line(&s.secret_file()));
    let name = unique_user("checkonly");
    let extra = a.extra_vars(&[("username", &name), ("password", "check-pw-123")]);
    let (code, out) = a.playbook(&[
        "--tags=register-user",
        "--check",
        "--diff",
        "--extra-vars",
        &extra,
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        recap_has(&out, "changed=1"),
        "check mode predicts the creation: {out}"
    );
    assert!(s.user(&format!("@{name}:localhost")).is_none());
}

/// A run that asks for no tag would do nothing: it fails, naming the tags, and no role task runs.
/// (It used to exit 0 silently; issue 11 asks for a loud failure.)
#[test]
fn without_tags_nothing_runs() {
    let s = Synapse::shared();
    let a = Ansible::new(s, &secret_file_line(&s.secret_file()));
    let name = unique_user("untagged");
    let (code, out) = a.playbook(&[
        "--extra-vars",
        &a.extra_vars(&[("username", &name), ("password", "pw-untagged")]),
    ]);
    assert_ne!(code, 0, "a run without a tag fails loudly: {out}");
    assert!(
        out.contains("No tag given") && out.contains("--tags=register-user"),
        "the failure names the tags: {out}"
    );
    assert!(
        !out.contains("TASK [matrix_user_management"),
        "no role task may run without its tag: {out}"
    );
    assert!(s.user(&format!("@{name}:localhost")).is_none());
}

#[test]
fn wrong_secret_fails_clearly_and_secrets_stay_out_of_verbose_output() {
    let s = Synapse::shared();
    let wrong = random_secret("wrong-shared-secret");
    let a = Ansible::new(s, &format!("matrix_user_management_shared_secret={wrong}"));
    let name = unique_user("vvv");
    let pw = random_secret("vvv-password");
    let (code, out) = a.playbook(&[
        "-vvv",
        "--tags=register-user",
        "--extra-vars",
        &a.extra_vars(&[("username", &name), ("password", &pw)]),
    ]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("registration_shared_secret"),
        "the failure says what to fix: {out}"
    );
    assert!(
        out.contains("comes from matrix_user_management_shared_secret"),
        "and names the role variable the secret came from: {out}"
    );
    assert_eq!(
        out.matches("fatal:").count(),
        1,
        "the failure is reported once: {out}"
    );
    assert!(!out.contains("...ignoring"), "{out}");
    assert!(!out.contains(&wrong), "shared secret leaked in -vvv output");
    assert!(!out.contains(&pw), "password leaked in -vvv output");
    assert!(s.user(&format!("@{name}:localhost")).is_none());

    // The success path at -vvv, in diff mode, leaks nothing either.
    let a = Ansible::new(s, &secret_file_line(&s.secret_file()));
    let (code, out) = a.playbook(&[
        "-vvv",
        "--diff",
        "--tags=register-user",
        "--extra-vars",
        &a.extra_vars(&[("username", &name), ("password", &pw)]),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        !out.contains(&pw) && !out.contains(&s.shared_secret),
        "secret leaked in -vvv output"
    );
}

#[test]
fn missing_extra_vars_are_explained() {
    let s = Synapse::shared();
    let a = Ansible::new(s, &secret_file_line(&s.secret_file()));
    let (code, out) = a.playbook(&["--tags=register-user", "--extra-vars", "username=someone"]);
    assert_ne!(code, 0);
    assert!(out.contains("register-user needs --extra-vars"), "{out}");
}

#[test]
fn update_user_admin_tag_promotes_once_and_demotes() {
    let s = Synapse::shared();
    let a = Ansible::new(
        s,
        &format!("matrix_user_management_access_token={}", s.admin_token),
    );
    let name = unique_user("promoted");
    let id = format!("@{name}:localhost");
    s.register_raw(&name, "promoted-pw-1", false, true);

    let yes = a.extra_vars(&[("username", &name), ("admin", "yes")]);
    let (code, out) = a.playbook(&["--tags=update-user-admin", "--extra-vars", &yes]);
    assert_eq!(code, 0, "{out}");
    assert!(recap_has(&out, "changed=1"), "{out}");
    assert_eq!(s.user(&id).unwrap()["admin"], true);
    let (code, out) = a.playbook(&["-vvv", "--tags=update-user-admin", "--extra-vars", &yes]);
    assert_eq!(code, 0, "{out}");
    assert!(recap_has(&out, "changed=0"), "{out}");
    assert!(
        !out.contains(&s.admin_token),
        "access token leaked in -vvv output"
    );

    let no = a.extra_vars(&[("username", &name), ("admin", "no")]);
    let (code, out) = a.playbook(&["--tags=update-user-admin", "--check", "--extra-vars", &no]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        s.user(&id).unwrap()["admin"],
        true,
        "--check changes nothing"
    );
    let (code, out) = a.playbook(&["--tags=update-user-admin", "--extra-vars", &no]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(s.user(&id).unwrap()["admin"], false);

    let ghost = a.extra_vars(&[("username", "ghost-user"), ("admin", "yes")]);
    let (code, out) = a.playbook(&["--tags=update-user-admin", "--extra-vars", &ghost]);
    assert_ne!(code, 0);
    assert!(out.contains("does not exist"), "{out}");
}

/// The seed command line, against the API generation matrix-docker-ansible-deploy deployed
/// (matrix-registration 0.7.2), then the list and disable tags.
#[test]
fn token_tags_generate_list_and_disable_on_matrix_registration() {
    let s = Synapse::shared();
    let m = Mreg::start("0.7", s);
    let a = Ansible::new(
        s,
        &format!(
            "matrix_user_management_registration_api_url={}\nmatrix_user_management_registration_admin_secret={}",
            m.url, m.admin_secret
        ),
    );
    // --extra-vars="one_time=yes ex_date=2031-12-31"
    let gen = a.extra_vars(&[("one_time", "yes"), ("ex_date", "2031-12-31")]);
    let (code, out) = a.playbook(&[
        "--tags=generate-matrix-registration-token",
        "--extra-vars",
        &gen,
    ]);
    assert_eq!(code, 0, "{out}");
    let tokens = m.tokens();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    let name = tokens[0]["name"].as_str().unwrap().to_string();
    assert_eq!(tokens[0]["one_time"], true);
    assert_eq!(tokens[0]["ex_date"], "2031-12-31 00:00:00");
    assert!(
        out.contains(&format!("{}/register?token={name}", m.url)),
        "prints the link: {out}"
    );

    let (code, out) = a.playbook(&["--tags=list-matrix-registration-tokens"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("USED/ALLOWED") && out.contains(&name), "{out}");
    assert!(
        out.contains("0/1") && out.contains("2031-12-31T00:00:00Z") && out.contains("valid"),
        "{out}"
    );

    let dis = a.extra_vars(&[("token", &name)]);
    let (code, out) = a.playbook(&[
        "-vvv",
        "--tags=disable-matrix-registration-token",
        "--extra-vars",
        &dis,
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(recap_has(&out, "changed=1"), "{out}");
    assert_eq!(m.token(&name)["valid"], false);
    assert!(
        !out.contains(&m.admin_secret),
        "admin secret leaked in -vvv output"
    );
    let (code, out) = a.playbook(&[
        "--tags=disable-matrix-registration-token",
        "--extra-vars",
        &dis,
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(recap_has(&out, "changed=0"), "{out}");

    let (code, out) = a.playbook(&["--tags=list-matrix-registration-tokens"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("disabled"), "{out}");

    let past = a.extra_vars(&[("one_time", "yes"), ("ex_date", "2020-01-01")]);
    let (code, out) = a.playbook(&[
        "--tags=generate-matrix-registration-token",
        "--extra-vars",
        &past,
    ]);
    assert_ne!(code, 0);
    assert!(out.contains("is in the past"), "{out}");
    assert_eq!(m.tokens().len(), 1);
}

#[test]
fn token_tags_on_synapse() {
    let s = Synapse::shared();
    let a = Ansible::new(
        s,
        &format!(
            "matrix_user_management_token_backend=synapse\nmatrix_user_management_access_token={}",
            s.admin_token
        ),
    );
    let gen = a.extra_vars(&[("one_time", "yes"), ("ex_date", "2031-12-31")]);
    let (code, out) = a.playbook(&[
        "--tags=generate-matrix-registration-token",
        "--extra-vars",
        &gen,
    ]);
    assert_eq!(code, 0, "{out}");
    let line = out
        .lines()
        .find(|l| l.contains("Registration token: "))
        .expect("prints the token");
    let name: String = line
        .split("Registration token: ")
        .nth(1)
        .unwrap()
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    let (status, token) = s.admin_get(&format!("/_synapse/admin/v1/registration_tokens/{name}"));
    assert_eq!(status, 200, "{name}: {token}");
    assert_eq!(token["uses_allowed"], 1);

    let (code, out) = a.playbook(&["--tags=list-matrix-registration-tokens"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&name));
    let dis = a.extra_vars(&[("token", &name)]);
    let (code, out) = a.playbook(&[
        "--tags=disable-matrix-registration-token",
        "--extra-vars",
        &dis,
    ]);
    assert_eq!(code, 0, "{out}");
    let (_, token) = s.admin_get(&format!("/_synapse/admin/v1/registration_tokens/{name}"));
    assert!(
        token["expiry_time"].as_i64().unwrap() < 1_900_000_000_000,
        "expired now: {token}"
    );
}

/// Every tag at -vvv, in check+diff mode and for real, and each through a failure: no password,
/// shared secret, admin secret or access token in the output or in the services' logs.
#[test]
fn every_tag_at_vvv_keeps_every_secret_out_of_output_and_logs() {
    let s = Synapse::shared();
    let m = Mreg::start("0.9", s);
    let password = random_secret("scan-password");
    let vars = |admin_secret: &str, token: &str| {
        format!(
            "matrix_user_management_shared_secret_file={}\nmatrix_user_management_access_token={token}\n\
             matrix_user_management_registration_api_url={}\nmatrix_user_management_registration_admin_secret={admin_secret}",
            s.secret_file().display(),
            m.url
        )
    };
    let good = Ansible::new(s, &vars(&m.admin_secret, &s.admin_token));
    let bad = Ansible::new(s, &vars("wrong-admin-secret-xyz", "syt_wrong_token_xyz"));
    let name = unique_user("scan");
    let mut outputs = Vec::new();
    for a in [&good, &bad] {
        let token = m
            .tokens()
            .first()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .unwrap_or("NoToken".into());
        let runs: Vec<(&str, String)> = vec![
            (
                "register-user",
                a.extra_vars(&[
                    ("username", &name),
                    ("password", &password),
                    ("admin", "no"),
                ]),
            ),
            (
                "update-user-admin",
                a.extra_vars(&[("username", &name), ("admin", "yes")]),
            ),
            (
                "generate-matrix-registration-token",
                a.extra_vars(&[("one_time", "yes"), ("ex_date", "2031-12-31")]),
            ),
            ("list-matrix-registration-tokens", a.extra_vars(&[])),
            (
                "disable-matrix-registration-token",
                a.extra_vars(&[("token", &token)]),
            ),
        ];
        for (tag, extra) in &runs {
            for check in [true, false] {
                let tags = format!("--tags={tag}");
                let mut args = vec![
                    "-vvv",
                    "--diff",
                    tags.as_str(),
                    "--extra-vars",
                    extra.as_str(),
                ];
                if check {
                    args.push("--check");
                }
                let (_, out) = a.playbook(&args);
                outputs.push((tag.to_string(), out));
            }
        }
    }
    assert!(
        outputs
            .iter()
            .any(|(_, o)| o.contains("refused admin_secret")),
        "the failure paths ran"
    );
    let secrets = [
        password.as_str(),
        s.shared_secret.as_str(),
        s.admin_token.as_str(),
        m.admin_secret.as_str(),
        "wrong-admin-secret-xyz",
        "syt_wrong_token_xyz",
    ];
    for (tag, out) in &outputs {
        for secret in secrets {
            assert!(
                !out.contains(secret),
                "{tag}: a secret is in the -vvv output"
            );
        }
    }
    for secret in secrets {
        assert!(!s.log().contains(secret), "a secret is in Synapse's log");
        assert!(
            !m.log().contains(secret),
            "a secret is in matrix-registration's log"
        );
    }
}

/// `--diff` shows before and after on every tag that changes something, at -vvv, without a secret.
#[test]
fn diff_shows_before_and_after_on_every_changing_tag() {
    let s = Synapse::shared();
    let m = Mreg::start("0.9", s);
    let a = Ansible::new(
        s,
        &format!(
            "{}\nmatrix_user_management_access_token={}\n\
             matrix_user_management_registration_api_url={}\nmatrix_user_management_registration_admin_secret={}",
            secret_file_line(&s.secret_file()),
            s.admin_token,
            m.url,
            m.admin_secret
        ),
    );
    let name = unique_user("diffed");
    let id = format!("@{name}:localhost");
    let password = random_secret("diff-password");
    let secrets = [
        password.as_str(),
        s.shared_secret.as_str(),
        s.admin_token.as_str(),
        m.admin_secret.as_str(),
    ];
    let run = |tag: &str, vars: &[(&str, &str)], check: bool| {
        let tags = format!("--tags={tag}");
        let extra = a.extra_vars(vars);
        let mut args = vec![
            "-vvv",
            "--diff",
            tags.as_str(),
            "--extra-vars",
            extra.as_str(),
        ];
        if check {
            args.push("--check");
        }
        let (code, out) = a.playbook(&args);
        assert_eq!(code, 0, "{tag}: {out}");
        for secret in secrets {
            assert!(!out.contains(secret), "{tag}: a secret is in the output");
        }
        out
    };
    let user = [("username", name.as_str()), ("password", password.as_str())];
    for check in [true, false] {
        let out = run("register-user", &user, check);
        assert!(
            out.contains(&format!("--- before: {id}"))
                && out.contains(&format!("+++ after: {id}"))
                && out.contains("-    \"exists\": false")
                && out.contains("+    \"exists\": true"),
            "register-user (check={check}): {out}"
        );
    }
    let out = run(
        "update-user-admin",
        &[("username", &name), ("admin", "yes")],
        false,
    );
    assert!(
        out.contains(&format!("--- before: {id}"))
            && out.contains("-    \"admin\": false")
            && out.contains("+    \"admin\": true"),
        "update-user-admin: {out}"
    );
    assert_eq!(s.user(&id).unwrap()["admin"], true);
    let out = run(
        "generate-matrix-registration-token",
        &[("one_time", "yes"), ("ex_date", "2031-12-31")],
        false,
    );
    let token = m.tokens()[0]["name"].as_str().unwrap().to_string();
    assert!(
        out.contains(&format!("+++ after: {token}")) && out.contains("+    \"max_usage\": 1"),
        "generate-matrix-registration-token: {out}"
    );
    let out = run(
        "disable-matrix-registration-token",
        &[("token", &token)],
        false,
    );
    assert!(
        out.contains(&format!("--- before: {token}")) && out.contains("+    \"disabled\": true"),
        "disable-matrix-registration-token: {out}"
    );
}

/// With admin credentials, register-user sees an existing account's admin flag: asking for
/// admin=yes either converges it or warns, and the warning reaches the operator.
#[test]
fn register_user_with_admin_credentials_reports_an_existing_accounts_admin_flag() {
    let s = Synapse::shared();
    let a = Ansible::new(
        s,
        &format!(
            "{}\nmatrix_user_management_access_token={}",
            secret_file_line(&s.secret_file()),
            s.admin_token
        ),
    );
    let name = unique_user("promote-me");
    let id = format!("@{name}:localhost");
    s.register_raw(&name, "first-password-1", false, true);
    let extra = a.extra_vars(&[
        ("username", &name),
        ("password", "another-password-2"),
        ("admin", "yes"),
    ]);
    let (code, out) = a.playbook(&["--tags=register-user", "--extra-vars", &extra]);
    assert_eq!(code, 0, "{out}");
    let converged = s.user(&id).unwrap()["admin"] == true;
    assert!(
        converged || (out.contains("[WARNING]") && out.contains("admin=false")),
        "admin=yes for an existing account converges or warns: {out}"
    );
    assert!(
        s.can_login(&name, "first-password-1"),
        "the password is not touched"
    );
}

/// `ansible-doc -M library <module>` renders every module's sidecar doc.
#[test]
fn ansible_doc_renders_every_module() {
    let s = Synapse::shared();
    let a = Ansible::new(s, "");
    let bin = cache_dir().join("venv-ansible/bin/ansible-doc");
    for m in module_names() {
        let out = Command::new(&bin)
            .arg("-M")
            .arg(&a.library)
            .arg(m)
            .env("ANSIBLE_NOCOLOR", "1")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{m}: {text}");
        assert!(
            text.contains(&format!("MODULE {m}"))
                && text.contains("EXAMPLES")
                && text.contains("RETURN VALUES"),
            "{m}: {text}"
        );
        assert!(
            !text.contains("ERROR") && !text.contains("WARNING"),
            "{m}: {text}"
        );
    }
}

#[test]
fn credentials_in_the_homeserver_url_stay_out_of_verbose_output() {
    // The module refuses a URL with credentials; the role's failure message names the URL it
    // used, and must not show the credentials either (issue 18: -v showed them).
    let s = Synapse::shared();
    let a = Ansible::new(s, &secret_file_line(&s.secret_file()));
    let url_secret = random_secret("url-password");
    let url = s
        .url
        .replace("http://", &format!("http://someone:{url_secret}@"));
    let (code, out) = a.playbook(&[
        "-v",
        "--tags=register-user",
        "--extra-vars",
        &a.extra_vars(&[
            ("username", &unique_user("urlcred")),
            ("password", &random_secret("pw")),
            ("matrix_user_management_homeserver_url", &url),
        ]),
    ]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("credentials"), "the failure says why: {out}");
    assert!(
        !out.contains(&url_secret),
        "URL password leaked at -v: {out}"
    );
}
