//! Ansible module `user_admin`; see `library/user_admin.yml`.
fn main() {
    matrix_modules::ansible::run_main(
        "user_admin",
        &matrix_modules::user_admin::SPEC,
        matrix_modules::user_admin::run,
    )
}
