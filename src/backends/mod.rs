//! One file per server implementation.

pub mod dendrite;
pub mod matrix_registration;
pub mod synapse;
pub mod synapse_sqlite;
