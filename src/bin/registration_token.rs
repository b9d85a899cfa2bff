//! Ansible module `registration_token`; see `library/registration_token.yml`.
fn main() {
    matrix_users::ansible::run_main(&matrix_users::modules::registration_token::MODULE)
}
