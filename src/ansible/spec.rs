//! Option specs: each module declares its options once, as `static` data, and gets back
//! validated, coerced parameters. The rules follow ansible-core's `AnsibleModule`
//! (argument_spec, mutually_exclusive, required_one_of, required_together), because Ansible
//! itself validates nothing for a binary module.

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The type of an option, with Ansible's names (`type: str`, `bool`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Str,
    Bool,
    Int,
    Float,
    List,
    Dict,
    Path,
    Raw,
}

impl Kind {
    /// The name Ansible documentation uses for this type.
    pub fn ansible_name(self) -> &'static str {
        match self {
            Kind::Str => "str",
            Kind::Bool => "bool",
            Kind::Int => "int",
            Kind::Float => "float",
            Kind::List => "list",
            Kind::Dict => "dict",
            Kind::Path => "path",
            Kind::Raw => "raw",
        }
    }
}

/// A default value that can live in a `static` spec.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DefaultValue {
    Str(&'static str),
    Bool(bool),
    Int(i64),
}

impl DefaultValue {
    pub fn to_json(self) -> Value {
        match self {
            DefaultValue::Str(s) => Value::from(s),
            DefaultValue::Bool(b) => Value::from(b),
            DefaultValue::Int(i) => Value::from(i),
        }
    }
}

/// The allowed values of an option.
#[derive(Clone, Copy, Debug)]
pub enum Choices {
    Fixed(&'static [&'static str]),
    From(fn() -> &'static [&'static str]),
}

/// One option of a module.
#[derive(Clone, Copy, Debug)]
pub struct Opt {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
    pub default: Option<DefaultValue>,
    /// The allowed values (none: any): fixed, or given by a function where they come from a
    /// registry (a module's `backend` lists the backends that can do what it needs).
    pub choice_list: Choices,
    pub aliases: &'static [&'static str],
    pub no_log: bool,
    /// For `list` options: the type of each element.
    pub elements: Option<Kind>,
    /// For lists of dicts: the entries' options. Used to mask their secrets in output and by
    /// modules that validate each entry on its own (a bad entry fails that entry only).
    pub suboptions: &'static [Opt],
    /// The option's documentation, one paragraph per entry (Ansible's `description` list), in
    /// Ansible's markup (`I(option)`, `C(code)`). The sidecar docs are generated from it.
    pub doc: &'static [&'static str],
}

impl Opt {
    pub const fn new(name: &'static str, kind: Kind) -> Opt {
        Opt {
            name,
            kind,
            required: false,
            default: None,
            choice_list: Choices::Fixed(&[]),
            aliases: &[],
            no_log: false,
            elements: None,
            suboptions: &[],
            doc: &[],
        }
    }
    pub const fn str(name: &'static str) -> Opt {
        Opt::new(name, Kind::Str)
    }
    pub const fn bool(name: &'static str) -> Opt {
        Opt::new(name, Kind::Bool)
    }
    pub const fn int(name: &'static str) -> Opt {
        Opt::new(name, Kind::Int)
    }
    pub const fn float(name: &'static str) -> Opt {
        Opt::new(name, Kind::Float)
    }
    pub const fn path(name: &'static str) -> Opt {
        Opt::new(name, Kind::Path)
    }
    pub const fn list(name: &'static str, elements: Kind) -> Opt {
        let mut o = Opt::new(name, Kind::List);
        o.elements = Some(elements);
        o
    }
    pub const fn required(mut self) -> Opt {
        self.required = true;
        self
    }
    pub const fn default_str(mut self, v: &'static str) -> Opt {
        self.default = Some(DefaultValue::Str(v));
        self
    }
    pub const fn default_bool(mut self, v: bool) -> Opt {
        self.default = Some(DefaultValue::Bool(v));
        self
    }
    pub const fn default_int(mut self, v: i64) -> Opt {
        self.default = Some(DefaultValue::Int(v));
        self
    }
    pub const fn choices(mut self, c: &'static [&'static str]) -> Opt {
        self.choice_list = Choices::Fixed(c);
        self
    }
    pub const fn choices_from(mut self, f: fn() -> &'static [&'static str]) -> Opt {
        self.choice_list = Choices::From(f);
        self
    }
    /// The allowed values; empty: any.
    pub fn allowed(&self) -> &'static [&'static str] {
        match self.choice_list {
            Choices::Fixed(c) => c,
            Choices::From(f) => f(),
        }
    }
    pub const fn aliases(mut self, a: &'static [&'static str]) -> Opt {
        self.aliases = a;
        self
    }
    pub const fn no_log(mut self) -> Opt {
        self.no_log = true;
        self
    }
    pub const fn suboptions(mut self, s: &'static [Opt]) -> Opt {
        self.suboptions = s;
        self
    }
    pub const fn doc(mut self, paragraphs: &'static [&'static str]) -> Opt {
        self.doc = paragraphs;
        self
    }
}

/// A module's whole argument spec.
#[derive(Debug)]
pub struct Spec {
    /// Groups of options, e.g. the module's own plus the shared connection options.
    pub groups: &'static [&'static [Opt]],
    pub mutually_exclusive: &'static [&'static [&'static str]],
    pub required_one_of: &'static [&'static [&'static str]],
    pub required_together: &'static [&'static [&'static str]],
}

impl Spec {
    pub const fn new(groups: &'static [&'static [Opt]]) -> Spec {
        Spec {
            groups,
            mutually_exclusive: &[],
            required_one_of: &[],
            required_together: &[],
        }
    }

    /// Every option, in declaration order.
    pub fn options(&self) -> impl Iterator<Item = &'static Opt> + '_ {
        self.groups.iter().flat_map(|g| g.iter())
    }

    pub fn option(&self, name: &str) -> Option<&'static Opt> {
        self.options().find(|o| o.name == name)
    }

    /// Validates and coerces raw arguments (without `_ansible_*` keys). On failure returns every
    /// problem found, each naming the option, as Ansible does.
    pub fn validate(&self, raw: &Map<String, Value>) -> Result<Params, Vec<String>> {
        let mut errors = Vec::new();
        let mut warnings = Vec::new();

        // 1. Resolve aliases; a null value counts as "not given", as in Ansible.
        let mut given: BTreeMap<&'static str, (&str, &Value)> = BTreeMap::new();
        let mut unknown = Vec::new();
        for (key, value) in raw {
            let Some(opt) = self
                .options()
                .find(|o| o.name == key || o.aliases.contains(&key.as_str()))
            else {
                unknown.push(key.as_str());
                continue;
            };
            if value.is_null() {
                continue;
            }
            if let Some((other, _)) = given.get(opt.name) {
                errors.push(format!(
                    "parameters are mutually exclusive: {other}|{key} (both name '{}')",
                    opt.name
                ));
                continue;
            }
            given.insert(opt.name, (key.as_str(), value));
        }
        if !unknown.is_empty() {
            let mut supported: Vec<&str> = self
                .options()
                .flat_map(|o| std::iter::once(o.name).chain(o.aliases.iter().copied()))
                .collect();
            supported.sort_unstable();
            errors.push(format!(
                "Unsupported parameters: {}. Supported parameters include: {}.",
                unknown.join(", "),
                supported.join(", ")
            ));
        }

        // 2. Relations between options, checked on what the user gave (before defaults).
        for group in self.mutually_exclusive {
            let set: Vec<&str> = group
                .iter()
                .copied()
                .filter(|n| given.contains_key(n))
                .collect();
            if set.len() > 1 {
                errors.push(format!(
                    "parameters are mutually exclusive: {}",
                    set.join("|")
                ));
            }
        }
        for group in self.required_one_of {
            if !group.iter().any(|n| given.contains_key(n)) {
                errors.push(format!(
                    "one of the following is required: {}",
                    group.join(", ")
                ));
            }
        }
        for group in self.required_together {
            let n = group.iter().filter(|n| given.contains_key(*n)).count();
            if n != 0 && n != group.len() {
                errors.push(format!(
                    "parameters are required together: {}",
                    group.join(", ")
                ));
            }
        }
        let missing: Vec<&str> = self
            .options()
            .filter(|o| o.required && !given.contains_key(o.name))
            .map(|o| o.name)
            .collect();
        if !missing.is_empty() {
            errors.push(format!(
                "missing required arguments: {}",
                missing.join(", ")
            ));
        }

        // 3. Types, choices, defaults.
        let mut values = BTreeMap::new();
        for opt in self.options() {
            match given.get(opt.name) {
                Some((_, raw)) => match coerce_option(opt, raw, &mut warnings) {
                    Ok(v) => {
                        values.insert(opt.name, v);
                    }
                    Err(e) => errors.push(e),
                },
                None => {
                    if let Some(d) = opt.default {
                        values.insert(opt.name, d.to_json());
                    }
                }
            }
        }

        if errors.is_empty() {
            Ok(Params {
                values,
                given: given.keys().copied().collect(),
                given_as: given
                    .iter()
                    .map(|(name, (key, _))| (*name, key.to_string()))
                    .collect(),
                warnings,
            })
        } else {
            Err(errors)
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// Ansible's boolean spellings (`ansible.module_utils.parsing.convert_bool`).
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "yes" | "on" | "1" | "true" | "y" | "t" | "1.0" => Some(true),
        "no" | "off" | "0" | "false" | "n" | "f" | "0.0" | "" => Some(false),
        _ => None,
    }
}

fn coerce_option(opt: &Opt, raw: &Value, warnings: &mut Vec<String>) -> Result<Value, String> {
    let v = coerce(opt.name, opt.kind, raw, warnings)?;
    let v = match (opt.kind, opt.elements, v) {
        (Kind::List, Some(el), Value::Array(items)) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| coerce(&format!("{}[{i}]", opt.name), el, item, warnings))
                .collect::<Result<_, _>>()?,
        ),
        (_, _, v) => v,
    };
    if !opt.allowed().is_empty() {
        let bad: Vec<String> = match &v {
            Value::Array(items) => items.iter().filter_map(|i| not_a_choice(opt, i)).collect(),
            other => not_a_choice(opt, other).into_iter().collect(),
        };
        if !bad.is_empty() {
            return Err(format!(
                "value of {} must be one of: {}, got: {}",
                opt.name,
                opt.allowed().join(", "),
                bad.join(", ")
            ));
        }
    }
    Ok(v)
}

fn not_a_choice(opt: &Opt, v: &Value) -> Option<String> {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    (!opt.allowed().contains(&s.as_str())).then_some(s)
}

/// Coerces one value to `kind`, as ansible-core's `check_type_*` functions do.
pub fn coerce(
    name: &str,
    kind: Kind,
    v: &Value,
    warnings: &mut Vec<String>,
) -> Result<Value, String> {
    let fail = |why: &str| {
        Err(format!(
            "argument '{name}' is of type {} and we were unable to convert to {}{why}",
            type_name(v),
            kind.ansible_name()
        ))
    };
    match kind {
        Kind::Raw => Ok(v.clone()),
        Kind::Str | Kind::Path => {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => {
                    // Ansible converts and warns: `username: yes` in YAML is almost always a mistake.
                    let s = if *b { "True" } else { "False" };
                    warnings.push(format!(
                        "The value {s} (type bool) in '{name}' was converted to the string '{s}'; quote it if that is what you meant."
                    ));
                    s.to_string()
                }
                _ => return fail(""),
            };
            if kind == Kind::Path {
                Ok(Value::String(expand_home(&s)))
            } else {
                Ok(Value::String(s))
            }
        }
        Kind::Bool => match v {
            Value::Bool(b) => Ok(Value::Bool(*b)),
            Value::String(s) => match parse_bool(s) {
                Some(b) => Ok(Value::Bool(b)),
                None => fail(&format!(
                    ": the value '{s}' is not a valid boolean. Valid booleans include: yes, no, true, false, on, off, y, n, 1, 0 (any case)"
                )),
            },
            Value::Number(n) if n.as_f64() == Some(1.0) => Ok(Value::Bool(true)),
            Value::Number(n) if n.as_f64() == Some(0.0) => Ok(Value::Bool(false)),
            _ => fail(""),
        },
        Kind::Int => match v {
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Ok(Value::from(i))
                } else {
                    match n.as_f64() {
                        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Value::from(f as i64)),
                        _ => fail(&format!(": {n} is not a whole number in range")),
                    }
                }
            }
            Value::String(s) => match s.trim().parse::<i64>() {
                Ok(i) => Ok(Value::from(i)),
                Err(_) => fail(&format!(": '{s}' is not an integer")),
            },
            _ => fail(""),
        },
        Kind::Float => match v {
            Value::Number(n) => Ok(Value::from(n.as_f64().unwrap_or(0.0))),
            Value::String(s) => match s.trim().parse::<f64>() {
                Ok(f) if f.is_finite() => Ok(Value::from(f)),
                _ => fail(&format!(": '{s}' is not a number")),
            },
            _ => fail(""),
        },
        Kind::List => match v {
            Value::Array(a) => Ok(Value::Array(a.clone())),
            // Ansible splits a string on commas: `-e users=a,b`.
            Value::String(s) => Ok(Value::Array(
                s.split(',').map(|p| Value::from(p.trim())).collect(),
            )),
            Value::Number(_) | Value::Bool(_) => Ok(Value::Array(vec![v.clone()])),
            _ => fail(""),
        },
        Kind::Dict => match v {
            Value::Object(_) => Ok(v.clone()),
            Value::String(s) if s.trim_start().starts_with('{') => {
                match serde_json::from_str::<Value>(s) {
                    Ok(obj @ Value::Object(_)) => Ok(obj),
                    _ => fail(": the string is not a JSON object"),
                }
            }
            _ => fail(""),
        },
    }
}

fn expand_home(p: &str) -> String {
    match (p.strip_prefix('~'), std::env::var("HOME")) {
        (Some(rest), Ok(home)) if rest.is_empty() || rest.starts_with('/') => {
            format!("{home}{rest}")
        }
        _ => p.to_string(),
    }
}

/// Validated parameters: every option the user gave, coerced, plus defaults.
#[derive(Debug, Clone, Default)]
pub struct Params {
    values: BTreeMap<&'static str, Value>,
    given: Vec<&'static str>,
    /// The key each given option was written as (an alias, or its name).
    given_as: BTreeMap<&'static str, String>,
    /// Conversions Ansible would warn about.
    pub warnings: Vec<String>,
}

impl Params {
    pub fn value(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }
    pub fn str(&self, name: &str) -> Option<&str> {
        self.values.get(name).and_then(Value::as_str)
    }
    /// A bool option; absent without default reads as false.
    pub fn bool(&self, name: &str) -> bool {
        self.values
            .get(name)
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
    pub fn opt_bool(&self, name: &str) -> Option<bool> {
        self.values.get(name).and_then(Value::as_bool)
    }
    pub fn int(&self, name: &str) -> Option<i64> {
        self.values.get(name).and_then(Value::as_i64)
    }
    pub fn list(&self, name: &str) -> Option<&Vec<Value>> {
        self.values.get(name).and_then(Value::as_array)
    }
    /// The name the user wrote for an option (e.g. the alias `name` for `username`), for
    /// messages; the option's own name when it was not given.
    pub fn given_as<'a>(&'a self, name: &'a str) -> &'a str {
        self.given_as.get(name).map_or(name, String::as_str)
    }

    /// Whether the user set this option (as opposed to a default).
    pub fn is_given(&self, name: &str) -> bool {
        self.given.contains(&name)
    }
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Value)> {
        self.values.iter().map(|(k, v)| (*k, v))
    }
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
