//! One file per server API. Each implements the capabilities of [`crate::backends`] it serves
//! and declares beside it what it cannot do.

pub mod client_session;
pub mod database;
pub mod dendrite_accounts;
pub mod dendrite_admin;
pub mod dendrite_tokens;
pub mod mas;
pub mod mas_session;
pub mod matrix_registration;
pub mod shared_secret;
pub mod synapse_admin;
pub mod synapse_postgres;
pub mod synapse_sqlite;
pub mod synapse_tokens;
