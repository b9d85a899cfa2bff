//! One file per server implementation.

pub mod dendrite;
pub mod synapse;
