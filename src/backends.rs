//! What a backend can do, one trait per capability, and the one place that maps an operator's
//! `backend` choice to the API files that provide each capability.
//!
//! Adding a backend: write its API file under `src/api/` implementing the traits it can serve
//! (declaring what it cannot do beside it, e.g. [`TokenCapabilities`]), add its name to the
//! backend enum below, and add one arm to each factory here. The modules do not change.

use crate::ansible::Result;
use crate::api::client_session::{AdminCredentials, AdminSession, ProfileDirectory};
use crate::api::database::Database;
use crate::api::dendrite_accounts::DendriteAccounts;
use crate::api::mas::{MasAdmin, MasTokens};
use crate::api::mas_session::{MasCredentials, MasSession};
use crate::api::matrix_registration::MatrixRegistration;
use crate::api::shared_secret::{self, SharedSecretRegistration};
use crate::api::synapse_postgres::SynapsePostgres;
use crate::api::{dendrite_admin, dendrite_tokens, synapse_admin, synapse_sqlite, synapse_tokens};
use crate::choice_enum;
use crate::client::Client;
use crate::token::Token;
use chrono::{DateTime, Utc};

choice_enum! {
    /// The homeserver register_user talks to.
    pub enum Homeserver {
        Synapse = "synapse",
        Dendrite = "dendrite",
        /// Matrix Authentication Service's admin API (a homeserver that delegates to MAS).
        Mas = "mas",
    }
}

choice_enum! {
    /// Where user_admin reads and writes the admin flag.
    pub enum AdminStore {
        /// Synapse's admin API.
        Synapse = "synapse",
        /// Synapse's SQLite database, written directly.
        SynapseSqlite = "synapse_sqlite",
        /// Synapse's PostgreSQL database, written directly.
        SynapsePostgres = "synapse_postgres",
        /// Dendrite's `userapi_accounts` in its SQLite user API database.
        DendriteSqlite = "dendrite_sqlite",
        /// Dendrite's `userapi_accounts` in PostgreSQL.
        DendritePostgres = "dendrite_postgres",
        /// Matrix Authentication Service's admin API.
        Mas = "mas",
    }
}

/// What kind of database an [`AdminStore`] writes, which decides how `database` is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

impl AdminStore {
    /// None for the admin API.
    pub fn database_kind(self) -> Option<DatabaseKind> {
        match self {
            AdminStore::Synapse | AdminStore::Mas => None,
            AdminStore::SynapseSqlite | AdminStore::DendriteSqlite => Some(DatabaseKind::Sqlite),
            AdminStore::SynapsePostgres | AdminStore::DendritePostgres => {
                Some(DatabaseKind::Postgres)
            }
        }
    }

    /// For messages: whose database it is.
    pub fn homeserver(self) -> &'static str {
        match self {
            AdminStore::Synapse | AdminStore::SynapseSqlite | AdminStore::SynapsePostgres => {
                "Synapse"
            }
            AdminStore::DendriteSqlite | AdminStore::DendritePostgres => "Dendrite",
            AdminStore::Mas => "Matrix Authentication Service",
        }
    }
}

choice_enum! {
    /// The service that keeps registration tokens.
    pub enum TokenStore {
        MatrixRegistration = "matrix_registration",
        Synapse = "synapse",
        Dendrite = "dendrite",
        /// Matrix Authentication Service (0.17 and later).
        Mas = "mas",
    }
}

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
    /// It exists; `admin` is its admin flag where the look-up shows it.
    Exists {
        admin: Option<bool>,
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
    /// Refuses, before any request (and in check mode), what the server would refuse.
    fn check(&self, _user: &NewUser<'_>) -> Result<()> {
        Ok(())
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
    /// Calls `each` with the user ID and admin flag of every account, deactivated ones included
    /// (their names are taken). After the first page, `worth_it(total)` says whether to go on;
    /// returns false if it said no and the listing stopped early.
    fn list_accounts(
        &self,
        worth_it: &dyn Fn(u64) -> bool,
        each: &mut dyn FnMut(&str, bool),
    ) -> Result<bool>;
}

/// Sets the password of an existing account, keeping its sessions.
pub trait PasswordReset: Sync {
    fn set_password(&self, user_id: &str, password: &str) -> Result<()>;
}

/// What converging an admin flag found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminChange {
    pub before: bool,
    pub changed: bool,
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
    /// any others; `check_mode` only reads. Returns the addresses added (or that would be).
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
pub trait TokenService {
    fn capabilities(&self) -> TokenCapabilities;
    /// For messages: "Synapse", "matrix-registration (0.9 API)", ...
    fn describe(&self) -> &'static str;
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
    /// Where a person registers with this token, for services with a registration page.
    fn registration_url(&self, _name: &str) -> Option<String> {
        None
    }
}

/// Registration with the homeserver's shared secret (Synapse and Dendrite serve the same API);
/// None for MAS, whose accounts come from [`mas_users`].
pub fn registrar<'a>(
    backend: Homeserver,
    client: &'a Client,
    shared_secret: &'a str,
) -> Option<Box<dyn Registrar + 'a>> {
    match backend {
        Homeserver::Synapse => Some(Box::new(SharedSecretRegistration::new(
            client,
            shared_secret,
            shared_secret::SYNAPSE,
        ))),
        Homeserver::Dendrite => Some(Box::new(SharedSecretRegistration::new(
            client,
            shared_secret,
            shared_secret::DENDRITE,
        ))),
        Homeserver::Mas => None,
    }
}

/// Every user capability of MAS's admin API, for register_user and user_admin.
pub struct MasUsers<'a> {
    pub registrar: Box<dyn Registrar + 'a>,
    pub directory: Box<dyn Directory + 'a>,
    pub listing: Box<dyn AccountListing + 'a>,
    pub passwords: Box<dyn PasswordReset + 'a>,
    pub admin_flags: Box<dyn AdminFlag + 'a>,
    pub emails: Box<dyn EmailAddresses + 'a>,
}

/// MAS's users, in the server `server_name` (from MAS's site-config); passwords are set with
/// `skip_password_check` when asked.
pub fn mas_users<'a>(
    session: &'a MasSession<'a>,
    server_name: &str,
    skip_password_check: bool,
) -> MasUsers<'a> {
    let admin = MasAdmin::new(session, server_name.to_string(), skip_password_check);
    MasUsers {
        registrar: Box::new(admin.clone()),
        directory: Box::new(admin.clone()),
        listing: Box::new(admin.clone()),
        passwords: Box::new(admin.clone()),
        admin_flags: Box::new(admin.clone()),
        emails: Box::new(admin),
    }
}

/// Look-ups with admin rights, exact and never rate-limited; None where the backend has no
/// admin look-up and the public profile look-up must do.
pub fn admin_directory<'a>(
    backend: Homeserver,
    admin: &'a AdminSession<'a>,
) -> Option<Box<dyn Directory + 'a>> {
    match backend {
        Homeserver::Synapse => Some(Box::new(synapse_admin::SynapseAdmin::new(admin))),
        Homeserver::Dendrite | Homeserver::Mas => None,
    }
}

/// Look-ups through the public profile API (with the admin's token where there is one).
pub fn profile_directory<'a>(
    client: &'a Client,
    admin: Option<&'a AdminSession<'a>>,
) -> ProfileDirectory<'a> {
    ProfileDirectory::new(client, admin.map(AdminSession::token))
}

/// The paged listing of every account, where the backend has one.
pub fn account_listing<'a>(
    backend: Homeserver,
    admin: &'a AdminSession<'a>,
) -> Option<Box<dyn AccountListing + 'a>> {
    match backend {
        Homeserver::Synapse => Some(Box::new(synapse_admin::SynapseAdmin::new(admin))),
        Homeserver::Dendrite | Homeserver::Mas => None,
    }
}

/// The admin flag of existing accounts through the homeserver's API, where it has one.
pub fn admin_flag<'a>(
    backend: Homeserver,
    admin: &'a AdminSession<'a>,
) -> Option<Box<dyn AdminFlag + 'a>> {
    match backend {
        Homeserver::Synapse => Some(Box::new(synapse_admin::SynapseAdmin::new(admin))),
        Homeserver::Dendrite | Homeserver::Mas => None,
    }
}

/// Password resets with the homeserver's admin session; None for MAS (see [`mas_users`]).
pub fn password_reset<'a>(
    backend: Homeserver,
    admin: &'a AdminSession<'a>,
) -> Option<Box<dyn PasswordReset + 'a>> {
    match backend {
        Homeserver::Synapse => Some(Box::new(synapse_admin::SynapseAdmin::new(admin))),
        Homeserver::Dendrite => Some(Box::new(dendrite_admin::DendriteAdmin::new(admin))),
        Homeserver::Mas => None,
    }
}

/// The admin flag in a homeserver's database; None where `store` is the API or the database is
/// of the other kind.
pub fn admin_flag_database(store: AdminStore, database: &Database) -> Option<Box<dyn AdminFlag>> {
    match (store, database) {
        (AdminStore::SynapseSqlite, Database::Sqlite(path)) => {
            Some(Box::new(synapse_sqlite::SynapseSqlite::new(path)))
        }
        (AdminStore::SynapsePostgres, Database::Postgres(target)) => {
            Some(Box::new(SynapsePostgres::new((**target).clone())))
        }
        (AdminStore::DendriteSqlite, Database::Sqlite(path)) => {
            Some(Box::new(DendriteAccounts::Sqlite(path.clone())))
        }
        (AdminStore::DendritePostgres, Database::Postgres(target)) => {
            Some(Box::new(DendriteAccounts::Postgres(target.clone())))
        }
        _ => None,
    }
}

/// A matrix-registration service (its API generation detected), or Synapse's or Dendrite's
/// token API.
pub fn token_service<'a>(
    store: TokenStore,
    client: &'a Client,
    admin_secret: Option<&str>,
    admin: Option<&'a AdminSession<'a>>,
) -> Result<Box<dyn TokenService + 'a>> {
    Ok(match (store, admin) {
        (TokenStore::MatrixRegistration, _) => Box::new(MatrixRegistration::connect(
            client,
            admin_secret.unwrap_or_default(),
        )?),
        (TokenStore::Synapse, Some(session)) => Box::new(synapse_tokens::SynapseTokens::new(session)),
        (TokenStore::Dendrite, Some(session)) => {
            Box::new(dendrite_tokens::DendriteTokens::new(session))
        }
        (TokenStore::Synapse | TokenStore::Dendrite, None) => {
            return Err(crate::fail!(
                "backend {} needs admin credentials: access_token, or admin_username and admin_password",
                store.name()
            ))
        }
        (TokenStore::Mas, _) => {
            return Err(crate::fail!(
                "backend mas needs a MAS session: see backends::mas_token_service"
            ))
        }
    })
}

/// MAS's registration tokens.
pub fn mas_token_service<'a>(session: &'a MasSession<'a>) -> Box<dyn TokenService + 'a> {
    Box::new(MasTokens::new(session))
}

/// The sessions a token service needs for one task, opened once: a homeserver admin's (a login
/// is logged out at the end) or MAS's (a token obtained is revoked at the end).
pub struct TokenSessions<'c> {
    client: &'c Client,
    admin: Option<AdminSession<'c>>,
    mas: Option<MasSession<'c>>,
}

impl<'c> TokenSessions<'c> {
    pub fn open(
        client: &'c Client,
        admin: Option<&AdminCredentials>,
        mas: Option<&MasCredentials>,
    ) -> Result<TokenSessions<'c>> {
        Ok(TokenSessions {
            client,
            admin: admin.map(|c| AdminSession::open(client, c)).transpose()?,
            mas: mas.map(|c| MasSession::open(client, c)).transpose()?,
        })
    }

    /// False in check mode with `admin_username`: check mode does not log in, so the service
    /// cannot be read (a warning says so).
    pub fn can_read(&self) -> bool {
        self.admin.as_ref().is_none_or(AdminSession::is_live)
    }

    /// The token service `store` over these sessions.
    pub fn service(
        &self,
        store: TokenStore,
        admin_secret: Option<&str>,
    ) -> Result<Box<dyn TokenService + '_>> {
        match &self.mas {
            Some(session) => Ok(mas_token_service(session)),
            None => token_service(store, self.client, admin_secret, self.admin.as_ref()),
        }
    }

    /// Logs out a session logged in for the task and revokes a MAS token obtained for it.
    pub fn close(self) -> Result<()> {
        let admin = self.admin.map_or(Ok(()), AdminSession::close);
        let mas = self.mas.map_or(Ok(()), MasSession::close);
        admin.and(mas)
    }
}
