//! The running module: its arguments read and validated, Ansible's flags, warnings, and the
//! `invocation` it returns with every no_log value masked.

use super::docs::ModuleDoc;
use super::error::{Error, Result};
use super::mask::{escape_text, register_url_credentials, register_value};
use super::outcome::Outcome;
use super::spec::{Opt, Params, Spec};
use super::task;
use crate::fail;
use serde_json::{json, Map, Value};

/// What Ansible's own modules print in place of a no_log value.
pub const NO_LOG_PLACEHOLDER: &str = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER";

/// Lists longer than this are summarised in `invocation`, not echoed entry by entry.
const INVOCATION_LIST_LIMIT: usize = 50;

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
/// registry of every module is `MODULES` in the crate root.
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
        task::set_check_mode(check_mode);
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
            task::set_timeout(t as u64);
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
