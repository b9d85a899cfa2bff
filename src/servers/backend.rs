//! What a backend is ([`Backend`]: what it offers and what reaches it) and what it opens for one
//! task ([`Server`]: the capabilities the modules call).

use crate::ansible::{Outcome, Result};
use crate::api::admin_session::{AdminCredentials, AdminSession};
use crate::api::mas_session::{MasCredentials, MasSession};
use crate::capabilities::{
    AccountListing, AccountRecords, AdminFlag, Directory, EmailAddresses, Identity, Lifecycle,
    Locks, PasswordReset, Registrar, TokenService,
};
use crate::client::Connection;
use crate::database::Database;
use crate::fail;
use std::sync::Arc;

use super::checked::Checked;

/// Something a module asks of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Create accounts (register_user).
    Register,
    /// Set or clear the admin flag of an existing account (user_admin).
    AdminFlag,
    /// Keep registration tokens (registration_token, registration_token_info).
    Tokens,
    /// Report accounts in full, one or all (user_info).
    Records,
    /// Report accounts in full read from the server's database, its API having no way (the
    /// `database` option besides the URL).
    RecordsByDatabase,
    /// Deactivate and reactivate accounts through the server's API (admin credentials).
    Lifecycle,
    /// Deactivate and reactivate accounts through the server's database, its API having no way
    /// (the `database` option besides the URL).
    LifecycleByDatabase,
    /// Lock and unlock accounts.
    Locks,
    /// Set the password of existing accounts (register_user's `update_password: always`).
    Passwords,
}

impl Capability {
    /// The same done through the server's database, where that is a capability of its own.
    pub fn by_database(self) -> Option<Capability> {
        match self {
            Capability::Lifecycle => Some(Capability::LifecycleByDatabase),
            Capability::Records => Some(Capability::RecordsByDatabase),
            _ => None,
        }
    }

    pub fn what(self) -> &'static str {
        match self {
            Capability::Register => "create accounts",
            Capability::AdminFlag => "set the admin flag of accounts",
            Capability::Tokens => "keep registration tokens",
            Capability::Records | Capability::RecordsByDatabase => "list accounts",
            Capability::Lifecycle | Capability::LifecycleByDatabase => "deactivate accounts",
            Capability::Locks => "lock accounts",
            Capability::Passwords => "set the password of existing accounts",
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
    /// What an operator can do instead of a capability this backend lacks (e.g. an admin-room
    /// command), for the refusal's message; `&[]` where there is nothing to add.
    pub instead: &'static [(Capability, &'static str)],
    pub open: fn(Access) -> Result<Server>,
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

/// Everything the options give for reaching a server, typed; a backend takes what its
/// [`Reach`] needs (the module's `Args` has refused what it does not use).
#[derive(Default)]
pub struct Access {
    /// The server's URL and connection options (`homeserver_url`, or `api_url`).
    pub connection: Option<Connection>,
    /// The homeserver's registration shared secret.
    pub shared_secret: Option<String>,
    /// A registration token, for client-server registration where no shared secret is given.
    pub registration_token: Option<String>,
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
    pub fn connection(&self, backend: &str) -> Result<&Connection> {
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
/// have, or cannot have with the credentials given, is None. Capabilities go in through the
/// setters, which wrap each one in the checks of [`super::checked`]: no backend can hand the
/// modules a capability whose answers are not checked against what was asked.
pub struct Server {
    pub backend: &'static Backend,
    registrar: Option<Checked<dyn Registrar>>,
    directory: Option<Checked<dyn Directory>>,
    public_directory: Option<Checked<dyn Directory>>,
    listing: Option<Checked<dyn AccountListing>>,
    passwords: Option<Checked<dyn PasswordReset>>,
    admin_flags: Option<Checked<dyn AdminFlag>>,
    emails: Option<Checked<dyn EmailAddresses>>,
    tokens: Option<Checked<dyn TokenService>>,
    identity: Option<Checked<dyn Identity>>,
    lifecycle: Option<Checked<dyn Lifecycle>>,
    locks: Option<Checked<dyn Locks>>,
    records: Option<Checked<dyn AccountRecords>>,
    pub admin: AdminAccess,
    /// For a database written directly: whether a change of the admin flag takes effect only
    /// after the server restarts (it caches user records). None where the server's own API
    /// makes the change.
    pub restart_required: Option<bool>,
    pub sessions: Sessions,
}

/// The sessions a server's capabilities act with, ended by [`Server::close`]: a login is logged
/// out, a MAS token obtained is revoked.
#[derive(Default)]
pub struct Sessions {
    pub admin: Option<Arc<AdminSession>>,
    pub mas: Option<Arc<MasSession>>,
}

impl Server {
    /// A server with no capability yet, for a backend's `open` to fill in.
    pub fn new(backend: &'static Backend) -> Server {
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
            lifecycle: None,
            locks: None,
            records: None,
            admin: AdminAccess::None,
            restart_required: None,
            sessions: Sessions::default(),
        }
    }

    /// The capability: creates accounts.
    pub fn registrar(&self) -> Option<&dyn Registrar> {
        self.registrar.as_ref().map(|c| c as &dyn Registrar)
    }

    pub fn set_registrar(&mut self, c: impl Registrar + 'static) {
        self.registrar = Some(Checked::new(self.backend.server, Box::new(c)));
    }

    /// The capability: exact look-ups with admin rights, never rate-limited.
    pub fn directory(&self) -> Option<&dyn Directory> {
        self.directory.as_ref().map(|c| c as &dyn Directory)
    }

    pub fn set_directory(&mut self, c: impl Directory + 'static) {
        self.directory = Some(Checked::new(self.backend.server, Box::new(c)));
    }

    /// The capability: public look-ups, which the server may rate-limit: worth a request only while they help.
    pub fn public_directory(&self) -> Option<&dyn Directory> {
        self.public_directory.as_ref().map(|c| c as &dyn Directory)
    }

    pub fn set_public_directory(&mut self, c: impl Directory + 'static) {
        self.public_directory = Some(Checked::new(self.backend.server, Box::new(c)));
    }

    /// The capability: one paged listing of every account, for long lists.
    pub fn listing(&self) -> Option<&dyn AccountListing> {
        self.listing.as_ref().map(|c| c as &dyn AccountListing)
    }

    pub fn set_listing(&mut self, c: impl AccountListing + 'static) {
        self.listing = Some(Checked::new(self.backend.server, Box::new(c)));
    }

    /// The capability: sets the password of existing accounts.
    pub fn passwords(&self) -> Option<&dyn PasswordReset> {
        self.passwords.as_ref().map(|c| c as &dyn PasswordReset)
    }

    pub fn set_passwords(&mut self, c: impl PasswordReset + 'static) {
        self.passwords = Some(Checked::new(self.backend.server, Box::new(c)));
    }

    /// The capability: reads and sets the admin flag.
    pub fn admin_flags(&self) -> Option<&dyn AdminFlag> {
        self.admin_flags.as_ref().map(|c| c as &dyn AdminFlag)
    }

    pub fn set_admin_flags(&mut self, c: impl AdminFlag + 'static) {
        self.admin_flags = Some(Checked::new(self.backend.server, Box::new(c)));
    }

    /// The capability: the e-mail addresses of accounts.
    pub fn emails(&self) -> Option<&dyn EmailAddresses> {
        self.emails.as_ref().map(|c| c as &dyn EmailAddresses)
    }

    pub fn set_emails(&mut self, c: impl EmailAddresses + 'static) {
        self.emails = Some(Checked::new(self.backend.server, Box::new(c)));
    }

    /// The capability: registration tokens.
    pub fn tokens(&self) -> Option<&dyn TokenService> {
        self.tokens.as_ref().map(|c| c as &dyn TokenService)
    }

    pub fn set_tokens(&mut self, c: impl TokenService + 'static) {
        self.tokens = Some(Checked::new(self.backend.server, Box::new(c)));
    }

    /// The capability: the server's name.
    pub fn identity(&self) -> Option<&dyn Identity> {
        self.identity.as_ref().map(|c| c as &dyn Identity)
    }

    pub fn set_identity(&mut self, c: impl Identity + 'static) {
        self.identity = Some(Checked::new(self.backend.server, Box::new(c)));
    }

    /// The capability: deactivates and reactivates accounts.
    pub fn lifecycle(&self) -> Option<&dyn Lifecycle> {
        self.lifecycle.as_ref().map(|c| c as &dyn Lifecycle)
    }

    pub fn set_lifecycle(&mut self, c: impl Lifecycle + 'static) {
        self.lifecycle = Some(Checked::new(self.backend.server, Box::new(c)));
    }

    /// The capability: locks and unlocks accounts.
    pub fn locks(&self) -> Option<&dyn Locks> {
        self.locks.as_ref().map(|c| c as &dyn Locks)
    }

    pub fn set_locks(&mut self, c: impl Locks + 'static) {
        self.locks = Some(Checked::new(self.backend.server, Box::new(c)));
    }

    /// The capability: accounts in full, one or all.
    pub fn records(&self) -> Option<&dyn AccountRecords> {
        self.records.as_ref().map(|c| c as &dyn AccountRecords)
    }

    pub fn set_records(&mut self, c: impl AccountRecords + 'static) {
        self.records = Some(Checked::new(self.backend.server, Box::new(c)));
    }

    /// Whether admin credentials were given (live or not).
    pub fn has_admin(&self) -> bool {
        self.admin != AdminAccess::None
    }

    /// Ends the task's sessions after its work: a failure to log out or revoke is reported on
    /// top of what the work did, never instead of it (a created account is still said to exist).
    pub fn close_after(self, outcome: Result<Outcome>) -> Result<Outcome> {
        let closed = self.close();
        match (outcome, closed) {
            (outcome, Ok(())) => outcome,
            (Ok(done), Err(c)) => {
                let msg = done.msg.clone().unwrap_or_default();
                Ok(done.failed(format!("{msg}; but then {c}")))
            }
            (Err(e), Err(c)) => Err(fail!("{e}; also, {c}")),
        }
    }

    /// Ends the task's sessions, reporting a failure to log out or revoke.
    pub fn close(self) -> Result<()> {
        let Server { sessions, .. } = self;
        let admin = sessions.admin.map_or(Ok(()), |s| s.close());
        let mas = sessions.mas.map_or(Ok(()), |s| s.close());
        admin.and(mas)
    }
}
