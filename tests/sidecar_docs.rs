//! The sidecar docs in library/<module>.yml must not drift from the specs the binaries enforce:
//! every option's name, type, default, choices, aliases, elements, required and no_log must match.

use matrix_modules::ansible::spec::{DefaultValue, Opt};
use matrix_modules::MODULES;
use serde_yaml::Value as Yaml;

fn yaml_default(d: Option<DefaultValue>) -> Yaml {
    match d {
        None => Yaml::Null,
        Some(DefaultValue::Str(s)) => Yaml::from(s),
        Some(DefaultValue::Bool(b)) => Yaml::from(b),
        Some(DefaultValue::Int(i)) => Yaml::from(i),
    }
}

fn strings(v: Option<&Yaml>) -> Vec<String> {
    v.and_then(Yaml::as_sequence)
        .map(|s| s.iter().map(|x| x.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

fn compare(
    module: &str,
    prefix: &str,
    options: &[&Opt],
    docs: &serde_yaml::Mapping,
    problems: &mut Vec<String>,
) {
    let documented: Vec<String> = docs
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    for opt in options {
        let name = format!("{prefix}{}", opt.name);
        let Some(doc) = docs.get(opt.name) else {
            problems.push(format!("{module}: option {name} is not documented"));
            continue;
        };
        let mut check = |what: &str, want: Yaml, got: Yaml| {
            if want != got {
                problems.push(format!(
                    "{module}: {name}.{what}: spec says {want:?}, doc says {got:?}"
                ));
            }
        };
        check(
            "type",
            Yaml::from(opt.kind.ansible_name()),
            doc.get("type").cloned().unwrap_or(Yaml::Null),
        );
        check(
            "default",
            yaml_default(opt.default),
            doc.get("default").cloned().unwrap_or(Yaml::Null),
        );
        check(
            "required",
            Yaml::from(opt.required),
            doc.get("required").cloned().unwrap_or(Yaml::from(false)),
        );
        check(
            "elements",
            opt.elements
                .map(|e| Yaml::from(e.ansible_name()))
                .unwrap_or(Yaml::Null),
            doc.get("elements").cloned().unwrap_or(Yaml::Null),
        );
        let want: Vec<String> = opt.choices.iter().map(|s| s.to_string()).collect();
        if want != strings(doc.get("choices")) {
            problems.push(format!("{module}: {name}.choices differ: spec {want:?}"));
        }
        let want: Vec<String> = opt.aliases.iter().map(|s| s.to_string()).collect();
        if want != strings(doc.get("aliases")) {
            problems.push(format!("{module}: {name}.aliases differ: spec {want:?}"));
        }
        // ansible-doc shows a `no_log: true` key; the module masks exactly these options.
        if doc.get("no_log").cloned().unwrap_or(Yaml::from(false)) != opt.no_log {
            problems.push(format!("{module}: {name}.no_log: spec says {}", opt.no_log));
        }
        if !opt.suboptions.is_empty() {
            match doc.get("suboptions").and_then(Yaml::as_mapping) {
                Some(sub) => {
                    let subs: Vec<&Opt> = opt.suboptions.iter().collect();
                    compare(module, &format!("{name}."), &subs, sub, problems);
                }
                None => problems.push(format!(
                    "{module}: {name} has suboptions that are not documented"
                )),
            }
        }
    }
    for d in documented {
        if !options.iter().any(|o| o.name == d) {
            problems.push(format!(
                "{module}: documented option {prefix}{d} does not exist in the spec"
            ));
        }
    }
}

#[test]
fn sidecar_docs_match_the_specs() {
    let mut problems = Vec::new();
    for (module, spec) in MODULES {
        let path = format!("{}/library/{module}.yml", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let doc: Yaml = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(doc["DOCUMENTATION"]["module"].as_str(), Some(*module));
        assert!(
            doc["EXAMPLES"].as_str().is_some_and(|e| e.contains(module)),
            "{module}: EXAMPLES"
        );
        assert!(doc["RETURN"].as_mapping().is_some(), "{module}: RETURN");
        let docs = doc["DOCUMENTATION"]["options"]
            .as_mapping()
            .expect("options");
        let options: Vec<&Opt> = spec.options().collect();
        compare(module, "", &options, docs, &mut problems);
    }
    assert!(
        problems.is_empty(),
        "sidecar docs drift from the specs:\n{}",
        problems.join("\n")
    );
}
