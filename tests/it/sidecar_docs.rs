//! The sidecar docs in library/<module>.yml are generated from the modules' own specs and docs
//! (`src/ansible/docs.rs`): this test fails when a committed file differs from what the code
//! declares. `UPDATE_SIDECAR_DOCS=1 cargo test --test it sidecar_docs` rewrites them.

use crate::common::library::module_docs;

const HEADER: &str = "# Generated from the module's spec and docs in src/ by tests/it/sidecar_docs.rs:\n# edit those, then run `UPDATE_SIDECAR_DOCS=1 cargo test --test it sidecar_docs`.\n";

/// serde_yaml writes YAML 1.2, where `2026-01-31T09:00:00Z` is a string; Ansible reads the
/// sidecar docs with PyYAML (YAML 1.1), where it is a timestamp (ansible-test sanity refuses a
/// datetime sample). Such scalars are quoted.
fn yaml11_safe(yaml: &str) -> String {
    let timestamp = |v: &str| {
        let b = v.as_bytes();
        b.len() >= 10
            && b[..4].iter().all(u8::is_ascii_digit)
            && b[4] == b'-'
            && b[5..7].iter().all(u8::is_ascii_digit)
            && b[7] == b'-'
            && b[8..10].iter().all(u8::is_ascii_digit)
            && !v.contains(' ')
    };
    let mut out = String::with_capacity(yaml.len());
    for line in yaml.lines() {
        match line.split_once(": ") {
            Some((key, value)) if timestamp(value) => {
                out.push_str(&format!("{key}: '{value}'"));
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[test]
fn yaml11_safe_quotes_timestamps_only() {
    assert_eq!(
        yaml11_safe("a: 2026-01-31T09:00:00Z\nb: 2026\nc: text\n"),
        "a: '2026-01-31T09:00:00Z'\nb: 2026\nc: text\n"
    );
}

#[test]
fn sidecar_docs_are_generated_from_the_code() {
    let update = std::env::var_os("UPDATE_SIDECAR_DOCS").is_some();
    let mut stale = Vec::new();
    for m in module_docs() {
        let path = format!("{}/library/{}.yml", env!("CARGO_MANIFEST_DIR"), m.name);
        let want = format!(
            "{HEADER}{}",
            yaml11_safe(&serde_yaml::to_string(&m.sidecar).unwrap())
        );
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
        "sidecar docs differ from the code; run `UPDATE_SIDECAR_DOCS=1 cargo test --test it sidecar_docs`: {stale:?}"
    );
}

#[test]
fn every_option_and_return_value_is_described() {
    for m in module_docs() {
        for (opt, paragraphs) in &m.options {
            match opt.split_once('.') {
                None => assert!(*paragraphs > 0, "{}: option {opt} has no doc", m.name),
                Some(_) => assert!(*paragraphs > 0, "{}: {opt} has no doc", m.name),
            }
        }
        assert!(m.returns > 0, "{}: RETURN is empty", m.name);
        assert!(
            m.examples.contains(&format!("{}:", m.name)),
            "{}: EXAMPLES must use the module",
            m.name
        );
        let examples: serde_yaml::Value = serde_yaml::from_str(m.examples).unwrap();
        assert!(
            examples.as_sequence().is_some_and(|s| !s.is_empty()),
            "{}: EXAMPLES must be a YAML list of tasks",
            m.name
        );
    }
}
