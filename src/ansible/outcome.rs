//! A module's result and the one JSON object printed for it.

use super::mask::{escape_text, scrub};
use super::task::pending_warnings;
use super::{Module, Result};
use serde_json::{json, Map, Value};

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
