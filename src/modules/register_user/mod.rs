//! Module `register_user`: ensures accounts exist, one or many in one task.
//!
//! Synapse bcrypt-hashes the password before it checks whether a name is taken, so an existing
//! account is looked up first whenever its full ID is known: the no-change path costs one small
//! GET instead of a hash. Registration uses the shared secret with `inhibit_login`, so a new
//! account is left without a device or access token.

use crate::ansible::{Kind, Module, ModuleDef, Opt, Outcome, Params, Result, Spec};
use crate::args::{
    self, ADMIN_CREDENTIALS_EXCLUSIVE, ADMIN_CREDENTIALS_TOGETHER, ADMIN_CREDENTIAL_OPTIONS,
    CONNECTION_OPTIONS, DATABASE_PASSWORD_OPTIONS, MAS_CLIENT_EXCLUSIVE, MAS_CLIENT_OPTIONS,
    MAS_SECRET_EXCLUSIVE, MAS_URL_OPTIONS,
};
use crate::fail;
use crate::matrix::{validate_server_name, NameSource, User};
use crate::servers::{self, Access, AdminAccess, Backend, Capability, Reach, Server};
use accounts::{
    bulk_accounts, emails, full_or_local, Account, Accounts, Defaults, State, UpdatePassword,
    USER_OPTIONS,
};
use converge::{list_accounts, Convergence, LookupPolicy, LISTING_MIN_ACCOUNTS, PROFILE_BURST};

mod accounts;
mod bulk;
mod converge;
mod docs;
mod exclusive;
mod outcome;
mod plan;

static MODULE_OPTIONS: &[Opt] = &[
    Opt::str("backend")
        .choices_from(servers::account_backends)
        .default_str("synapse")
        .doc(&[
            "The homeserver implementation. C(synapse) and C(dendrite) serve shared-secret registration; they differ in their admin APIs (used for look-ups and I(update_password=always)).",
            "C(synapse) - look-ups through the admin API when admin credentials are given, passwords set with C(PUT /_synapse/admin/v2/users/<user_id>).",
            "C(dendrite) - look-ups through the public profile API, passwords set with C(POST /_dendrite/admin/resetPassword/<user_id>) (an admin account's token). Dendrite has no user types (I(user_type) is refused), takes passwords of 8 characters or more, and ignores C(inhibit_login) - the module logs out the session Dendrite opens for each new account (its device C(shared_secret_registration)), and warns if it cannot. Admin rights of existing accounts - module C(user_admin), backends C(dendrite_sqlite) and C(dendrite_postgres).",
            "C(tuwunel) - tuwunel 1.7 or later (its C(registration_shared_secret) or C(registration_shared_secret_file), or the variable C(TUWUNEL_REGISTRATION_SHARED_SECRET)): look-ups, passwords and the admin flag of existing accounts through its copy of Synapse's admin API, with the admin credentials. tuwunel has no user types (it would drop one silently: I(user_type) is refused); its nonces are single-use and live a minute, so each is fetched right before its registration. Setting the password of a deactivated account would re-activate it on tuwunel: refused.",
            "C(continuwuity) - continuwuity (v26.7.3 as matrix-docker-ansible-deploy deploys it), which has no shared-secret registration and no admin API: accounts are registered with I(registration_token) through the client-server API (each name checked first with C(GET /_matrix/client/v3/register/available), which also finds existing accounts without admin credentials). I(locked) goes through MSC4323 (C(/_matrix/client/v1/admin/lock/<user_id>)) with an admin's credentials; continuwuity 26.7.3 suspends there instead of locking, which the module detects and reports with the admin-room command C(!admin users lock <user_id>). What continuwuity can only do in its admin room is refused before any request, naming the command: I(admin=true) (C(!admin users make-user-admin)), I(update_password=always) (C(!admin users reset-password)), I(state=deactivated) (C(!admin users deactivate)); I(reactivate) has no command at all.",
            "C(mas) is for a homeserver that delegates authentication to Matrix Authentication Service (MAS; C(matrix_authentication_service_enabled) in matrix-docker-ansible-deploy): accounts are created through MAS's admin API at I(api_url), with I(client_id) + I(client_secret) (or I(access_token), a MAS admin token); no shared secret. MAS has no user types (I(user_type) is refused), and sets a display name at creation only.",
        ]),
    Opt::str("shared_secret")
        .no_log()
        .doc(&["The homeserver's C(registration_shared_secret)."]),
    Opt::path("shared_secret_file").doc(&["A file holding only the shared secret, as Synapse's C(registration_shared_secret_path); surrounding whitespace is removed."]),
    Opt::str("registration_token").no_log().doc(&[
        "A registration token of the homeserver, instead of the shared secret: accounts are registered through the client-server API (C(POST /_matrix/client/v3/register) with the C(m.login.registration_token) stage and C(inhibit_login), so no device is left), on any server that has token registration enabled and no shared secret available - continuwuity (its C(registration_token); matrix-docker-ansible-deploy: C(matrix_continuwuity_config_registration_token), with C(matrix_continuwuity_config_allow_registration: true)), or Synapse with C(registration_requires_token).",
        "Each name is checked with C(GET /_matrix/client/v3/register/available) first: an existing account costs no use of the token. A name taken in between still costs one (continuwuity counts the use before it checks the name). Client registration has no user types, sets no display name and cannot make admins: I(user_type), I(displayname) and I(admin=true) are refused for new accounts.",
    ]),
    Opt::path("registration_token_file").doc(&["A file holding only the registration token; surrounding whitespace is removed."]),
    Opt::bool("skip_password_check").default_bool(false).doc(&["Backend C(mas) only: set passwords without MAS's complexity check (C(passwords.minimum_complexity)), as C(mas-cli manage set-password --ignore-password-complexity) does. By default MAS refuses weak passwords and the module fails for that account."]),
    Opt::str("server_name").doc(&["The homeserver's server name (C(matrix_domain)); with it, accounts are looked up before any registration attempt and check mode can tell whether an account exists."]),
    Opt::bool("create").default_bool(true).doc(&[
        "Whether a missing account is created (I(state=present)). With C(false) a missing account is an error and nothing is created: for changing existing accounts only (a new password, a lock, a reactivation), as the C(update-user-password), C(lock-user) and C(reactivate-user) tags do. I(password) is then needed only where it is used (I(update_password=always), I(reactivate)).",
    ]),
    Opt::bool("reactivate").default_bool(false).doc(&[
        "Whether a deactivated account with I(state=present) is reactivated (with I(password), which it gets back; Synapse needs it). Without it such an account fails, so that no account comes back by accident.",
    ]),
    Opt::bool("erase").default_bool(false).doc(&[
        "With I(state=deactivated): also ask the server to erase the account's data where it can - Synapse C(erase) (its messages are hidden from users who join later; its profile is removed), MAS deactivation without C(skip_erase). Only for accounts deactivated by this task: one already deactivated is left as it is.",
    ]),
    Opt::bool("logout_devices").default_bool(false).doc(&[
        "With I(update_password=always): also end the account's sessions when its password is set. By default they are kept, as matrix-docker-ansible-deploy's C(update-user-password) does (Synapse's own API would end them; the module tells it not to). Synapse, tuwunel and Dendrite; MAS's API cannot (refused, before anything is sent).",
    ]),
    Opt::path("database").doc(&[
        "Backend C(dendrite) only: Dendrite's user API database, for I(state=deactivated) and I(reactivate) (Dendrite has no API for them; without I(database) they are refused). Deactivation sets C(userapi_accounts.is_deactivated) and deletes the account's devices (its access tokens) in one transaction; Dendrite caches neither, so the account can no longer log in and its tokens are refused at once. With admin credentials the account first leaves its rooms (C(POST /_dendrite/admin/evacuateUser), as Dendrite's own deactivation does); without them it stays a member of its rooms. Reactivation clears the flag; a I(password) given is set first, through Dendrite's admin API (C(resetPassword), so it needs I(access_token) or I(admin_username) + I(admin_password)); without one (I(create=false)) the account logs in with the password it had. Dendrite has no erasure (I(erase) is refused) and no locks (I(locked) is refused).",
        "The same database also gives, where no Dendrite API does: the admin flag of existing accounts (I(admin), C(userapi_accounts.account_type), which Dendrite reads on every request), and one read-only listing of C(userapi_accounts) for a I(users) list of 50 or more and for I(exclusive) (guests left out; application services' accounts known by their type).",
        "Written as for module C(user_admin)'s C(dendrite_sqlite) and C(dendrite_postgres) backends - the absolute path of the SQLite file C(dendrite_userapi.db) (Dendrite's C(file:) connection strings are accepted; it is never created), or a libpq URL without password, e.g. C(postgresql://dendrite@127.0.0.1:5432/dendrite) (or libpq C(key=value) words), with TLS as C(sslmode) in the URL says. A URL that contains a password is refused: give it in I(database_password) or I(database_password_file).",
    ]),
    Opt::list("users", Kind::Dict)
        .suboptions(USER_OPTIONS)
        .doc(&["Many accounts in one task. A bad or refused entry fails that entry only; the task then fails with a summary after every other entry is done, and a re-run converges."]),
    Opt::int("concurrency")
        .default_int(4)
        .doc(&["How many accounts of I(users) are handled at once (1 to 64)."]),
    Opt::bool("exclusive").default_bool(false).doc(&[
        "Whether the accounts of I(users) are all the accounts there should be: every other account of the server (one listing) is deactivated, as with I(state=deactivated) (never erased), unless it is a server admin, an account an application service registered (bridges and their bots: Synapse's C(appservice_id), Dendrite's account type), the account the admin credentials belong to, or one I(keep) names. An entry names its account whatever else it says, also when it fails. Guests are never listed.",
        "Refused where the server cannot list its accounts (Dendrite without I(database); continuwuity), and with an empty I(users). Check mode shows which accounts would go (C(plan)). Where the server cannot tell whether an application service uses an account (tuwunel), the account is kept and a warning names it.",
    ]),
    Opt::int("max_deactivations").default_int(exclusive::MAX_DEACTIVATIONS).doc(&[
        "With I(exclusive): the most accounts one run may deactivate because no entry names them. More than that fails the task before anything is written (a typo in a list, or a list read from the wrong place, must not deactivate a server's users), naming the accounts.",
    ]),
    Opt::list("keep", Kind::Str).doc(&[
        "With I(exclusive): accounts never deactivated although no entry names them - localparts or full user IDs, C(*) matching any run of characters (C(telegram_*)).",
    ]),
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
        DATABASE_PASSWORD_OPTIONS,
        CONNECTION_OPTIONS,
    ],
    mutually_exclusive: &[
        &["username", "users"],
        // accounts::PASSWORD_EXCLUSIVE, for the one account of `username`.
        &["password", "password_file"],
        &["password", "initial_password"],
        &["password_file", "initial_password"],
        &["initial_type", "admin"],
        &["initial_type", "user_type"],
        &["shared_secret", "shared_secret_file"],
        &["registration_token", "registration_token_file"],
        &["shared_secret", "registration_token"],
        &["shared_secret", "registration_token_file"],
        &["shared_secret_file", "registration_token"],
        &["shared_secret_file", "registration_token_file"],
        ADMIN_CREDENTIALS_EXCLUSIVE,
        &["users", "password"],
        &["users", "password_file"],
        &["users", "initial_password"],
        MAS_SECRET_EXCLUSIVE,
        MAS_CLIENT_EXCLUSIVE,
        &["shared_secret", "client_id"],
        &["shared_secret_file", "client_id"],
        &["database_password", "database_password_file"],
    ],
    // shared_secret(_file) or registration_token(_file): required unless backend mas (Args).
    required_one_of: &[&["username", "users"]],
    required_together: &[ADMIN_CREDENTIALS_TOGETHER],
};

pub static MODULE: ModuleDef = ModuleDef {
    name: "register_user",
    spec: &SPEC,
    doc: &docs::DOC,
    run,
};

const MAX_CONCURRENCY: i64 = 64;

/// The typed arguments.
struct Args {
    accounts: Accounts,
    backend: &'static Backend,
    /// What reaches the server, handed to the backend when it opens.
    access: Access,
    server_name: Option<String>,
    concurrency: usize,
    /// Bulk results list unchanged accounts too.
    report_unchanged: bool,
    create: bool,
    reactivate: bool,
    erase: bool,
    logout_devices: bool,
    exclusive: Option<exclusive::Exclusive>,
}

impl Args {
    fn from_params(p: &Params) -> Result<Args> {
        let backend = servers::require(
            "backend",
            p.str("backend").unwrap_or_default(),
            Capability::Register,
        )?;
        if let Some(s) = p.str("server_name") {
            validate_server_name("server_name", s)?;
        }
        let update_password = match p.str("update_password") {
            Some(_) => p.choice::<UpdatePassword>("update_password")?,
            None => UpdatePassword::OnCreate,
        };
        if p.is_given("origin") {
            return Err(fail!(
                "origin names an entry of users in messages: give it in the entries of users, not at the top level"
            ));
        }
        let entries = p.list("users").map(Vec::as_slice).unwrap_or_default();
        let entries_set = |key: &str| {
            entries
                .iter()
                .any(|e| e.get(key).is_some_and(|v| !v.is_null()))
        };
        let mas = if backend.reach == Reach::Mas {
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
            if p.is_given("registration_token") || p.is_given("registration_token_file") {
                return Err(fail!(
                    "backend mas creates accounts through MAS's admin API, not with a registration token: leave registration_token out and give client_id and client_secret (or access_token)"
                ));
            }
            Some(args::mas(p)?)
        } else {
            args::refuse_mas_options(p, backend.name)?;
            for o in ["email", "api_url"] {
                if p.is_given(o) || entries_set(o) {
                    return Err(fail!("{o} is for backend mas only, not {}", backend.name));
                }
            }
            if p.bool("skip_password_check") {
                return Err(fail!(
                    "skip_password_check is for backend mas only, not {}",
                    backend.name
                ));
            }
            None
        };
        let admin = match mas {
            Some(_) => None,
            None => args::admin_credentials(p)?,
        };
        if !p.bool("create")
            && update_password == UpdatePassword::Always
            && !p.is_given("password")
            && !p.is_given("password_file")
            && !p.is_given("users")
        {
            return Err(fail!(
                "update_password=always sets a password: give password (or password_file)"
            ));
        }
        // update_password=always, at the top level or in an entry.
        let always = update_password == UpdatePassword::Always
            || entries
                .iter()
                .any(|e| e.get("update_password").and_then(|s| s.as_str()) == Some("always"));
        let deactivates = p.str("state") == Some("deactivated")
            || entries
                .iter()
                .any(|e| e.get("state").and_then(|s| s.as_str()) == Some("deactivated"));
        if (deactivates || p.bool("reactivate"))
            && !backend.offers(Capability::Lifecycle)
            && !backend.offers(Capability::LifecycleByDatabase)
        {
            let what = if deactivates {
                "state=deactivated"
            } else {
                "reactivate"
            };
            return Err(servers::cannot(what, backend, Capability::Lifecycle));
        }
        if always && !backend.offers(Capability::Passwords) {
            return Err(servers::cannot(
                "update_password=always",
                backend,
                Capability::Passwords,
            ));
        }
        if always && admin.is_none() && mas.is_none() {
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
            create: p.bool("create"),
            state: p
                .str("state")
                .map(|_| p.choice::<State>("state"))
                .transpose()?,
            locked: p.opt_bool("locked"),
            update_password,
        };
        if p.bool("logout_devices") && !always {
            return Err(fail!(
                "logout_devices ends sessions when a password is set: it needs update_password=always"
            ));
        }
        // The single account is validated before any secret file is read or request is sent.
        let accounts = match p.str("username") {
            Some(_) => Accounts::One(Account::from_params(
                p,
                p.str("server_name").map(|s| (s, NameSource::Option)),
                &Defaults {
                    create: p.bool("create"),
                    ..Defaults::default()
                },
            )?),
            None => Accounts::Many(bulk_accounts(
                entries,
                &defaults,
                p.str("server_name").map(|s| (s, NameSource::Option)),
            )),
        };
        let (shared_secret, registration_token) = match mas {
            Some(_) => (None, None),
            None => {
                let secret = args::secret_option(p, "shared_secret", "shared_secret_file")?;
                let token = match secret {
                    Some(_) => None,
                    None => {
                        args::secret_option(p, "registration_token", "registration_token_file")?
                    }
                };
                match (&secret, &token) {
                    (None, None) => return Err(fail!(
                        "one of the following is required: shared_secret, shared_secret_file, registration_token, registration_token_file"
                    )),
                    (Some(s), _) if s.is_empty() => {
                        return Err(fail!("shared_secret is empty"))
                    }
                    (_, Some(t)) if t.trim().is_empty() => {
                        return Err(fail!("registration_token is empty"))
                    }
                    _ => {}
                }
                (secret, token.map(|t| t.trim().to_string()))
            }
        };
        // Dendrite's database: its lifecycle has no API.
        let database = if backend.offers(Capability::LifecycleByDatabase) {
            args::homeserver_database(p)?
        } else {
            for o in ["database", "database_password", "database_password_file"] {
                if p.is_given(o) {
                    return Err(fail!(
                        "{o} is for backend dendrite only (Dendrite has no API to deactivate accounts), not {}",
                        backend.name
                    ));
                }
            }
            None
        };
        let access = match mas {
            Some(mas) => Access {
                skip_password_check: p.bool("skip_password_check"),
                ..mas
            },
            None => Access {
                connection: Some(args::connection(p, "homeserver_url")?),
                shared_secret,
                registration_token,
                admin,
                database,
                ..Access::default()
            },
        };
        Ok(Args {
            accounts,
            backend,
            access,
            server_name: p.str("server_name").map(str::to_string),
            concurrency: concurrency as usize,
            report_unchanged: p.bool("report_unchanged"),
            create: p.bool("create"),
            reactivate: p.bool("reactivate"),
            erase: p.bool("erase"),
            logout_devices: p.bool("logout_devices"),
            exclusive: exclusive::Exclusive::from_params(p)?,
        })
    }
}

fn run(m: &mut Module) -> Result<Outcome> {
    let mut a = Args::from_params(&m.params)?;
    let server = a.backend.open(std::mem::take(&mut a.access))?;
    let outcome = register(m, &mut a, &server);
    // A login is logged out and a MAS token revoked, whatever happened.
    server.close_after(outcome)
}

/// Full user IDs whose server cannot be checked: the one account fails, entries of `users`
/// fail alone.
fn refuse_unconfirmed_full_ids(accounts: &mut Accounts) -> Result<()> {
    let why = |id: &str| {
        fail!(
            "username {id} names a server, and this server's name is not known (server_name is not set, no admin credentials were given, and the server does not serve /_matrix/key/v2/server): set server_name, so that the account is checked to be on this server before anything is written"
        )
    };
    match accounts {
        Accounts::One(a) => match a.user.id().filter(|_| a.user.server_name.is_some()) {
            Some(id) => Err(why(&id)),
            None => Ok(()),
        },
        Accounts::Many(entries) => {
            for e in entries.iter_mut() {
                let full = e
                    .account
                    .as_ref()
                    .ok()
                    .and_then(|a| a.user.server_name.as_ref().and_then(|_| a.user.id()));
                if let Some(id) = full {
                    e.account = Err(fail!("{}: {}", e.label, why(&id)));
                }
            }
            Ok(())
        }
    }
}

/// Ensures the accounts on the opened server: its name first (before anything is written), then
/// one listing for a long list where the server has one, then each account.
fn register(m: &mut Module, a: &mut Args, server: &Server) -> Result<Outcome> {
    if let Accounts::Many(entries) = &a.accounts {
        if entries.iter().all(|e| e.account.is_err()) {
            // Every entry is bad: nothing to ask the server.
            let task = Convergence {
                server,
                registrar: server.registrar().ok_or_else(|| {
                    fail!(
                        "backend {} has no registration here (give shared_secret or registration_token)",
                        server.backend.name
                    )
                })?,
                listed: None,
                lookups: LookupPolicy::default(),
                has_admin: false,
                create: true,
                reactivate: false,
                erase: false,
                logout_devices: false,
                check_mode: m.check_mode,
            };
            return Ok(bulk::bulk(m, &task, entries, 1, a.report_unchanged));
        }
    }
    let name = server.backend.name;
    let registrar = server.registrar().ok_or_else(|| {
        fail!("backend {name} has no registration here (give shared_secret or registration_token)")
    })?;
    // What this server cannot do at all is refused before any request.
    if let Accounts::One(account) = &a.accounts {
        let probe = Convergence {
            server,
            registrar,
            listed: None,
            lookups: LookupPolicy::default(),
            has_admin: server.admin == AdminAccess::Live,
            create: a.create,
            reactivate: a.reactivate,
            erase: false,
            logout_devices: false,
            check_mode: m.check_mode,
        };
        converge::refuse_missing(&probe, account)?;
    }
    if a.logout_devices {
        if let Some(why) = server.passwords().and_then(|p| p.cannot_end_sessions()) {
            return Err(fail!("logout_devices: {why}"));
        }
    }
    if a.erase {
        if let Some(why) = server.lifecycle().and_then(|l| l.cannot_erase()) {
            return Err(fail!("erase: {why}"));
        }
    }
    let server_name = match &server.identity() {
        Some(identity) => identity.server_name(a.server_name.as_deref())?,
        None => a.server_name.clone().map(|s| (s, NameSource::Option)),
    };
    registrar.preflight()?;
    let known = server_name.as_ref().map(|(s, src)| (s.as_str(), *src));
    if known.is_none() {
        // A full user ID names a server; with this server's name unknown, registering its
        // localpart here could create an account on the wrong server. Refused before any write.
        refuse_unconfirmed_full_ids(&mut a.accounts)?;
    }
    if a.exclusive.is_some() {
        exclusive::possible(server, known.is_some())?;
    }
    let listed = match (&a.accounts, &server.listing()) {
        (Accounts::Many(entries), Some(listing))
            if entries.len() >= LISTING_MIN_ACCOUNTS || a.exclusive.is_some() =>
        {
            // Exclusive mode lists every account, whatever the length of the list.
            let wanted = match a.exclusive {
                Some(_) => usize::MAX,
                None => entries.len(),
            };
            list_accounts(*listing, wanted, known.map(|(n, _)| n))?
        }
        _ => None,
    };
    if let (Some(ex), Accounts::Many(entries), Some(known)) = (&a.exclusive, &mut a.accounts, known)
    {
        let listed = listed.as_ref().ok_or_else(|| {
            fail!("exclusive: the listing of the accounts stopped early; nothing was changed")
        })?;
        let found = exclusive::unnamed(server, entries, listed, ex, known)?;
        if !found.unknown.is_empty() {
            m.warn(format!(
                "exclusive: {} cannot tell whether an application service uses these accounts, so they were kept (add them to a list or to keep to silence this): {}",
                server.backend.server,
                found.unknown.join(", ")
            ));
        }
        entries.extend(found.entries);
    }
    if let Accounts::Many(entries) = &a.accounts {
        if entries.len() > PROFILE_BURST
            && !server.has_admin()
            && server.backend.limits_public_lookups
        {
            m.warn(format!(
                "{} accounts without admin credentials: {} answers about {PROFILE_BURST} profile look-ups in a burst, and every existing account after that costs a registration attempt, which {} answers only after a full password hash. Give access_token (an admin's) to find existing accounts with one listing instead",
                entries.len(),
                server.backend.server,
                server.backend.server,
            ));
        }
    }
    let task = Convergence {
        server,
        registrar,
        listed,
        lookups: LookupPolicy::default(),
        has_admin: server.admin == AdminAccess::Live,
        create: a.create,
        reactivate: a.reactivate,
        erase: a.erase,
        logout_devices: a.logout_devices,
        check_mode: m.check_mode,
    };
    Ok(match &mut a.accounts {
        Accounts::One(account) => {
            let account = Account {
                user: User::parse_on(
                    m.params.given_as("username"),
                    &full_or_local(&account.user),
                    known,
                )?,
                ..account.clone()
            };
            let r = converge::ensure(&task, &account)?;
            for w in &r.warnings {
                m.warn(w.clone());
            }
            outcome::single_outcome(&r, m.check_mode)
        }
        Accounts::Many(entries) => {
            if let Some(known) = known {
                bulk::learn_server_name(entries, known);
            }
            bulk::bulk(m, &task, entries, a.concurrency, a.report_unchanged)
        }
    })
}
