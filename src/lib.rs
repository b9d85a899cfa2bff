//! matrix-users: Ansible modules, compiled, for managing the users of Matrix homeservers.
//!
//! The layers, each importing only those listed after it (a test checks there is no cycle):
//! - [`modules`]: one file (or folder) per module, each turning its options into a typed `Args`
//!   at its top, then calling capabilities;
//! - [`args`]: options shared by several modules, and their reading into typed values;
//! - [`servers`]: the backend chosen once: what each backend can do, opened once per task;
//! - [`api`]: one file per server API, implementing the capabilities it serves;
//! - [`capabilities`]: one trait per capability, with the data they exchange;
//! - [`database`], [`client`], [`tls`]: the database connection, the HTTP client, one TLS set-up;
//! - [`matrix`], [`token`], [`secret_file`]: user IDs and the registration MAC, registration
//!   tokens, secret files;
//! - [`ansible`]: the module contract (arguments, validation, results, secrets in output, docs).
//!
//! `src/bin/` holds one thin entry point per module of [`MODULES`].

pub mod ansible;
pub mod api;
pub mod args;
pub mod capabilities;
pub mod client;
pub mod database;
pub mod matrix;
pub mod modules;
pub mod secret_file;
pub mod servers;
pub mod tls;
pub mod token;

use ansible::ModuleDef;

/// An allocation failure still ends in one failed JSON object (see [`ansible::FailSafeAllocator`]).
#[global_allocator]
static ALLOCATOR: ansible::FailSafeAllocator = ansible::FailSafeAllocator;

/// Every module: the binaries, the sidecar docs, the tests and the Makefile follow this list
/// (a unit test checks that `src/bin/` has exactly these).
pub static MODULES: &[&ModuleDef] = &[
    &modules::register_user::MODULE,
    &modules::registration_token::MODULE,
    &modules::registration_token_info::MODULE,
    &modules::user_admin::MODULE,
    &modules::user_info::MODULE,
];

#[cfg(test)]
mod tests {
    #[test]
    fn every_module_has_a_binary_and_every_binary_a_module() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/bin");
        let mut bins: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let name = e.unwrap().file_name().into_string().unwrap();
                name.trim_end_matches(".rs").to_string()
            })
            .collect();
        bins.sort();
        let mut modules: Vec<String> = super::MODULES.iter().map(|m| m.name.into()).collect();
        modules.sort();
        assert_eq!(bins, modules);
        for m in super::MODULES {
            let text = std::fs::read_to_string(format!("{dir}/{}.rs", m.name)).unwrap();
            assert!(
                text.contains(&format!("modules::{}::MODULE", m.name)),
                "src/bin/{}.rs must run its own module",
                m.name
            );
        }
    }
}
