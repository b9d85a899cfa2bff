//! The only file of the tests that uses the crate's own API (`matrix_users::...`): the module
//! list, the sidecar docs generated from the modules' specs, and the encoding of a URL
//! path segment. Everything else reaches the modules as Ansible does, through
//! their binaries. When src/ moves one of these, this file is the one place to follow it.

use serde_json::Value;

/// The modules' names, in the crate's order (`matrix_users::MODULES`).
pub fn module_names() -> Vec<&'static str> {
    matrix_users::MODULES.iter().map(|m| m.name).collect()
}

/// What the tests read of a module's documentation, as plain data.
pub struct ModuleDocs {
    pub name: &'static str,
    /// library/<name>.yml as the code declares it (`ansible::docs::sidecar`).
    pub sidecar: Value,
    /// Every option as `option` and every sub-option as `option.sub`, with its doc paragraphs.
    pub options: Vec<(String, usize)>,
    /// The number of RETURN values.
    pub returns: usize,
    /// The EXAMPLES text (YAML).
    pub examples: &'static str,
}

pub fn module_docs() -> Vec<ModuleDocs> {
    matrix_users::MODULES
        .iter()
        .map(|m| {
            let mut options = Vec::new();
            for opt in m.spec.options() {
                options.push((opt.name.to_string(), opt.doc.len()));
                for sub in opt.suboptions {
                    options.push((format!("{}.{}", opt.name, sub.name), sub.doc.len()));
                }
            }
            ModuleDocs {
                name: m.name,
                sidecar: matrix_users::ansible::docs::sidecar(m.name, m.spec, m.doc),
                options,
                returns: m.doc.returns.len(),
                examples: m.doc.examples,
            }
        })
        .collect()
}

/// A user ID or token name as one URL path segment.
pub fn urlenc(s: &str) -> String {
    matrix_users::client::encode_segment(s)
}
