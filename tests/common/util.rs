//! What every fixture needs of this machine: the checkout and the server cache, free ports on
//! 127.0.0.1, unique names and secrets, the clock, and task arguments built from a base.

use serde_json::Value;
use std::path::PathBuf;

/// The repository checkout the tests run from.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where tests/servers/*.sh keep the servers and Python environments they install.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("MATRIX_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/matrix-users")
        })
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A random value for secrets and names: tests never rely on fixed ones.
pub fn random_secret(prefix: &str) -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{:x}{:x}{n}", t, std::process::id())
}

/// A unique lower-case localpart.
pub fn unique_user(prefix: &str) -> String {
    random_secret(prefix).to_lowercase()
}

/// Milliseconds since the epoch (the unit of Synapse's and Dendrite's token expiry times).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `base` with the keys of `extra` added or replaced: a task's arguments from a server's
/// defaults.
pub fn merged(base: Value, extra: Value) -> Value {
    let mut v = base;
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}
