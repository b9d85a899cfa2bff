//! The collection's binary cache on the target (issue 22), over SSH on a host without Python.
//!
//! The host is tests/servers/ssh-host.sh's: a network namespace with Debian's sshd chrooted into
//! a Debian minbase without python3, its own /root, its own Synapse on the namespace's
//! 127.0.0.1. The collection comes from MATRIX_USERS_COLLECTIONS_PATH (`make test-collection`) or
//! target/collection/matrix-users-<version>.tar.gz (`make collection`).
//!
//! Uploads are counted from ansible-playbook's own -vvv log (`PUT <binary> TO <path>`, one line per
//! file the connection copies), commands from its `SSH: EXEC` lines; what the cache holds is read
//! from the target's file system; accounts from Synapse's database.

mod host;

use host::*;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};

#[test]
fn the_binary_is_copied_once_then_each_task_is_one_command() {
    // The default place: matrix.users in root's Ansible temp area, ~/.ansible/tmp (this host's
    // own /root). No other test of this file uses it.
    let t = Target::shared();
    let cache = t.root.join("home/.ansible/tmp/matrix.users");
    let p = t.play(&[]);
    let (prefix, pw) = (unique("once"), unique("pw-"));
    let (code, out) = p.run_tasks(3, &prefix, &pw);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        binary_uploads(&out),
        1,
        "the first task copies the binary, the others find it: {out}"
    );
    assert_eq!(
        out.matches("uname -sm").count(),
        1,
        "the platform is asked once: {out}"
    );
    for i in 0..3 {
        assert!(
            t.has_user(&format!("{prefix}-{i}")),
            "task {i} registered its account"
        );
    }
    assert_eq!(
        names(&cache),
        vec![cached_name()],
        "one binary, named by its SHA-256"
    );
    let file = cache.join(cached_name());
    assert_eq!(
        sha256_hex(&file),
        sha256_hex(&modules_dir().join("__register_user_linux_x86_64"))
    );
    let dir_mode = std::fs::metadata(&cache).unwrap().mode() & 0o777;
    assert_eq!(
        dir_mode, 0o700,
        "only its owner can enter or write the cache"
    );
    let before = std::fs::metadata(&file).unwrap();

    // A new play: nothing copied, one command per task, the file untouched.
    let (code, out) = p.run_tasks(3, &unique("again"), &pw);
    assert_eq!(code, 0, "{out}");
    assert_eq!(binary_uploads(&out), 0, "{out}");
    assert_eq!(
        out.matches(" PUT ").count(),
        0,
        "not even an arguments file: {out}"
    );
    let execs = out.lines().filter(|l| l.contains("SSH: EXEC ssh ")).count();
    assert_eq!(execs, 3, "one command per warm task: {out}");
    let after = std::fs::metadata(&file).unwrap();
    assert_eq!(
        (before.ino(), before.mtime_nsec()),
        (after.ino(), after.mtime_nsec())
    );
    assert_eq!(
        names(&t.root.join("home/.ansible/tmp")),
        vec!["matrix.users"],
        "no temporary directory is left"
    );
}

#[test]
fn secrets_travel_on_standard_input_never_in_a_command_or_a_file() {
    let t = Target::shared();
    let (dir, here) = t.scratch("stdin-cache");
    let p = t.play(&[format!("matrix_users_binary_cache_dir={dir}")]);
    let (prefix, pw) = (unique("stdin"), unique("secret-on-stdin-"));
    for _ in 0..2 {
        // cold, then warm
        let (code, out) = p.run_tasks(1, &prefix, &pw);
        assert_eq!(code, 0, "{out}");
        assert!(
            !out.contains(&pw),
            "the password is in no command ansible-playbook ran (-vvv shows each): {out}"
        );
    }
    assert!(t.has_user(&format!("{prefix}-0")));
    let grep = Command::new("grep")
        .args(["-rlF", "--", &pw])
        .arg(&t.root)
        .arg(t.root.parent().unwrap().parent().unwrap().join("tmp"))
        .output()
        .unwrap();
    assert!(
        grep.stdout.is_empty(),
        "a file on the target holds the password: {grep:?}"
    );
    assert_eq!(names(&here), vec![cached_name()]);
}

#[test]
fn a_tampered_or_truncated_cached_binary_is_replaced_and_never_run() {
    let t = Target::shared();
    let (dir, here) = t.scratch("tamper-cache");
    let p = t.play(&[format!("matrix_users_binary_cache_dir={dir}")]);
    let pw = unique("pw-");
    let (code, out) = p.run_tasks(1, &unique("warm"), &pw);
    assert_eq!(code, 0, "{out}");
    let file = here.join(cached_name());
    let marker = t.root.join(unique("tampered-ran"));

    // A program of someone else's under the binary's name: it would leave a file if it ran.
    let script = format!(
        "#!/bin/sh\ntouch '{}/{}'\necho '{{\"changed\": false}}'\n",
        t.remote,
        marker.file_name().unwrap().to_str().unwrap()
    );
    std::fs::write(&file, script).unwrap();
    let prefix = unique("tampered");
    let (code, out) = p.run_tasks(1, &prefix, &pw);
    assert_eq!(code, 0, "{out}");
    assert!(!marker.exists(), "the tampered file ran");
    assert!(
        out.contains("does not have its SHA-256"),
        "-v says why it copies again: {out}"
    );
    assert_eq!(binary_uploads(&out), 1, "{out}");
    assert!(t.has_user(&format!("{prefix}-0")), "the real binary ran");
    assert_eq!(
        sha256_hex(&file),
        sha256_hex(&modules_dir().join("__register_user_linux_x86_64"))
    );

    // Truncated, as by a full disk or an interrupted copy.
    let len = std::fs::metadata(&file).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let prefix = unique("truncated");
    let (code, out) = p.run_tasks(1, &prefix, &pw);
    assert_eq!(code, 0, "{out}");
    assert_eq!(binary_uploads(&out), 1, "{out}");
    assert!(t.has_user(&format!("{prefix}-0")));
    assert_eq!(std::fs::metadata(&file).unwrap().len(), len);
    assert_eq!(
        names(&here),
        vec![cached_name()],
        "no temporary upload is left"
    );
}

#[test]
fn the_cache_can_be_switched_off_by_variable_and_by_ansible_cfg() {
    let t = Target::shared();
    let (dir, here) = t.scratch("off-cache");
    let p = t.play(&[
        format!("matrix_users_binary_cache_dir={dir}"),
        "matrix_users_binary_cache=false".into(),
    ]);
    let (code, out) = p.run_tasks(2, &unique("off"), &unique("pw-"));
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        binary_uploads(&out),
        2,
        "every task copies its binary: {out}"
    );
    assert!(
        out.contains("the binary cache is not used: switched off (var: matrix_users_binary_cache)"),
        "{out}"
    );
    assert!(!here.exists(), "no cache directory is made");

    // ansible.cfg in the playbook's directory, [matrix_users] binary_cache = false; ansible-config knows it.
    let p = t.play(&[format!("matrix_users_binary_cache_dir={dir}")]);
    std::fs::write(
        p.path().join("ansible.cfg"),
        "[matrix_users]\nbinary_cache = false\n",
    )
    .unwrap();
    let (code, out) = p.run_tasks(2, &unique("cfg"), &unique("pw-"));
    assert_eq!(code, 0, "{out}");
    assert_eq!(binary_uploads(&out), 2, "{out}");
    assert!(
        out.contains("switched off (") && out.contains("ansible.cfg)"),
        "{out}"
    );
    assert!(!here.exists());
    let config = Command::new(cache_dir().join("venv-ansible/bin/ansible-config"))
        .current_dir(p.path())
        .args([
            "dump",
            "--only-changed",
            "-t",
            "vars",
            "matrix.users.binary_cache",
        ])
        .env_remove("ANSIBLE_CONFIG")
        .env("ANSIBLE_COLLECTIONS_PATH", collections_path())
        .env("ANSIBLE_NOCOLOR", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&config.stdout);
    assert!(
        config.status.success() && text.contains("enabled") && text.contains("False"),
        "{config:?}"
    );

    // The environment too.
    let p = t.play(&[format!("matrix_users_binary_cache_dir={dir}")]);
    std::fs::write(p.path().join("one.yml"), tasks_play(1)).unwrap();
    let (code, out) = p.run_env(
        &[
            "one.yml",
            "-v",
            "-e",
            &format!("prefix={} password={}", unique("env"), unique("pw-")),
        ],
        &[("MATRIX_USERS_BINARY_CACHE", "no")],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("switched off (env: MATRIX_USERS_BINARY_CACHE)"),
        "{out}"
    );
    assert!(!here.exists());
}

#[test]
fn a_noexec_cache_directory_falls_back_to_copying() {
    let t = Target::shared();
    let (dir, _) = t.scratch("noexec");
    t.ssh(&format!(
        "mkdir -p {dir} && mount -t tmpfs -o noexec,mode=0700 tmpfs {dir}"
    ));
    let p = t.play(&[format!("matrix_users_binary_cache_dir={dir}/cache")]);
    let prefix = unique("noexec");
    for round in 0..2 {
        let (code, out) = p.run_tasks(1, &format!("{prefix}{round}"), &unique("pw-"));
        assert_eq!(code, 0, "{out}");
        assert!(
            out.contains("could not be started") && out.contains("Permission denied"),
            "-v says why: {out}"
        );
        assert!(t.has_user(&format!("{prefix}{round}-0")), "{out}");
    }
    t.ssh(&format!("umount {dir}"));
}

#[test]
fn a_read_only_or_full_file_system_falls_back_to_copying() {
    let t = Target::shared();
    let (ro, _) = t.scratch("readonly");
    t.ssh(&format!(
        "mkdir -p {ro} && mount -t tmpfs -o ro,mode=0700 tmpfs {ro}"
    ));
    let p = t.play(&[format!("matrix_users_binary_cache_dir={ro}/cache")]);
    let prefix = unique("readonly");
    let (code, out) = p.run_tasks(1, &prefix, &unique("pw-"));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("cannot create") && out.contains("Read-only file system"),
        "{out}"
    );
    assert!(t.has_user(&format!("{prefix}-0")));
    t.ssh(&format!("umount {ro}"));

    // 1 MiB: the binary does not fit. Nothing half-written stays behind, nothing of it runs.
    let (full, _) = t.scratch("full");
    t.ssh(&format!(
        "mkdir -p {full} && mount -t tmpfs -o size=1m,mode=0700 tmpfs {full}"
    ));
    let p = t.play(&[format!("matrix_users_binary_cache_dir={full}/cache")]);
    let prefix = unique("full");
    let (code, out) = p.run_tasks(1, &prefix, &unique("pw-"));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("uploading the binary into") || out.contains("incomplete: disk full?"),
        "-v says why: {out}"
    );
    assert!(t.has_user(&format!("{prefix}-0")));
    assert_eq!(
        t.ssh(&format!("ls -A {full}/cache")),
        "",
        "the partial upload was removed"
    );
    t.ssh(&format!("umount {full}"));
}

#[test]
fn without_sha256sum_on_the_target_the_cache_is_not_used() {
    // The play's shell sees a PATH with every program of the target but sha256sum.
    let t = Target::shared();
    let (dir, _) = t.scratch("nosha");
    t.ssh(&format!(
        "mkdir -p {dir}/bin && for f in /usr/bin/* /usr/sbin/*; do [ \"${{f##*/}}\" = sha256sum ] || ln -sf \"$f\" {dir}/bin/; done && \
         printf '#!/bin/sh\\nPATH={dir}/bin\\nexport PATH\\nexec /bin/sh \"$@\"\\n' > {dir}/sh && chmod 0755 {dir}/sh"
    ));
    let (cache, here) = t.scratch("nosha-cache");
    let p = t.play(&[
        format!("ansible_shell_executable={dir}/sh"),
        format!("matrix_users_binary_cache_dir={cache}"),
    ]);
    let prefix = unique("nosha");
    let (code, out) = p.run_tasks(2, &prefix, &unique("pw-"));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("the target has no sha256sum"), "{out}");
    assert_eq!(binary_uploads(&out), 2, "{out}");
    assert!(t.has_user(&format!("{prefix}-1")));
    assert!(!here.exists());
}

#[test]
fn an_unsafe_cache_directory_is_not_used() {
    let t = Target::shared();
    let (dir, here) = t.scratch("shared-cache");
    std::fs::create_dir(&here).unwrap();
    std::fs::set_permissions(&here, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let p = t.play(&[format!("matrix_users_binary_cache_dir={dir}")]);
    let (code, out) = p.run_tasks(1, &unique("unsafe"), &unique("pw-"));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("only its owner may write it"), "{out}");
    assert_eq!(binary_uploads(&out), 1, "{out}");
    assert!(
        names(&here).is_empty(),
        "nothing is put into a directory others can write"
    );
}

#[test]
fn concurrent_cold_plays_end_with_one_cached_binary() {
    let t = Target::shared();
    let (dir, here) = t.scratch("race-cache");
    let plays: Vec<(Play, String)> = (0..3)
        .map(|i| {
            (
                t.play(&[format!("matrix_users_binary_cache_dir={dir}")]),
                unique(&format!("race{i}")),
            )
        })
        .collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = plays
            .iter()
            .map(|(p, prefix)| s.spawn(move || p.run_tasks(2, prefix, "race-password-1")))
            .collect();
        for h in handles {
            let (code, out) = h.join().unwrap();
            assert_eq!(code, 0, "{out}");
            assert!(recap_ok(&out), "{out}");
        }
    });
    for (_, prefix) in &plays {
        assert!(t.has_user(&format!("{prefix}-0")) && t.has_user(&format!("{prefix}-1")));
    }
    assert_eq!(
        names(&here),
        vec![cached_name()],
        "one binary, no temporary upload left"
    );
}

#[test]
fn the_binary_cache_module_prunes_old_versions_and_clears() {
    let t = Target::shared();
    let (dir, here) = t.scratch("prune-cache");
    let p = t.play(&[format!("matrix_users_binary_cache_dir={dir}")]);
    let (code, out) = p.run_tasks(1, &unique("prune"), &unique("pw-"));
    assert_eq!(code, 0, "{out}");
    let old = format!("register_user_linux_x86_64-{}", "0".repeat(64));
    std::fs::write(here.join(&old), "an older version").unwrap();
    let book = "---\n- name: Cache\n  hosts: matrix_servers\n  gather_facts: false\n  tasks:\n    \
                - name: Cache\n      matrix.users.binary_cache:\n        state: \"{{ state }}\"\n";
    std::fs::write(p.path().join("cache.yml"), book).unwrap();

    let (code, out) = p.run(&["cache.yml", "-e", "state=pruned", "--check"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("changed=1"), "{out}");
    assert!(here.join(&old).exists(), "check mode removes nothing");
    let (code, out) = p.run(&["cache.yml", "-e", "state=pruned"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        names(&here),
        vec![cached_name()],
        "only the current binary is kept: {out}"
    );
    let (code, out) = p.run(&["cache.yml", "-e", "state=pruned"]);
    assert!(code == 0 && out.contains("changed=0"), "{out}");
    let (code, out) = p.run(&["cache.yml", "-e", "state=absent"]);
    assert!(code == 0 && out.contains("changed=1"), "{out}");
    assert!(!here.exists(), "{out}");
    let (code, out) = p.run(&["cache.yml", "-e", "state=gone"]);
    assert_ne!(code, 0);
    assert!(out.contains("state must be one of absent, pruned"), "{out}");
}

/// A become method of the test's own: runuser (util-linux, on the minbase target) from root to
/// another user, no password, standard input passed through. Debian's sudo is not on the target.
const RUNUSER_BECOME: &str = r#"from __future__ import annotations
DOCUMENTATION = """
name: runuser
short_description: runuser -u USER, for the tests
description: runuser -u USER, for the tests (root only, no password)
options:
  become_user:
    description: the user
    default: root
    vars:
      - name: ansible_become_user
    keyword:
      - name: become_user
"""
from ansible.plugins.become import BecomeBase


class BecomeModule(BecomeBase):
    name = 'runuser'

    def build_become_command(self, cmd, shell):
        super(BecomeModule, self).build_become_command(cmd, shell)
        if not cmd:
            return cmd
        return 'runuser -u %s -- %s' % (self.get_option('become_user'), self._build_success_command(cmd, shell))
"#;

#[test]
fn with_become_the_cache_belongs_to_the_become_user() {
    let t = Target::shared();
    let (dir, here) = t.scratch("nobody");
    // nobody's own directory, with a copy of the shared secret it can read.
    t.ssh(&format!(
        "mkdir -p {dir}/cache && cp {}/synapse/shared-secret {dir}/secret && chown -R 65534:65534 {dir} && chmod 0700 {dir} {dir}/cache",
        t.remote
    ));
    let become_vars = |cache: Option<&str>| {
        let mut v = vec![
            "ansible_become=true".to_string(),
            "ansible_become_method=runuser".into(),
            "ansible_become_user=nobody".into(),
            format!("secret_file={dir}/secret"),
        ];
        v.extend(cache.map(|c| format!("matrix_users_binary_cache_dir={c}")));
        v
    };
    let plugins = |p: &Play| {
        std::fs::create_dir_all(p.path().join("become")).unwrap();
        std::fs::write(p.path().join("become/runuser.py"), RUNUSER_BECOME).unwrap();
        p.path().join("become").display().to_string()
    };

    // The default place, ~nobody/.ansible/tmp, cannot be made (/nonexistent): copy per task.
    let p = t.play(&become_vars(None));
    let env = [("ANSIBLE_BECOME_PLUGINS", plugins(&p))];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let prefix = unique("become");
    let (code, out) = p.run_tasks_env(1, &prefix, &unique("pw-"), &env);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("cannot create /nonexistent/.ansible/tmp/matrix.users"),
        "{out}"
    );
    assert!(t.has_user(&format!("{prefix}-0")));

    // nobody's own directory: the binary lands there as nobody's, then runs from there.
    let p = t.play(&become_vars(Some(&format!("{dir}/cache"))));
    let env = [("ANSIBLE_BECOME_PLUGINS", plugins(&p))];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (code, out) = p.run_tasks_env(2, &prefix, &unique("pw-"), &env);
    assert_eq!(code, 0, "{out}");
    assert_eq!(binary_uploads(&out), 1, "{out}");
    let file = here.join("cache").join(cached_name());
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(
        (meta.uid(), meta.mode() & 0o777),
        (65534, 0o700),
        "the become user's, only"
    );
    let (code, out) = p.run_tasks_env(2, &unique("become-warm"), &unique("pw-"), &env);
    assert_eq!(code, 0, "{out}");
    assert_eq!(binary_uploads(&out), 0, "{out}");
    assert_eq!(names(&here.join("cache")), vec![cached_name()]);
}

#[test]
fn a_module_reads_its_arguments_from_standard_input_with_dash() {
    // The contract the cache relies on: `<module> -` (no file, nothing in argv).
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("register_user");
    let run = |input: &str| {
        let mut child = Command::new(&bin)
            .arg("-")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let v = run(r#"{"username": "stdin-user", "homeserver_url": "http://127.0.0.1:9"}"#);
    assert_eq!(v["failed"], true, "{v}");
    assert!(
        v["msg"]
            .as_str()
            .unwrap()
            .contains("password or password_file is required to register 'stdin-user'"),
        "{v}"
    );
    let v = run("not json");
    assert!(
        v["msg"].as_str().unwrap().contains("is not valid JSON"),
        "{v}"
    );
}
