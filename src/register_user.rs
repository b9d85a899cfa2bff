//! Module `register_user`: ensures accounts exist, one or many in one task.
//!
//! Synapse bcrypt-hashes the password before it checks whether a name is taken, so an existing
//! account is looked up first whenever its full ID is known: the no-change path costs one small
//! GET instead of a hash. Registration uses the shared secret with `inhibit_login`, so a new
//! account is left without a device or access token.

use crate::ansible::{Diff, Error, Kind, Module, Opt, Outcome, Params, Result, Spec};
use crate::backends::dendrite;
use crate::backends::synapse::{
    self, AdminCredentials, AdminSession, NewUser, Presence, Registration,
};
use crate::client::{Auth, Client, Connection, CONNECTION_OPTIONS};
use crate::fail;
use crate::matrix::{validate_server_name, User};
use crate::secrets;
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Options of one account, at top level or as an entry of `users`.
static USER_OPTIONS: &[Opt] = &[
    Opt::str("username").aliases(&["name", "user"]),
    Opt::str("password").no_log(),
    Opt::path("password_file"),
    Opt::bool("admin"),
    Opt::str("user_type"),
    Opt::str("displayname"),
];

static MODULE_OPTIONS: &[Opt] = &[
    Opt::str("backend")
        .choices(&["synapse", "dendrite"])
        .default_str("synapse"),
    Opt::str("shared_secret").no_log(),
    Opt::path("shared_secret_file"),
    Opt::str("server_name"),
    Opt::str("update_password")
        .choices(&["always", "on_create"])
        .default_str("on_create"),
    Opt::str("access_token").no_log(),
    Opt::str("admin_username"),
    Opt::str("admin_password").no_log(),
    Opt::list("users", Kind::Dict).suboptions(USER_OPTIONS),
    Opt::int("concurrency").default_int(4),
];

pub static SPEC: Spec = Spec {
    groups: &[USER_OPTIONS, MODULE_OPTIONS, CONNECTION_OPTIONS],
    mutually_exclusive: &[
        &["username", "users"],
        &["password", "password_file"],
        &["shared_secret", "shared_secret_file"],
        &["access_token", "admin_username"],
        &["users", "password"],
        &["users", "password_file"],
    ],
    required_one_of: &[
        &["username", "users"],
        &["shared_secret", "shared_secret_file"],
    ],
    required_together: &[&["admin_username", "admin_password"]],
};

/// The spec of one `users` entry, validated entry by entry so that a bad entry fails alone.
static ENTRY_SPEC: Spec = Spec {
    groups: &[USER_OPTIONS],
    mutually_exclusive: &[&["password", "password_file"]],
    required_one_of: &[&["username"], &["password", "password_file"]],
    required_together: &[],
};

const MAX_CONCURRENCY: i64 = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Synapse,
    Dendrite,
}

/// Everything shared by the accounts of one task.
struct Task<'c> {
    backend: Backend,
    client: &'c Client,
    shared_secret: String,
    server_name: Option<String>,
    always_update_password: bool,
    admin: Option<AdminSession<'c>>,
    check_mode: bool,
    /// Set once the server rate-limits profile look-ups (Synapse's rc_profile, which also
    /// delays each refusal by half a second): from then on, registering is the look-up.
    profile_limited: AtomicBool,
    /// Profile look-ups done, and how many found no account. When nearly all find nothing (a
    /// fresh import), a look-up only adds a request per account: registering tells the same.
    lookups: AtomicUsize,
    lookups_absent: AtomicUsize,
}

/// Look-ups go on until this many have been made, and stop if 90% or more found no account.
const LOOKUP_SAMPLE: usize = 16;

impl Task<'_> {
    fn lookups_pay_off(&self) -> bool {
        let n = self.lookups.load(Ordering::Relaxed);
        let absent = self.lookups_absent.load(Ordering::Relaxed);
        n < LOOKUP_SAMPLE || absent * 10 < n * 9
    }
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

pub fn run(m: &mut Module) -> Result<Outcome> {
    let p = &m.params;
    let backend = match p.str("backend") {
        Some("dendrite") => Backend::Dendrite,
        _ => Backend::Synapse,
    };
    if let Some(s) = p.str("server_name") {
        validate_server_name("server_name", s)?;
    }
    let always_update_password = p.str("update_password") == Some("always");
    let creds = AdminCredentials::from_params(p)?;
    if always_update_password && creds.is_none() {
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
    // Validate the single account before any secret file is read or request is sent.
    let single = match p.str("username") {
        Some(_) => Some(account_from_params(p, p.str("server_name"), None)?),
        None => None,
    };
    let shared_secret =
        secrets::from_option_or_file(p, "shared_secret", "shared_secret_file")?.unwrap_or_default();
    if shared_secret.is_empty() {
        return Err(fail!("shared_secret is empty"));
    }

    let url = p.str("homeserver_url").unwrap_or_default();
    let client = Connection::from_params(p, "homeserver_url", url)?.client()?;
    let admin = match &creds {
        Some(c) => Some(AdminSession::open(&client, c)?),
        None => None,
    };
    let mut task = Task {
        backend,
        client: &client,
        shared_secret,
        server_name: p.str("server_name").map(str::to_string),
        always_update_password,
        admin,
        check_mode: m.check_mode,
        profile_limited: AtomicBool::new(false),
        lookups: AtomicUsize::new(0),
        lookups_absent: AtomicUsize::new(0),
    };
    if task.server_name.is_none() {
        task.server_name = server_name_from_admin(&task)?;
    }

    let outcome = match single {
        Some(account) => {
            let account = Account {
                user: User::parse(
                    "username",
                    &full_or_local(&account.user),
                    task.server_name.as_deref(),
                )?,
                ..account
            };
            let r = ensure(&task, &account)?;
            for w in &r.warnings {
                m.warn(w.clone());
            }
            single_outcome(&r, m.check_mode)
        }
        None => {
            let entries = m.params.list("users").cloned().unwrap_or_default();
            bulk(m, &task, &entries, concurrency as usize)
        }
    };
    if let Some(session) = task.admin.take() {
        session.close()?;
    }
    Ok(outcome)
}

fn full_or_local(u: &User) -> String {
    u.id().unwrap_or_else(|| u.localpart.clone())
}

/// With an admin token the server name is one whoami away.
fn server_name_from_admin(task: &Task<'_>) -> Result<Option<String>> {
    match &task.admin {
        Some(session) => synapse::server_name_of_token(task.client, session.token()).map(Some),
        None => Ok(None),
    }
}

/// Reads one account from validated params (top level, or an entry of `users`, whose missing
/// admin/user_type/displayname fall back to the top level's).
fn account_from_params(
    p: &Params,
    server_name: Option<&str>,
    top: Option<&Params>,
) -> Result<Account> {
    let name = p.str("username").unwrap_or_default();
    let user = User::parse("username", name, server_name)?;
    let password = secrets::from_option_or_file(p, "password", "password_file")?
        .ok_or_else(|| fail!("password or password_file is required to register '{name}'"))?;
    if password.is_empty() {
        return Err(fail!("password for '{name}' is empty"));
    }
    if password.len() > 512 || password.contains('\0') {
        return Err(fail!(
            "password for '{name}' is not accepted by Matrix servers: at most 512 bytes and no NUL character"
        ));
    }
    let inherit = |k: &str| p.value(k).or_else(|| top.and_then(|t| t.value(k)));
    let user_type = inherit("user_type")
        .and_then(Value::as_str)
        .map(str::to_string);
    if user_type.as_deref() == Some("") {
        return Err(fail!("user_type is empty; leave it out for a regular user"));
    }
    Ok(Account {
        user,
        password,
        admin: inherit("admin").and_then(Value::as_bool).unwrap_or(false),
        user_type,
        displayname: inherit("displayname")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// Ensures one account exists. The look-up comes first where the user ID is known.
fn ensure(task: &Task<'_>, acct: &Account) -> Result<AccountResult> {
    let mut r = AccountResult {
        username: acct.user.localpart.clone(),
        user_id: acct.user.id(),
        ..AccountResult::default()
    };
    let presence = lookup(task, acct, &mut r)?;
    match presence {
        Presence::Exists => {
            r.existed = Some(true);
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
                "cannot tell whether '{}' exists ({why}); check mode assumes it would be created",
                acct.user.display()
            ));
            r.created = true;
        }
        Presence::Absent | Presence::Unknown(_) => {
            let new = NewUser {
                localpart: &acct.user.localpart,
                password: &acct.password,
                admin: acct.admin,
                user_type: acct.user_type.as_deref(),
                displayname: acct.displayname.as_deref(),
            };
            match synapse::register(task.client, &task.shared_secret, &new)? {
                Registration::Created { user_id } => {
                    r.existed = Some(false);
                    r.created = true;
                    r.user_id = Some(user_id);
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

fn lookup(task: &Task<'_>, acct: &Account, r: &mut AccountResult) -> Result<Presence> {
    let Some(user_id) = acct.user.id() else {
        return Ok(Presence::Unknown(
            "the server name is not known: set server_name or give a full user ID".into(),
        ));
    };
    match (&task.admin, task.backend) {
        (Some(session), Backend::Synapse) => Ok(
            match synapse::admin_get_user(task.client, session.token(), &user_id)? {
                Some(info) => {
                    let is_admin = info.get("admin").and_then(Value::as_bool).unwrap_or(false);
                    if acct.admin != is_admin {
                        r.warnings.push(format!(
                            "{user_id} exists with admin={is_admin}; admin is applied only when an account is created (use the user_admin module to change it)"
                        ));
                    }
                    Presence::Exists
                }
                None => Presence::Absent,
            },
        ),
        (session, _) => {
            // Check mode keeps looking (unless refused): it must not guess.
            let limited = task.profile_limited.load(Ordering::Relaxed);
            if limited || (!task.check_mode && !task.lookups_pay_off()) {
                return Ok(Presence::Unknown("look-ups were skipped".into()));
            }
            let auth = session
                .as_ref()
                .map_or(Auth::None, |s| Auth::Bearer(s.token()));
            let presence = synapse::lookup_profile(task.client, &user_id, auth)?;
            match &presence {
                Presence::Unknown(why) if why.contains("rate limited") => {
                    task.profile_limited.store(true, Ordering::Relaxed)
                }
                Presence::Absent => {
                    task.lookups_absent.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
            task.lookups.fetch_add(1, Ordering::Relaxed);
            Ok(presence)
        }
    }
}

fn set_password(task: &Task<'_>, acct: &Account, r: &mut AccountResult) -> Result<()> {
    let (Some(session), Some(user_id)) = (&task.admin, acct.user.id()) else {
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
    match task.backend {
        Backend::Synapse => {
            synapse::admin_set_password(task.client, session.token(), &user_id, &acct.password)
        }
        Backend::Dendrite => {
            dendrite::admin_set_password(task.client, session.token(), &user_id, &acct.password)
        }
    }
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

/// Registers many accounts with `concurrency` workers. A bad or refused entry fails alone; the
/// task then fails with a summary, after every other entry has been handled.
fn bulk(m: &mut Module, task: &Task<'_>, entries: &[Value], concurrency: usize) -> Outcome {
    let top = m.params.clone();
    let mut seen: Map<String, Value> = Map::new();
    let accounts: Vec<std::result::Result<Account, Error>> = entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let obj = entry
                .as_object()
                .ok_or_else(|| fail!("users[{i}] must be a dict with username and password"))?;
            let p = ENTRY_SPEC
                .validate(obj)
                .map_err(|e| fail!("users[{i}]: {}", e.join("; ")))?;
            let a = account_from_params(&p, task.server_name.as_deref(), Some(&top))
                .map_err(|e| fail!("users[{i}]: {e}"))?;
            let key = a.user.localpart.clone();
            if let Some(first) = seen.insert(key.clone(), Value::from(i)) {
                return Err(fail!(
                    "users[{i}]: '{key}' is already listed as users[{first}]"
                ));
            }
            Ok(a)
        })
        .collect();

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
