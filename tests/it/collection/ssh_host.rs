//! The SSH host of the collection tests: a network namespace with Debian's sshd chrooted into a
//! Debian minbase without python3 (tests/servers/ssh-host.sh), with its own Synapse on the
//! namespace's 127.0.0.1; and the operator's playbook directory outside this repository.

use crate::common::ssh_host::{ansible_playbook, SshHost};
use crate::common::unique_user;
use serde_json::json;
use std::path::Path;
use std::sync::OnceLock;

/// The SSH host with its Synapse, one per test run for the collection tests (the binary cache
/// tests have their own); torn down by its watchdogs when the test process exits.
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

    pub fn ssh(&self, command: &str) -> std::process::Output {
        self.ssh_output(command)
    }

    /// A playbook directory outside this repository: an inventory for the target in the shape
    /// of matrix-docker-ansible-deploy's, plus `vars` lines.
    pub fn play(&self, vars: &[String]) -> Play {
        let mut lines = vec![
            "matrix_domain=localhost".to_string(),
            "matrix_synapse_container_client_api_host_bind_port=127.0.0.1:8008".to_string(),
            format!(
                "matrix_user_management_shared_secret_file={}/synapse/shared-secret",
                self.remote
            ),
        ];
        lines.extend(vars.iter().cloned());
        let work = self.play_dir(&lines);
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
        let mut all = vec![playbook];
        all.extend_from_slice(args);
        ansible_playbook(self.path(), &all, &[])
    }
}

pub fn recap(out: &str, what: &str) -> bool {
    out.lines()
        .any(|l| l.starts_with("matrix.example.test") && l.contains(what))
}
