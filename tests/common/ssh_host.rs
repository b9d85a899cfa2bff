//! An SSH test host: tests/servers/ssh-host.sh's network namespace with Debian's sshd chrooted
//! into a Debian minbase without python3, its own /root and its own Synapse on the namespace's
//! 127.0.0.1. Each test area that needs one starts its own (the binary cache tests change
//! /root/.ansible/tmp, which the collection tests must not see); watchdogs tear it down when the
//! test process exits.

use super::collection::collections_path;
use super::{cache_dir, repo, unique_user};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub struct SshHost {
    pub dir: PathBuf,
    pub netns: String,
    /// The target's /srv/<id>, seen from this machine.
    pub root: PathBuf,
    /// The same directory as the target sees it.
    pub remote: String,
    /// The inventory line's connection variables for this host.
    pub ansible_vars: String,
}

impl SshHost {
    pub fn start() -> SshHost {
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
        let host = SshHost {
            netns: read("netns"),
            root: PathBuf::from(read("root")),
            remote: read("remote_dir"),
            ansible_vars: read("ansible_vars"),
            dir,
        };
        let out = Command::new("ip")
            .args(["netns", "exec", &host.netns])
            .arg(repo().join("tests/servers/synapse.sh"))
            .arg("start")
            .arg(host.root.join("synapse"))
            .arg("8008")
            .env("WATCH_PID", std::process::id().to_string())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "synapse.sh start in the namespace: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        host
    }

    /// The host's Synapse database, read only.
    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open_with_flags(
            self.root.join("synapse/homeserver.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap()
    }

    /// Whether the host's Synapse holds `@<localpart>:localhost`.
    pub fn has_user(&self, localpart: &str) -> bool {
        self.db()
            .query_row(
                "SELECT 1 FROM users WHERE name = ?1",
                [format!("@{localpart}:localhost")],
                |_| Ok(()),
            )
            .is_ok()
    }

    /// A command on the host as root, over SSH; its output whatever its status.
    pub fn ssh_output(&self, command: &str) -> Output {
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

    /// A playbook directory outside this repository whose inventory `hosts` names this host in
    /// the group matrix_servers, with `group_vars` lines (each `name=value`).
    pub fn play_dir(&self, group_vars: &[String]) -> tempfile::TempDir {
        let work = tempfile::Builder::new()
            .prefix("operator-")
            .tempdir()
            .unwrap();
        assert!(!work.path().starts_with(repo()));
        let mut inv = format!(
            "[matrix_servers]\nmatrix.example.test {}\n\n[matrix_servers:vars]\n",
            self.ansible_vars
        );
        for v in group_vars {
            inv.push_str(v);
            inv.push('\n');
        }
        std::fs::write(work.path().join("hosts"), inv).unwrap();
        work
    }

    /// A directory of the caller's own on the host: (path on the host, path here).
    pub fn scratch(&self, name: &str) -> (String, PathBuf) {
        let n = unique_user(name);
        (format!("{}/{n}", self.remote), self.root.join(n))
    }

    /// Whether a password login works, tried from inside the namespace (the only place the
    /// host's Synapse can be reached from); the password goes to curl on stdin.
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
}

/// Runs ansible-playbook in the playbook directory `dir` against its `hosts`, with `args` (the
/// playbook among them) and extra environment `env`: no ansible.cfg, library, roles or binary
/// cache setting of this repository or this shell applies; the modules and the role come from
/// the installed collection.
pub fn ansible_playbook(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let bin = cache_dir().join("venv-ansible/bin");
    let out = Command::new(bin.join("ansible-playbook"))
        .current_dir(dir)
        .args(["-i", "hosts"])
        .args(args)
        .env_remove("ANSIBLE_CONFIG")
        .env_remove("ANSIBLE_LIBRARY")
        .env_remove("ANSIBLE_ROLES_PATH")
        .env_remove("MATRIX_USERS_BINARY_CACHE")
        .env_remove("MATRIX_USERS_BINARY_CACHE_DIR")
        .envs(env.iter().copied())
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env("ANSIBLE_COLLECTIONS_PATH", collections_path())
        .env("ANSIBLE_COLLECTIONS_SCAN_SYS_PATH", "false")
        .env("ANSIBLE_SSH_CONTROL_PATH_DIR", dir.join("cp"))
        .env("ANSIBLE_LOCAL_TEMP", dir.join("tmp"))
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_FORCE_COLOR", "0")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}
