//! The sidecar docs in library/<module>.yml are generated from the modules' own specs and docs
//! (`src/ansible/docs.rs`): this test fails when a committed file differs from what the code
//! declares. `UPDATE_SIDECAR_DOCS=1 cargo test --test sidecar_docs` rewrites them.

use matrix_users::ansible::docs::sidecar;
use matrix_users::MODULES;

const HEADER: &str = "# Generated from the module's spec and docs in src/ by tests/sidecar_docs.rs:\n# edit those, then run `UPDATE_SIDECAR_DOCS=1 cargo test --test sidecar_docs`.\n";

fn generated(name: &str) -> String {
    let def = MODULES.iter().find(|m| m.name == name).unwrap();
    let value = sidecar(def.name, def.spec, def.doc);
    format!("{HEADER}{}", serde_yaml::to_string(&value).unwrap())
}

#[test]
fn sidecar_docs_are_generated_from_the_code() {
    let update = std::env::var_os("UPDATE_SIDECAR_DOCS").is_some();
    let mut stale = Vec::new();
    for m in MODULES {
        let path = format!("{}/library/{}.yml", env!("CARGO_MANIFEST_DIR"), m.name);
        let want = generated(m.name);
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        if have != want {
            if update {
                std::fs::write(&path, &want).unwrap();
            } else {
                stale.push(path);
            }
        }
    }
    assert!(
        stale.is_empty(),
        "sidecar docs differ from the code; run `UPDATE_SIDECAR_DOCS=1 cargo test --test sidecar_docs`: {stale:?}"
    );
}

#[test]
fn every_option_and_return_value_is_described() {
    for m in MODULES {
        for opt in m.spec.options() {
            assert!(
                !opt.doc.is_empty(),
                "{}: option {} has no doc",
                m.name,
                opt.name
            );
            for sub in opt.suboptions {
                assert!(
                    !sub.doc.is_empty(),
                    "{}: {}.{} has no doc",
                    m.name,
                    opt.name,
                    sub.name
                );
            }
        }
        assert!(!m.doc.returns.is_empty(), "{}: RETURN is empty", m.name);
        assert!(
            m.doc.examples.contains(&format!("{}:", m.name)),
            "{}: EXAMPLES must use the module",
            m.name
        );
        let examples: serde_yaml::Value = serde_yaml::from_str(m.doc.examples).unwrap();
        assert!(
            examples.as_sequence().is_some_and(|s| !s.is_empty()),
            "{}: EXAMPLES must be a YAML list of tasks",
            m.name
        );
    }
}
