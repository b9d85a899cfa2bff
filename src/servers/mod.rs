//! The backend chosen once: every value an operator can give `backend` is a [`Backend`] in
//! [`BACKENDS`], which says what it can do ([`Capability`]) before any request and opens, once
//! per task, a [`Server`]: the bundle of capabilities the modules call. Modules never compare
//! backends; they ask the server for a capability, and a capability a backend lacks is refused
//! with the backends that have it ([`require`]).
//!
//! Adding a server: a file here that declares its `Backend` and binds the API files it serves
//! (under `src/api/`, reusing the shared ones), and one line in [`BACKENDS`].

pub mod dendrite;
mod homeserver;
pub mod mas;
pub mod matrix_registration;
pub mod synapse;

use crate::ansible::Result;
use crate::api::admin_session::{AdminCredentials, AdminSession};
use crate::api::mas_session::{MasCredentials, MasSession};
use crate::capabilities::{
    AccountListing, AdminFlag, Directory, EmailAddresses, Identity, PasswordReset, Registrar,
    TokenService,
};
use crate::client::Connection;
use crate::database::Database;
use crate::fail;
use std::sync::{Arc, OnceLock};

/// Every backend, in the order their names are listed in the modules' docs.
pub static BACKENDS: &[&Backend] = &[
    &matrix_registration::BACKEND,
    &synapse::API,
    &synapse::SQLITE,
    &synapse::POSTGRES,
    &dendrite::API,
    &dendrite::SQLITE,
    &dendrite::POSTGRES,
    &mas::BACKEND,
];

/// Something a module asks of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Create accounts (register_user).
    Register,
    /// Set or clear the admin flag of an existing account (user_admin).
    AdminFlag,
    /// Keep registration tokens (registration_token, registration_token_info).
    Tokens,
}

impl Capability {
    fn what(self) -> &'static str {
        match self {
            Capability::Register => "create accounts",
            Capability::AdminFlag => "set the admin flag of accounts",
            Capability::Tokens => "keep registration tokens",
        }
    }
}

/// What a backend needs to be reached, which decides the options its modules read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// A homeserver's client API (`homeserver_url`), with its shared secret and admin
    /// credentials.
    Homeserver,
    /// Matrix Authentication Service's admin API (`api_url`, MAS credentials).
    Mas,
    /// A homeserver's database, written directly (`database`).
    Database(DatabaseKind),
    /// A registration token service of its own (`api_url`, `admin_secret`).
    TokenService,
}

/// What kind of database a backend writes, which decides how `database` is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

/// One value of `backend`.
pub struct Backend {
    /// What the operator writes.
    pub name: &'static str,
    /// The server, for messages: "Synapse", "Dendrite", "Matrix Authentication Service".
    pub server: &'static str,
    pub reach: Reach,
    /// What it can do, known before any request.
    pub offers: &'static [Capability],
    /// Whether the server rate-limits the public look-ups that stand in for admin look-ups
    /// (Synapse's `rc_profile`): long lists then want admin credentials.
    pub limits_public_lookups: bool,
    open: fn(Access) -> Result<Server>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl Backend {
    pub fn offers(&self, c: Capability) -> bool {
        self.offers.contains(&c)
    }

    /// Opens what this backend can do for one task; [`Server::close`] ends it.
    pub fn open(&'static self, access: Access) -> Result<Server> {
        (self.open)(access)
    }
}

/// The backend named `name`.
pub fn named(name: &str) -> Option<&'static Backend> {
    BACKENDS.iter().copied().find(|b| b.name == name)
}

/// The names of the backends that can do `c`, in [`BACKENDS`] order: a module's `backend`
/// choices.
pub fn names_offering(c: Capability) -> &'static [&'static str] {
    static REGISTER: OnceLock<Vec<&'static str>> = OnceLock::new();
    static ADMIN_FLAG: OnceLock<Vec<&'static str>> = OnceLock::new();
    static TOKENS: OnceLock<Vec<&'static str>> = OnceLock::new();
    let cell = match c {
        Capability::Register => &REGISTER,
        Capability::AdminFlag => &ADMIN_FLAG,
        Capability::Tokens => &TOKENS,
    };
    cell.get_or_init(|| {
        BACKENDS
            .iter()
            .filter(|b| b.offers(c))
            .map(|b| b.name)
            .collect()
    })
}

/// The `backend` choices of register_user.
pub fn account_backends() -> &'static [&'static str] {
    names_offering(Capability::Register)
}

/// The `backend` choices of user_admin.
pub fn admin_flag_backends() -> &'static [&'static str] {
    names_offering(Capability::AdminFlag)
}

/// The `backend` choices of the token modules.
pub fn token_backends() -> &'static [&'static str] {
    names_offering(Capability::Tokens)
}

/// The backend of option `option` that can do `c`: any other is refused before any request,
/// naming those that can.
pub fn require(option: &str, name: &str, c: Capability) -> Result<&'static Backend> {
    match named(name) {
        Some(b) if b.offers(c) => Ok(b),
        _ => Err(fail!(
            "{option} {name} cannot {}; the backends that can: {}",
            c.what(),
            names_offering(c).join(", ")
        )),
    }
}

/// Everything the options give for reaching a server, typed; a backend takes what its
/// [`Reach`] needs (the module's `Args` has refused what it does not use).
#[derive(Default)]
pub struct Access {
    /// The server's URL and connection options (`homeserver_url`, or `api_url`).
    pub connection: Option<Connection>,
    /// The homeserver's registration shared secret.
    pub shared_secret: Option<String>,
    /// A homeserver admin's credentials.
    pub admin: Option<AdminCredentials>,
    /// MAS's admin credentials.
    pub mas: Option<MasCredentials>,
    /// A homeserver's database.
    pub database: Option<Database>,
    /// A token service's own admin secret (matrix-registration).
    pub admin_secret: Option<String>,
    /// MAS: set passwords without its complexity check.
    pub skip_password_check: bool,
}

impl Access {
    fn connection(&self, backend: &str) -> Result<&Connection> {
        self.connection
            .as_ref()
            .ok_or_else(|| fail!("backend {backend} needs the server's URL"))
    }
}

/// How the task acts as an admin of the homeserver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAccess {
    /// No admin credentials were given (or the backend acts otherwise, e.g. MAS's client).
    None,
    /// `admin_username` in check mode: no login is made, so what needs the admin's rights
    /// cannot be read.
    NotLoggedIn,
    /// An admin's token is at hand.
    Live,
}

/// What one backend can do for one task, opened once and closed once. A capability it does not
/// have, or cannot have with the credentials given, is None.
pub struct Server {
    pub backend: &'static Backend,
    pub registrar: Option<Box<dyn Registrar>>,
    /// Exact look-ups with admin rights, never rate-limited.
    pub directory: Option<Box<dyn Directory>>,
    /// Public look-ups, which the server may rate-limit: worth a request only while they help.
    pub public_directory: Option<Box<dyn Directory>>,
    /// One paged listing of every account, for long lists.
    pub listing: Option<Box<dyn AccountListing>>,
    pub passwords: Option<Box<dyn PasswordReset>>,
    pub admin_flags: Option<Box<dyn AdminFlag>>,
    pub emails: Option<Box<dyn EmailAddresses>>,
    pub tokens: Option<Box<dyn TokenService>>,
    pub identity: Option<Box<dyn Identity>>,
    pub admin: AdminAccess,
    /// For a database written directly: whether a change of the admin flag takes effect only
    /// after the server restarts (it caches user records). None where the server's own API
    /// makes the change.
    pub restart_required: Option<bool>,
    sessions: Sessions,
}

/// The sessions a server's capabilities act with, ended by [`Server::close`]: a login is logged
/// out, a MAS token obtained is revoked.
#[derive(Default)]
struct Sessions {
    admin: Option<Arc<AdminSession>>,
    mas: Option<Arc<MasSession>>,
}

impl Server {
    /// A server with no capability yet, for a backend's `open` to fill in.
    fn new(backend: &'static Backend) -> Server {
        Server {
            backend,
            registrar: None,
            directory: None,
            public_directory: None,
            listing: None,
            passwords: None,
            admin_flags: None,
            emails: None,
            tokens: None,
            identity: None,
            admin: AdminAccess::None,
            restart_required: None,
            sessions: Sessions::default(),
        }
    }

    /// Whether admin credentials were given (live or not).
    pub fn has_admin(&self) -> bool {
        self.admin != AdminAccess::None
    }

    /// Ends the task's sessions, reporting a failure to log out or revoke.
    pub fn close(self) -> Result<()> {
        let Server { sessions, .. } = self;
        let admin = sessions.admin.map_or(Ok(()), |s| s.close());
        let mas = sessions.mas.map_or(Ok(()), |s| s.close());
        admin.and(mas)
    }
}
