//! Ansible module `register_user`; see `library/register_user.yml`.
fn main() {
    matrix_modules::ansible::run_main(
        "register_user",
        &matrix_modules::register_user::SPEC,
        matrix_modules::register_user::run,
    )
}
