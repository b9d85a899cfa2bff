//! Ansible module `user_info`; see `library/user_info.yml`.
fn main() {
    matrix_users::ansible::run_main(&matrix_users::modules::user_info::MODULE)
}
