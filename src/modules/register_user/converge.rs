//! register_user's work on one account: look it up (one listing, an admin look-up, or a public
//! one while it pays), create it, or converge what was asked of an existing one.

use super::accounts::{Account, InitialType, State, UpdatePassword};
use crate::ansible::Result;
use crate::capabilities::{AccountListing, Listed, NewUser, Presence, Registration, Unknown};
use crate::fail;
use crate::servers::{self, AdminAccess, Capability, Server};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Decides when public profile look-ups are worth their request. Synapse rate-limits them
/// (rc_profile, which also delays each refusal by half a second): from the first refusal on,
/// registering is the look-up. And when nearly all of the first look-ups find nothing (a fresh
/// import), a look-up only adds a request per account: registering tells the same.
#[derive(Debug, Default)]
pub struct LookupPolicy {
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
pub struct Convergence<'a> {
    pub server: &'a Server,
    pub registrar: &'a dyn crate::capabilities::Registrar,
    /// Every account and its standing, listed once for a long list of users.
    pub listed: Option<HashMap<String, Listed>>,
    pub lookups: LookupPolicy,
    /// A live admin session: the admin flag of an existing account can be read.
    pub has_admin: bool,
    /// A missing account is created.
    pub create: bool,
    /// A deactivated account asked to be present is reactivated.
    pub reactivate: bool,
    /// Deactivation also erases the account's data.
    pub erase: bool,
    /// Setting a password also ends the account's sessions.
    pub logout_devices: bool,
    pub check_mode: bool,
}

/// What happened to one account.
#[derive(Debug, Clone, Default)]
pub struct AccountResult {
    pub username: String,
    pub user_id: Option<String>,
    pub existed: Option<bool>,
    pub created: bool,
    pub password_updated: bool,
    /// The admin flag of an existing account was set to the one asked for.
    pub admin_updated: bool,
    /// The admin flag asked for (with `admin_updated`).
    pub admin_now: Option<bool>,
    /// Addresses added to an existing account.
    pub emails_added: Vec<String>,
    /// The account was deactivated.
    pub deactivated: bool,
    /// The account was reactivated.
    pub reactivated: bool,
    /// The account was locked (true) or unlocked (false).
    pub lock_changed: Option<bool>,
    pub warnings: Vec<String>,
}

impl AccountResult {
    pub fn changed(&self) -> bool {
        self.created
            || self.password_updated
            || self.admin_updated
            || !self.emails_added.is_empty()
            || self.deactivated
            || self.reactivated
            || self.lock_changed.is_some()
    }
}

/// Lists shorter than this look each account up: a listing pays off for long lists.
pub const LISTING_MIN_ACCOUNTS: usize = 50;
/// Profile look-ups Synapse answers in a burst before its rate limit (rc_profile) refuses them.
pub const PROFILE_BURST: usize = 500;

/// Lists every account once, when that costs fewer requests than a look-up per account (the
/// first page tells how many accounts the server has). Returns the accounts of the server
/// `server_name`, or None where the backend has no listing or a look-up each is cheaper.
pub fn list_accounts(
    listing: &dyn AccountListing,
    wanted: usize,
    server_name: Option<&str>,
) -> Result<Option<HashMap<String, Listed>>> {
    // A page holds a thousand accounts; a look-up is one request per account.
    let worth_it = |total: u64| total.div_ceil(1000) <= (wanted as u64).div_ceil(4);
    let suffix = server_name.map(|s| format!(":{s}"));
    let mut found = HashMap::new();
    let complete = listing.list_accounts(&worth_it, &mut |user_id, listed| {
        if suffix.as_deref().is_none_or(|s| user_id.ends_with(s)) {
            found.insert(user_id.to_string(), listed);
        }
    })?;
    Ok(complete.then_some(found))
}

/// Refuses, before any request for the account, what it asks that this server cannot do with
/// the credentials given.
pub fn refuse_missing(task: &Convergence<'_>, acct: &Account) -> Result<()> {
    let server = task.server;
    let backend = server.backend;
    let admin_hint = |what: &str| {
        fail!("{what} needs admin credentials: give access_token, or admin_username and admin_password")
    };
    let cannot = |what: &str, c: Capability| servers::cannot(what, backend, c);
    // What registration could not do is refused before any request (the server's name too).
    if task.create && acct.state != State::Deactivated {
        task.registrar.check(&new_user(task, acct))?;
    }
    if server.admin == AdminAccess::NotLoggedIn {
        return Ok(());
    }
    let what = if acct.state == State::Deactivated {
        "state=deactivated"
    } else {
        "reactivate"
    };
    if (acct.state == State::Deactivated || task.reactivate) && server.lifecycle().is_none() {
        return Err(if backend.offers(Capability::LifecycleByDatabase) {
            fail!(
                "{what}: {} has no API to deactivate or reactivate accounts; give database (its user API database: a SQLite file, or a postgresql:// URL with database_password or database_password_file), which the module then writes",
                backend.server
            )
        } else if !backend.offers(Capability::Lifecycle) {
            cannot(what, Capability::Lifecycle)
        } else {
            admin_hint(what)
        });
    }
    if acct.locked.is_some() && server.locks().is_none() {
        return Err(if backend.offers(Capability::Locks) {
            admin_hint("locked")
        } else {
            cannot("locked", Capability::Locks)
        });
    }
    Ok(())
}

/// Ensures one account is as asked. The look-up comes first where the user ID is known.
pub fn ensure(task: &Convergence<'_>, acct: &Account) -> Result<AccountResult> {
    let mut r = AccountResult {
        username: acct.user.localpart.clone(),
        user_id: acct.user.confirmed_id(),
        ..AccountResult::default()
    };
    refuse_missing(task, acct)?;
    let asks_state = acct.state == State::Deactivated || task.reactivate || acct.locked.is_some();
    if asks_state && task.server.admin == AdminAccess::NotLoggedIn {
        // Check mode with admin_username: no login, so the account's state cannot be read.
        r.warnings.push(format!(
            "check mode cannot tell what would change for {} without logging in (state, locked, reactivate); give access_token to predict it",
            acct.user.display()
        ));
        return Ok(r);
    }
    if acct.state == State::Deactivated {
        deactivate(task, acct, &mut r)?;
        return Ok(r);
    }
    if task.create {
        task.registrar.check(&new_user(task, acct))?;
    }
    match lookup(task, acct)? {
        Presence::Exists {
            admin,
            deactivated,
            locked,
            ..
        } => {
            r.existed = Some(true);
            converge_existing(task, acct, admin, deactivated, locked, &mut r)?;
        }
        Presence::Absent if !task.create => {
            return Err(fail!(
                "{} does not exist; nothing was created (create=false)",
                acct.user.display()
            ));
        }
        Presence::Unknown(why) if !task.create => {
            return Err(fail!(
                "cannot tell whether {} exists ({}), and create=false: give admin credentials (or server_name)",
                acct.user.display(),
                why.reason()
            ));
        }
        Presence::Absent if task.check_mode => {
            r.existed = Some(false);
            r.created = true;
            r.lock_changed = acct.locked.filter(|l| *l);
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
            match task.registrar.register(&new_user(task, acct))? {
                Registration::Created { user_id, note } => {
                    // The account created must be the one asked for (a full ID on another
                    // server registers its localpart here: that is a failure, not success).
                    acct.user.check_answer("username", &user_id)?;
                    r.existed = Some(false);
                    r.created = true;
                    r.user_id = Some(user_id.clone());
                    r.warnings.extend(note);
                    if acct.locked == Some(true) {
                        lock(task, &user_id, true, &mut r).map_err(|e| {
                            fail!("{user_id} was created, but then {e}; re-run to lock it")
                        })?;
                    }
                }
                Registration::Exists => {
                    r.existed = Some(true);
                    if let (None, Some(claimed)) = (&r.user_id, acct.user.id()) {
                        r.warnings.push(format!(
                            "'{}' exists on this homeserver; whether it is {claimed} cannot be told without the server's name: set server_name",
                            acct.user.localpart
                        ));
                    }
                    converge_existing(task, acct, None, None, None, &mut r)?;
                }
            }
        }
    }
    Ok(r)
}

/// What `state=present` asks of an existing account: reactivated only when asked, then its
/// admin flag, addresses, password and lock. `deactivated` and `locked` are what the look-up
/// showed (None: it did not say, and they are read where needed).
fn converge_existing(
    task: &Convergence<'_>,
    acct: &Account,
    admin: Option<bool>,
    deactivated: Option<bool>,
    locked: Option<bool>,
    r: &mut AccountResult,
) -> Result<()> {
    let user_id = acct.user.id();
    let deactivated = match (deactivated, task.server.lifecycle(), &user_id) {
        (Some(d), _, _) => d,
        (None, Some(lifecycle), Some(id)) => lifecycle.state(id)?.is_some_and(|s| s.deactivated),
        // The server cannot tell (no admin credentials): today's behaviour, it counts as present.
        _ => false,
    };
    if deactivated {
        let who = acct.user.display();
        if !task.reactivate {
            return Err(fail!(
                "{who} is deactivated; state=present does not bring it back unless asked: set reactivate: true (with its new password) to reactivate it, or state: deactivated to leave it so"
            ));
        }
        let (Some(lifecycle), Some(id)) = (task.server.lifecycle(), &user_id) else {
            return Err(fail!(
                "reactivating {who} needs admin credentials and its server name"
            ));
        };
        r.reactivated = true;
        if !task.check_mode {
            lifecycle.reactivate(id, acct.password.as_deref())?;
        }
        // The password is set with the reactivation (Lifecycle::reactivate's contract).
        r.password_updated = acct.password.is_some();
    }
    converge_admin(task, acct, admin, r)?;
    converge_emails(task, acct, r)?;
    if acct.update_password == UpdatePassword::Always && !r.password_updated {
        set_password(task, acct, r)?;
    }
    if let (Some(want), Some(id)) = (acct.locked, &user_id) {
        let now = match locked {
            Some(l) => Some(l),
            None => task
                .server
                .locks()
                .map(|l| l.locked(id))
                .transpose()?
                .flatten(),
        };
        if now != Some(want) {
            lock(task, id, want, r)?;
        }
    }
    Ok(())
}

/// Locks or unlocks an account (in check mode, only records it).
fn lock(task: &Convergence<'_>, user_id: &str, want: bool, r: &mut AccountResult) -> Result<()> {
    let locks = task.server.locks().ok_or_else(|| {
        fail!(
            "locked: backend {} cannot lock accounts",
            task.server.backend.name
        )
    })?;
    r.lock_changed = Some(want);
    if !task.check_mode {
        locks.set_locked(user_id, want)?;
    }
    Ok(())
}

/// `state=deactivated`: an existing active account is deactivated; a deactivated or missing one
/// is left alone (nothing is created). A lock asked for is converged on an existing account.
fn deactivate(task: &Convergence<'_>, acct: &Account, r: &mut AccountResult) -> Result<()> {
    let Some(lifecycle) = task.server.lifecycle() else {
        return Err(fail!(
            "state=deactivated: backend {} cannot deactivate accounts",
            task.server.backend.name
        ));
    };
    let Some(user_id) = acct.user.confirmed_id() else {
        return Err(fail!(
            "state=deactivated for '{}': the server name is not known, so the account cannot be looked up: set server_name or give a full user ID",
            acct.user.display()
        ));
    };
    // A listing shows who is deactivated, but not whose data was erased.
    let listed = task
        .listed
        .as_ref()
        .and_then(|l| l.get(&user_id))
        .filter(|_| !task.erase);
    let (deactivated, erased, locked) = match listed {
        Some(Listed {
            deactivated: Some(d),
            locked,
            ..
        }) => (Some(*d), None, *locked),
        _ => match lifecycle.state(&user_id)? {
            Some(s) => (Some(s.deactivated), s.erased, s.locked),
            None => (None, None, None),
        },
    };
    let Some(deactivated) = deactivated else {
        r.existed = Some(false);
        return Ok(());
    };
    r.existed = Some(true);
    // Deactivated already, and erased if asked (or the server does not say): nothing to do.
    if !deactivated || (task.erase && erased == Some(false)) {
        r.deactivated = true;
        if !task.check_mode {
            lifecycle.deactivate(&user_id, task.erase)?;
        }
    }
    if let Some(want) = acct.locked {
        if locked != Some(want) {
            lock(task, &user_id, want, r)?;
        }
    }
    Ok(())
}

/// The account to register. matrix-docker-ansible-deploy's `initial_type` counts here only: a
/// `bot` or `support` type where the server keeps user types (a regular user elsewhere, as its
/// matrix-user-creator does on Dendrite and MAS).
fn new_user<'a>(task: &Convergence<'_>, acct: &'a Account) -> NewUser<'a> {
    let initial = |t: InitialType| acct.initial_type == Some(t);
    let typed = match acct.initial_type {
        Some(InitialType::Bot) => Some("bot"),
        Some(InitialType::Support) => Some("support"),
        _ => None,
    };
    NewUser {
        localpart: &acct.user.localpart,
        // state=present accounts always have one (checked with the options).
        password: acct.password.as_deref().unwrap_or_default(),
        admin: acct.admin.unwrap_or(initial(InitialType::Admin)),
        user_type: acct
            .user_type
            .as_deref()
            .or(typed.filter(|_| task.registrar.keeps_user_types())),
        displayname: acct.displayname.as_deref(),
        emails: &acct.emails,
    }
}

fn lookup(task: &Convergence<'_>, acct: &Account) -> Result<Presence> {
    // Only an ID on this very server is looked up: a look-up of another server's user makes the
    // homeserver contact that server.
    let Some(user_id) = acct.user.confirmed_id() else {
        return Ok(Presence::Unknown(Unknown::NoServerName));
    };
    if let Some(listed) = &task.listed {
        return Ok(match listed.get(&user_id) {
            Some(l) => Presence::Exists {
                named: Some(user_id.clone()),
                admin: Some(l.admin),
                deactivated: l.deactivated,
                locked: l.locked,
            },
            None => Presence::Absent,
        });
    }
    if let Some(directory) = &task.server.directory() {
        return directory.lookup(&user_id);
    }
    let Some(public) = task
        .server
        .public_directory()
        .filter(|_| task.lookups.worth_it(task.check_mode))
    else {
        return Ok(Presence::Unknown(Unknown::Skipped));
    };
    let presence = public.lookup(&user_id)?;
    task.lookups.record(&presence);
    Ok(presence)
}

/// Gives an existing account the admin flag asked for, where the backend can set it with the
/// admin credentials given; otherwise warns with what to run instead. `current` is the flag
/// when the look-up showed it.
fn converge_admin(
    task: &Convergence<'_>,
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
    match (&task.server.admin_flags(), acct.user.id()) {
        (Some(flags), Some(user_id)) => {
            let change = flags.converge(&user_id, want, task.check_mode)?;
            r.admin_updated = change.changed;
            r.admin_now = Some(want).filter(|_| change.changed);
        }
        _ if !task.has_admin => r.warnings.push(format!(
            "{who} already exists; whether it has admin={yes_no} cannot be checked without admin credentials (access_token, or admin_username and admin_password): give them to converge it, or {instead}"
        )),
        _ => r.warnings.push(format!(
            "{who} already exists and {} has no API to set admin rights; {instead}",
            task.server.backend.name
        )),
    }
    Ok(())
}

/// Adds the addresses asked for that an existing account lacks (backend mas).
fn converge_emails(task: &Convergence<'_>, acct: &Account, r: &mut AccountResult) -> Result<()> {
    if acct.emails.is_empty() {
        return Ok(());
    }
    let (Some(emails), Some(user_id)) = (&task.server.emails(), acct.user.id()) else {
        return Err(fail!(
            "email is for backend mas only, not {}",
            task.server.backend.name
        ));
    };
    r.emails_added = emails.add_missing(&user_id, &acct.emails, task.check_mode)?;
    Ok(())
}

fn set_password(task: &Convergence<'_>, acct: &Account, r: &mut AccountResult) -> Result<()> {
    let (Some(passwords), Some(user_id)) = (&task.server.passwords(), acct.user.id()) else {
        return Err(fail!(
            "update_password=always: cannot reset the password of '{}' without admin credentials and its server name",
            acct.user.display()
        ));
    };
    let Some(password) = &acct.password else {
        return Err(fail!(
            "update_password=always: no password given for {}",
            acct.user.display()
        ));
    };
    // Servers cannot compare a password without a login; setting it is the only sure way.
    r.password_updated = true;
    if task.check_mode {
        return Ok(());
    }
    passwords
        .set_password(&user_id, password, task.logout_devices)
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_stop_at_the_first_rate_limit() {
        let p = LookupPolicy::default();
        assert!(p.worth_it(false));
        p.record(&Presence::Exists {
            admin: None,
            named: None,
            deactivated: None,
            locked: None,
        });
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
                &Presence::Exists {
                    admin: None,
                    named: None,
                    deactivated: None,
                    locked: None,
                }
            } else {
                &Presence::Absent
            });
        }
        assert!(p.worth_it(false), "80% absent: look-ups still pay off");
    }
}
