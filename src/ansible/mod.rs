//! The Ansible module contract, owned here for every binary.
//!
//! Ansible runs a binary module as `<module> <args-file>`; the file is one flat JSON object with
//! the task's arguments and `_ansible_*` keys. The module prints exactly one JSON object on
//! stdout. Ansible validates nothing for binary modules and does not know which options are
//! secret, so this module does what `AnsibleModule` does for Python modules: validation and
//! coercion ([`spec`]), check and diff mode flags, `invocation.module_args` with no_log values
//! masked, and removal of every secret from the whole result.

pub mod docs;
pub mod spec;

pub use docs::{ModuleDoc, Ret};
pub use spec::{Kind, Opt, Params, Spec};

use serde_json::{json, Map, Value};
use std::sync::{Mutex, OnceLock};

/// What Ansible's own modules print in place of a no_log value.
pub const NO_LOG_PLACEHOLDER: &str = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER";
/// What replaces a secret found anywhere else in the output (Ansible's `remove_values`).
pub const SCRUBBED: &str = "********";
/// Secrets shorter than this are not scrubbed from free text: masking every "abc" in a message
/// would hide more than it protects. They are still masked in `invocation`.
const MIN_SCRUB_LEN: usize = 4;

/// Lists longer than this are summarised in `invocation`, not echoed entry by entry.
const INVOCATION_LIST_LIMIT: usize = 50;

/// A failure: the message is shown to the operator as `msg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl Error {
    pub fn new(msg: impl Into<String>) -> Error {
        Error(msg.into())
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Builds an [`Error`] from a format string.
#[macro_export]
macro_rules! fail {
    ($($arg:tt)*) => { $crate::ansible::Error(format!($($arg)*)) };
}

/// Secrets seen by this process: no_log arguments and secrets read from files. Global so that the
/// panic hook can scrub them too.
fn secrets() -> &'static Mutex<Vec<String>> {
    static SECRETS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| Mutex::new(Vec::new()))
}

/// Registers a secret so that it never appears in the module's output.
pub fn register_secret(s: &str) {
    if s.is_empty() {
        return;
    }
    let mut list = secrets().lock().unwrap_or_else(|e| e.into_inner());
    if !list.iter().any(|x| x == s) {
        list.push(s.to_string());
        // Longest first, so a secret containing another is replaced whole.
        list.sort_by_key(|x| std::cmp::Reverse(x.len()));
    }
}

/// Replaces every registered secret in every string of `v` (recursively).
pub fn scrub(v: &mut Value) {
    let list = secrets().lock().unwrap_or_else(|e| e.into_inner()).clone();
    scrub_with(v, &list);
}

fn scrub_with(v: &mut Value, list: &[String]) {
    match v {
        Value::String(s) => {
            for secret in list.iter().filter(|x| x.len() >= MIN_SCRUB_LEN) {
                if s.contains(secret.as_str()) {
                    *s = s.replace(secret.as_str(), SCRUBBED);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| scrub_with(i, list)),
        Value::Object(map) => map.values_mut().for_each(|i| scrub_with(i, list)),
        _ => {}
    }
}

/// A module: its name, its options, its documentation and the function that runs it. The
/// registry of every module is [`crate::MODULES`].
#[derive(Debug)]
pub struct ModuleDef {
    pub name: &'static str,
    pub spec: &'static Spec,
    pub doc: &'static ModuleDoc,
    pub run: fn(&mut Module) -> Result<Outcome>,
}

/// The running module: validated parameters and Ansible's flags.
#[derive(Debug)]
pub struct Module {
    pub name: &'static str,
    pub spec: &'static Spec,
    pub params: Params,
    pub check_mode: bool,
    pub diff_mode: bool,
    /// Task-level `no_log: true`: no `invocation` is returned at all.
    pub no_log: bool,
    pub verbosity: u64,
    warnings: Vec<String>,
}

impl Module {
    /// Parses arguments as Ansible sends them. Secrets are registered before anything can fail,
    /// so even a validation error cannot echo them.
    pub fn from_args(
        name: &'static str,
        spec: &'static Spec,
        mut args: Map<String, Value>,
    ) -> Result<Module> {
        register_no_log_values(spec.options(), &args);
        let flag = |args: &Map<String, Value>, k: &str| {
            args.get(k).and_then(Value::as_bool).unwrap_or(false)
        };
        let (check_mode, diff_mode, no_log) = (
            flag(&args, "_ansible_check_mode"),
            flag(&args, "_ansible_diff"),
            flag(&args, "_ansible_no_log"),
        );
        let verbosity = args
            .get("_ansible_verbosity")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        // Taken out, not copied: a list of thousands of users is held once.
        args.retain(|k, _| !k.starts_with("_ansible_"));
        let params = spec
            .validate(&args)
            .map_err(|errors| Error(errors.join("; ")))?;
        drop(args);
        let warnings = params.warnings.clone();
        Ok(Module {
            name,
            spec,
            params,
            check_mode,
            diff_mode,
            no_log,
            verbosity,
            warnings,
        })
    }

    /// Adds a warning, shown by Ansible as `[WARNING]`.
    pub fn warn(&mut self, msg: impl Into<String>) {
        let msg = msg.into();
        if !self.warnings.contains(&msg) {
            self.warnings.push(msg);
        }
    }

    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// `invocation.module_args`: validated parameters with no_log values masked, and long lists
    /// (thousands of users) summarised instead of echoed.
    pub fn invocation(&self) -> Value {
        let mut args = Map::new();
        for (name, value) in self.params.iter() {
            let masked = match (self.spec.option(name), value) {
                (_, Value::Array(items)) if items.len() > INVOCATION_LIST_LIMIT => {
                    Value::from(format!("({} entries, not echoed)", items.len()))
                }
                (Some(opt), _) => mask_option(opt, value),
                (None, _) => value.clone(),
            };
            args.insert(name.to_string(), masked);
        }
        json!({ "module_args": args })
    }
}

fn register_no_log_values<'a>(options: impl Iterator<Item = &'a Opt>, args: &Map<String, Value>) {
    for opt in options {
        for key in std::iter::once(opt.name).chain(opt.aliases.iter().copied()) {
            let Some(v) = args.get(key) else { continue };
            if opt.no_log {
                register_value(v);
            }
            if !opt.suboptions.is_empty() {
                for entry in v.as_array().into_iter().flatten() {
                    if let Some(obj) = entry.as_object() {
                        register_no_log_values(opt.suboptions.iter(), obj);
                    }
                }
            }
        }
    }
}

fn register_value(v: &Value) {
    match v {
        Value::String(s) => register_secret(s),
        Value::Number(n) => register_secret(&n.to_string()),
        Value::Array(a) => a.iter().for_each(register_value),
        Value::Object(o) => o.values().for_each(register_value),
        _ => {}
    }
}

fn mask_option(opt: &Opt, value: &Value) -> Value {
    if opt.no_log {
        return Value::from(NO_LOG_PLACEHOLDER);
    }
    if opt.suboptions.is_empty() {
        return value.clone();
    }
    match value {
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| match item {
                    Value::Object(obj) => Value::Object(
                        obj.iter()
                            .map(|(k, v)| {
                                let sub = opt
                                    .suboptions
                                    .iter()
                                    .find(|s| s.name == k || s.aliases.contains(&k.as_str()));
                                let v = match sub {
                                    Some(s) => mask_option(s, v),
                                    None => v.clone(),
                                };
                                (k.clone(), v)
                            })
                            .collect(),
                    ),
                    other => other.clone(),
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The diff Ansible renders with `--diff`.
#[derive(Debug, Clone, PartialEq)]
pub struct Diff {
    pub before: Value,
    pub after: Value,
    pub before_header: Option<String>,
    pub after_header: Option<String>,
}

/// A module's result, success or failure with data (e.g. a bulk run where some entries failed).
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub changed: bool,
    pub failed: bool,
    pub msg: Option<String>,
    pub diff: Option<Diff>,
    /// Module-specific return values.
    pub fields: Map<String, Value>,
}

impl Outcome {
    pub fn changed(changed: bool) -> Outcome {
        Outcome {
            changed,
            ..Outcome::default()
        }
    }
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Outcome {
        self.fields.insert(key.to_string(), value.into());
        self
    }
    pub fn msg(mut self, msg: impl Into<String>) -> Outcome {
        self.msg = Some(msg.into());
        self
    }
    pub fn diff(mut self, diff: Diff) -> Outcome {
        self.diff = Some(diff);
        self
    }
    pub fn failed(mut self, msg: impl Into<String>) -> Outcome {
        self.failed = true;
        self.msg = Some(msg.into());
        self
    }
}

/// Renders the single JSON object printed on stdout. `module` is None when the arguments could
/// not even be parsed.
pub fn render(module: Option<&Module>, result: Result<Outcome>) -> Value {
    let outcome = match result {
        Ok(o) => o,
        Err(e) => Outcome::default().failed(e.0),
    };
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
        if !m.warnings.is_empty() {
            out.insert("warnings".into(), json!(m.warnings));
        }
        if !m.no_log {
            out.insert("invocation".into(), m.invocation());
        }
    }
    let mut out = Value::Object(out);
    scrub(&mut out);
    out
}

/// Reads and parses the args file named by argv[1].
pub fn read_args(arg: Option<&str>) -> Result<Map<String, Value>> {
    let path = arg.ok_or_else(|| {
        Error::new(
            "no arguments file given: this is an Ansible module, run as `<module> <args-file>` \
             where the file holds a JSON object of options",
        )
    })?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| fail!("cannot read the arguments file {path}: {e}"))?;
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(fail!(
            "the arguments file {path} must hold a JSON object of options"
        )),
        Err(e) => Err(fail!("the arguments file {path} is not valid JSON: {e}")),
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    static OPTS: &[Opt] = &[
        Opt::str("username"),
        Opt::str("password").no_log(),
        Opt::list("users", Kind::Dict)
            .suboptions(&[Opt::str("username"), Opt::str("password").no_log()]),
    ];
    static SPEC: Spec = Spec::new(&[OPTS]);

    fn module(v: Value) -> Result<Module> {
        Module::from_args("test_module", &SPEC, v.as_object().unwrap().clone())
    }

    #[test]
    fn flags_are_read_and_ansible_keys_are_not_options() {
        let m = module(json!({
            "username": "alice", "_ansible_check_mode": true, "_ansible_diff": true,
            "_ansible_no_log": false, "_ansible_verbosity": 3, "_ansible_version": "2.19.14",
            "_ansible_some_future_key": {"x": 1}
        }))
        .unwrap();
        assert!(m.check_mode && m.diff_mode && !m.no_log);
        assert_eq!(m.verbosity, 3);
        assert_eq!(m.params.str("username"), Some("alice"));
    }

    #[test]
    fn invocation_masks_no_log_values_including_nested() {
        let m = module(json!({
            "username": "alice", "password": "hunter2-secret",
            "users": [{"username": "bob", "password": "bobs-secret-pw"}]
        }))
        .unwrap();
        let out = render(Some(&m), Ok(Outcome::changed(true)));
        let args = &out["invocation"]["module_args"];
        assert_eq!(args["password"], NO_LOG_PLACEHOLDER);
        assert_eq!(args["users"][0]["password"], NO_LOG_PLACEHOLDER);
        assert_eq!(args["users"][0]["username"], "bob");
        assert_eq!(args["username"], "alice");
        let text = out.to_string();
        assert!(!text.contains("hunter2-secret") && !text.contains("bobs-secret-pw"));
    }

    #[test]
    fn secrets_are_scrubbed_from_messages_and_fields() {
        let m = module(json!({"username": "alice", "password": "s3cr3t-in-msg"})).unwrap();
        let out = render(
            Some(&m),
            Ok(Outcome::changed(false)
                .msg("server said: bad password s3cr3t-in-msg")
                .with("echo", json!({"deep": ["x s3cr3t-in-msg y"]}))),
        );
        let text = out.to_string();
        assert!(!text.contains("s3cr3t-in-msg"), "{text}");
        assert!(text.contains("bad password ********"), "{text}");
    }

    #[test]
    fn validation_errors_cannot_echo_secrets() {
        let e = module(json!({"username": "a", "password": "leak-me-not-123", "pasword": "x"}))
            .unwrap_err();
        let out = render(None, Err(e));
        assert_eq!(out["failed"], true);
        assert!(out["msg"].as_str().unwrap().contains("pasword"));
        assert!(!out.to_string().contains("leak-me-not-123"));
    }

    #[test]
    fn long_lists_are_summarised_in_invocation() {
        let users: Vec<Value> = (0..51)
            .map(|i| json!({"username": format!("u{i}"), "password": format!("secret-{i}-pw")}))
            .collect();
        let m = module(json!({"users": users})).unwrap();
        let out = render(Some(&m), Ok(Outcome::changed(false)));
        assert_eq!(
            out["invocation"]["module_args"]["users"],
            "(51 entries, not echoed)"
        );
        let m = module(json!({"users": users[..50]})).unwrap();
        let out = render(Some(&m), Ok(Outcome::changed(false)));
        assert_eq!(
            out["invocation"]["module_args"]["users"][49]["username"],
            "u49"
        );
    }

    #[test]
    fn task_no_log_drops_invocation() {
        let m = module(json!({"username": "alice", "_ansible_no_log": true})).unwrap();
        let out = render(Some(&m), Ok(Outcome::changed(false)));
        assert!(out.get("invocation").is_none());
    }

    #[test]
    fn diff_only_in_diff_mode_and_warnings_shown() {
        let d = Diff {
            before: json!({"exists": false}),
            after: json!({"exists": true}),
            before_header: Some("@a:b".into()),
            after_header: None,
        };
        let mut m = module(json!({"username": "a"})).unwrap();
        m.warn("careful");
        m.warn("careful");
        let out = render(Some(&m), Ok(Outcome::changed(true).diff(d.clone())));
        assert!(out.get("diff").is_none());
        assert_eq!(out["warnings"], json!(["careful"]));
        let mut m = module(json!({"username": "a", "_ansible_diff": true})).unwrap();
        m.warn("x");
        let out = render(Some(&m), Ok(Outcome::changed(true).diff(d)));
        assert_eq!(out["diff"]["after"]["exists"], true);
        assert_eq!(out["diff"]["before_header"], "@a:b");
    }

    #[test]
    fn failures_set_failed() {
        let m = module(json!({"username": "a"})).unwrap();
        let out = render(Some(&m), Err(Error::new("boom")));
        assert_eq!(out["failed"], true);
        assert_eq!(out["changed"], false);
        assert_eq!(out["msg"], "boom");
        let out = render(Some(&m), Ok(Outcome::changed(true).failed("2 of 3 failed")));
        assert_eq!(out["failed"], true);
        assert_eq!(out["changed"], true);
    }

    #[test]
    fn args_file_errors_are_clear() {
        let e = read_args(None).unwrap_err();
        assert!(e.0.contains("no arguments file"));
        let e = read_args(Some("/nonexistent/args")).unwrap_err();
        assert!(e
            .0
            .contains("cannot read the arguments file /nonexistent/args"));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("args");
        std::fs::write(&p, "not json").unwrap();
        let e = read_args(p.to_str()).unwrap_err();
        assert!(e.0.contains("is not valid JSON"), "{e}");
        std::fs::write(&p, "[1,2]").unwrap();
        let e = read_args(p.to_str()).unwrap_err();
        assert!(e.0.contains("must hold a JSON object"), "{e}");
        std::fs::write(&p, r#"{"a": 1}"#).unwrap();
        assert_eq!(read_args(p.to_str()).unwrap()["a"], 1);
    }
}
