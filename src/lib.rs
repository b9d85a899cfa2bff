//! Ansible modules, compiled, for managing the users of Matrix homeservers.
//!
//! - [`ansible`]: the module contract (arguments, validation, results, secrets in output);
//! - [`client`]: the HTTP client (connection options, retries, Matrix errors);
//! - [`matrix`]: identifiers and the registration MAC;
//! - [`backends`]: one file per server implementation;
//! - [`tokens`]: registration tokens the same for every service;
//! - one file per module ([`register_user`], [`registration_token`], [`registration_token_info`],
//!   [`user_admin`]); `src/bin/` holds their thin entry points.

pub mod ansible;
pub mod backends;
pub mod client;
pub mod matrix;
pub mod register_user;
pub mod registration_token;
pub mod registration_token_info;
pub mod secrets;
pub mod tokens;
pub mod user_admin;

/// Every module with its spec: the sidecar docs in `library/` are checked against these.
pub static MODULES: &[(&str, &ansible::Spec)] = &[
    ("register_user", &register_user::SPEC),
    ("registration_token", &registration_token::SPEC),
    ("registration_token_info", &registration_token_info::SPEC),
    ("user_admin", &user_admin::SPEC),
];
