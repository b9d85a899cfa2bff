//! One file per server API. Each implements the capabilities of [`crate::capabilities`] it
//! serves and declares beside it what it cannot do; `src/servers/` binds them per backend.
//!
//! Files shared by several APIs, imported by them and never importing an API themselves:
//! [`admin_session`] (an admin's session and the calls made with it), [`profiles`] (public
//! look-ups), [`delegation`] (a homeserver that delegates to MAS), [`token_objects`] (Synapse's
//! token objects, which Dendrite and tuwunel copied).

pub mod admin_session;
pub mod delegation;
pub mod logout;
pub mod profiles;
pub mod token_objects;

pub mod dendrite_accounts;
pub mod dendrite_admin;
pub mod dendrite_lifecycle;
pub mod dendrite_listing;
pub mod dendrite_records;
pub mod dendrite_tokens;
pub mod mas_lifecycle;
pub mod mas_records;
pub mod mas_session;
pub mod mas_tokens;
pub mod mas_users;
pub mod matrix_registration;
pub mod msc4323;
pub mod shared_secret;
pub mod synapse_admin;
pub mod synapse_lifecycle;
pub mod synapse_postgres;
pub mod synapse_records;
pub mod synapse_sqlite;
pub mod synapse_tokens;
pub mod token_registration;
pub mod tuwunel;
