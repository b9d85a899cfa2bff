//! What a server can do for the modules, one trait per capability, with the data they exchange.
//!
//! This file is the layer between the modules and the server APIs: the modules call these
//! traits and never name a server; each file under `src/api/` implements the ones its API
//! serves; `src/servers/` binds them into one bundle per backend. It imports no API.

use crate::ansible::Result;
use crate::matrix::NameSource;
use crate::token::Token;
use chrono::{DateTime, Utc};

/// An account to create.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub localpart: &'a str,
    pub password: &'a str,
    pub admin: bool,
    pub user_type: Option<&'a str>,
    pub displayname: Option<&'a str>,
    /// Addresses to attach, where the backend keeps them (MAS).
    pub emails: &'a [String],
}

/// What a registration attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    Created {
        user_id: String,
        /// Something the operator should know, e.g. a session the server opened that could not
        /// be closed.
        note: Option<String>,
    },
    /// The name is taken: success, nothing changed.
    Exists,
}

/// Whether an account exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    /// It exists; `admin` is its admin flag where the look-up shows it, `named` the account the
    /// answer names where it names one (checked against the one asked for by the shared layer).
    Exists {
        admin: Option<bool>,
        named: Option<String>,
        /// Whether it is deactivated, where the look-up shows it.
        deactivated: Option<bool>,
        /// Whether it is locked, where the look-up shows it.
        locked: Option<bool>,
    },
    Absent,
    /// The server would not say.
    Unknown(Unknown),
}

/// Why a look-up could not tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unknown {
    /// The server rate-limits look-ups: registering is the look-up from now on.
    RateLimited(String),
    /// Look-ups were skipped: a fresh import, where they would only add a request per account.
    Skipped,
    /// The server name is not known, so there is no user ID to look up.
    NoServerName,
    /// Any other reason, for a warning.
    Other(String),
}

impl Unknown {
    pub fn reason(&self) -> String {
        match self {
            Unknown::RateLimited(why) | Unknown::Other(why) => why.clone(),
            Unknown::Skipped => "look-ups were skipped".into(),
            Unknown::NoServerName => {
                "the server name is not known: set server_name or give a full user ID".into()
            }
        }
    }
}

/// Creates accounts.
pub trait Registrar: Sync {
    /// Refuses, once per task and before anything is sent for any account, what this server
    /// cannot do for any registration (e.g. MAS with password login switched off).
    fn preflight(&self) -> Result<()> {
        Ok(())
    }
    /// Refuses, before any request (and in check mode), what the server would refuse.
    fn check(&self, _user: &NewUser<'_>) -> Result<()> {
        Ok(())
    }
    /// Whether a new account's `user_type` is kept (Synapse's `bot`, `support`, ...).
    fn keeps_user_types(&self) -> bool {
        true
    }
    fn register(&self, user: &NewUser<'_>) -> Result<Registration>;
}

/// Tells whether an account exists.
pub trait Directory: Sync {
    fn lookup(&self, user_id: &str) -> Result<Presence>;
}

/// Lists every local account, page by page: one pass over the server instead of a look-up per
/// account, for long lists of users.
pub trait AccountListing: Sync {
    /// Calls `each` with the user ID and standing of every account, deactivated ones included
    /// (their names are taken). After the first page, `worth_it(total)` says whether to go on;
    /// returns false if it said no and the listing stopped early.
    fn list_accounts(
        &self,
        worth_it: &dyn Fn(u64) -> bool,
        each: &mut dyn FnMut(&str, Listed),
    ) -> Result<bool>;
}

/// What a listing tells of one account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Listed {
    pub admin: bool,
    /// None where the listing does not say.
    pub deactivated: Option<bool>,
    pub locked: Option<bool>,
    /// Whether an application service (a bridge, a bot) registered the account; None where the
    /// listing does not say (Synapse: its record does, see [`AccountRecord::appservice`]).
    pub appservice: Option<bool>,
}

/// Sets the password of an existing account.
pub trait PasswordReset: Sync {
    /// Sets the password; `logout_devices` also ends the account's sessions (only where
    /// [`PasswordReset::cannot_end_sessions`] is None). Returns what the server's
    /// answer named (checked against `user_id` by the shared layer).
    fn set_password(&self, user_id: &str, password: &str, logout_devices: bool)
        -> Result<Answered>;
    /// Whether setting a password can also end the account's sessions; where not, the modules
    /// refuse `logout_devices` before anything is sent, with this reason.
    fn cannot_end_sessions(&self) -> Option<&'static str> {
        None
    }
}

/// An account's lifecycle state, as the server stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountState {
    /// The account the answer names (checked against the one asked for by the shared layer).
    pub named: Option<String>,
    pub deactivated: bool,
    /// Whether its data was erased, where the server says.
    pub erased: Option<bool>,
    /// None where the server has no locks.
    pub locked: Option<bool>,
}

/// Deactivates and reactivates accounts. Every write is read back by the shared layer: a server
/// that answers success and leaves the account as it was is a failure, never a change.
pub trait Lifecycle: Sync {
    /// The account's state; None: there is no such account.
    fn state(&self, user_id: &str) -> Result<Option<AccountState>>;
    /// Deactivates an existing, active account: it can no longer log in and its access tokens
    /// are refused. `erase` asks the server to erase the account's data too; servers that cannot
    /// return a reason from [`Lifecycle::cannot_erase`], and the modules refuse `erase` up front.
    fn deactivate(&self, user_id: &str, erase: bool) -> Result<Answered>;
    fn cannot_erase(&self) -> Option<&'static str> {
        None
    }
    /// Lets a deactivated account log in again; a `password` given is set too (the account logs
    /// in with it afterwards), on every server.
    fn reactivate(&self, user_id: &str, password: Option<&str>) -> Result<Answered>;
    /// Whether reactivating needs a password (Synapse: a local account gets one back).
    fn reactivation_needs_password(&self) -> bool {
        false
    }
}

/// Locks and unlocks accounts: a locked account cannot log in, and is kept as it is.
pub trait Locks: Sync {
    /// None: there is no such account.
    fn locked(&self, user_id: &str) -> Result<Option<bool>>;
    fn set_locked(&self, user_id: &str, locked: bool) -> Result<Answered>;
}

/// What a server's answer to a write named and stated, for the shared layer to check against
/// what was asked (None: the answer's promised shape does not say).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answered {
    /// The account the answer names.
    pub subject: Option<String>,
    /// The admin flag the answer states.
    pub admin: Option<bool>,
}

/// What converging an admin flag found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminChange {
    pub before: bool,
    pub changed: bool,
    /// What the server's answer to the write said, where it wrote.
    pub answered: Answered,
}

/// Reads and sets the admin flag of an existing account.
pub trait AdminFlag: Sync {
    /// Sets the flag of `user_id` to `admin` unless it already is; `check_mode` only reads. A
    /// missing account is an error: no backend ever creates one here.
    fn converge(&self, user_id: &str, admin: bool, check_mode: bool) -> Result<AdminChange>;
    /// Whether the homeserver sees a change only after a restart (it caches user records).
    fn restart_required(&self) -> bool {
        false
    }
}

/// E-mail addresses of existing accounts, where the backend keeps them (MAS).
pub trait EmailAddresses: Sync {
    /// Adds those of `emails` the account does not have (compared case-insensitively), keeping
    /// any others; `check_mode` only reads. Returns the addresses added (or that would be), as
    /// the server's answers name them (checked against those asked for by the shared layer).
    fn add_missing(
        &self,
        user_id: &str,
        emails: &[String],
        check_mode: bool,
    ) -> Result<Vec<String>>;
}

/// What a token service can and cannot do, declared beside its API; the modules decide from
/// this alone what to refuse and what to predict in check mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenCapabilities {
    /// The caller may choose a new token's name.
    pub caller_names_tokens: bool,
    pub can_delete: bool,
    /// `disabled` is a flag of its own, which `state=present` clears; otherwise a token is
    /// "disabled" when it can no longer be used (expired or used up).
    pub has_disabled_flag: bool,
    /// A disabled token can be enabled again.
    pub can_reenable: bool,
    /// An existing token's expiry can be changed.
    pub can_change_expiry: bool,
    /// An existing token's usage limit can be changed.
    pub can_change_max_usage: bool,
    /// The largest usage limit other than unlimited, where the service has one (1: one-time).
    pub max_usage_limit: Option<u64>,
}

/// A registration token service.
pub trait TokenService: Sync {
    fn capabilities(&self) -> TokenCapabilities;
    /// For messages: "Synapse", "matrix-registration (0.9 API)", ...
    fn service_name(&self) -> &'static str;
    fn list(&self, valid: Option<bool>) -> Result<Vec<Token>>;
    fn get(&self, name: &str) -> Result<Option<Token>>;
    /// `name` only where [`TokenCapabilities::caller_names_tokens`].
    fn create(
        &self,
        name: Option<&str>,
        max_usage: u64,
        expiry: Option<DateTime<Utc>>,
    ) -> Result<Token>;
    /// Sets what is given, and clears the disabled flag where there is one.
    fn update(
        &self,
        current: &Token,
        max_usage: Option<u64>,
        expiry: Option<DateTime<Utc>>,
    ) -> Result<Token>;
    fn disable(&self, current: &Token) -> Result<Token>;
    fn delete(&self, name: &str) -> Result<()>;
    /// Whether `state=present` may clear the disabled flag only when the operator asks for it
    /// (MAS: a revoked token stays revoked unless un-revoking is asked for).
    fn reenables_only_when_asked(&self) -> bool {
        false
    }
    /// Whether the service deletes tokens that can no longer be used (tuwunel): a token that is
    /// not there is then as disabled as one can be.
    fn unusable_tokens_vanish(&self) -> bool {
        false
    }
    /// Where a person registers with this token, for services with a registration page.
    fn registration_url(&self, _name: &str) -> Option<String> {
        None
    }
}

/// The server's name, which turns a localpart into a user ID and against which a full user ID
/// is checked before anything is written.
pub trait Identity: Sync {
    /// `given`: the `server_name` option, if set. None: not known.
    fn server_name(&self, given: Option<&str>) -> Result<Option<(String, NameSource)>>;
}

impl<T: Identity + Send> Identity for std::sync::Arc<T> {
    fn server_name(&self, given: Option<&str>) -> Result<Option<(String, NameSource)>> {
        (**self).server_name(given)
    }
}

/// One account as the listing modules report it, the same on every server (None: the server
/// does not keep or show it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountRecord {
    pub user_id: String,
    pub admin: bool,
    pub user_type: Option<String>,
    pub deactivated: bool,
    pub locked: Option<bool>,
    pub displayname: Option<String>,
    pub created: Option<DateTime<Utc>>,
    /// E-mail addresses, where the backend keeps them (MAS).
    pub emails: Option<Vec<String>>,
    /// Whether an application service registered the account; None where the server does not
    /// say.
    pub appservice: Option<bool>,
}

/// Which accounts a listing returns; None: any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountFilter {
    pub admins: Option<bool>,
    pub deactivated: Option<bool>,
    pub locked: Option<bool>,
    /// `Some("")`: regular users only (no user type).
    pub user_type: Option<String>,
    /// A substring of the user ID, compared case-insensitively.
    pub name_contains: Option<String>,
}

impl AccountFilter {
    /// Whether `r` is one of the accounts this filter asks for. A lock the server does not keep
    /// counts as unlocked.
    pub fn admits(&self, r: &AccountRecord) -> bool {
        self.admins.is_none_or(|a| a == r.admin)
            && self.deactivated.is_none_or(|d| d == r.deactivated)
            && self.locked.is_none_or(|l| l == r.locked.unwrap_or(false))
            && self
                .user_type
                .as_deref()
                .is_none_or(|t| t == r.user_type.as_deref().unwrap_or(""))
            && self.name_contains.as_deref().is_none_or(|n| {
                r.user_id
                    .to_ascii_lowercase()
                    .contains(&n.to_ascii_lowercase())
            })
    }
}

/// Reads accounts in full, for reports: one account, or all of them page by page.
pub trait AccountRecords: Sync {
    /// None: there is no such account.
    fn record(&self, user_id: &str) -> Result<Option<AccountRecord>>;
    /// Calls `each` with the accounts `filter` admits. A backend may pass the filter (or part of
    /// it) to the server or not: the shared layer applies all of it again.
    fn records(&self, filter: &AccountFilter, each: &mut dyn FnMut(AccountRecord)) -> Result<()>;
}
