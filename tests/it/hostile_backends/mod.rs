//! Issue 18, "Never lie, never hang, never leak", on every backend: MAS-, Dendrite- and
//! PostgreSQL-shaped misbehaviour from small hostile servers started here on 127.0.0.1, one test
//! (or table row) per case of the issue, grouped by its classes:
//!
//! - [`subjects`]: an answer about another user, token, address or resource type is a failure,
//!   and nothing is done to that other subject;
//! - [`contradictions`]: an answer that contradicts the request (the old flag, a web page, a
//!   token that is still valid, a `mac` token, fields of the wrong JSON type, a proxy's 404 page)
//!   is a failure, never a success;
//! - [`endless`]: paged listings stop, trickling answers and silent PostgreSQL servers end within
//!   `timeout` (an external watchdog kills a module that does not: a hang is a failure, never a
//!   stuck test);
//! - [`writes`]: a full user ID that cannot be checked is never registered;
//! - [`leaks`]: no secret reaches the output in any encoding;
//! - [`explains`]: messages name the option to fix, what answered, and what exists after a
//!   partial success;
//! - [`dendrite_lifecycle`]: Dendrite's evacuateUser and resetPassword (before the database
//!   writes of a deactivation and a reactivation) answered empty, with a web page, the wrong
//!   shape or a redirect stop the task before the database is written;
//! - [`mas_lifecycle`]: MAS's lock, unlock, deactivate and reactivate answered about another
//!   user, empty, with a web page or a redirect are failures, never a success.
//!
//! The MAS stand-in ([`mas_shaped`]) is a hostile server that impersonates Matrix Authentication
//! Service's OAuth discovery, token endpoint and admin API with the shapes of the real MAS 1.22
//! recording (tests/data/mas/transcripts.jsonl), then misbehaves where a case says. It is not a
//! MAS fake: nothing here claims MAS answers like this; the point is that the modules must not
//! believe it when it does. The one real server used is Dendrite on SQLite (from the Go module
//! proxy, `explains::dendrite_on_sqlite_disables_a_token_or_says_it_cannot`).
//!
//! Claims about writes are checked on the requests the hostile servers recorded, never only on
//! what the module said.

mod contradictions;
mod dendrite_lifecycle;
mod endless;
mod explains;
mod leaks;
mod lifecycle;
mod mas_lifecycle;
mod mas_shaped;
mod slow;
mod subjects;
mod writes;

use crate::common::hostile::{Reply, Req};
use crate::common::module::args_file;
use crate::common::{module_bin, Run};
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A password every server here takes (MAS's complexity check, Dendrite's 8 bytes).
pub const STRONG: &str = "Plum-Orbit-Lantern-42-Quietly";

/// `Err(message)` unless `cond`: table rows report every failing row, not only the first.
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}
pub(crate) use ensure;

/// Panics of the hostile servers' handlers, in this whole test binary. A handler that panics
/// drops the connection, which a module reports as a failure: a test could pass for that wrong
/// reason, so every run checks this stays 0.
static HANDLER_PANICS: AtomicUsize = AtomicUsize::new(0);

/// `handler`, with a panic counted (and answered 599) instead of silently dropping the connection.
pub fn guarded(
    handler: impl Fn(&Req) -> Reply + Send + Sync + 'static,
) -> impl Fn(&Req) -> Reply + Send + Sync + 'static {
    move |r| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(r))).unwrap_or_else(|_| {
            HANDLER_PANICS.fetch_add(1, Ordering::Relaxed);
            Reply::Full(599, "text/plain", b"HOSTILE HANDLER PANICKED".to_vec())
        })
    }
}

fn no_handler_panicked() -> Result<(), String> {
    let n = HANDLER_PANICS.load(Ordering::Relaxed);
    ensure!(
        n == 0,
        "{n} hostile handler(s) panicked: the test itself is wrong"
    );
    Ok(())
}

/// How a bounded run ended.
pub struct Bounded {
    /// The module's result, or None when the watchdog killed it.
    pub run: Option<Run>,
    pub elapsed: Duration,
}

impl Bounded {
    /// The run, or an error saying the module hung.
    pub fn ended(self, what: &str) -> Result<(Run, Duration), String> {
        match self.run {
            Some(r) => Ok((r, self.elapsed)),
            None => Err(format!(
                "{what}: the module still ran after {:.1} s and was killed by the watchdog",
                self.elapsed.as_secs_f64()
            )),
        }
    }
}

/// Runs a module as Ansible does (args in a JSON file, `_ansible_*` keys added, `flags` on top),
/// killing it after `limit`: a module that hangs ends the row, not the test run.
pub fn run_bounded(module: &str, args: Value, flags: &[(&str, Value)], limit: Duration) -> Bounded {
    let dir = tempfile::tempdir().unwrap();
    let path = args_file(dir.path(), module, args, flags);
    let mut child = Command::new(module_bin(module))
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Bounded {
                run: None,
                elapsed: started.elapsed(),
            };
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = started.elapsed();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        json!({"failed": true, "msg": format!("NOT ONE JSON OBJECT ({e}): {stdout:?} {stderr:?}")})
    });
    Bounded {
        run: Some(Run {
            json,
            code: out.status.code().unwrap_or(-1),
            stdout,
            stderr,
        }),
        elapsed,
    }
}

/// A run that no hostile answer may stretch beyond two minutes (for cases that are not about
/// time): a hang is reported as a failure of the row.
pub fn run(module: &str, args: Value) -> Result<Run, String> {
    let r = run_bounded(module, args, &[], Duration::from_secs(120)).ended(module);
    no_handler_panicked()?;
    r.map(|(r, _)| r)
}

/// `base` with the keys of `extra` set (a null removes nothing: it is given as null).
pub fn with(base: &Value, extra: Value) -> Value {
    let mut v = base.clone();
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

/// A failure (failed true, non-zero exit, exactly one JSON object) whose message contains every
/// one of `want`; `secrets` appear nowhere in stdout or stderr.
pub fn failure(r: &Run, want: &[&str], secrets: &[&str]) -> Result<(), String> {
    ensure!(r.failed(), "must fail, got: {}", r.stdout);
    ensure!(r.code != 0, "a failure must exit non-zero: {}", r.stdout);
    ensure!(
        r.stdout.trim().lines().count() == 1,
        "exactly one line of JSON: {}",
        r.stdout
    );
    for w in want {
        ensure!(r.msg().contains(w), "message lacks {w:?}: {}", r.msg());
    }
    for s in secrets {
        ensure!(
            !r.stdout.contains(s) && !r.stderr.contains(s),
            "secret {s:?} in the output: {} {}",
            r.stdout,
            r.stderr
        );
    }
    Ok(())
}

/// Every string of a JSON value, decoded, joined: a secret JSON-escaped in stdout is found here.
pub fn all_strings(v: &Value) -> String {
    let mut out = String::new();
    fn walk(v: &Value, out: &mut String) {
        match v {
            Value::String(s) => {
                out.push_str(s);
                out.push('\n');
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(m) => m.iter().for_each(|(k, x)| {
                out.push_str(k);
                out.push('\n');
                walk(x, out);
            }),
            _ => {}
        }
    }
    walk(v, &mut out);
    out
}

/// Runs every row (in parallel when `parallel`: rows that wait on timeouts), then fails once,
/// listing each failing row and why.
pub fn table<T: Sync>(
    rows: &[(&str, T)],
    parallel: bool,
    check: impl Fn(&T) -> Result<(), String> + Sync,
) {
    let results: Vec<(String, Result<(), String>)> = if parallel {
        std::thread::scope(|s| {
            let handles: Vec<_> = rows
                .iter()
                .map(|(name, row)| {
                    let check = &check;
                    (name.to_string(), s.spawn(move || check(row)))
                })
                .collect();
            handles
                .into_iter()
                .map(|(n, h)| {
                    let r = h
                        .join()
                        .unwrap_or_else(|_| Err("the row panicked".to_string()));
                    (n, r)
                })
                .collect()
        })
    } else {
        rows.iter()
            .map(|(name, row)| (name.to_string(), check(row)))
            .collect()
    };
    if let Err(e) = no_handler_panicked() {
        panic!("{e}");
    }
    let failed: Vec<String> = results
        .iter()
        .filter_map(|(n, r)| r.as_ref().err().map(|e| format!("- {n}: {e}")))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} rows failed:\n{}",
        failed.len(),
        results.len(),
        failed.join("\n")
    );
}
