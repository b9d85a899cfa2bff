//! The integration tests, as one binary: cargo compiles the harness (tests/common/) and links
//! the test code once, instead of once per file. One module per area; run one area with
//! `cargo test --test it AREA::` (e.g. `cargo test --test it dendrite_server::`).
//!
//! Tests share servers across areas ([`common::Synapse::shared`], the shared Dendrites): a test
//! uses names of its own and never counts what another test may add at the same time.

#[path = "../common/mod.rs"]
mod common;

mod aarch64;
mod architecture;
mod browser_registration;
mod collection;
mod continuwuity_backend;
mod continuwuity_role;
mod dendrite_backends;
mod dendrite_lifecycle;
mod dendrite_lifecycle_facts;
mod dendrite_listing;
mod dendrite_server;
mod dendrite_user_info;
mod hostile;
mod hostile_backends;
mod mas_backend;
mod mas_delegation;
mod mas_fake_conformance;
mod mas_fake_lifecycle;
mod mas_lifecycle;
mod operator_backends;
mod operator_lines;
mod playbook_tags;
mod postgres_backends;
mod postgres_server;
mod register_user;
mod registration_tokens;
mod reliability;
mod scale;
mod server_fakes;
mod sidecar_docs;
mod ssh_cache;
mod synapse_lifecycle;
pub(crate) mod synapse_lifecycle_facts;
mod tuwunel_backend;
mod tuwunel_lifecycle;
mod tuwunel_role;
mod user_admin;
mod user_info;
mod users_as_code;
