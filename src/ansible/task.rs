//! What the running task tells the shared machinery: check mode, its overall deadline, and the
//! warnings raised below the module.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Check mode of the running module, for the shared machinery (a login is a write).
static CHECK_MODE: AtomicBool = AtomicBool::new(false);
/// The task's `timeout` in seconds (0: not set), for waits outside the HTTP client.
static TIMEOUT_SECS: AtomicU64 = AtomicU64::new(0);

/// Whether the module runs in check mode: nothing may be written anywhere, logins included.
pub fn check_mode() -> bool {
    CHECK_MODE.load(Ordering::Relaxed)
}

/// The task's `timeout` option, where the module has one.
pub fn task_timeout() -> Option<Duration> {
    match TIMEOUT_SECS.load(Ordering::Relaxed) {
        0 => None,
        n => Some(Duration::from_secs(n)),
    }
}

pub(super) fn pending_warnings() -> &'static Mutex<Vec<String>> {
    static W: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    W.get_or_init(|| Mutex::new(Vec::new()))
}

/// A warning from the shared machinery (client, secret files), shown with the module's own.
pub fn warn(msg: impl Into<String>) {
    let msg = msg.into();
    let mut list = pending_warnings().lock().unwrap_or_else(|e| e.into_inner());
    if !list.contains(&msg) {
        list.push(msg);
    }
}

pub(super) fn set_check_mode(on: bool) {
    CHECK_MODE.store(on, Ordering::Relaxed);
}

pub(super) fn set_timeout(secs: u64) {
    TIMEOUT_SECS.store(secs, Ordering::Relaxed);
}
