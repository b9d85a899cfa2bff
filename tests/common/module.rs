//! The module runner: a module binary run the way Ansible runs it (`<module> <args-file>`, the
//! task's arguments and `_ansible_*` keys in one JSON file), its output checked to be exactly one
//! JSON object, and what it said kept for the test.

use super::library::module_names;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The result of running a module.
pub struct Run {
    pub json: Value,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn failed(&self) -> bool {
        self.json["failed"] == true
    }
    pub fn changed(&self) -> bool {
        self.json["changed"] == true
    }
    pub fn msg(&self) -> &str {
        self.json["msg"].as_str().unwrap_or("")
    }
    /// Asserts success and returns self.
    pub fn ok(self) -> Run {
        assert!(
            !self.failed() && self.code == 0,
            "module failed: {}",
            self.stdout
        );
        self
    }
    /// Asserts failure with a message containing `want`.
    pub fn fails_with(self, want: &str) -> Run {
        assert!(self.failed(), "expected failure, got: {}", self.stdout);
        assert_ne!(self.code, 0, "a failure must exit non-zero");
        assert!(
            self.msg().contains(want),
            "message {:?} lacks {:?}",
            self.msg(),
            want
        );
        self
    }
}

/// Path of a module binary built by cargo for this test run: cargo builds every binary of the
/// package before its integration tests, next to the `deps/` directory the test runs from.
pub fn module_bin(name: &str) -> PathBuf {
    assert!(module_names().contains(&name), "unknown module {name}");
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().join(name)
}

/// Runs a module as Ansible does: args in a JSON file named by argv[1], `_ansible_*` keys added.
pub fn run_module(name: &str, args: Value) -> Run {
    run_module_with(name, args, &[])
}

/// `flags` are extra `_ansible_*` keys, e.g. ("_ansible_check_mode", true).
pub fn run_module_with(name: &str, args: Value, flags: &[(&str, Value)]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let args_path = args_file(dir.path(), name, args, flags);
    run_raw(name, &[args_path.to_str().unwrap()])
}

/// Writes the args file Ansible would hand module `name` into `dir`: `args` with the
/// `_ansible_*` keys Ansible adds (defaults first, then `flags` on top). Returns its path.
pub fn args_file(dir: &Path, name: &str, args: Value, flags: &[(&str, Value)]) -> PathBuf {
    let mut map: Map<String, Value> = args.as_object().cloned().unwrap_or_default();
    for (k, v) in [
        ("_ansible_check_mode", json!(false)),
        ("_ansible_no_log", json!(false)),
        ("_ansible_diff", json!(false)),
        ("_ansible_verbosity", json!(0)),
        ("_ansible_version", json!("2.19.14")),
        ("_ansible_module_name", json!(name)),
    ] {
        map.entry(k.to_string()).or_insert(v);
    }
    for (k, v) in flags {
        map.insert(k.to_string(), v.clone());
    }
    let args_path = dir.join("args");
    std::fs::write(&args_path, serde_json::to_vec(&Value::Object(map)).unwrap()).unwrap();
    args_path
}

/// Runs a module binary with raw argv, checking the output is exactly one JSON object.
pub fn run_raw(name: &str, argv: &[&str]) -> Run {
    let out = Command::new(module_bin(name)).args(argv).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("module output is not one JSON object ({e}): {stdout:?} stderr: {stderr}")
    });
    assert!(json.is_object(), "{stdout}");
    assert_eq!(
        stdout.trim().lines().count(),
        1,
        "exactly one line of JSON: {stdout}"
    );
    Run {
        json,
        code: out.status.code().unwrap_or(-1),
        stdout,
        stderr,
    }
}

/// Runs a module with raw argv, killing it after `secs` (a hang is a failure, not a stuck test);
/// `shell_prefix` runs first in `sh` (e.g. a `ulimit`).
pub fn run_within(name: &str, argv: &[&str], secs: u64, shell_prefix: Option<&str>) -> Run {
    let bin = module_bin(name);
    let mut cmd = match shell_prefix {
        Some(prefix) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("{prefix}; exec \"$0\" \"$@\""))
                .arg(&bin)
                .args(argv);
            c
        }
        None => {
            let mut c = Command::new(&bin);
            c.args(argv);
            c
        }
    };
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name} {argv:?} still ran after {secs} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("not one JSON object ({e}): {stdout:?} {stderr}"));
    Run {
        json,
        code: out.status.code().unwrap_or(-1),
        stdout,
        stderr,
    }
}
