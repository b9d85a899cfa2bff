//! The collection matrix.users as an operator uses it: installed from the built tarball, called by
//! FQCN from a playbook outside this repository, run over SSH on a second host that has no Python.
//!
//! The host is a network namespace with Debian's sshd chrooted into a Debian minbase without
//! python3 (tests/servers/ssh-host.sh), with its own Synapse bound to the namespace's 127.0.0.1
//! (tests/servers/synapse.sh started with `ip netns exec`): only the target reaches it, as with
//! a Synapse published on a server's loopback. The tests read what Synapse then holds from its
//! database, and try logins from inside the namespace.
//!
//! The collection comes from `common::collection`; the host and the operator's playbook
//! directory from `ssh_host`.

mod ssh_host;

use crate::common::collection::{collections_path, src_bin_modules};
use crate::common::{cache_dir, now_ms, random_secret, repo, unique_user};
use ssh_host::{recap, Target};
use std::process::Command;
use std::sync::OnceLock;

/// Registers an admin through the register-user tag; returns its name and password.
fn admin(t: &Target) -> (String, String) {
    static A: OnceLock<(String, String)> = OnceLock::new();
    A.get_or_init(|| {
        let (name, pw) = (unique_user("opadmin"), random_secret("admin-pw"));
        let p = t.play(&[]);
        let ev = p.extra_vars(&[("username", &name), ("password", &pw), ("admin", "yes")]);
        let (code, out) = p.run("setup.yml", &["--tags=register-user", "--extra-vars", &ev]);
        assert_eq!(code, 0, "{out}");
        (name, pw)
    })
    .clone()
}

fn admin_vars(t: &Target) -> Vec<String> {
    let (name, pw) = admin(t);
    vec![
        format!("matrix_user_management_admin_username={name}"),
        format!("matrix_user_management_admin_password={pw}"),
    ]
}

#[test]
fn the_target_has_no_python() {
    let t = Target::shared();
    let out = t.ssh("ls /usr/bin/python* /usr/local/bin/python* 2>/dev/null; command -v python3 python; uname -sm");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("python"), "the target has Python: {text}");
    assert!(text.contains("Linux"), "ssh reached the target: {text}");
}

#[test]
fn register_user_tag_over_ssh_from_the_installed_collection() {
    let t = Target::shared();
    let p = t.play(&[]);
    let (name, pw) = (unique_user("alice"), random_secret("alice-pw"));
    let ev = p.extra_vars(&[("username", &name), ("password", &pw), ("admin", "no")]);

    let (code, out) = p.run(
        "setup.yml",
        &["-vvv", "--tags=register-user", "--extra-vars", &ev],
    );
    assert_eq!(code, 0, "{out}");
    assert!(recap(&out, "changed=1"), "{out}");
    let binary = collections_path()
        .join("ansible_collections/matrix/users/plugins/modules/__register_user_linux_x86_64");
    assert!(
        out.contains(&format!("Using module file {}", binary.display())),
        "the x86_64 binary of the installed collection ran: {out}"
    );
    assert!(!out.contains(&pw), "the password leaked into -vvv output");
    assert_eq!(t.admin_flag(&format!("@{name}:localhost")), Some(0));
    assert!(
        t.can_login(&name, &pw),
        "the password works on the target's Synapse"
    );

    let (code, out) = p.run("setup.yml", &["--tags=register-user", "--extra-vars", &ev]);
    assert_eq!(code, 0, "{out}");
    assert!(recap(&out, "changed=0"), "the second run is ok: {out}");
}

#[test]
fn update_user_admin_tag_over_ssh() {
    let t = Target::shared();
    let p = t.play(&admin_vars(t));
    let name = unique_user("bob");
    let ev = p.extra_vars(&[("username", &name), ("password", &random_secret("bob-pw"))]);
    let (code, out) = p.run("setup.yml", &["--tags=register-user", "--extra-vars", &ev]);
    assert_eq!(code, 0, "{out}");
    let user_id = format!("@{name}:localhost");
    assert_eq!(t.admin_flag(&user_id), Some(0));

    for (flag, want) in [("yes", 1), ("no", 0)] {
        let ev = p.extra_vars(&[("username", &name), ("admin", flag)]);
        let (code, out) = p.run(
            "setup.yml",
            &["--tags=update-user-admin", "--extra-vars", &ev],
        );
        assert_eq!(code, 0, "{out}");
        assert!(recap(&out, "changed=1"), "{out}");
        assert_eq!(t.admin_flag(&user_id), Some(want), "admin={flag}: {out}");
    }
}

#[test]
fn token_tags_over_ssh() {
    let t = Target::shared();
    let mut vars = admin_vars(t);
    vars.push("matrix_user_management_token_backend=synapse".into());
    let p = t.play(&vars);
    let before = t.token_names();

    let ev = p.extra_vars(&[("one_time", "yes"), ("ex_date", "2027-12-31")]);
    let (code, out) = p.run(
        "setup.yml",
        &[
            "--tags=generate-matrix-registration-token",
            "--extra-vars",
            &ev,
        ],
    );
    assert_eq!(code, 0, "{out}");
    let new: Vec<String> = t
        .token_names()
        .into_iter()
        .filter(|n| !before.contains(n))
        .collect();
    assert_eq!(new.len(), 1, "one new token on the server: {new:?} {out}");
    let token = &new[0];
    assert!(
        out.contains(token.as_str()),
        "the tag shows the token: {out}"
    );
    let (uses, expiry) = t.token_row(token).unwrap();
    assert_eq!(uses, Some(1), "one_time=yes");
    // 2027-12-31 ends at 2028-01-01T00:00:00Z at the latest.
    let expiry = expiry.expect("ex_date sets an expiry");
    assert!(
        (1_830_211_200_000..=1_830_297_600_000).contains(&expiry),
        "expiry {expiry} is on 2027-12-31 (UTC)"
    );

    let (code, out) = p.run("setup.yml", &["--tags=list-matrix-registration-tokens"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(token.as_str()),
        "the list shows the token: {out}"
    );

    let ev = p.extra_vars(&[("token", token)]);
    let (code, out) = p.run(
        "setup.yml",
        &[
            "--tags=disable-matrix-registration-token",
            "--extra-vars",
            &ev,
        ],
    );
    assert_eq!(code, 0, "{out}");
    let (_, expiry) = t.token_row(token).unwrap();
    assert!(
        expiry.expect("a disabled token has an expiry") <= now_ms(),
        "the token no longer works: {out}"
    );
}

const TWO_TASKS: &str = r#"---
- name: The modules by FQCN
  hosts: matrix_servers
  gather_facts: false
  tasks:
    - name: First user
      matrix.users.register_user:
        username: "{{ first }}"
        password: "{{ password }}"
        server_name: localhost
        shared_secret_file: "{{ matrix_user_management_shared_secret_file }}"
      no_log: true
    - name: Second user
      matrix.users.register_user:
        username: "{{ second }}"
        password: "{{ password }}"
        server_name: localhost
        shared_secret_file: "{{ matrix_user_management_shared_secret_file }}"
      no_log: true
"#;

#[test]
fn fqcn_modules_ask_the_target_its_architecture_once() {
    let t = Target::shared();
    // Copy per task (the binary cache, tests/ssh_cache.rs, would leave the count to test order).
    let p = t.play(&["matrix_users_binary_cache=false".into()]);
    std::fs::write(p.path().join("two.yml"), TWO_TASKS).unwrap();
    let (first, second) = (unique_user("first"), unique_user("second"));
    let ev = p.extra_vars(&[
        ("first", &first),
        ("second", &second),
        ("password", &random_secret("pw")),
    ]);
    let (code, out) = p.run("two.yml", &["-vvv", "--extra-vars", &ev]);
    assert_eq!(code, 0, "{out}");
    assert!(recap(&out, "changed=2"), "{out}");
    assert_eq!(
        out.matches("'uname -sm").count(),
        1,
        "uname runs once per host, then the fact answers: {out}"
    );
    assert!(out.contains("target platform linux_x86_64"), "{out}");
    assert_eq!(
        out.matches("copied __register_user_linux_x86_64").count(),
        2,
        "{out}"
    );
    assert!(t.admin_flag(&format!("@{first}:localhost")).is_some());
    assert!(t.admin_flag(&format!("@{second}:localhost")).is_some());
}

/// `architecture` as the setup module (or a fact cache) reports it, then one module task.
fn with_facts(architecture: &str) -> String {
    format!(
        r#"---
- name: Facts already known
  hosts: matrix_servers
  gather_facts: false
  tasks:
    - name: Facts as gathered on another host
      ansible.builtin.set_fact:
        system: Linux
        architecture: {architecture}
        cacheable: true
    - name: Register
      matrix.users.register_user:
        username: "{{{{ username }}}}"
        password: "{{{{ password }}}}"
        server_name: localhost
        shared_secret_file: "{{{{ matrix_user_management_shared_secret_file }}}}"
      no_log: true
"#
    )
}

#[test]
fn an_unsupported_architecture_fails_clearly() {
    let t = Target::shared();
    let p = t.play(&[]);
    std::fs::write(p.path().join("armv7.yml"), with_facts("armv7l")).unwrap();
    let name = unique_user("armv7");
    let ev = p.extra_vars(&[("username", &name), ("password", &random_secret("pw"))]);
    let (code, out) = p.run("armv7.yml", &["-vvv", "--extra-vars", &ev]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains(
            "matrix.users.register_user has no binary for this target: it reports Linux armv7l"
        ),
        "{out}"
    );
    assert!(
        !out.contains("'uname -sm"),
        "facts answered, no uname: {out}"
    );
    assert_eq!(t.admin_flag(&format!("@{name}:localhost")), None);
}

#[test]
fn an_aarch64_target_gets_the_aarch64_binary() {
    // The facts say aarch64 (the x86_64 test host then cannot run it, and says so): the plugin
    // copied the aarch64 binary, not the x86_64 one.
    let t = Target::shared();
    let p = t.play(&[]);
    std::fs::write(p.path().join("arm64.yml"), with_facts("aarch64")).unwrap();
    let name = unique_user("arm64");
    let ev = p.extra_vars(&[("username", &name), ("password", &random_secret("pw"))]);
    let (code, out) = p.run("arm64.yml", &["-vvv", "--extra-vars", &ev]);
    assert_ne!(code, 0, "an x86_64 host cannot run it: {out}");
    assert!(
        out.contains("copied __register_user_linux_aarch64"),
        "{out}"
    );
    assert!(
        !out.contains("copied __register_user_linux_x86_64"),
        "{out}"
    );
    assert_eq!(t.admin_flag(&format!("@{name}:localhost")), None);
}

#[test]
fn the_collections_own_playbook_runs_the_tag() {
    // ansible-playbook matrix.users.setup: the playbook shipped in the collection, its role
    // resolved inside the collection.
    let t = Target::shared();
    let p = t.play(&[]);
    let (name, pw) = (unique_user("carol"), random_secret("carol-pw"));
    let ev = p.extra_vars(&[("username", &name), ("password", &pw), ("admin", "yes")]);
    let (code, out) = p.run(
        "matrix.users.setup",
        &["--tags=register-user", "--extra-vars", &ev],
    );
    assert_eq!(code, 0, "{out}");
    assert!(recap(&out, "changed=1"), "{out}");
    assert_eq!(t.admin_flag(&format!("@{name}:localhost")), Some(1));
    assert!(t.can_login(&name, &pw));
}

fn ansible_doc(args: &[&str]) -> (bool, String) {
    let out = Command::new(cache_dir().join("venv-ansible/bin/ansible-doc"))
        .args(args)
        .current_dir(std::env::temp_dir())
        .env_remove("ANSIBLE_CONFIG")
        .env_remove("ANSIBLE_LIBRARY")
        .env("ANSIBLE_COLLECTIONS_PATH", collections_path())
        .env("ANSIBLE_COLLECTIONS_SCAN_SYS_PATH", "false")
        .env("ANSIBLE_NOCOLOR", "1")
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn ansible_doc_knows_the_four_modules_by_fqcn() {
    // Every binary in src/bin/ is a module of the collection.
    let modules = src_bin_modules();
    assert!(modules.len() >= 4, "{modules:?}");
    let (ok, out) = ansible_doc(&["-l", "matrix.users"]);
    assert!(ok, "{out}");
    let listed: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    // Plus binary_cache, the action-only module that clears the binary cache on the target.
    let mut want: Vec<String> = modules
        .iter()
        .map(|m| format!("matrix.users.{m}"))
        .chain(["matrix.users.binary_cache".to_string()])
        .collect();
    want.sort();
    assert_eq!(
        listed, want,
        "only the documented modules are listed: {out}"
    );
    assert!(!out.contains("WARNING"), "{out}");
    for m in &modules {
        let (ok, out) = ansible_doc(&[&format!("matrix.users.{m}")]);
        assert!(ok, "{out}");
        assert!(out.contains(&format!("matrix.users.{m}")), "{out}");
        assert!(out.contains("OPTIONS"), "{out}");
        assert!(out.contains("homeserver_url"), "{out}");
    }
}

#[test]
fn the_collection_version_is_the_cargo_version() {
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(collections_path().join("ansible_collections/matrix/users/MANIFEST.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        manifest["collection_info"]["version"],
        env!("CARGO_PKG_VERSION"),
        "{manifest}"
    );
    assert_eq!(manifest["collection_info"]["namespace"], "matrix");
    assert_eq!(manifest["collection_info"]["name"], "users");
}

#[test]
fn a_playbook_can_depend_on_the_collection_through_requirements_yml() {
    let tarball = repo().join(format!(
        "target/collection/matrix-users-{}.tar.gz",
        env!("CARGO_PKG_VERSION")
    ));
    assert!(tarball.exists(), "run `make collection` first");
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("requirements.yml"),
        format!(
            "---\ncollections:\n  - name: matrix.users\n    type: file\n    source: {}\n",
            tarball.display()
        ),
    )
    .unwrap();
    let out = Command::new(cache_dir().join("venv-ansible/bin/ansible-galaxy"))
        .current_dir(work.path())
        .args([
            "collection",
            "install",
            "-r",
            "requirements.yml",
            "-p",
            "collections",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let modules = work
        .path()
        .join("collections/ansible_collections/matrix/users/plugins/modules");
    for m in ["register_user", "user_admin"] {
        for arch in ["x86_64", "aarch64"] {
            assert!(modules.join(format!("__{m}_linux_{arch}")).is_file());
        }
        assert!(modules.join(format!("{m}.yml")).is_file());
    }
}
