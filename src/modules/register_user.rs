//! Module `register_user`: ensures accounts exist, one or many in one task.
//!
//! Synapse bcrypt-hashes the password before it checks whether a name is taken, so an existing
//! account is looked up first whenever its full ID is known: the no-change path costs one small
//! GET instead of a hash. Registration uses the shared secret with `inhibit_login`, so a new
//! account is left without a device or access token.

use crate::ansible::{
    Diff, Error, Kind, Module, ModuleDef, ModuleDoc, Opt, Outcome, Params, Result, Ret, Spec,
};
use crate::api::client_session::{AdminCredentials, AdminSession, ProfileDirectory};
use crate::args::{
    self, ADMIN_CREDENTIALS_EXCLUSIVE, ADMIN_CREDENTIALS_TOGETHER, ADMIN_CREDENTIAL_OPTIONS,
    CONNECTION_OPTIONS,
};
use crate::backends::{
    self, Directory, Homeserver, NewUser, PasswordReset, Presence, Registrar, Registration, Unknown,
};
use crate::choice_enum;
use crate::client::Connection;
use crate::fail;
use crate::matrix::{validate_server_name, User};
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Options of one account, at top level or as an entry of `users`.
static USER_OPTIONS: &[Opt] = &[
    Opt::str("username").aliases(&["name", "user"]).doc(&[
        "The account, as a localpart (C(alice)) or a full user ID (C(@alice:example.org)).",
        "Lower case C(a-z), C(0-9) and C(. _ = - +); anything else fails before any request.",
    ]),
    Opt::str("password").no_log().doc(&[
        "The password of a new account (and of an existing one with I(update_password=always)). At most 512 bytes.",
    ]),
    Opt::path("password_file").doc(&[
        "A file holding the password; surrounding whitespace is removed, as C(register_new_matrix_user --password-file) does.",
    ]),
    Opt::bool("admin").doc(&[
        "Whether a new account is a server admin. Applied only when the account is created; use the C(user_admin) module to change an existing account.",
        "Accepts Ansible's booleans, including the strings C(yes) and C(no) from C(--extra-vars).",
        "With I(users), the default for entries that do not set it.",
    ]),
    Opt::str("user_type").doc(&[
        "The user type of a new account. Synapse knows C(bot) and C(support), plus any in its C(user_types.extra_user_types). Dendrite has no user types.",
    ]),
    Opt::str("displayname")
        .doc(&["The display name of a new account (default on the server is the localpart)."]),
];

choice_enum! {
    enum UpdatePassword {
        Always = "always",
        OnCreate = "on_create",
    }
}

static MODULE_OPTIONS: &[Opt] = &[
    Opt::str("backend")
        .choices(Homeserver::NAMES)
        .default_str("synapse")
        .doc(&[
            "The homeserver implementation. Both serve shared-secret registration; they differ in their admin APIs (used for look-ups and I(update_password=always)).",
            "C(synapse) - look-ups through the admin API when admin credentials are given, passwords set with C(PUT /_synapse/admin/v2/users/<user_id>).",
            "C(dendrite) - look-ups through the public profile API, passwords set with C(POST /_dendrite/admin/resetPassword/<user_id>) (an admin account's token). Dendrite has no user types (I(user_type) is refused), takes passwords of 8 characters or more, and ignores C(inhibit_login) - the module logs out the session Dendrite opens for each new account (its device C(shared_secret_registration)), and warns if it cannot. Admin rights of existing accounts - module C(user_admin), backends C(dendrite_sqlite) and C(dendrite_postgres).",
        ]),
    Opt::str("shared_secret")
        .no_log()
        .doc(&["The homeserver's C(registration_shared_secret)."]),
    Opt::path("shared_secret_file").doc(&["A file holding only the shared secret, as Synapse's C(registration_shared_secret_path); surrounding whitespace is removed."]),
    Opt::str("server_name").doc(&["The homeserver's server name (C(matrix_domain)); with it, accounts are looked up before any registration attempt and check mode can tell whether an account exists."]),
    Opt::str("update_password")
        .choices(UpdatePassword::NAMES)
        .default_str("on_create")
        .doc(&[
            "C(on_create) sets the password only for a new account.",
            "C(always) also sets it on an existing account, through the admin API, and reports C(changed) every time (a server cannot compare a password without a login). Needs I(access_token) or I(admin_username) + I(admin_password).",
        ]),
    Opt::list("users", Kind::Dict)
        .suboptions(USER_OPTIONS)
        .doc(&["Many accounts in one task. A bad or refused entry fails that entry only; the task then fails with a summary after every other entry is done, and a re-run converges."]),
    Opt::int("concurrency")
        .default_int(4)
        .doc(&["How many accounts of I(users) are handled at once (1 to 64)."]),
];

pub static SPEC: Spec = Spec {
    groups: &[
        USER_OPTIONS,
        MODULE_OPTIONS,
        ADMIN_CREDENTIAL_OPTIONS,
        CONNECTION_OPTIONS,
    ],
    mutually_exclusive: &[
        &["username", "users"],
        &["password", "password_file"],
        &["shared_secret", "shared_secret_file"],
        ADMIN_CREDENTIALS_EXCLUSIVE,
        &["users", "password"],
        &["users", "password_file"],
    ],
    required_one_of: &[
        &["username", "users"],
        &["shared_secret", "shared_secret_file"],
    ],
    required_together: &[ADMIN_CREDENTIALS_TOGETHER],
};

/// The spec of one `users` entry, validated entry by entry so that a bad entry fails alone.
static ENTRY_SPEC: Spec = Spec {
    groups: &[USER_OPTIONS],
    mutually_exclusive: &[&["password", "password_file"]],
    required_one_of: &[&["username"], &["password", "password_file"]],
    required_together: &[],
};

pub static MODULE: ModuleDef = ModuleDef {
    name: "register_user",
    spec: &SPEC,
    doc: &DOC,
    run,
};

const MAX_CONCURRENCY: i64 = 64;

/// The typed arguments.
struct Args {
    accounts: Accounts,
    backend: Homeserver,
    shared_secret: String,
    server_name: Option<String>,
    update_password: UpdatePassword,
    admin: Option<AdminCredentials>,
    concurrency: usize,
    connection: Connection,
}

enum Accounts {
    One(Account),
    /// The raw entries of `users`, each validated on its own (a bad entry fails alone), with the
    /// top-level options they inherit.
    Many {
        entries: Vec<Value>,
        defaults: Defaults,
    },
}

/// What an entry of `users` inherits from the top level.
#[derive(Debug, Clone, Default)]
struct Defaults {
    admin: Option<bool>,
    user_type: Option<String>,
    displayname: Option<String>,
}

/// One account to ensure, validated.
#[derive(Debug, Clone)]
struct Account {
    user: User,
    password: String,
    admin: bool,
    user_type: Option<String>,
    displayname: Option<String>,
}

impl Args {
    fn from_params(p: &Params) -> Result<Args> {
        let backend = args::choice::<Homeserver>(p, "backend")?;
        if let Some(s) = p.str("server_name") {
            validate_server_name("server_name", s)?;
        }
        let update_password = args::choice::<UpdatePassword>(p, "update_password")?;
        let admin = args::admin_credentials(p)?;
        if update_password == UpdatePassword::Always && admin.is_none() {
            return Err(fail!(
                "update_password=always resets the password of existing accounts, which needs admin credentials: give access_token, or admin_username and admin_password"
            ));
        }
        let concurrency = p.int("concurrency").unwrap_or(4);
        if !(1..=MAX_CONCURRENCY).contains(&concurrency) {
            return Err(fail!(
                "concurrency must be between 1 and {MAX_CONCURRENCY}, got {concurrency}"
            ));
        }
        let defaults = Defaults {
            admin: p.opt_bool("admin"),
            user_type: p.str("user_type").map(str::to_string),
            displayname: p.str("displayname").map(str::to_string),
        };
        // The single account is validated before any secret file is read or request is sent.
        let accounts = match p.str("username") {
            Some(_) => Accounts::One(Account::from_params(
                p,
                p.str("server_name"),
                &Defaults::default(),
            )?),
            None => Accounts::Many {
                entries: p.list("users").cloned().unwrap_or_default(),
                defaults,
            },
        };
        let shared_secret =
            args::secret(p, "shared_secret", "shared_secret_file")?.unwrap_or_default();
        if shared_secret.is_empty() {
            return Err(fail!("shared_secret is empty"));
        }
        Ok(Args {
            accounts,
            backend,
            shared_secret,
            server_name: p.str("server_name").map(str::to_string),
            update_password,
            admin,
            concurrency: concurrency as usize,
            connection: args::connection(p, "homeserver_url")?,
        })
    }
}

impl Account {
    /// One account from validated params (top level, or an entry of `users`, whose missing
    /// admin/user_type/displayname fall back to `defaults`).
    fn from_params(p: &Params, server_name: Option<&str>, defaults: &Defaults) -> Result<Account> {
        let name = p.str("username").unwrap_or_default();
        let user = User::parse("username", name, server_name)?;
        let password = args::secret(p, "password", "password_file")?
            .ok_or_else(|| fail!("password or password_file is required to register '{name}'"))?;
        if password.is_empty() {
            return Err(fail!("password for '{name}' is empty"));
        }
        if password.len() > 512 || password.contains('\0') {
            return Err(fail!(
                "password for '{name}' is not accepted by Matrix servers: at most 512 bytes and no NUL character"
            ));
        }
        let user_type = p
            .str("user_type")
            .map(str::to_string)
            .or_else(|| defaults.user_type.clone());
        if user_type.as_deref() == Some("") {
            return Err(fail!("user_type is empty; leave it out for a regular user"));
        }
        Ok(Account {
            user,
            password,
            admin: p.opt_bool("admin").or(defaults.admin).unwrap_or(false),
            user_type,
            displayname: p
                .str("displayname")
                .map(str::to_string)
                .or_else(|| defaults.displayname.clone()),
        })
    }
}

/// Decides when public profile look-ups are worth their request. Synapse rate-limits them
/// (rc_profile, which also delays each refusal by half a second): from the first refusal on,
/// registering is the look-up. And when nearly all of the first look-ups find nothing (a fresh
/// import), a look-up only adds a request per account: registering tells the same.
#[derive(Debug, Default)]
struct LookupPolicy {
    rate_limited: AtomicBool,
    done: AtomicUsize,
    absent: AtomicUsize,
}

/// Look-ups go on until this many have been made, and stop if 90% or more found no account.
const LOOKUP_SAMPLE: usize = 16;

impl LookupPolicy {
    /// Whether to look the next account up. Check mode keeps looking (unless refused): it must
    /// not guess.
    fn worth_it(&self, check_mode: bool) -> bool {
        if self.rate_limited.load(Ordering::Relaxed) {
            return false;
        }
        let n = self.done.load(Ordering::Relaxed);
        let absent = self.absent.load(Ordering::Relaxed);
        check_mode || n < LOOKUP_SAMPLE || absent * 10 < n * 9
    }

    fn record(&self, presence: &Presence) {
        match presence {
            Presence::Unknown(Unknown::RateLimited(_)) => {
                self.rate_limited.store(true, Ordering::Relaxed)
            }
            Presence::Absent => {
                self.absent.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        self.done.fetch_add(1, Ordering::Relaxed);
    }
}

/// Everything shared by the accounts of one task.
struct Task<'a> {
    registrar: Box<dyn Registrar + 'a>,
    /// Exact look-ups with admin rights, where the backend has them.
    admin_directory: Option<Box<dyn Directory + 'a>>,
    profiles: ProfileDirectory<'a>,
    lookups: LookupPolicy,
    passwords: Option<Box<dyn PasswordReset + 'a>>,
    always_update_password: bool,
    check_mode: bool,
}

/// What happened to one account.
#[derive(Debug, Clone, Default)]
struct AccountResult {
    username: String,
    user_id: Option<String>,
    existed: Option<bool>,
    created: bool,
    password_updated: bool,
    warnings: Vec<String>,
}

impl AccountResult {
    fn changed(&self) -> bool {
        self.created || self.password_updated
    }
}

fn run(m: &mut Module) -> Result<Outcome> {
    let a = Args::from_params(&m.params)?;
    let client = a.connection.client()?;
    let session = match &a.admin {
        Some(c) => Some(AdminSession::open(&client, c)?),
        None => None,
    };
    // With an admin token the server name is one whoami away.
    let server_name = match (&a.server_name, &session) {
        (Some(s), _) => Some(s.clone()),
        (None, Some(s)) => Some(s.server_name()?),
        (None, None) => None,
    };
    let task = Task {
        registrar: backends::registrar(a.backend, &client, &a.shared_secret),
        admin_directory: session
            .as_ref()
            .and_then(|s| backends::admin_directory(a.backend, s)),
        profiles: backends::profile_directory(&client, session.as_ref()),
        lookups: LookupPolicy::default(),
        passwords: session
            .as_ref()
            .map(|s| backends::password_reset(a.backend, s)),
        always_update_password: a.update_password == UpdatePassword::Always,
        check_mode: m.check_mode,
    };
    let outcome = match &a.accounts {
        Accounts::One(account) => {
            let account = Account {
                user: User::parse(
                    "username",
                    &full_or_local(&account.user),
                    server_name.as_deref(),
                )?,
                ..account.clone()
            };
            let r = ensure(&task, &account)?;
            for w in &r.warnings {
                m.warn(w.clone());
            }
            single_outcome(&r, m.check_mode)
        }
        Accounts::Many { entries, defaults } => bulk(
            m,
            &task,
            entries,
            defaults,
            server_name.as_deref(),
            a.concurrency,
        ),
    };
    drop(task);
    if let Some(s) = session {
        s.close()?;
    }
    Ok(outcome)
}

fn full_or_local(u: &User) -> String {
    u.id().unwrap_or_else(|| u.localpart.clone())
}

/// Ensures one account exists. The look-up comes first where the user ID is known.
fn ensure(task: &Task<'_>, acct: &Account) -> Result<AccountResult> {
    let mut r = AccountResult {
        username: acct.user.localpart.clone(),
        user_id: acct.user.id(),
        ..AccountResult::default()
    };
    task.registrar.check(&new_user(acct))?;
    match lookup(task, acct)? {
        Presence::Exists { admin } => {
            r.existed = Some(true);
            if let (Some(user_id), Some(is_admin)) = (&r.user_id, admin) {
                if acct.admin != is_admin {
                    r.warnings.push(format!(
                        "{user_id} exists with admin={is_admin}; admin is applied only when an account is created (use the user_admin module to change it)"
                    ));
                }
            }
            if task.always_update_password {
                set_password(task, acct, &mut r)?;
            }
        }
        Presence::Absent if task.check_mode => {
            r.existed = Some(false);
            r.created = true;
        }
        Presence::Unknown(why) if task.check_mode => {
            r.warnings.push(format!(
                "cannot tell whether '{}' exists ({}); check mode assumes it would be created",
                acct.user.display(),
                why.reason()
            ));
            r.created = true;
        }
        Presence::Absent | Presence::Unknown(_) => {
            match task.registrar.register(&new_user(acct))? {
                Registration::Created { user_id, note } => {
                    r.existed = Some(false);
                    r.created = true;
                    r.user_id = Some(user_id);
                    r.warnings.extend(note);
                }
                Registration::Exists => {
                    r.existed = Some(true);
                    if task.always_update_password {
                        set_password(task, acct, &mut r)?;
                    }
                }
            }
        }
    }
    Ok(r)
}

fn new_user(acct: &Account) -> NewUser<'_> {
    NewUser {
        localpart: &acct.user.localpart,
        password: &acct.password,
        admin: acct.admin,
        user_type: acct.user_type.as_deref(),
        displayname: acct.displayname.as_deref(),
    }
}

fn lookup(task: &Task<'_>, acct: &Account) -> Result<Presence> {
    let Some(user_id) = acct.user.id() else {
        return Ok(Presence::Unknown(Unknown::NoServerName));
    };
    if let Some(directory) = &task.admin_directory {
        return directory.lookup(&user_id);
    }
    if !task.lookups.worth_it(task.check_mode) {
        return Ok(Presence::Unknown(Unknown::Skipped));
    }
    let presence = task.profiles.lookup(&user_id)?;
    task.lookups.record(&presence);
    Ok(presence)
}

fn set_password(task: &Task<'_>, acct: &Account, r: &mut AccountResult) -> Result<()> {
    let (Some(passwords), Some(user_id)) = (&task.passwords, acct.user.id()) else {
        return Err(fail!(
            "update_password=always: cannot reset the password of '{}' without admin credentials and its server name",
            acct.user.display()
        ));
    };
    // Servers cannot compare a password without a login; setting it is the only sure way.
    r.password_updated = true;
    if task.check_mode {
        return Ok(());
    }
    passwords.set_password(&user_id, &acct.password)
}

fn state_json(r: &AccountResult, after: bool) -> Value {
    let exists = if after {
        Some(r.existed.unwrap_or(false) || r.created)
    } else {
        r.existed
    };
    let mut v = json!({ "user": r.user_id.clone().unwrap_or_else(|| r.username.clone()), "exists": exists });
    if after && r.password_updated {
        v["password"] = Value::from("(set)");
    }
    v
}

fn single_outcome(r: &AccountResult, check_mode: bool) -> Outcome {
    let who = r.user_id.clone().unwrap_or_else(|| r.username.clone());
    let msg = match (r.created, r.password_updated, check_mode) {
        (true, _, false) => format!("created {who}"),
        (true, _, true) => format!("{who} would be created"),
        (false, true, false) => format!("{who} exists; password set"),
        (false, true, true) => format!("{who} exists; its password would be set"),
        (false, false, _) => format!("{who} already exists"),
    };
    Outcome::changed(r.changed())
        .msg(msg)
        .with("created", r.created)
        .with("user_id", r.user_id.clone())
        .with("password_updated", r.password_updated)
        .diff(Diff {
            before: state_json(r, false),
            after: state_json(r, true),
            before_header: Some(who.clone()),
            after_header: Some(who),
        })
}

/// Validates the entries of `users`: each one alone, and no name twice.
fn bulk_accounts(
    entries: &[Value],
    defaults: &Defaults,
    server_name: Option<&str>,
) -> Vec<std::result::Result<Account, Error>> {
    let mut seen: Map<String, Value> = Map::new();
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let obj = entry
                .as_object()
                .ok_or_else(|| fail!("users[{i}] must be a dict with username and password"))?;
            let p = ENTRY_SPEC
                .validate(obj)
                .map_err(|e| fail!("users[{i}]: {}", e.join("; ")))?;
            let a = Account::from_params(&p, server_name, defaults)
                .map_err(|e| fail!("users[{i}]: {e}"))?;
            let key = a.user.localpart.clone();
            if let Some(first) = seen.insert(key.clone(), Value::from(i)) {
                return Err(fail!(
                    "users[{i}]: '{key}' is already listed as users[{first}]"
                ));
            }
            Ok(a)
        })
        .collect()
}

/// Registers many accounts with `concurrency` workers. A bad or refused entry fails alone; the
/// task then fails with a summary, after every other entry has been handled.
fn bulk(
    m: &mut Module,
    task: &Task<'_>,
    entries: &[Value],
    defaults: &Defaults,
    server_name: Option<&str>,
    concurrency: usize,
) -> Outcome {
    let accounts = bulk_accounts(entries, defaults, server_name);

    type Slot = std::sync::Mutex<Option<std::result::Result<AccountResult, Error>>>;
    let next = AtomicUsize::new(0);
    let slots: Vec<Slot> = (0..accounts.len()).map(|_| Slot::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..concurrency.min(accounts.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(acct) = accounts.get(i) else { break };
                let r = match acct {
                    Ok(a) => ensure(task, a),
                    Err(e) => Err(e.clone()),
                };
                *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
            });
        }
    });
    let results = slots.into_iter().enumerate().map(|(i, slot)| {
        slot.into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or_else(|| Err(fail!("users[{i}] was not processed")))
    });

    let (mut created, mut existing, mut updated) = (0, 0, 0);
    let mut failures = Vec::new();
    let mut items = Vec::with_capacity(entries.len());
    for (i, r) in results.enumerate() {
        let name = entries[i]
            .get("username")
            .or_else(|| entries[i].get("name"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        match r {
            Ok(r) => {
                for w in &r.warnings {
                    m.warn(w.clone());
                }
                if r.created {
                    created += 1;
                } else {
                    existing += 1;
                }
                if r.password_updated {
                    updated += 1;
                }
                items.push(json!({
                    "username": r.username, "user_id": r.user_id, "changed": r.changed(),
                    "created": r.created, "password_updated": r.password_updated, "failed": false,
                }));
            }
            Err(e) => {
                failures.push(e.0.clone());
                items.push(json!({"username": name, "changed": false, "created": false, "failed": true, "msg": e.0}));
            }
        }
    }
    let verb = if m.check_mode {
        "would be created"
    } else {
        "created"
    };
    let summary = format!(
        "{} users: {created} {verb}, {existing} already existed{}, {} failed",
        items.len(),
        if updated > 0 {
            format!(" ({updated} passwords set)")
        } else {
            String::new()
        },
        failures.len()
    );
    let mut out = Outcome::changed(created + updated > 0)
        .msg(summary.clone())
        .with("results", items)
        .with("created", created)
        .with("existing", existing)
        .with("failed_count", failures.len())
        .diff(Diff {
            before: json!({"created": 0}),
            after: json!({"created": created, "passwords_set": updated}),
            before_header: None,
            after_header: None,
        });
    if !failures.is_empty() {
        let shown: Vec<&str> = failures.iter().take(5).map(String::as_str).collect();
        let more = if failures.len() > 5 {
            format!(" (and {} more; see results)", failures.len() - 5)
        } else {
            String::new()
        };
        out = out.failed(format!("{summary}: {}{more}", shown.join("; ")));
    }
    out
}

static DOC: ModuleDoc = ModuleDoc {
    short_description: "Ensure Matrix accounts exist (Synapse, Dendrite), one or many per task",
    description: &["Registers accounts on a Matrix homeserver with the shared-secret registration API (C(/_synapse/admin/v1/register)), which Synapse and Dendrite serve even with public registration closed.", "An existing account is success with C(changed=false) and is never modified, unless I(update_password=always).", "When the full user ID is known (I(server_name), a full C(@user:server) I(username), or admin credentials), the account is looked up first, so the no-change path costs one small request instead of the bcrypt hash Synapse computes for every registration attempt.", "Registration sends C(inhibit_login), so a new account has no device and no access token (Dendrite ignores it; the module logs out the session Dendrite opens).", "A compiled binary module. Secrets never appear in its output; C(invocation.module_args) shows them as C(VALUE_SPECIFIED_IN_NO_LOG_PARAMETER)."],
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

- name: Reset a password, acting as an admin
  register_user:
    username: alice
    password: "{{ new_password }}"
    update_password: always
    access_token: "{{ matrix_admin_access_token }}"
    shared_secret: "{{ matrix_synapse_registration_shared_secret }}"
  no_log: true
"#,
    returns: &[
        Ret::new("user_id", Kind::Str, "with username", "The account's full user ID; null when it existed and its server name is not known.").sample(r#""@john:example.org""#),
        Ret::new("created", Kind::Raw, "always", "Whether the account was created (in check mode, would be). With users, how many were.").sample(r#"true"#),
        Ret::new("password_updated", Kind::Bool, "with username", "Whether the password of an existing account was set (update_password=always).").sample(r#"false"#),
        Ret::new("results", Kind::List, "with users", "One entry per account of users, in order.").sample(r#"[{"username": "alice", "user_id": "@alice:example.org", "changed": true, "created": true, "password_updated": false, "failed": false}]"#),
        Ret::new("existing", Kind::Int, "with users", "How many accounts of users already existed.").sample(r#"3"#),
        Ret::new("failed_count", Kind::Int, "with users", "How many entries of users failed.").sample(r#"0"#),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_stop_at_the_first_rate_limit() {
        let p = LookupPolicy::default();
        assert!(p.worth_it(false));
        p.record(&Presence::Exists { admin: None });
        p.record(&Presence::Unknown(Unknown::RateLimited("429".into())));
        assert!(!p.worth_it(false));
        assert!(!p.worth_it(true), "a refusal is final, also in check mode");
    }

    #[test]
    fn lookups_stop_when_a_fresh_import_finds_nobody() {
        let p = LookupPolicy::default();
        for _ in 0..LOOKUP_SAMPLE - 1 {
            p.record(&Presence::Absent);
        }
        assert!(p.worth_it(false), "the sample is not complete yet");
        p.record(&Presence::Absent);
        assert!(!p.worth_it(false));
        assert!(p.worth_it(true), "check mode must not guess");
    }

    #[test]
    fn lookups_go_on_when_accounts_exist() {
        let p = LookupPolicy::default();
        for i in 0..100 {
            p.record(if i % 5 == 0 {
                &Presence::Exists { admin: None }
            } else {
                &Presence::Absent
            });
        }
        assert!(p.worth_it(false), "80% absent: look-ups still pay off");
    }
}
