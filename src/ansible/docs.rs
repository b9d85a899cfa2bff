//! A module's documentation, declared in code beside its options, from which the sidecar docs
//! `library/<module>.yml` (DOCUMENTATION, EXAMPLES, RETURN) are generated. Nothing can drift:
//! option types, defaults, choices, no_log and the relations between options come from the very
//! spec the binary enforces, and RETURN lists exactly the keys the module may return.

use super::spec::{Kind, Opt, Spec};
use serde_json::{json, Map, Value};

/// Everything `ansible-doc` shows about a module, besides its options.
#[derive(Debug)]
pub struct ModuleDoc {
    pub short_description: &'static str,
    pub description: &'static [&'static str],
    /// How check mode and diff mode behave (Ansible's `attributes`).
    pub check_mode: &'static str,
    pub diff_mode: &'static str,
    pub notes: &'static [&'static str],
    /// YAML text of example tasks.
    pub examples: &'static str,
    /// Every key the module may return besides Ansible's common ones.
    pub returns: &'static [Ret],
}

/// One documented return value.
#[derive(Debug)]
pub struct Ret {
    pub name: &'static str,
    pub kind: Kind,
    pub returned: &'static str,
    pub description: &'static str,
    /// JSON text of a sample value.
    pub sample: Option<&'static str>,
    /// For dicts and lists of dicts: the keys inside.
    pub contains: &'static [Ret],
}

impl Ret {
    pub const fn new(
        name: &'static str,
        kind: Kind,
        returned: &'static str,
        description: &'static str,
    ) -> Ret {
        Ret {
            name,
            kind,
            returned,
            description,
            sample: None,
            contains: &[],
        }
    }
    pub const fn sample(mut self, json: &'static str) -> Ret {
        self.sample = Some(json);
        self
    }
    pub const fn contains(mut self, inner: &'static [Ret]) -> Ret {
        self.contains = inner;
        self
    }
}

/// Keys every module result may carry whatever the module: Ansible's own.
pub const COMMON_RETURNS: &[&str] = &["changed", "failed", "msg", "diff", "warnings", "invocation"];

/// The product's version: the sidecar docs' `version_added`.
const VERSION_ADDED: &str = "0.1.0";

/// The three sidecar documents of a module, as JSON (the test writes them as YAML).
pub fn sidecar(name: &str, spec: &Spec, doc: &ModuleDoc) -> Value {
    let mut options = Map::new();
    for opt in spec.options() {
        options.insert(opt.name.into(), option_doc(opt, Some(spec)));
    }
    let mut documentation = json!({
        "module": name,
        "short_description": doc.short_description,
        "version_added": VERSION_ADDED,
        "description": doc.description,
        "author": ["matrix-users maintainers"],
        "attributes": {
            "check_mode": {"support": "full", "description": doc.check_mode},
            "diff_mode": {"support": "full", "description": doc.diff_mode},
        },
        "options": options,
    });
    if !doc.notes.is_empty() {
        documentation["notes"] = json!(doc.notes);
    }
    let returns: Map<String, Value> = doc.returns.iter().map(return_doc).collect();
    json!({
        "DOCUMENTATION": documentation,
        "EXAMPLES": doc.examples,
        "RETURN": returns,
    })
}

fn option_doc(opt: &Opt, spec: Option<&Spec>) -> Value {
    let mut description: Vec<String> = opt.doc.iter().map(|s| s.to_string()).collect();
    if opt.no_log {
        // Ansible's documentation schema has no no_log key: the docs say it in words.
        description.push(
            "A secret - never shown in the module's output (C(invocation) shows C(VALUE_SPECIFIED_IN_NO_LOG_PARAMETER))."
                .into(),
        );
    }
    if let Some(spec) = spec {
        description.extend(relations(opt.name, spec));
    }
    let mut d = Map::new();
    d.insert("description".into(), json!(description));
    d.insert("type".into(), json!(opt.kind.ansible_name()));
    if opt.required {
        d.insert("required".into(), json!(true));
    }
    if let Some(v) = opt.default {
        d.insert("default".into(), v.to_json());
    }
    if !opt.allowed().is_empty() {
        d.insert("choices".into(), json!(opt.allowed()));
    }
    if !opt.aliases.is_empty() {
        d.insert("aliases".into(), json!(opt.aliases));
    }
    if let Some(e) = opt.elements {
        d.insert("elements".into(), json!(e.ansible_name()));
    }
    if !opt.suboptions.is_empty() {
        let subs: Map<String, Value> = opt
            .suboptions
            .iter()
            .map(|s| (s.name.to_string(), option_doc(s, None)))
            .collect();
        d.insert("suboptions".into(), Value::Object(subs));
    }
    Value::Object(d)
}

/// The spec's rules that involve `name`, as sentences for its description.
fn relations(name: &str, spec: &Spec) -> Vec<String> {
    let others = |group: &[&str]| -> Vec<String> {
        group
            .iter()
            .filter(|n| **n != name)
            .map(|n| format!("I({n})"))
            .collect()
    };
    let mut out = Vec::new();
    for g in spec.mutually_exclusive.iter().filter(|g| g.contains(&name)) {
        out.push(format!("Mutually exclusive with {}.", others(g).join(", ")));
    }
    for g in spec.required_together.iter().filter(|g| g.contains(&name)) {
        out.push(format!("Required together with {}.", others(g).join(", ")));
    }
    for g in spec.required_one_of.iter().filter(|g| g.contains(&name)) {
        if g.len() > 1 {
            let all: Vec<String> = g.iter().map(|n| format!("I({n})")).collect();
            out.push(format!("One of {} is required.", all.join(", ")));
        }
    }
    out
}

fn return_doc(r: &Ret) -> (String, Value) {
    let mut d = Map::new();
    d.insert("description".into(), json!(r.description));
    d.insert("returned".into(), json!(r.returned));
    d.insert("type".into(), json!(r.kind.ansible_name()));
    if let Some(s) = r.sample {
        let v: Value = serde_json::from_str(s).unwrap_or_else(|_| Value::from(s));
        d.insert("sample".into(), v);
    }
    if !r.contains.is_empty() {
        let inner: Map<String, Value> = r.contains.iter().map(return_doc).collect();
        d.insert("contains".into(), Value::Object(inner));
    }
    (r.name.to_string(), Value::Object(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    static OPTS: &[Opt] = &[
        Opt::str("password").no_log().doc(&["The password."]),
        Opt::str("password_file").doc(&["A file."]),
        Opt::str("state")
            .choices(&["present", "absent"])
            .default_str("present"),
    ];
    static SPEC: Spec = Spec {
        groups: &[OPTS],
        mutually_exclusive: &[&["password", "password_file"]],
        required_one_of: &[&["password", "password_file"]],
        required_together: &[],
    };
    static DOC: ModuleDoc = ModuleDoc {
        short_description: "Test",
        description: &["A test."],
        check_mode: "full",
        diff_mode: "full",
        notes: &[],
        examples: "- name: x\n  test: {}\n",
        returns: &[Ret::new("user_id", Kind::Str, "always", "The ID.").sample("\"@a:b\"")],
    };

    #[test]
    fn rules_are_written_into_the_descriptions() {
        let v = sidecar("test", &SPEC, &DOC);
        let pw = &v["DOCUMENTATION"]["options"]["password"];
        assert_eq!(pw["description"][0], "The password.");
        assert!(pw["description"][1]
            .as_str()
            .unwrap()
            .starts_with("A secret"));
        assert_eq!(
            pw["description"].as_array().unwrap()[2..],
            [
                json!("Mutually exclusive with I(password_file)."),
                json!("One of I(password), I(password_file) is required.")
            ]
        );
        assert!(pw.get("no_log").is_none(), "not in Ansible's doc schema");
        let state = &v["DOCUMENTATION"]["options"]["state"];
        assert_eq!(state["choices"], json!(["present", "absent"]));
        assert_eq!(state["default"], "present");
        assert_eq!(v["RETURN"]["user_id"]["sample"], "@a:b");
    }
}
