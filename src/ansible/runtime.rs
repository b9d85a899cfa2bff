//! The process around a module: its entry point, its one line of output, the allocator and the
//! panic hook that turn every failure into one failed JSON object.

use super::input::read_args;
use super::mask::scrub;
use super::outcome::{render, Outcome};
use super::{Module, ModuleDef};
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
