//! The SSH host of the collection tests: a network namespace with Debian's sshd chrooted into a
//! Debian minbase without python3 (tests/servers/ssh-host.sh), with its own Synapse on the
//! namespace's 127.0.0.1; and the operator's playbook directory outside this repository.

use crate::common::collection::collections_path;
use crate::common::{cache_dir, repo, unique_user};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The SSH host with its Synapse, one per test run; torn down by its watchdogs when the test
/// process exits.
pub struct Target {
    dir: PathBuf,
    netns: String,
    /// The target's /srv/<id>, seen from this machine.
    root: PathBuf,
    /// The same directory as the target sees it.
    remote: String,
    ansible_vars: String,
}

impl Target {
    pub fn shared() -> &'static Target {
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
    pub fn admin_flag(&self, user_id: &str) -> Option<i64> {
        self.db()
            .query_row("SELECT admin FROM users WHERE name = ?1", [user_id], |r| {
                r.get(0)
            })
            .ok()
    }

    /// (uses_allowed, expiry_time) of a registration token, as Synapse stores it.
    pub fn token_row(&self, name: &str) -> Option<(Option<i64>, Option<i64>)> {
        self.db()
            .query_row(
                "SELECT uses_allowed, expiry_time FROM registration_tokens WHERE token = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ok()
    }

    pub fn token_names(&self) -> Vec<String> {
        let db = self.db();
        let mut st = db.prepare("SELECT token FROM registration_tokens").unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    }

    /// Whether a password login works, tried from inside the namespace (the only place Synapse
    /// can be reached from); the password goes to curl on stdin.
    pub fn can_login(&self, user: &str, password: &str) -> bool {
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

    pub fn ssh(&self, command: &str) -> std::process::Output {
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
    pub fn play(&self, vars: &[String]) -> Play {
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

pub struct Play {
    work: tempfile::TempDir,
}

impl Play {
    pub fn path(&self) -> &Path {
        self.work.path()
    }

    /// Extra vars in a file (`--extra-vars @file`), so no password is on a command line.
    pub fn extra_vars(&self, pairs: &[(&str, &str)]) -> String {
        let map: serde_json::Map<String, serde_json::Value> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let path = self.path().join(format!("{}.json", unique_user("vars")));
        std::fs::write(&path, serde_json::to_vec(&map).unwrap()).unwrap();
        format!("@{}", path.display())
    }

    /// Runs ansible-playbook in the playbook directory: no ansible.cfg or library of this
    /// repository applies there; the modules and the role come from the installed collection.
    pub fn run(&self, playbook: &str, args: &[&str]) -> (i32, String) {
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

pub fn recap(out: &str, what: &str) -> bool {
    out.lines()
        .any(|l| l.starts_with("matrix.example.test") && l.contains(what))
}
