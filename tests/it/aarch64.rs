//! The aarch64 binaries of the collection, as it ships, run under Debian's qemu-user-static the
//! way Ansible runs a binary module (`<binary> <args-file>`), against a real Synapse on
//! 127.0.0.1; each test checks what the server then holds.
//!
//! The binaries come from the installed collection (`common::collection`).

use crate::common::collection::{collection_modules, src_bin_modules};
use crate::common::*;
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

fn qemu() -> &'static str {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        let st = Command::new(repo().join("tests/servers/toolchains.sh"))
            .arg("qemu")
            .status()
            .unwrap();
        assert!(st.success(), "tests/servers/toolchains.sh qemu");
    });
    "qemu-aarch64-static"
}

/// The shipped aarch64 binary of `module`, checked to be an aarch64 ELF file.
fn aarch64_binary(module: &str) -> PathBuf {
    let path = collection_modules().join(format!("__{module}_linux_aarch64"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        &bytes[..4],
        b"\x7fELF",
        "{} is not an ELF file",
        path.display()
    );
    let machine = u16::from_le_bytes([bytes[18], bytes[19]]);
    assert_eq!(
        machine,
        183,
        "{} is not an aarch64 (EM_AARCH64) binary",
        path.display()
    );
    path
}

/// Runs the aarch64 binary under qemu with an args file, as Ansible would run it on the target.
fn run_aarch64(module: &str, args: Value) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let mut map: Map<String, Value> = args.as_object().cloned().unwrap();
    map.insert("_ansible_check_mode".into(), json!(false));
    map.insert("_ansible_diff".into(), json!(false));
    map.insert("_ansible_no_log".into(), json!(false));
    map.insert("_ansible_module_name".into(), json!(module));
    let args_file = dir.path().join("args");
    std::fs::write(&args_file, serde_json::to_vec(&map).unwrap()).unwrap();
    // As Ansible does on the target: a copy of the binary, made executable (the collection ships
    // it without the execute bit; qemu-user, like the kernel, runs only executable files).
    let binary = dir
        .path()
        .join(format!("AnsiballZ___{module}_linux_aarch64"));
    std::fs::copy(aarch64_binary(module), &binary).unwrap();
    std::fs::set_permissions(&binary, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let out = Command::new(qemu())
        .arg(&binary)
        .arg(&args_file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "{module} (aarch64) did not print one JSON object ({e}): {stdout:?} {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    v
}

fn ok(module: &str, v: &Value) {
    assert!(v["failed"] != true, "{module} (aarch64) failed: {v}");
}

#[test]
fn every_module_has_an_aarch64_binary_that_is_static() {
    let modules = src_bin_modules();
    assert!(modules.len() >= 4, "{modules:?}");
    for m in &modules {
        let bytes = std::fs::read(aarch64_binary(m)).unwrap();
        // Program headers: no PT_INTERP (3), so no dynamic loader or library is needed.
        let phoff = u64::from_le_bytes(bytes[32..40].try_into().unwrap()) as usize;
        let phentsize = u16::from_le_bytes([bytes[54], bytes[55]]) as usize;
        let phnum = u16::from_le_bytes([bytes[56], bytes[57]]) as usize;
        for i in 0..phnum {
            let off = phoff + i * phentsize;
            let p_type = u32::from_le_bytes(bytes[off..off + 4].try_into().unwrap());
            assert_ne!(p_type, 3, "{m}: aarch64 binary asks for a dynamic loader");
        }
    }
}

#[test]
fn register_user_aarch64_creates_the_account_then_is_ok() {
    let s = Synapse::shared();
    let name = unique_user("arm");
    let pw = random_secret("arm-pw");
    let args = json!({
        "homeserver_url": s.url, "username": name, "password": pw, "admin": "yes",
        "shared_secret_file": s.secret_file(), "server_name": "localhost",
    });
    let first = run_aarch64("register_user", args.clone());
    ok("register_user", &first);
    assert_eq!(first["changed"], true, "{first}");
    let user = s
        .user(&format!("@{name}:localhost"))
        .expect("the account exists on the server");
    assert_eq!(user["admin"], true, "{user}");
    assert!(s.can_login(&name, &pw), "the password works");
    assert!(!first.to_string().contains(&pw), "no secret in the result");

    let second = run_aarch64("register_user", args);
    ok("register_user", &second);
    assert_eq!(second["changed"], false, "{second}");
}

#[test]
fn user_admin_aarch64_revokes_and_grants() {
    let s = Synapse::shared();
    let name = unique_user("armadmin");
    s.register_raw(&name, &random_secret("pw"), true, true);
    // Secrets reach the module in the args file, as Ansible passes them: never on a command line.
    let token = &s.admin_token;
    let user_id = format!("@{name}:localhost");

    let r = run_aarch64(
        "user_admin",
        json!({"homeserver_url": s.url, "username": user_id, "admin": false, "access_token": token}),
    );
    ok("user_admin", &r);
    assert_eq!(r["changed"], true, "{r}");
    assert_eq!(s.user(&user_id).unwrap()["admin"], false);

    let r = run_aarch64(
        "user_admin",
        json!({"homeserver_url": s.url, "username": user_id, "admin": "yes", "access_token": token}),
    );
    ok("user_admin", &r);
    assert_eq!(r["changed"], true, "{r}");
    assert_eq!(s.user(&user_id).unwrap()["admin"], true);
}

#[test]
fn token_modules_aarch64_create_list_and_disable_synapse_tokens() {
    let s = Synapse::shared();
    let token = &s.admin_token;
    let name = random_secret("armtok").replace('-', "");
    let base = json!({"backend": "synapse", "homeserver_url": s.url, "access_token": token});
    let with = |extra: Value| {
        let mut m = base.as_object().unwrap().clone();
        m.extend(extra.as_object().unwrap().clone());
        Value::Object(m)
    };

    let r = run_aarch64(
        "registration_token",
        with(json!({"token": name, "max_usage": 3, "expires_in": "7d"})),
    );
    ok("registration_token", &r);
    assert_eq!(r["changed"], true, "{r}");
    let (status, server) = s.admin_get(&format!("/_synapse/admin/v1/registration_tokens/{name}"));
    assert_eq!(status, 200, "the token exists on the server: {server}");
    assert_eq!(server["uses_allowed"], 3, "{server}");
    assert!(server["expiry_time"].is_i64(), "{server}");

    let r = run_aarch64("registration_token_info", with(json!({"token": name})));
    ok("registration_token_info", &r);
    let listed = r["tokens"].as_array().expect("tokens");
    assert_eq!(listed.len(), 1, "{r}");
    assert_eq!(listed[0]["name"], name.as_str());
    assert_eq!(listed[0]["max_usage"], 3);

    let r = run_aarch64(
        "registration_token",
        with(json!({"token": name, "state": "disabled"})),
    );
    ok("registration_token", &r);
    assert_eq!(r["changed"], true, "{r}");
    let (_, server) = s.admin_get(&format!("/_synapse/admin/v1/registration_tokens/{name}"));
    let expiry = server["expiry_time"].as_i64().expect("an expiry time");
    assert!(
        expiry <= now_ms(),
        "a disabled token has expired on the server: {server}"
    );
}
