//! register_user's documentation (the options document themselves where they are declared).

use crate::ansible::{Kind, ModuleDoc, Ret};

pub static DOC: ModuleDoc = ModuleDoc {
    short_description: "Ensure Matrix accounts exist, or are deactivated or locked (Synapse, Dendrite, MAS, tuwunel), one or many per task",
    description: &["Registers accounts on a Matrix homeserver with the shared-secret registration API (C(/_synapse/admin/v1/register)), which Synapse and Dendrite serve even with public registration closed.", "An existing account is success with C(changed=false) and is never modified, unless I(update_password=always), or I(admin), I(locked) or I(email) ask for something it lacks.", "The account's lifecycle in Ansible's words: I(state=deactivated) deactivates it (I(erase) also erases its data), I(state=present) with I(reactivate=true) brings a deactivated account back, I(locked) locks or unlocks it. Every such write is read back from the server before it counts as done.", "When the full user ID is known (I(server_name), a full C(@user:server) I(username), or admin credentials), the account is looked up first, so the no-change path costs one small request instead of the bcrypt hash Synapse computes for every registration attempt.", "Registration sends C(inhibit_login), so a new account has no device and no access token (Dendrite ignores it; the module logs out the session Dendrite opens).", "With I(backend=mas), for a homeserver that delegates authentication to Matrix Authentication Service, accounts live in MAS: the module looks each one up by name, creates it (with its display name), sets its password (MAS's complexity rules apply unless I(skip_password_check)), its admin flag and its I(email) addresses, through MAS's admin API with an OAuth2 client-credentials token it renews during long tasks and revokes at the end. MAS provisions the account on the homeserver. An existing account is left as it is, except that I(admin) and I(email) converge when given and I(update_password=always) sets the password.", "A compiled binary module. Secrets never appear in its output; C(invocation.module_args) shows them as C(VALUE_SPECIFIED_IN_NO_LOG_PARAMETER)."],
    check_mode: "Looks accounts up and predicts C(changed); writes nothing. Without a known user ID it warns that it cannot tell and predicts a creation.",
    diff_mode: "Shows whether the account existed before and after.",
    notes: &["Ansible runs this module as a binary on the target host; it needs no Python there.", "The shared secret gives full power over the server. Keep it in Ansible Vault and leave C(no_log) on the task."],
    examples: r#"- name: Register john as an admin
  register_user:
    username: john
    password: "{{ vault_john_password }}"
    admin: true
    server_name: example.org
    shared_secret: "{{ matrix_synapse_registration_shared_secret }}"
  no_log: true

- name: Register a bot, reading the secrets from files on the server
  register_user:
    username: "@build-bot:example.org"
    password_file: /etc/matrix/build-bot.password
    user_type: bot
    displayname: Build Bot
    shared_secret_file: /matrix/synapse/config/registration_shared_secret

- name: Import many users in one task
  register_user:
    users: "{{ imported_users }}"   # [{username: alice, password: ...}, ...]
    concurrency: 8
    server_name: example.org
    shared_secret: "{{ matrix_synapse_registration_shared_secret }}"
  no_log: true

- name: An account on a homeserver that delegates to Matrix Authentication Service
  register_user:
    backend: mas
    api_url: https://matrix.example.org/auth/
    client_id: 01J0000000000000000000ADMN
    client_secret_file: /matrix/mas/admin-client-secret
    username: alice
    password: "{{ vault_alice_password }}"
    email: alice@example.org
  no_log: true

- name: Deactivate a leaver (their sessions end; the name stays taken)
  register_user:
    username: bob
    state: deactivated
    access_token: "{{ matrix_admin_access_token }}"
    shared_secret: "{{ matrix_synapse_registration_shared_secret }}"

- name: Lock an account under investigation
  register_user:
    username: mallory
    password: "{{ vault_mallory_password }}"
    locked: true
    access_token: "{{ matrix_admin_access_token }}"
    shared_secret: "{{ matrix_synapse_registration_shared_secret }}"
  no_log: true

- name: Reset a password, acting as an admin
  register_user:
    username: alice
    password: "{{ new_password }}"
    update_password: always
    access_token: "{{ matrix_admin_access_token }}"
    shared_secret: "{{ matrix_synapse_registration_shared_secret }}"
  no_log: true

- name: The accounts there should be - matrix-docker-ansible-deploy's list, then full entries; others deactivated
  register_user:
    users:
      # matrix_user_creator_users: created with this password and type, never changed later
      - username: bot.baibot
        initial_password: "{{ matrix_bot_baibot_config_user_password }}"
        initial_type: bot
        origin: matrix_user_creator_users_auto[0]
      # everything an entry says is converged, every run
      - username: alice
        password_file: /etc/matrix-users/alice.password
        admin: true
      - username: bob
        password: "{{ vault_bob_password }}"
        locked: true
      - username: eve
        state: deactivated
    exclusive: true
    max_deactivations: 5
    keep: ["telegram_*"]
    server_name: example.org
    access_token: "{{ matrix_admin_access_token }}"
    shared_secret: "{{ matrix_synapse_registration_shared_secret }}"
  no_log: true

- name: Register on continuwuity with its registration token
  register_user:
    backend: continuwuity
    homeserver_url: http://127.0.0.1:8008
    server_name: example.org
    username: carol
    password: "{{ vault_carol_password }}"
    registration_token: "{{ matrix_continuwuity_config_registration_token }}"
  no_log: true
"#,
    returns: &[
        Ret::new("user_id", Kind::Str, "with username", "The account's full user ID; null when it existed and its server name is not known.").sample(r#""@john:example.org""#),
        Ret::new("created", Kind::Raw, "always", "Whether the account was created (in check mode, would be). With users, how many were.").sample(r#"true"#),
        Ret::new("password_updated", Kind::Bool, "with username", "Whether the password of an existing account was set (update_password=always).").sample(r#"false"#),
        Ret::new("admin_updated", Kind::Bool, "with username", "Whether the admin flag of an existing account was set to I(admin) (with admin credentials).").sample(r#"false"#),
        Ret::new("emails_added", Kind::List, "with username", "Backend mas: the e-mail addresses added to an existing account (in check mode, that would be).").sample(r#"["alice@example.org"]"#),
        Ret::new("deactivated", Kind::Raw, "always", "Whether the account was deactivated (in check mode, would be). With users, how many were.").sample(r#"false"#),
        Ret::new("reactivated", Kind::Raw, "always", "Whether the account was reactivated (in check mode, would be). With users, how many were.").sample(r#"false"#),
        Ret::new("lock_changed", Kind::Raw, "with username", "null when the lock was left as it was; true when the account was locked, false when unlocked (in check mode, would be).").sample(r#"null"#),
        Ret::new("locks_changed", Kind::Int, "with users", "How many accounts were locked or unlocked.").sample(r#"0"#),
        Ret::new("passwords_set", Kind::Int, "with users", "How many passwords of existing accounts were set (update_password=always).").sample(r#"0"#),
        Ret::new("admin_flags_changed", Kind::Int, "with users", "How many existing accounts got the admin flag asked for.").sample(r#"0"#),
        Ret::new("results", Kind::List, "with users", "One entry per account that changed or failed (every account with I(report_unchanged)), in order; C(index) is its position in I(users) (accounts deactivated by I(exclusive) come after the entries, with C(named) false), C(entry) its I(origin) or C(users[N]).").sample(r#"[{"index": 0, "entry": "users[0]", "named": true, "username": "alice", "user_id": "@alice:example.org", "changed": true, "created": true, "password_updated": false, "failed": false}]"#),
        Ret::new("plan", Kind::List, "with users", "What changed (in check mode, what would change), a few readable lines whatever the length of the list: one per kind of change with its count and at most 50 names, then how many accounts are unchanged. The same lines are the diff (with --diff). Names only, never a secret.").sample(r#"["to create (2): alice, bob", "to make admins (1): carol", "to deactivate, named in no list (1): mallory", "unchanged: 9996"]"#),
        Ret::new("existing", Kind::Int, "with users", "How many accounts of users already existed.").sample(r#"3"#),
        Ret::new("failed_count", Kind::Int, "with users", "How many entries of users failed.").sample(r#"0"#),
    ],
};
