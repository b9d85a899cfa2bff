//! One file per server implementation.

pub mod dendrite;
pub mod synapse;
pub mod synapse_sqlite;
