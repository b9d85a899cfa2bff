//! A real ansible-playbook run of playbooks/setup.yml from this checkout, with this build's
//! modules as its library and an inventory in the shape of matrix-docker-ansible-deploy's.

use crate::common::library::module_names;
use crate::common::{cache_dir, module_bin, repo, unique_user, Synapse};
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Ansible {
    _dir: tempfile::TempDir,
    pub library: PathBuf,
    inventory: PathBuf,
}

impl Ansible {
    /// A library dir holding this build's module binaries with their sidecar docs, and an
    /// inventory for the local Synapse in the shape of matrix-docker-ansible-deploy's vars.
    pub fn new(s: &Synapse, var_lines: &str) -> Ansible {
        let status = Command::new(repo().join("tests/servers/venvs.sh"))
            .arg("ansible")
            .status()
            .unwrap();
        assert!(status.success());
        let dir = tempfile::tempdir().unwrap();
        let library = dir.path().join("library");
        std::fs::create_dir(&library).unwrap();
        for m in module_names() {
            std::fs::copy(module_bin(m), library.join(m)).unwrap();
            std::fs::copy(
                repo().join(format!("library/{m}.yml")),
                library.join(format!("{m}.yml")),
            )
            .unwrap();
        }
        let inventory = dir.path().join("hosts");
        std::fs::write(
            &inventory,
            format!(
                "[matrix_servers]\nlocalhost ansible_connection=local\n\n[matrix_servers:vars]\n\
                 matrix_domain=localhost\nmatrix_user_management_homeserver_url={}\n{var_lines}\n",
                s.url
            ),
        )
        .unwrap();
        Ansible {
            _dir: dir,
            library,
            inventory,
        }
    }

    /// Writes extra vars to a file for `--extra-vars @file`: the same strings as
    /// `--extra-vars 'username=.. password=..'`, without putting a password in the process list.
    pub fn extra_vars(&self, pairs: &[(&str, &str)]) -> String {
        let map: serde_json::Map<String, serde_json::Value> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
            .collect();
        let path = self
            ._dir
            .path()
            .join(format!("extra-vars-{}.json", unique_user("v")));
        std::fs::write(&path, serde_json::to_vec(&map).unwrap()).unwrap();
        format!("@{}", path.display())
    }

    pub fn playbook(&self, args: &[&str]) -> (i32, String) {
        let bin = cache_dir().join("venv-ansible/bin");
        let out = Command::new(bin.join("ansible-playbook"))
            .current_dir(repo())
            .arg("-i")
            .arg(&self.inventory)
            .arg("playbooks/setup.yml")
            .args(args)
            .env(
                "PATH",
                format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
            )
            .env("ANSIBLE_LIBRARY", &self.library)
            .env("ANSIBLE_ROLES_PATH", repo().join("roles"))
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

pub fn secret_file_line(path: &Path) -> String {
    format!(
        "matrix_user_management_shared_secret_file={}",
        path.display()
    )
}

pub fn recap_has(out: &str, what: &str) -> bool {
    out.lines()
        .any(|l| l.starts_with("localhost") && l.contains(what))
}
