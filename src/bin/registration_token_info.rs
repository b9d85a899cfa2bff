//! Ansible module `registration_token_info`; see `library/registration_token_info.yml`.
fn main() {
    matrix_modules::ansible::run_main(
        "registration_token_info",
        &matrix_modules::registration_token_info::SPEC,
        matrix_modules::registration_token_info::run,
    )
}
