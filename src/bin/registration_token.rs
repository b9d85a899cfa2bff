//! Ansible module `registration_token`; see `library/registration_token.yml`.
fn main() {
    matrix_modules::ansible::run_main(
        "registration_token",
        &matrix_modules::registration_token::SPEC,
        matrix_modules::registration_token::run,
    )
}
