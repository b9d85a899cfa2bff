//! Ansible modules, compiled, for managing the users of Matrix homeservers.
//!
//! - [`ansible`]: the module contract (arguments, validation, results, secrets in output);
//! - [`client`]: the HTTP client (connection options, retries, Matrix errors);
//! - [`matrix`]: identifiers and the registration MAC;
//! - [`backends`]: one file per server implementation;
//! - one file per module ([`register_user`], [`user_admin`]); `src/bin/` holds their thin entry points.

pub mod ansible;
pub mod backends;
pub mod client;
pub mod matrix;
pub mod register_user;
pub mod secrets;
pub mod user_admin;

/// Every module with its spec: the sidecar docs in `library/` are checked against these.
pub static MODULES: &[(&str, &ansible::Spec)] = &[
    ("register_user", &register_user::SPEC),
    ("user_admin", &user_admin::SPEC),
];
