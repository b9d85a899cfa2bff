//! The SSH host of the binary cache tests (its own, apart from the collection tests': these
//! tests change /root/.ansible/tmp) and the playbooks they run against it.

pub use crate::common::cache_dir;
pub use crate::common::collection::collections_path;
use crate::common::ssh_host::{ansible_playbook, SshHost};
pub use crate::common::unique_user as unique;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub fn modules_dir() -> PathBuf {
    collections_path().join("ansible_collections/matrix/users/plugins/modules")
}

pub fn sha256_hex(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// The file name the cache gives the x86_64 register_user binary of the installed collection.
pub fn cached_name() -> String {
    let digest = sha256_hex(&modules_dir().join("__register_user_linux_x86_64"));
    format!("register_user_linux_x86_64-{digest}")
}

/// The SSH host with its Synapse, one per test binary, torn down when the test process exits.
pub struct Target {
    host: SshHost,
}

impl std::ops::Deref for Target {
    type Target = SshHost;
    fn deref(&self) -> &SshHost {
        &self.host
    }
}

impl Target {
    pub fn shared() -> &'static Target {
        static T: OnceLock<Target> = OnceLock::new();
        T.get_or_init(|| Target {
            host: SshHost::start(),
        })
    }

    /// A command on the target as root, over SSH; fails the test if the command fails.
    pub fn ssh(&self, command: &str) -> String {
        let out = self.ssh_output(command);
        assert!(out.status.success(), "{command}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    /// A playbook directory outside the repository, with `vars` lines in its inventory.
    pub fn play(&self, vars: &[String]) -> Play {
        let mut lines = vec![format!("secret_file={}/synapse/shared-secret", self.remote)];
        lines.extend(vars.iter().cloned());
        Play {
            work: self.play_dir(&lines),
        }
    }
}

pub struct Play {
    pub work: tempfile::TempDir,
}

/// A play of `n` register_user tasks, users `<prefix>-0` .. `<prefix>-<n-1>`.
pub fn tasks_play(n: usize) -> String {
    let mut s = String::from(
        "---\n- name: Module tasks\n  hosts: matrix_servers\n  gather_facts: false\n  tasks:\n",
    );
    for i in 0..n {
        s.push_str(&format!(
            "    - name: User {i}\n      matrix.users.register_user:\n        username: \"{{{{ prefix }}}}-{i}\"\n        \
             password: \"{{{{ password }}}}\"\n        server_name: localhost\n        \
             shared_secret_file: \"{{{{ secret_file }}}}\"\n      no_log: true\n"
        ));
    }
    s
}

impl Play {
    pub fn path(&self) -> &Path {
        self.work.path()
    }

    /// Runs `n` register_user tasks at -vvv; extra vars from a file (no password in argv).
    pub fn run_tasks(&self, n: usize, prefix: &str, password: &str) -> (i32, String) {
        let book = self.path().join(format!("tasks{n}.yml"));
        std::fs::write(&book, tasks_play(n)).unwrap();
        let ev = self.path().join(format!("{}.json", unique("vars")));
        let vars = serde_json::json!({"prefix": prefix, "password": password});
        std::fs::write(&ev, vars.to_string()).unwrap();
        self.run(&[
            book.to_str().unwrap(),
            "-vvv",
            "--extra-vars",
            &format!("@{}", ev.display()),
        ])
    }

    /// run_tasks with extra environment for ansible-playbook.
    pub fn run_tasks_env(
        &self,
        n: usize,
        prefix: &str,
        password: &str,
        env: &[(&str, &str)],
    ) -> (i32, String) {
        let book = self.path().join(format!("tasks{n}.yml"));
        std::fs::write(&book, tasks_play(n)).unwrap();
        let ev = self.path().join(format!("{}.json", unique("vars")));
        let vars = serde_json::json!({"prefix": prefix, "password": password});
        std::fs::write(&ev, vars.to_string()).unwrap();
        let ev = format!("@{}", ev.display());
        self.run_env(&[book.to_str().unwrap(), "-vvv", "--extra-vars", &ev], env)
    }

    pub fn run(&self, args: &[&str]) -> (i32, String) {
        self.run_env(args, &[])
    }

    /// ansible-playbook in the playbook directory (its ansible.cfg, if any, applies).
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
        ansible_playbook(self.path(), args, env)
    }
}

/// Files the connection copied that were the register_user binary (ansible-playbook -vvv).
pub fn binary_uploads(out: &str) -> usize {
    out.lines()
        .filter(|l| l.contains(" PUT ") && l.contains("/__register_user_linux_x86_64 TO "))
        .count()
}

pub fn recap_ok(out: &str) -> bool {
    out.lines().any(|l| {
        l.starts_with("matrix.example.test")
            && l.contains("failed=0")
            && l.contains("unreachable=0")
    })
}

/// The names in a directory on this machine (the target's file system), sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}
