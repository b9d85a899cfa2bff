//! The collection matrix.users as an operator uses it: installed from the built tarball, called by
//! FQCN from a playbook outside this repository, run over SSH on a second host that has no Python.
//!
//! The host is a network namespace with Debian's sshd chrooted into a Debian minbase without
//! python3 (tests/servers/ssh-host.sh), with its own Synapse bound to the namespace's 127.0.0.1
//! (tests/servers/synapse.sh started with `ip netns exec`): only the target reaches it, as with
//! a Synapse published on a server's loopback. The tests read what Synapse then holds from its
//! database, and try logins from inside the namespace.
//!
//! The collection comes from MATRIX_USERS_COLLECTIONS_PATH (`make test`, `make test-collection`)
//! or else from target/collection/matrix-users-<version>.tar.gz (`make collection`).

use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cache_dir() -> PathBuf {
    std::env::var_os("MATRIX_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/matrix-users")
        })
}

fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}{:x}{:x}{}",
        t % 0xffff_ffff,
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The directory that holds ansible_collections/matrix/users.
fn collections_path() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(p) = std::env::var_os("MATRIX_USERS_COLLECTIONS_PATH") {
            return PathBuf::from(p);
        }
        let tarball = repo().join(format!(
            "target/collection/matrix-users-{}.tar.gz",
            env!("CARGO_PKG_VERSION")
        ));
        assert!(
            tarball.exists(),
            "{} is missing: run `make collection` (or `make test-collection`)",
            tarball.display()
        );
        let dir = tempfile::Builder::new()
            .prefix("collection-")
            .tempdir()
            .unwrap()
            .keep();
        let out = Command::new(cache_dir().join("venv-ansible/bin/ansible-galaxy"))
            .args(["collection", "install", "-p"])
            .arg(&dir)
            .arg(&tarball)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        dir
    })
    .clone()
}

/// The SSH host with its Synapse, one per test binary; torn down by its watchdogs when the test
/// process exits.
struct Target {
    dir: PathBuf,
    netns: String,
    /// The target's /srv/<id>, seen from this machine.
    root: PathBuf,
    /// The same directory as the target sees it.
    remote: String,
    ansible_vars: String,
}

impl Target {
    fn shared() -> &'static Target {
        static T: OnceLock<Target> = OnceLock::new();
        T.get_or_init(Target::start)
    }

    fn start() -> Target {
        let venvs = Command::new(repo().join("tests/servers/venvs.sh"))
            .args(["ansible", "synapse"])
            .status()
            .unwrap();
        assert!(venvs.success());
        let dir = tempfile::Builder::new()
            .prefix("ssh-host-")
            .tempdir()
            .unwrap()
            .keep();
        let out = Command::new(repo().join("tests/servers/ssh-host.sh"))
            .arg("start")
            .arg(&dir)
            .env("WATCH_PID", std::process::id().to_string())
            .env("SSH_HOST_CLEANUP", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ssh-host.sh start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let read = |f: &str| {
            std::fs::read_to_string(dir.join(f))
                .unwrap()
                .trim()
                .to_string()
        };
        let t = Target {
            netns: read("netns"),
            root: PathBuf::from(read("root")),
            remote: read("remote_dir"),
            ansible_vars: read("ansible_vars"),
            dir,
        };
        let out = Command::new("ip")
            .args(["netns", "exec", &t.netns])
            .arg(repo().join("tests/servers/synapse.sh"))
            .arg("start")
            .arg(t.root.join("synapse"))
            .arg("8008")
            .env("WATCH_PID", std::process::id().to_string())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "synapse.sh start in the namespace: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        t
    }

    fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open_with_flags(
            self.root.join("synapse/homeserver.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap()
    }

    /// Synapse's users.admin for an account, or None if it does not exist.
    fn admin_flag(&self, user_id: &str) -> Option<i64> {
        self.db()
            .query_row("SELECT admin FROM users WHERE name = ?1", [user_id], |r| {
                r.get(0)
            })
            .ok()
    }

    /// (uses_allowed, expiry_time) of a registration token, as Synapse stores it.
    fn token_row(&self, name: &str) -> Option<(Option<i64>, Option<i64>)> {
        self.db()
            .query_row(
                "SELECT uses_allowed, expiry_time FROM registration_tokens WHERE token = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ok()
    }

    fn token_names(&self) -> Vec<String> {
        let db = self.db();
        let mut st = db.prepare("SELECT token FROM registration_tokens").unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    }

    /// Whether a password login works, tried from inside the namespace (the only place Synapse
    /// can be reached from); the password goes to curl on stdin.
    fn can_login(&self, user: &str, password: &str) -> bool {
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.netns,
                "curl",
                "-sS",
                "-o",
                "/dev/null",
            ])
            .args(["-w", "%{http_code}", "-H", "Content-Type: application/json"])
            .args([
                "--data-binary",
                "@-",
                "http://127.0.0.1:8008/_matrix/client/v3/login",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let body = json!({"type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user}, "password": password});
        child
            .stdin
            .take()
            .unwrap()
            .write_all(body.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim() == "200"
    }

    fn ssh(&self, command: &str) -> std::process::Output {
        let address = std::fs::read_to_string(self.dir.join("address")).unwrap();
        Command::new("ssh")
            .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                self.dir.join("known_hosts").display()
            ))
            .arg("-i")
            .arg(self.dir.join("id_ed25519"))
            .arg(format!("root@{}", address.trim()))
            .arg(command)
            .output()
            .unwrap()
    }

    /// A playbook directory outside this repository: an inventory for the target in the shape
    /// of matrix-docker-ansible-deploy's, plus `vars` lines.
    fn play(&self, vars: &[String]) -> Play {
        let work = tempfile::Builder::new()
            .prefix("operator-")
            .tempdir()
            .unwrap();
        assert!(!work.path().starts_with(repo()));
        let mut inv = format!(
            "[matrix_servers]\nmatrix.example.test {}\n\n[matrix_servers:vars]\nmatrix_domain=localhost\n\
             matrix_synapse_container_client_api_host_bind_port=127.0.0.1:8008\n\
             matrix_user_management_shared_secret_file={}/synapse/shared-secret\n",
            self.ansible_vars, self.remote
        );
        for v in vars {
            inv.push_str(v);
            inv.push('\n');
        }
        std::fs::write(work.path().join("hosts"), inv).unwrap();
        std::fs::write(work.path().join("setup.yml"), SETUP_PLAYBOOK).unwrap();
        Play { work }
    }
}

/// The operator's playbook: the collection's role by FQCN, one tag per action.
const SETUP_PLAYBOOK: &str = r#"---
- name: Matrix users, from the installed collection
  hosts: matrix_servers
  gather_facts: false
  tasks:
    # The role runs the action whose tag is asked for; `never` keeps it out of other runs.
    - name: Manage Matrix users
      ansible.builtin.import_role:
        name: matrix.users.matrix_user_management
      tags: [never]
"#;

struct Play {
    work: tempfile::TempDir,
}

impl Play {
    fn path(&self) -> &Path {
        self.work.path()
    }

    /// Extra vars in a file (`--extra-vars @file`), so no password is on a command line.
    fn extra_vars(&self, pairs: &[(&str, &str)]) -> String {
        let map: serde_json::Map<String, serde_json::Value> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let path = self.path().join(format!("{}.json", unique("vars")));
        std::fs::write(&path, serde_json::to_vec(&map).unwrap()).unwrap();
        format!("@{}", path.display())
    }

    /// Runs ansible-playbook in the playbook directory: no ansible.cfg or library of this
    /// repository applies there; the modules and the role come from the installed collection.
    fn run(&self, playbook: &str, args: &[&str]) -> (i32, String) {
        let bin = cache_dir().join("venv-ansible/bin");
        let out = Command::new(bin.join("ansible-playbook"))
            .current_dir(self.path())
            .args(["-i", "hosts", playbook])
            .args(args)
            .env_remove("ANSIBLE_CONFIG")
            .env_remove("ANSIBLE_LIBRARY")
            .env_remove("ANSIBLE_ROLES_PATH")
            .env(
                "PATH",
                format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
            )
            .env("ANSIBLE_COLLECTIONS_PATH", collections_path())
            .env("ANSIBLE_COLLECTIONS_SCAN_SYS_PATH", "false")
            .env("ANSIBLE_SSH_CONTROL_PATH_DIR", self.path().join("cp"))
            .env("ANSIBLE_LOCAL_TEMP", self.path().join("tmp"))
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_FORCE_COLOR", "0")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    }
}

fn recap(out: &str, what: &str) -> bool {
    out.lines()
        .any(|l| l.starts_with("matrix.example.test") && l.contains(what))
}

/// Registers an admin through the register-user tag; returns its name and password.
fn admin(t: &Target) -> (String, String) {
    static A: OnceLock<(String, String)> = OnceLock::new();
    A.get_or_init(|| {
        let (name, pw) = (unique("opadmin"), unique("admin-pw-"));
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
    let (name, pw) = (unique("alice"), unique("alice-pw-"));
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
    let name = unique("bob");
    let ev = p.extra_vars(&[("username", &name), ("password", &unique("bob-pw-"))]);
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
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        expiry.expect("a disabled token has an expiry") <= now_ms,
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
    let (first, second) = (unique("first"), unique("second"));
    let ev = p.extra_vars(&[
        ("first", &first),
        ("second", &second),
        ("password", &unique("pw-")),
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
    let name = unique("armv7");
    let ev = p.extra_vars(&[("username", &name), ("password", &unique("pw-"))]);
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
    let name = unique("arm64");
    let ev = p.extra_vars(&[("username", &name), ("password", &unique("pw-"))]);
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
    let (name, pw) = (unique("carol"), unique("carol-pw-"));
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
    let mut modules: Vec<String> = std::fs::read_dir(repo().join("src/bin"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".rs").map(str::to_string)
        })
        .collect();
    modules.sort();
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
