//! One file per Ansible module: typed arguments at the top, then what the module does.

pub mod register_user;
pub mod registration_token;
pub mod registration_token_info;
pub mod user_admin;
pub mod user_info;
