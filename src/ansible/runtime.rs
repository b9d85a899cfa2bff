//! The process around a module: its entry point, its one line of output, the allocator and the
//! panic hook that turn every failure into one failed JSON object.

use super::error::Result;
use super::input::read_args;
use super::mask::escape_text;
use super::mask::scrub;
use super::module::{Module, ModuleDef};
use super::outcome::Outcome;
use super::task::pending_warnings;
use serde_json::Map;
use serde_json::{json, Value};

/// Runs a module from `main`: reads arguments, validates them, runs it, prints the one JSON
/// result and exits (1 when failed). A panic becomes a `failed` result too, never a backtrace.
pub fn run_main(def: &'static ModuleDef) -> ! {
    install_panic_hook(def.name);
    let args = std::env::args().nth(1);
    let parsed = read_args(args.as_deref());
    let (module, result) = match parsed.and_then(|a| Module::from_args(def.name, def.spec, a)) {
        Ok(mut m) => {
            let r = (def.run)(&mut m);
            (Some(m), r)
        }
        Err(e) => (None, Err(e)),
    };
    if let Ok(outcome) = &result {
        check_returns(def, outcome);
    }
    let out = render(module.as_ref(), result);
    emit(&out)
}

/// Every key a module returns must be documented in its RETURN: checked in debug builds (the
/// integration tests run those), so an undocumented key fails the tests, never a user's task.
fn check_returns(def: &ModuleDef, outcome: &Outcome) {
    if cfg!(debug_assertions) {
        for key in outcome.fields.keys() {
            assert!(
                def.doc.returns.iter().any(|r| r.name == key),
                "{} returns '{key}', which its RETURN docs do not list",
                def.name
            );
        }
    }
}

fn emit(out: &Value) -> ! {
    use std::io::Write;
    let failed = out.get("failed").and_then(Value::as_bool).unwrap_or(true);
    let text = serde_json::to_string(out).unwrap_or_else(|_| {
        r#"{"failed": true, "changed": false, "msg": "could not serialise the result"}"#.into()
    });
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
    let _ = stdout.flush();
    std::process::exit(if failed { 1 } else { 0 })
}

/// The allocator of every module binary: the system's, except that an allocation that fails
/// ends the module with one failed JSON object (the default aborts with a line on stderr, which
/// Ansible reports as "MODULE FAILURE" without a reason).
pub struct FailSafeAllocator;

unsafe impl std::alloc::GlobalAlloc for FailSafeAllocator {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        let p = unsafe { std::alloc::System.alloc(layout) };
        if p.is_null() {
            out_of_memory(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        let p = unsafe { std::alloc::System.alloc_zeroed(layout) };
        if p.is_null() {
            out_of_memory(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { std::alloc::System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            out_of_memory(new_size);
        }
        p
    }
}

/// Writes the failure without allocating and exits.
fn out_of_memory(size: usize) -> ! {
    use std::io::Write;
    use std::os::unix::io::FromRawFd;
    let mut digits = [0u8; 20];
    let mut n = size;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // SAFETY: fd 1 is stdout; ManuallyDrop keeps it open.
    let mut out = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(1) });
    let _ = out.write_all(
        b"{\"failed\": true, \"changed\": false, \"msg\": \"out of memory: an allocation of ",
    );
    let _ = out.write_all(&digits[i..]);
    let _ = out
        .write_all(b" bytes failed. The module stopped; nothing more was sent to the server.\"}\n");
    std::process::exit(1)
}

fn install_panic_hook(name: &'static str) {
    std::panic::set_hook(Box::new(move |info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let mut out = json!({
            "failed": true,
            "changed": false,
            "msg": format!("internal error in module {name}: {what}{at}. This is a bug; please report it."),
        });
        scrub(&mut out);
        emit(&out)
    }));
}

/// Renders the single JSON object printed on stdout. `module` is None when the arguments could
/// not even be parsed.
pub fn render(module: Option<&Module>, result: Result<Outcome>) -> Value {
    let outcome = match result {
        Ok(o) => o,
        Err(e) => Outcome::default().failed(e.0),
    };
    let mut warnings: Vec<String> = module.map(|m| m.warnings().to_vec()).unwrap_or_default();
    for w in pending_warnings()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        if !warnings.contains(w) {
            warnings.push(w.clone());
        }
    }
    let mut out = Map::new();
    out.insert("changed".into(), Value::Bool(outcome.changed));
    out.insert("failed".into(), Value::Bool(outcome.failed));
    if let Some(msg) = outcome.msg {
        out.insert("msg".into(), Value::String(msg));
    }
    for (k, v) in outcome.fields {
        out.insert(k, v);
    }
    if let Some(m) = module {
        if let Some(d) = outcome.diff.filter(|_| m.diff_mode) {
            let mut diff = Map::new();
            diff.insert("before".into(), d.before);
            diff.insert("after".into(), d.after);
            if let Some(h) = d.before_header {
                diff.insert("before_header".into(), h.into());
            }
            if let Some(h) = d.after_header {
                diff.insert("after_header".into(), h.into());
            }
            out.insert("diff".into(), Value::Object(diff));
        }
        if !m.no_log {
            out.insert("invocation".into(), m.invocation());
        }
    }
    if !warnings.is_empty() {
        out.insert("warnings".into(), json!(warnings));
    }
    let mut out = Value::Object(out);
    // Secrets out first (their raw forms), then every message escaped, then secrets again (their
    // escaped forms are registered too).
    scrub(&mut out);
    escape_messages(&mut out);
    scrub(&mut out);
    out
}

/// Escapes the texts a person reads: `msg`, `warnings`, and the `msg` of every entry of a list.
fn escape_messages(out: &mut Value) {
    let Some(obj) = out.as_object_mut() else {
        return;
    };
    if let Some(Value::String(m)) = obj.get_mut("msg") {
        *m = escape_text(m);
    }
    if let Some(Value::Array(ws)) = obj.get_mut("warnings") {
        for w in ws.iter_mut() {
            if let Value::String(t) = w {
                *t = escape_text(t);
            }
        }
    }
    for v in obj.values_mut() {
        if let Value::Array(items) = v {
            for item in items.iter_mut() {
                if let Some(Value::String(m)) = item.get_mut("msg") {
                    *m = escape_text(m);
                }
            }
        }
    }
}
