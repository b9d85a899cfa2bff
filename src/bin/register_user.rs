//! Ansible module `register_user`; see `library/register_user.yml`.
fn main() {
    matrix_users::ansible::run_main(&matrix_users::modules::register_user::MODULE)
}
