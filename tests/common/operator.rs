//! What an operator has: a checkout of this repository (its entry points `justfile`, `setup.yml`,
//! `ansible.cfg`, `playbooks/`, `roles/`, `scripts/`, with the built modules in `library/`), and
//! an inventory in the shape matrix-docker-ansible-deploy (MDAD) keeps, linked in as the README
//! says. Commands run from the checkout's root, exactly as typed by an operator.

use crate::common::{cache_dir, module_bin, repo};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The modules the role calls.
pub const MODULES: [&str; 5] = [
    "register_user",
    "registration_token",
    "registration_token_info",
    "user_admin",
    "user_info",
];

/// The namespace Ansible's `to_uuid` filter uses.
pub const ANSIBLE_UUID_NAMESPACE: &str = "361E6D51-FAEC-444A-9079-341386DA8E2E";

pub struct Checkout {
    pub dir: tempfile::TempDir,
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

impl Checkout {
    /// A copy of the repository's operator-facing files, with this build's modules.
    pub fn new() -> Checkout {
        let status = Command::new(repo().join("tests/servers/venvs.sh"))
            .arg("ansible")
            .status()
            .unwrap();
        assert!(status.success(), "tests/servers/venvs.sh ansible");
        let dir = tempfile::Builder::new()
            .prefix("operator-checkout-")
            .tempdir()
            .unwrap();
        for f in ["justfile", "setup.yml", "ansible.cfg"] {
            std::fs::copy(repo().join(f), dir.path().join(f)).unwrap();
        }
        for d in ["playbooks", "roles", "scripts"] {
            copy_tree(&repo().join(d), &dir.path().join(d));
        }
        let library = dir.path().join("library");
        std::fs::create_dir(&library).unwrap();
        for m in MODULES {
            std::fs::copy(module_bin(m), library.join(m)).unwrap();
            std::fs::copy(
                repo().join(format!("library/{m}.yml")),
                library.join(format!("{m}.yml")),
            )
            .unwrap();
        }
        std::fs::create_dir(dir.path().join("inventory")).unwrap();
        Checkout { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes an MDAD inventory outside the checkout (`<tmp>/mdad/inventory/hosts` listing
    /// `matrix.localhost`, and its `host_vars/matrix.localhost/vars.yml`), then links it in as the
    /// README tells an operator to: `inventory/hosts` and `inventory/host_vars`.
    pub fn link_mdad_inventory(&self, vars_yml: &str) -> PathBuf {
        let mdad = self.path().join("mdad/inventory");
        let host_vars = mdad.join("host_vars/matrix.localhost");
        std::fs::create_dir_all(&host_vars).unwrap();
        std::fs::write(
            mdad.join("hosts"),
            "[matrix_servers]\nmatrix.localhost ansible_host=127.0.0.1 ansible_ssh_user=root ansible_connection=local\n",
        )
        .unwrap();
        std::fs::write(host_vars.join("vars.yml"), vars_yml).unwrap();
        for name in ["hosts", "host_vars"] {
            let link = self.path().join("inventory").join(name);
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(mdad.join(name), link).unwrap();
        }
        host_vars.join("vars.yml")
    }

    /// Runs `program args...` in the checkout's root with the controller's tools (ansible-playbook,
    /// just) on PATH. Returns the exit code and stdout+stderr.
    pub fn run(&self, program: &str, args: &[&str]) -> (i32, String) {
        let bin = cache_dir().join("venv-ansible/bin");
        let out = Command::new(bin.join(program))
            .current_dir(self.path())
            .args(args)
            .env(
                "PATH",
                format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
            )
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_FORCE_COLOR", "0")
            .env_remove("ANSIBLE_LIBRARY")
            .env_remove("ANSIBLE_ROLES_PATH")
            .env_remove("ANSIBLE_CONFIG")
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

    pub fn just(&self, args: &[&str]) -> (i32, String) {
        self.run("just", args)
    }

    pub fn ansible_playbook(&self, args: &[&str]) -> (i32, String) {
        self.run("ansible-playbook", args)
    }
}

/// `(key + suffix) | hash('sha512') | to_uuid`, computed without Ansible: Python's hashlib and
/// uuid.uuid5 in Ansible's namespace. The key travels on stdin, never on a command line.
pub fn mdad_derived_secret(generic_key: &str, suffix: &str) -> String {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import hashlib, sys, uuid\n\
             key = sys.stdin.buffer.read()\n\
             digest = hashlib.sha512(key + b'{suffix}').hexdigest()\n\
             print(uuid.uuid5(uuid.UUID('{ANSIBLE_UUID_NAMESPACE}'), digest))"
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(generic_key.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The PLAY RECAP line of the MDAD host.
pub fn recap(out: &str) -> String {
    out.lines()
        .find(|l| l.starts_with("matrix.localhost") && l.contains("ok="))
        .unwrap_or("")
        .to_string()
}

/// The vars.yml an MDAD operator keeps (examples/vars.yml of MDAD, filled in), plus `extra` lines.
pub fn mdad_vars_yml(generic_key: &str, extra: &str) -> String {
    format!(
        "---\n\
         matrix_domain: localhost\n\
         matrix_homeserver_implementation: synapse\n\
         matrix_homeserver_generic_secret_key: '{generic_key}'\n\
         matrix_playbook_reverse_proxy_type: playbook-managed-traefik\n\
         postgres_connection_password: 'not-used-by-these-tags'\n\
         {extra}"
    )
}
