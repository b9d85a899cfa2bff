//! Ansible module `registration_token_info`; see `library/registration_token_info.yml`.
fn main() {
    matrix_users::ansible::run_main(&matrix_users::modules::registration_token_info::MODULE)
}
