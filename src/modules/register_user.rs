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
use crate::api::mas::site_config;
use crate::api::mas_session::MasSession;
use crate::args::{
    self, MasArgs, ADMIN_CREDENTIALS_EXCLUSIVE, ADMIN_CREDENTIALS_TOGETHER,
    ADMIN_CREDENTIAL_OPTIONS, CONNECTION_OPTIONS, MAS_CLIENT_EXCLUSIVE, MAS_CLIENT_OPTIONS,
    MAS_SECRET_EXCLUSIVE, MAS_URL_OPTIONS,
};
use crate::backends::{
    self, AccountListing, AdminFlag, Directory, EmailAddresses, Homeserver, NewUser, PasswordReset,
    Presence, Registrar, Registration, Unknown,
};
use crate::choice_enum;
use crate::client::Connection;
use crate::fail;
use crate::matrix::{validate_server_name, NameSource, User};
use serde_json::{json, Value};
use std::collections::HashMap;
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
        "Whether the account is a server admin. A new account gets it. An existing account gets it too when admin credentials are given and the backend can set it (Synapse); otherwise the module warns and names the command to run. Left out, an existing account's rights are left alone.",
        "Accepts Ansible's booleans, including the strings C(yes) and C(no) from C(--extra-vars).",
        "With I(users), the default for entries that do not set it.",
    ]),
    Opt::str("user_type").doc(&[
        "The user type of a new account. Synapse knows C(bot) and C(support), plus any in its C(user_types.extra_user_types). Dendrite has no user types.",
    ]),
    Opt::str("displayname")
        .doc(&["The display name of a new account (default on the server is the localpart)."]),
    Opt::list("email", Kind::Str).doc(&[
        "Backend C(mas) only: one e-mail address or a list, attached to the account as verified addresses (C(POST /api/admin/v1/user-emails)), so that its first login does not stop for an e-mail confirmation.",
        "Converges on existing accounts too: missing addresses are added, addresses the account has besides these are kept. An address another account has is an error.",
    ]),
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
            "The homeserver implementation. C(synapse) and C(dendrite) serve shared-secret registration; they differ in their admin APIs (used for look-ups and I(update_password=always)).",
            "C(synapse) - look-ups through the admin API when admin credentials are given, passwords set with C(PUT /_synapse/admin/v2/users/<user_id>).",
            "C(dendrite) - look-ups through the public profile API, passwords set with C(POST /_dendrite/admin/resetPassword/<user_id>) (an admin account's token). Dendrite has no user types (I(user_type) is refused), takes passwords of 8 characters or more, and ignores C(inhibit_login) - the module logs out the session Dendrite opens for each new account (its device C(shared_secret_registration)), and warns if it cannot. Admin rights of existing accounts - module C(user_admin), backends C(dendrite_sqlite) and C(dendrite_postgres).",
            "C(mas) is for a homeserver that delegates authentication to Matrix Authentication Service (MAS; C(matrix_authentication_service_enabled) in matrix-docker-ansible-deploy): accounts are created through MAS's admin API at I(api_url), with I(client_id) + I(client_secret) (or I(access_token), a MAS admin token); no shared secret. MAS has no user types (I(user_type) is refused), and sets a display name at creation only.",
        ]),
    Opt::str("shared_secret")
        .no_log()
        .doc(&["The homeserver's C(registration_shared_secret)."]),
    Opt::path("shared_secret_file").doc(&["A file holding only the shared secret, as Synapse's C(registration_shared_secret_path); surrounding whitespace is removed."]),
    Opt::bool("skip_password_check").default_bool(false).doc(&["Backend C(mas) only: set passwords without MAS's complexity check (C(passwords.minimum_complexity)), as C(mas-cli manage set-password --ignore-password-complexity) does. By default MAS refuses weak passwords and the module fails for that account."]),
    Opt::str("server_name").doc(&["The homeserver's server name (C(matrix_domain)); with it, accounts are looked up before any registration attempt and check mode can tell whether an account exists."]),
    Opt::str("update_password")
        .choices(UpdatePassword::NAMES)
        .default_str("on_create")
        .doc(&[
            "C(on_create) sets the password only for a new account.",
            "C(always) also sets it on an existing account, through the admin API, and reports C(changed) every time (a server cannot compare a password without a login). Needs I(access_token) or I(admin_username) + I(admin_password) (with backend C(mas), its credentials).",
        ]),
    Opt::list("users", Kind::Dict)
        .suboptions(USER_OPTIONS)
        .doc(&["Many accounts in one task. A bad or refused entry fails that entry only; the task then fails with a summary after every other entry is done, and a re-run converges."]),
    Opt::int("concurrency")
        .default_int(4)
        .doc(&["How many accounts of I(users) are handled at once (1 to 64)."]),
    Opt::bool("report_unchanged").default_bool(false).doc(&[
        "With I(users), also list the accounts that needed no change in C(results). By default C(results) holds only what changed or failed, and the counts say the rest, so that a re-run of thousands of existing accounts prints a few lines.",
    ]),
];

pub static SPEC: Spec = Spec {
    groups: &[
        USER_OPTIONS,
        MODULE_OPTIONS,
        ADMIN_CREDENTIAL_OPTIONS,
        MAS_URL_OPTIONS,
        MAS_CLIENT_OPTIONS,
        CONNECTION_OPTIONS,
    ],
    mutually_exclusive: &[
        &["username", "users"],
        &["password", "password_file"],
        &["shared_secret", "shared_secret_file"],
        ADMIN_CREDENTIALS_EXCLUSIVE,
        &["users", "password"],
        &["users", "password_file"],
        MAS_SECRET_EXCLUSIVE,
        MAS_CLIENT_EXCLUSIVE,
        &["shared_secret", "client_id"],
        &["shared_secret_file", "client_id"],
    ],
    // shared_secret or shared_secret_file: required unless backend mas (checked in Args).
    required_one_of: &[&["username", "users"]],
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
    /// Empty for backend mas.
    shared_secret: String,
    /// Backend mas: MAS's URL and credentials.
    mas: Option<MasArgs>,
    skip_password_check: bool,
    server_name: Option<String>,
    update_password: UpdatePassword,
    admin: Option<AdminCredentials>,
    concurrency: usize,
    /// Bulk results list unchanged accounts too.
    report_unchanged: bool,
    connection: Connection,
}

enum Accounts {
    One(Account),
    /// The entries of `users`, each validated on its own: a bad entry fails alone.
    Many(Vec<Entry>),
}

/// One entry of `users`: its name as given (for messages), and the account or why it is bad.
struct Entry {
    name: String,
    account: std::result::Result<Account, Error>,
}

/// What an entry of `users` inherits from the top level.
#[derive(Debug, Clone, Default)]
struct Defaults {
    admin: Option<bool>,
    user_type: Option<String>,
    displayname: Option<String>,
    emails: Vec<String>,
}

/// One account to ensure, validated.
#[derive(Debug, Clone)]
struct Account {
    user: User,
    password: String,
    /// None: not asked (a new account is not an admin, an existing one is left as it is).
    admin: Option<bool>,
    user_type: Option<String>,
    displayname: Option<String>,
    /// Addresses to attach (backend mas).
    emails: Vec<String>,
}

impl Args {
    fn from_params(p: &Params) -> Result<Args> {
        let backend = args::choice::<Homeserver>(p, "backend")?;
        if let Some(s) = p.str("server_name") {
            validate_server_name("server_name", s)?;
        }
        let update_password = args::choice::<UpdatePassword>(p, "update_password")?;
        let entries = p.list("users").map(Vec::as_slice).unwrap_or_default();
        let entries_set = |key: &str| {
            entries
                .iter()
                .any(|e| e.get(key).is_some_and(|v| !v.is_null()))
        };
        let mas = if backend == Homeserver::Mas {
            if p.is_given("user_type") || entries_set("user_type") {
                return Err(fail!(
                    "MAS has no user types: leave user_type out for backend mas"
                ));
            }
            if p.is_given("shared_secret") || p.is_given("shared_secret_file") {
                return Err(fail!(
                    "backend mas creates accounts through MAS's admin API, not with the homeserver's shared secret: leave shared_secret out and give client_id and client_secret (or access_token)"
                ));
            }
            Some(args::mas(p)?)
        } else {
            args::refuse_mas_options(p, backend.name())?;
            for o in ["email", "api_url"] {
                if p.is_given(o) || entries_set(o) {
                    return Err(fail!("{o} is for backend mas only, not {}", backend.name()));
                }
            }
            if p.bool("skip_password_check") {
                return Err(fail!(
                    "skip_password_check is for backend mas only, not {}",
                    backend.name()
                ));
            }
            None
        };
        let admin = match mas {
            Some(_) => None,
            None => args::admin_credentials(p)?,
        };
        if update_password == UpdatePassword::Always && admin.is_none() && mas.is_none() {
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
            emails: emails(p),
        };
        // The single account is validated before any secret file is read or request is sent.
        let accounts = match p.str("username") {
            Some(_) => Accounts::One(Account::from_params(
                p,
                p.str("server_name").map(|s| (s, NameSource::Option)),
                &Defaults::default(),
            )?),
            None => Accounts::Many(bulk_accounts(
                entries,
                &defaults,
                p.str("server_name").map(|s| (s, NameSource::Option)),
            )),
        };
        let shared_secret = match mas {
            Some(_) => String::new(),
            None => {
                let s =
                    args::secret(p, "shared_secret", "shared_secret_file")?.ok_or_else(|| {
                        fail!("one of the following is required: shared_secret, shared_secret_file")
                    })?;
                if s.is_empty() {
                    return Err(fail!("shared_secret is empty"));
                }
                s
            }
        };
        Ok(Args {
            accounts,
            backend,
            shared_secret,
            mas,
            skip_password_check: p.bool("skip_password_check"),
            server_name: p.str("server_name").map(str::to_string),
            update_password,
            admin,
            concurrency: concurrency as usize,
            report_unchanged: p.bool("report_unchanged"),
            connection: args::connection(p, "homeserver_url")?,
        })
    }
}

/// `email`: one address or a list, blanks dropped.
fn emails(p: &Params) -> Vec<String> {
    p.list("email")
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

impl Account {
    /// One account from validated params (top level, or an entry of `users`, whose missing
    /// admin/user_type/displayname fall back to `defaults`).
    fn from_params(
        p: &Params,
        server_name: Option<(&str, NameSource)>,
        defaults: &Defaults,
    ) -> Result<Account> {
        let name = p.str("username").unwrap_or_default();
        let user = User::parse_on(p.given_as("username"), name, server_name)?;
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
            admin: p.opt_bool("admin").or(defaults.admin),
            user_type,
            displayname: p
                .str("displayname")
                .map(str::to_string)
                .or_else(|| defaults.displayname.clone()),
            emails: if p.is_given("email") {
                emails(p)
            } else {
                defaults.emails.clone()
            },
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
    backend: Homeserver,
    registrar: Box<dyn Registrar + 'a>,
    /// Exact look-ups with admin rights, where the backend has them.
    admin_directory: Option<Box<dyn Directory + 'a>>,
    /// Every account and its admin flag, listed once for a long list of users.
    listed: Option<HashMap<String, bool>>,
    profiles: ProfileDirectory<'a>,
    lookups: LookupPolicy,
    passwords: Option<Box<dyn PasswordReset + 'a>>,
    /// The admin flag of existing accounts, where the backend has an API for it.
    admin_flags: Option<Box<dyn AdminFlag + 'a>>,
    /// The e-mail addresses of existing accounts, where the backend keeps them (MAS).
    emails: Option<Box<dyn EmailAddresses + 'a>>,
    /// Admin credentials were given.
    has_admin: bool,
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
    /// The admin flag of an existing account was set to the one asked for.
    admin_updated: bool,
    /// Addresses added to an existing account.
    emails_added: Vec<String>,
    warnings: Vec<String>,
}

impl AccountResult {
    fn changed(&self) -> bool {
        self.created || self.password_updated || self.admin_updated || !self.emails_added.is_empty()
    }
}

fn run(m: &mut Module) -> Result<Outcome> {
    let mut a = Args::from_params(&m.params)?;
    if let Some(mas) = &a.mas {
        let client = mas.connection.client()?;
        let session = MasSession::open(&client, &mas.credentials)?;
        let outcome = run_mas(m, &mut a, &client, &session);
        // The token this task obtained is revoked, whatever happened.
        let closed = session.close();
        let outcome = outcome?;
        closed?;
        return Ok(outcome);
    }
    let client = a.connection.client()?;
    let session = match &a.admin {
        Some(c) => Some(AdminSession::open(&client, c)?),
        None => None,
    };
    // Check mode never logs in: such a session has no token to act with.
    let live = session.as_ref().filter(|s| s.is_live());
    // The server's name, learnt before anything is done: given, or one whoami away with an
    // admin token, or (for full user IDs) from the server's signing keys where it serves them.
    let server_name = match (&a.server_name, live) {
        (Some(s), _) => Some((s.clone(), NameSource::Option)),
        (None, Some(s)) => Some((s.server_name()?, NameSource::Whoami)),
        _ if a.accounts.has_full_id() => {
            crate::api::client_session::server_name_from_keys(&client)?
                .map(|s| (s, NameSource::ServerKeys))
        }
        _ => None,
    };
    let server = server_name.as_ref().map(|(s, src)| (s.as_str(), *src));
    let listed = match (&a.accounts, live) {
        (Accounts::Many(entries), Some(s)) if entries.len() >= LISTING_MIN_ACCOUNTS => {
            match backends::account_listing(a.backend, s) {
                Some(listing) => {
                    list_accounts(listing.as_ref(), entries.len(), server.map(|(n, _)| n))?
                }
                None => None,
            }
        }
        _ => None,
    };
    if let (Accounts::Many(entries), None) = (&a.accounts, &session) {
        if entries.len() > PROFILE_BURST && a.backend == Homeserver::Synapse {
            m.warn(format!(
                "{} accounts without admin credentials: Synapse answers about {PROFILE_BURST} profile look-ups in a burst, and every existing account after that costs a registration attempt, which Synapse answers only after a full password hash. Give access_token (an admin's) to find existing accounts with one listing instead",
                entries.len()
            ));
        }
    }
    let task = Task {
        backend: a.backend,
        registrar: backends::registrar(a.backend, &client, &a.shared_secret).ok_or_else(|| {
            fail!(
                "backend {} has no shared-secret registration",
                a.backend.name()
            )
        })?,
        admin_directory: live.and_then(|s| backends::admin_directory(a.backend, s)),
        listed,
        profiles: backends::profile_directory(&client, session.as_ref()),
        lookups: LookupPolicy::default(),
        passwords: session
            .as_ref()
            .and_then(|s| backends::password_reset(a.backend, s)),
        admin_flags: live.and_then(|s| backends::admin_flag(a.backend, s)),
        emails: None,
        has_admin: live.is_some(),
        always_update_password: a.update_password == UpdatePassword::Always,
        check_mode: m.check_mode,
    };
    let outcome = converge_all(
        m,
        &mut a.accounts,
        a.concurrency,
        a.report_unchanged,
        &task,
        server,
    )?;
    drop(task);
    if let Some(s) = session {
        s.close()?;
    }
    Ok(outcome)
}

/// Backend mas: every account through MAS's admin API, in the server MAS serves.
fn run_mas(
    m: &mut Module,
    a: &mut Args,
    client: &crate::client::Client,
    session: &MasSession<'_>,
) -> Result<Outcome> {
    let site = site_config(session)?;
    if let Some(s) = a.server_name.as_deref().filter(|s| *s != site.server_name) {
        return Err(fail!(
            "server_name is {s}, but this MAS serves {}: leave server_name out with backend mas, or point api_url at the MAS of {s}",
            site.server_name
        ));
    }
    if !site.password_login_enabled {
        return Err(fail!(
            "MAS has password login disabled (its site-config says password_login_enabled: false; passwords.enabled in its config): register_user sets a password on every account it creates, so nothing was done. Enable passwords in MAS, or create the accounts through the upstream identity provider"
        ));
    }
    let users = backends::mas_users(session, &site.server_name, a.skip_password_check);
    let listed = match &a.accounts {
        Accounts::Many(entries) if entries.len() >= LISTING_MIN_ACCOUNTS => list_accounts(
            users.listing.as_ref(),
            entries.len(),
            Some(&site.server_name),
        )?,
        _ => None,
    };
    let task = Task {
        backend: a.backend,
        registrar: users.registrar,
        admin_directory: Some(users.directory),
        listed,
        profiles: backends::profile_directory(client, None),
        lookups: LookupPolicy::default(),
        passwords: Some(users.passwords),
        admin_flags: Some(users.admin_flags),
        emails: Some(users.emails),
        has_admin: true,
        always_update_password: a.update_password == UpdatePassword::Always,
        check_mode: m.check_mode,
    };
    converge_all(
        m,
        &mut a.accounts,
        a.concurrency,
        a.report_unchanged,
        &task,
        Some((&site.server_name, NameSource::MasSiteConfig)),
    )
}

/// Ensures the one account or the many.
fn converge_all(
    m: &mut Module,
    accounts: &mut Accounts,
    concurrency: usize,
    report_unchanged: bool,
    task: &Task<'_>,
    server: Option<(&str, NameSource)>,
) -> Result<Outcome> {
    Ok(match accounts {
        Accounts::One(account) => {
            let account = Account {
                user: User::parse_on(
                    m.params.given_as("username"),
                    &full_or_local(&account.user),
                    server,
                )?,
                ..account.clone()
            };
            let r = ensure(task, &account)?;
            for w in &r.warnings {
                m.warn(w.clone());
            }
            single_outcome(&r, m.check_mode)
        }
        Accounts::Many(entries) => {
            if let Some(server) = server {
                learn_server_name(entries, server);
            }
            bulk(m, task, entries, concurrency, report_unchanged)
        }
    })
}

/// Lists shorter than this look each account up: a listing pays off for long lists.
const LISTING_MIN_ACCOUNTS: usize = 50;
/// Profile look-ups Synapse answers in a burst before its rate limit (rc_profile) refuses them.
const PROFILE_BURST: usize = 500;

/// Lists every account once, when that costs fewer requests than a look-up per account (the
/// first page tells how many accounts the server has). Returns the accounts of the server
/// `server_name`, or None where the backend has no listing or a look-up each is cheaper.
fn list_accounts(
    listing: &dyn AccountListing,
    wanted: usize,
    server_name: Option<&str>,
) -> Result<Option<HashMap<String, bool>>> {
    // A page holds a thousand accounts; a look-up is one request per account.
    let worth_it = |total: u64| total.div_ceil(1000) <= (wanted as u64).div_ceil(4);
    let suffix = server_name.map(|s| format!(":{s}"));
    let mut found = HashMap::new();
    let complete = listing.list_accounts(&worth_it, &mut |user_id, admin| {
        if suffix.as_deref().is_none_or(|s| user_id.ends_with(s)) {
            found.insert(user_id.to_string(), admin);
        }
    })?;
    Ok(complete.then_some(found))
}

impl Accounts {
    /// Whether a full user ID was given, whose server must be confirmed before acting.
    fn has_full_id(&self) -> bool {
        let full = |a: &Account| a.user.server_name.is_some();
        match self {
            Accounts::One(a) => full(a),
            Accounts::Many(entries) => entries.iter().any(|e| e.account.as_ref().is_ok_and(full)),
        }
    }
}

fn full_or_local(u: &User) -> String {
    u.id().unwrap_or_else(|| u.localpart.clone())
}

/// Ensures one account exists. The look-up comes first where the user ID is known.
fn ensure(task: &Task<'_>, acct: &Account) -> Result<AccountResult> {
    let mut r = AccountResult {
        username: acct.user.localpart.clone(),
        user_id: acct.user.confirmed_id(),
        ..AccountResult::default()
    };
    task.registrar.check(&new_user(acct))?;
    match lookup(task, acct)? {
        Presence::Exists { admin } => {
            r.existed = Some(true);
            converge_admin(task, acct, admin, &mut r)?;
            converge_emails(task, acct, &mut r)?;
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
                    // The account created must be the one asked for (a full ID on another
                    // server registers its localpart here: that is a failure, not success).
                    acct.user.check_answer("username", &user_id)?;
                    r.existed = Some(false);
                    r.created = true;
                    r.user_id = Some(user_id);
                    r.warnings.extend(note);
                }
                Registration::Exists => {
                    r.existed = Some(true);
                    if let (None, Some(claimed)) = (&r.user_id, acct.user.id()) {
                        r.warnings.push(format!(
                            "'{}' exists on this homeserver; whether it is {claimed} cannot be told without the server's name: set server_name",
                            acct.user.localpart
                        ));
                    }
                    converge_admin(task, acct, None, &mut r)?;
                    converge_emails(task, acct, &mut r)?;
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
        admin: acct.admin.unwrap_or(false),
        user_type: acct.user_type.as_deref(),
        displayname: acct.displayname.as_deref(),
        emails: &acct.emails,
    }
}

fn lookup(task: &Task<'_>, acct: &Account) -> Result<Presence> {
    // Only an ID on this very server is looked up: a look-up of another server's user makes the
    // homeserver contact that server.
    let Some(user_id) = acct.user.confirmed_id() else {
        return Ok(Presence::Unknown(Unknown::NoServerName));
    };
    if let Some(listed) = &task.listed {
        return Ok(match listed.get(&user_id) {
            Some(admin) => Presence::Exists {
                admin: Some(*admin),
            },
            None => Presence::Absent,
        });
    }
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

/// Gives an existing account the admin flag asked for, where the backend can set it with the
/// admin credentials given; otherwise warns with what to run instead. `current` is the flag
/// when the look-up showed it.
fn converge_admin(
    task: &Task<'_>,
    acct: &Account,
    current: Option<bool>,
    r: &mut AccountResult,
) -> Result<()> {
    let Some(want) = acct.admin else {
        return Ok(());
    };
    if current == Some(want) {
        return Ok(());
    }
    let who = acct.user.display();
    let yes_no = if want { "yes" } else { "no" };
    let instead = format!(
        "run the update-user-admin tag (--tags=update-user-admin --extra-vars='username={} admin={yes_no}') or the user_admin module",
        acct.user.localpart
    );
    match (&task.admin_flags, acct.user.id()) {
        (Some(flags), Some(user_id)) => {
            let change = flags.converge(&user_id, want, task.check_mode)?;
            r.admin_updated = change.changed;
        }
        _ if !task.has_admin => r.warnings.push(format!(
            "{who} already exists; whether it has admin={yes_no} cannot be checked without admin credentials (access_token, or admin_username and admin_password): give them to converge it, or {instead}"
        )),
        _ => r.warnings.push(format!(
            "{who} already exists and {} has no API to set admin rights; {instead}",
            task.backend.name()
        )),
    }
    Ok(())
}

/// Adds the addresses asked for that an existing account lacks (backend mas).
fn converge_emails(task: &Task<'_>, acct: &Account, r: &mut AccountResult) -> Result<()> {
    if acct.emails.is_empty() {
        return Ok(());
    }
    let (Some(emails), Some(user_id)) = (&task.emails, acct.user.id()) else {
        return Err(fail!(
            "email is for backend mas only, not {}",
            task.backend.name()
        ));
    };
    r.emails_added = emails.add_missing(&user_id, &acct.emails, task.check_mode)?;
    Ok(())
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
    if r.admin_updated {
        v["admin_changed"] = Value::from(after);
    }
    if !r.emails_added.is_empty() && after {
        v["emails_added"] = Value::from(r.emails_added.clone());
    }
    v
}

fn single_outcome(r: &AccountResult, check_mode: bool) -> Outcome {
    let who = r.user_id.clone().unwrap_or_else(|| r.username.clone());
    let mut msg = match (r.created, r.password_updated, check_mode) {
        (true, _, false) => format!("created {who}"),
        (true, _, true) => format!("{who} would be created"),
        (false, true, false) => format!("{who} exists; password set"),
        (false, true, true) => format!("{who} exists; its password would be set"),
        (false, false, _) => format!("{who} already exists"),
    };
    if r.admin_updated {
        msg.push_str(if check_mode {
            "; its admin rights would be changed"
        } else {
            "; admin rights changed"
        });
    }
    if !r.emails_added.is_empty() {
        msg.push_str(&format!(
            "; e-mail addresses {} {}",
            if check_mode {
                "would be added:"
            } else {
                "added:"
            },
            r.emails_added.join(", ")
        ));
    }
    Outcome::changed(r.changed())
        .msg(msg)
        .with("created", r.created)
        .with("user_id", r.user_id.clone())
        .with("password_updated", r.password_updated)
        .with("admin_updated", r.admin_updated)
        .with("emails_added", r.emails_added.clone())
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
    server_name: Option<(&str, NameSource)>,
) -> Vec<Entry> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let name = ["username", "name", "user"]
                .iter()
                .find_map(|k| entry.get(*k).and_then(Value::as_str))
                .unwrap_or("")
                .to_string();
            let account = (|| {
                let obj = entry
                    .as_object()
                    .ok_or_else(|| fail!("users[{i}] must be a dict with username and password"))?;
                let p = ENTRY_SPEC
                    .validate(obj)
                    .map_err(|e| fail!("users[{i}]: {}", e.join("; ")))?;
                let a = Account::from_params(&p, server_name, defaults)
                    .map_err(|e| fail!("users[{i}]: {e}"))?;
                let key = a.user.localpart.clone();
                if let Some(first) = seen.get(&key) {
                    return Err(fail!(
                        "users[{i}]: '{key}' is already listed as users[{first}]"
                    ));
                }
                seen.insert(key, i);
                Ok(a)
            })();
            Entry { name, account }
        })
        .collect()
}

/// Checks the entries against the server name learnt from the server (the admin's user ID, its
/// keys, MAS's site config): localparts get it, full IDs must be on it.
fn learn_server_name(entries: &mut [Entry], server: (&str, NameSource)) {
    for (i, e) in entries.iter_mut().enumerate() {
        if let Ok(a) = &e.account {
            if !a.user.confirmed {
                let user = User::parse_on("username", &full_or_local(&a.user), Some(server));
                e.account = match user {
                    Ok(user) => Ok(Account { user, ..a.clone() }),
                    Err(err) => Err(fail!("users[{i}]: {err}")),
                };
            }
        }
    }
}

/// Registers many accounts with `concurrency` workers. A bad or refused entry fails alone; the
/// task then fails with a summary, after every other entry has been handled.
fn bulk(
    m: &mut Module,
    task: &Task<'_>,
    entries: &[Entry],
    concurrency: usize,
    report_unchanged: bool,
) -> Outcome {
    let accounts: Vec<&std::result::Result<Account, Error>> =
        entries.iter().map(|e| &e.account).collect();

    type Slot = std::sync::Mutex<Option<std::result::Result<AccountResult, Error>>>;
    let next = AtomicUsize::new(0);
    let slots: Vec<Slot> = (0..accounts.len()).map(|_| Slot::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..concurrency.min(accounts.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(acct) = accounts.get(i).copied() else {
                    break;
                };
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

    let (mut created, mut existing, mut updated, mut admins) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    let mut items = Vec::with_capacity(entries.len());
    for (i, r) in results.enumerate() {
        let name = &entries[i].name;
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
                if r.admin_updated {
                    admins += 1;
                }
                if r.changed() || report_unchanged {
                    items.push(json!({
                        "index": i, "username": r.username, "user_id": r.user_id,
                        "changed": r.changed(), "created": r.created,
                        "password_updated": r.password_updated, "admin_updated": r.admin_updated,
                        "failed": false,
                    }));
                }
            }
            Err(e) => {
                failures.push(e.0.clone());
                items.push(json!({"index": i, "username": name, "changed": false, "created": false, "failed": true, "msg": e.0}));
            }
        }
    }
    let verb = if m.check_mode {
        "would be created"
    } else {
        "created"
    };
    let mut also = Vec::new();
    if updated > 0 {
        also.push(format!("{updated} passwords set"));
    }
    if admins > 0 {
        also.push(format!("{admins} admin flags changed"));
    }
    let summary = format!(
        "{} users: {created} {verb}, {existing} already existed{}, {} failed",
        entries.len(),
        if also.is_empty() {
            String::new()
        } else {
            format!(" ({})", also.join(", "))
        },
        failures.len()
    );
    let mut out = Outcome::changed(created + updated + admins > 0)
        .msg(summary.clone())
        .with("results", items)
        .with("created", created)
        .with("existing", existing)
        .with("passwords_set", updated)
        .with("admin_flags_changed", admins)
        .with("failed_count", failures.len())
        .diff(Diff {
            before: json!({"created": 0}),
            after: json!({"created": created, "passwords_set": updated, "admin_flags_changed": admins}),
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
    short_description: "Ensure Matrix accounts exist (Synapse, Dendrite, MAS), one or many per task",
    description: &["Registers accounts on a Matrix homeserver with the shared-secret registration API (C(/_synapse/admin/v1/register)), which Synapse and Dendrite serve even with public registration closed.", "An existing account is success with C(changed=false) and is never modified, unless I(update_password=always).", "When the full user ID is known (I(server_name), a full C(@user:server) I(username), or admin credentials), the account is looked up first, so the no-change path costs one small request instead of the bcrypt hash Synapse computes for every registration attempt.", "Registration sends C(inhibit_login), so a new account has no device and no access token (Dendrite ignores it; the module logs out the session Dendrite opens).", "With I(backend=mas), for a homeserver that delegates authentication to Matrix Authentication Service, accounts live in MAS: the module looks each one up by name, creates it (with its display name), sets its password (MAS's complexity rules apply unless I(skip_password_check)), its admin flag and its I(email) addresses, through MAS's admin API with an OAuth2 client-credentials token it renews during long tasks and revokes at the end. MAS provisions the account on the homeserver. An existing account is left as it is, except that I(admin) and I(email) converge when given and I(update_password=always) sets the password.", "A compiled binary module. Secrets never appear in its output; C(invocation.module_args) shows them as C(VALUE_SPECIFIED_IN_NO_LOG_PARAMETER)."],
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
        Ret::new("admin_updated", Kind::Bool, "with username", "Whether the admin flag of an existing account was set to I(admin) (with admin credentials).").sample(r#"false"#),
        Ret::new("emails_added", Kind::List, "with username", "Backend mas: the e-mail addresses added to an existing account (in check mode, that would be).").sample(r#"["alice@example.org"]"#),
        Ret::new("passwords_set", Kind::Int, "with users", "How many passwords of existing accounts were set (update_password=always).").sample(r#"0"#),
        Ret::new("admin_flags_changed", Kind::Int, "with users", "How many existing accounts got the admin flag asked for.").sample(r#"0"#),
        Ret::new("results", Kind::List, "with users", "One entry per account that changed or failed (every account with I(report_unchanged)), in order; C(index) is its position in I(users).").sample(r#"[{"index": 0, "username": "alice", "user_id": "@alice:example.org", "changed": true, "created": true, "password_updated": false, "failed": false}]"#),
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
