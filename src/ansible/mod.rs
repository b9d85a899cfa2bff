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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

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

/// Registers a secret so that it never appears in the module's output: the value itself and the
/// forms a server or this module may echo it in (JSON-escaped, also with `\uXXXX` for non-ASCII
/// as Python writes it, HTML- and URL-encoded, and escaped for a message).
pub fn register_secret(s: &str) {
    if s.is_empty() {
        return;
    }
    let mut list = secrets().lock().unwrap_or_else(|e| e.into_inner());
    for form in secret_forms(s) {
        if !list.contains(&form) {
            list.push(form);
        }
    }
    // Longest first, so a secret containing another is replaced whole.
    list.sort_by_key(|x| std::cmp::Reverse(x.len()));
}

/// The spellings of a secret that may appear in text: raw and escaped.
fn secret_forms(s: &str) -> Vec<String> {
    let json = serde_json::to_string(s).unwrap_or_default();
    let json = json.trim_matches('"').to_string();
    let mut ascii = String::new();
    for c in json.chars() {
        if c.is_ascii() {
            ascii.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                ascii.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    let html = s
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;");
    let html39 = html.replace("&#x27;", "&#39;");
    let pct: String = s
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let mut forms = vec![
        s.to_string(),
        json,
        ascii,
        html,
        html39,
        pct,
        escape_text(s),
    ];
    let upper = ascii_upper_escapes(&forms[2]);
    forms.push(upper);
    forms.sort();
    forms.dedup();
    forms
}

/// `\u00e4` -> `\u00E4`: some servers write hex digits in upper case.
fn ascii_upper_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("\\u") {
        out.push_str(&rest[..i + 2]);
        let hex: String = rest[i + 2..].chars().take(4).collect();
        out.push_str(&hex.to_ascii_uppercase());
        rest = &rest[i + 2 + hex.len()..];
    }
    out.push_str(rest);
    out
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
            if let std::borrow::Cow::Owned(masked) = mask_url_credentials(s) {
                *s = masked;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| scrub_with(i, list)),
        Value::Object(map) => map.values_mut().for_each(|i| scrub_with(i, list)),
        _ => {}
    }
}

/// Removes every registered secret from a text about to be cut for an excerpt, including a
/// secret already cut short at its end (the first bytes of a secret end the text).
pub fn scrub_text(s: &str) -> String {
    let list = secrets().lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut v = Value::String(s.to_string());
    scrub_with(&mut v, &list);
    let Value::String(mut s) = v else {
        return String::new();
    };
    for secret in list.iter().filter(|x| x.len() > MIN_SCRUB_LEN) {
        let max = (secret.len() - 1).min(s.len());
        let cut = (MIN_SCRUB_LEN..=max)
            .rev()
            .filter(|n| secret.is_char_boundary(*n))
            .find(|n| s.ends_with(&secret[..*n]));
        if let Some(n) = cut {
            let keep = s.len() - n;
            s.truncate(keep);
            s.push_str(SCRUBBED);
        }
    }
    s
}

/// Masks the credentials of every URL in a text (`http://user:pass@host` becomes
/// `http://********@host`), textually, so that a URL that cannot be parsed is masked too.
pub fn mask_url_credentials(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains("://") || !s.contains('@') {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut changed = false;
    while let Some(i) = rest.find("://") {
        let database = names_a_database(&rest[..i]);
        out.push_str(&rest[..i + 3]);
        rest = &rest[i + 3..];
        let end = rest.find(['/', '?', '#', '"', '\'']).unwrap_or(rest.len());
        if let Some(at) = rest[..end].rfind('@') {
            match (database, rest[..at].split_once(':')) {
                // A database URL's user is a name, not a secret: only its password is one.
                (true, Some((user, _))) => {
                    out.push_str(user);
                    out.push(':');
                    out.push_str(SCRUBBED);
                    changed = true;
                }
                (true, None) => out.push_str(&rest[..at]),
                (false, _) => {
                    out.push_str(SCRUBBED);
                    changed = true;
                }
            }
            rest = &rest[at..];
        }
    }
    out.push_str(rest);
    if changed {
        std::borrow::Cow::Owned(out)
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// Whether the text before `://` ends in a database URL scheme (`postgresql`, `postgres`), whose
/// user part is a role name rather than a token.
fn names_a_database(before: &str) -> bool {
    let scheme = before
        .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.'))
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    scheme == "postgresql" || scheme == "postgres"
}

/// The credentials part of every URL in a text (`user:pass` of `http://user:pass@host`), to be
/// registered as secrets.
fn url_credentials(s: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("://") {
        let database = names_a_database(&rest[..i]);
        rest = &rest[i + 3..];
        let end = rest.find(['/', '?', '#', '"', '\'']).unwrap_or(rest.len());
        if let Some(at) = rest[..end].rfind('@') {
            let userinfo = &rest[..at];
            if !database {
                found.push(userinfo.to_string());
            }
            if let Some((_, pw)) = userinfo.split_once(':') {
                found.push(pw.to_string());
            }
        }
    }
    found
}

/// Escapes control, bidirectional and other invisible characters, so that a message shows what
/// is there and cannot reorder or hide its own text.
pub fn escape_text(s: &str) -> String {
    if !s.chars().any(needs_escape) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if needs_escape(c) {
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c as u32,
            0x061C | 0x200B..=0x200F | 0x202A..=0x202E | 0x2028 | 0x2029 | 0x2060..=0x2069 | 0xFEFF)
}

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

fn pending_warnings() -> &'static Mutex<Vec<String>> {
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

/// Reads an Ansible boolean as `ansible.module_utils.parsing.convert_bool.boolean` does
/// (strict): booleans, the strings y/yes/on/1/true/t and n/no/off/0/false/f in any case, and
/// the numbers 1 and 0. Anything else is None.
pub fn ansible_boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_f64() {
            Some(1.0) => Some(true),
            Some(0.0) => Some(false),
            _ => None,
        },
        Value::String(s) => match s.trim().to_lowercase().as_str() {
            "y" | "yes" | "on" | "1" | "true" | "t" => Some(true),
            "n" | "no" | "off" | "0" | "false" | "f" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// One of Ansible's `_ansible_*` flags; absent or null is false, anything unreadable fails.
fn ansible_flag(args: &Map<String, Value>, key: &str) -> Result<bool> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(v) => ansible_boolean(v).ok_or_else(|| {
            let shown = match v {
                Value::String(s) => format!("'{}'", escape_text(s)),
                other => escape_text(&other.to_string()),
            };
            fail!(
                "{key} is {shown}, which is not a boolean (use true or false, yes or no, 1 or 0); nothing was done"
            )
        }),
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
        for v in args.values() {
            register_url_credentials(v);
        }
        // Check mode and no_log fail safe: read before anything else, and an unreadable value
        // stops the module before any request.
        let check_mode = ansible_flag(&args, "_ansible_check_mode")?;
        let no_log = ansible_flag(&args, "_ansible_no_log")?;
        let diff_mode = ansible_flag(&args, "_ansible_diff")?;
        CHECK_MODE.store(check_mode, Ordering::Relaxed);
        let verbosity = match args.get("_ansible_verbosity") {
            Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
            Some(v) => v.as_u64().unwrap_or(0),
            None => 0,
        };
        // Taken out, not copied: a list of thousands of users is held once.
        args.retain(|k, _| !k.starts_with("_ansible_"));
        let params = spec
            .validate(&args)
            .map_err(|errors| Error(errors.join("; ")))?;
        drop(args);
        let warnings = params.warnings.clone();
        if let Some(t) = params.int("timeout").filter(|t| *t > 0) {
            TIMEOUT_SECS.store(t as u64, Ordering::Relaxed);
        }
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

/// Credentials embedded in a URL anywhere in the arguments are secrets, also in a URL that
/// cannot be parsed.
fn register_url_credentials(v: &Value) {
    match v {
        Value::String(s) => url_credentials(s).iter().for_each(|c| register_secret(c)),
        Value::Array(a) => a.iter().for_each(register_url_credentials),
        Value::Object(o) => o.values().for_each(register_url_credentials),
        _ => {}
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
    let mut warnings: Vec<String> = module.map(|m| m.warnings.clone()).unwrap_or_default();
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

/// The largest arguments file read (a bulk import of many thousand users fits).
pub const MAX_ARGS_FILE: u64 = 64 << 20;

/// Reads a regular file of at most `limit` bytes, without ever blocking: the file is opened
/// non-blocking (a FIFO with no writer cannot hang the open), and anything but a regular file
/// (a FIFO, a device such as /dev/zero, a directory) is refused before a byte is read.
pub fn read_regular_file(path: &str, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Error as IoError, ErrorKind, Read};
    use std::os::unix::fs::OpenOptionsExt;
    #[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
    const O_NONBLOCK: i32 = 0x0004;
    #[cfg(not(any(target_os = "macos", target_os = "ios", target_os = "freebsd")))]
    const O_NONBLOCK: i32 = 0o4000;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "a directory"
        } else {
            "not a regular file (a FIFO, socket or device)"
        };
        return Err(IoError::new(ErrorKind::InvalidInput, what));
    }
    if meta.len() > limit {
        return Err(IoError::new(
            ErrorKind::InvalidData,
            format!(
                "it is {} bytes, more than the {limit} bytes allowed",
                meta.len()
            ),
        ));
    }
    let mut buf = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        return Err(IoError::new(
            ErrorKind::InvalidData,
            format!("it holds more than the {limit} bytes allowed"),
        ));
    }
    Ok(buf)
}

/// Standard input, at most `limit` bytes (more is an error, not a truncation).
fn read_stdin(limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::new();
    std::io::stdin()
        .lock()
        .take(limit + 1)
        .read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        let msg = format!("standard input holds more than the {limit} bytes allowed");
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, msg));
    }
    Ok(buf)
}

/// Reads and parses the args file named by argv[1]; `-` reads the arguments from standard input
/// (the collection's action plugin sends them there: they never touch the target's disk).
pub fn read_args(arg: Option<&str>) -> Result<Map<String, Value>> {
    let path = arg.ok_or_else(|| {
        Error::new(
            "no arguments file given: this is an Ansible module, run as `<module> <args-file>` \
             where the file holds a JSON object of options",
        )
    })?;
    let bytes = if path == "-" {
        read_stdin(MAX_ARGS_FILE)
    } else {
        read_regular_file(path, MAX_ARGS_FILE)
    }
    .map_err(|e| fail!("cannot read the arguments file {}: {e}", escape_text(path)))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| fail!("the arguments file {} is not UTF-8", escape_text(path)))?;
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
    fn flags_are_ansible_booleans_and_fail_safe() {
        for (v, want) in [
            (json!(true), Some(true)),
            (json!("yes"), Some(true)),
            (json!("True"), Some(true)),
            (json!(" on "), Some(true)),
            (json!(1), Some(true)),
            (json!(1.0), Some(true)),
            (json!("t"), Some(true)),
            (json!("no"), Some(false)),
            (json!("FALSE"), Some(false)),
            (json!(0), Some(false)),
            (json!("f"), Some(false)),
            (json!("maybe"), None),
            (json!(""), None),
            (json!(2), None),
            (json!("1.0"), None),
            (json!([true]), None),
            (json!({}), None),
        ] {
            assert_eq!(ansible_boolean(&v), want, "{v}");
        }
        let m = module(
            json!({"username": "a", "_ansible_check_mode": "yes", "_ansible_no_log": "True"}),
        )
        .unwrap();
        assert!(m.check_mode && m.no_log);
        let e = module(json!({"username": "a", "_ansible_check_mode": "perhaps"})).unwrap_err();
        assert!(
            e.0.contains("_ansible_check_mode") && e.0.contains("nothing was done"),
            "{e}"
        );
    }

    #[test]
    fn url_credentials_are_masked_even_in_urls_that_do_not_parse() {
        for (url, secret) in [
            ("http://u:pw-one@host:8008/x", "pw-one"),
            ("https://u:pw two@[::1/", "pw two"),
            ("http://token-only@host", "token-only"),
            ("see http://u:p%40ss@h and more", "p%40ss"),
        ] {
            let masked = mask_url_credentials(url);
            assert!(!masked.contains(secret), "{url} -> {masked}");
            assert!(masked.contains("********@"), "{masked}");
        }
        assert_eq!(mask_url_credentials("http://host/a@b"), "http://host/a@b");
        // A database URL's user is a role name: only a password is masked.
        assert_eq!(
            mask_url_credentials("postgresql://synapse@127.0.0.1:5432/synapse"),
            "postgresql://synapse@127.0.0.1:5432/synapse"
        );
        assert_eq!(
            mask_url_credentials("postgres://synapse:db-pw-1@h/synapse"),
            "postgres://synapse:********@h/synapse"
        );
        assert!(url_credentials("postgresql://synapse@h/db").is_empty());
        assert_eq!(
            url_credentials("postgresql://synapse:db-pw-1@h/db"),
            ["db-pw-1"]
        );
        assert_eq!(
            mask_url_credentials("alice@example.org"),
            "alice@example.org"
        );
        let m = module(json!({"username": "http://bob:urlpw-123@host"})).unwrap();
        let out = render(Some(&m), Ok(Outcome::changed(false).msg("x")));
        assert!(!out.to_string().contains("urlpw-123"), "{out}");
    }

    #[test]
    fn messages_are_escaped_and_secrets_scrubbed_in_every_form() {
        let m = module(json!({"username": "a", "password": "p\"w\u{e4}-secret"})).unwrap();
        let out = render(
            Some(&m),
            Ok(Outcome::changed(false)
                .msg("a\u{202e}b\nc: p\\\"w\\u00e4-secret or p\\\"w\u{e4}-secret or p&quot;w\u{e4}-secret")),
        );
        let msg = out["msg"].as_str().unwrap();
        assert!(!msg.contains('\u{202e}') && !msg.contains('\n'), "{msg}");
        assert!(msg.contains("\\u{202e}") && msg.contains("\\n"), "{msg}");
        assert!(!msg.contains("-secret"), "{msg}");
        // A secret cut at the end of an excerpt.
        register_secret("cut-secret-0123456789");
        assert_eq!(
            scrub_text("page ends with cut-secret-01"),
            "page ends with ********"
        );
        assert_eq!(scrub_text("harmless cut"), "harmless cut");
    }

    #[test]
    fn args_files_are_bounded_and_never_block() {
        let e = read_args(Some("/dev/zero")).unwrap_err();
        assert!(e.0.contains("not a regular file"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big");
        let f = std::fs::File::create(&p).unwrap();
        f.set_len(MAX_ARGS_FILE + 1).unwrap();
        let e = read_args(p.to_str()).unwrap_err();
        assert!(e.0.contains("bytes allowed"), "{e}");
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
