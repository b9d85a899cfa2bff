//! Ansible module `user_admin`; see `library/user_admin.yml`.
fn main() {
    matrix_users::ansible::run_main(&matrix_users::modules::user_admin::MODULE)
}
