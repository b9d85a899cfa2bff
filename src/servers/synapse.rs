//! Synapse: shared-secret registration, its admin API (look-ups, the listing, passwords, the
//! admin flag, registration tokens), and its database for the admin flag where no admin
//! account exists yet.

use super::backend::{Access, Backend, Capability, DatabaseKind, Reach, Server};
use super::homeserver::Homeserver;
use crate::ansible::Result;
use crate::api::shared_secret;
use crate::api::synapse_admin::SynapseAdmin;
use crate::api::synapse_postgres::SynapsePostgres;
use crate::api::synapse_sqlite::SynapseSqlite;
use crate::api::synapse_tokens::SynapseTokens;
use crate::api::token_registration;
use crate::database::Database;
use crate::fail;

/// Synapse's client and admin APIs.
pub static API: Backend = Backend {
    name: "synapse",
    server: "Synapse",
    reach: Reach::Homeserver,
    offers: &[
        Capability::Register,
        Capability::AdminFlag,
        Capability::Tokens,
        Capability::Lifecycle,
        Capability::Locks,
        Capability::Records,
        Capability::Passwords,
    ],
    limits_public_lookups: true,
    instead: &[],
    open: open_api,
};

/// Synapse's SQLite database, written directly.
pub static SQLITE: Backend = Backend {
    name: "synapse_sqlite",
    server: "Synapse",
    reach: Reach::Database(DatabaseKind::Sqlite),
    offers: &[Capability::AdminFlag],
    limits_public_lookups: false,
    instead: &[],
    open: open_database,
};

/// Synapse's PostgreSQL database, written directly.
pub static POSTGRES: Backend = Backend {
    name: "synapse_postgres",
    server: "Synapse",
    reach: Reach::Database(DatabaseKind::Postgres),
    offers: &[Capability::AdminFlag],
    limits_public_lookups: false,
    instead: &[],
    open: open_database,
};

fn open_api(mut access: Access) -> Result<Server> {
    let mut server = Server::new(&API);
    let hs = Homeserver::open(&mut server, &access)?;
    hs.set_registrar(
        &mut server,
        &mut access,
        shared_secret::SYNAPSE,
        token_registration::GENERIC,
    );
    if let Some(admin) = &hs.admin {
        server.set_passwords(SynapseAdmin::new(admin.clone()));
        server.set_tokens(SynapseTokens::new(admin.clone()));
    }
    if let Some(live) = hs.live_admin() {
        server.set_directory(SynapseAdmin::new(live.clone()));
        server.set_listing(SynapseAdmin::new(live.clone()));
        server.set_lifecycle(SynapseAdmin::new(live.clone()));
        server.set_locks(SynapseAdmin::new(live.clone()));
        server.set_records(SynapseAdmin::new(live.clone()));
        server.set_admin_flags(SynapseAdmin::new(live));
    }
    Ok(server)
}

/// Synapse caches user records: a change written to its database counts after a restart.
fn open_database(access: Access) -> Result<Server> {
    let backend = if matches!(access.database, Some(Database::Postgres(_))) {
        &POSTGRES
    } else {
        &SQLITE
    };
    let mut server = Server::new(backend);
    server.restart_required = Some(true);
    match access.database {
        Some(Database::Sqlite(path)) => server.set_admin_flags(SynapseSqlite::new(&path)),
        Some(Database::Postgres(target)) => server.set_admin_flags(SynapsePostgres::new(*target)),
        None => return Err(fail!("backend {} needs database", backend.name)),
    }
    Ok(server)
}
