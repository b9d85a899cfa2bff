//! Synapse: shared-secret registration, its admin API (look-ups, the listing, passwords, the
//! admin flag, registration tokens), and its database for the admin flag where no admin
//! account exists yet.

use super::backend::{Access, Backend, Capability, DatabaseKind, Reach, Server};
use super::homeserver::Homeserver;
use crate::ansible::Result;
use crate::api::shared_secret::{self, SharedSecretRegistration};
use crate::api::synapse_admin::SynapseAdmin;
use crate::api::synapse_postgres::SynapsePostgres;
use crate::api::synapse_sqlite::SynapseSqlite;
use crate::api::synapse_tokens::SynapseTokens;
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
    ],
    limits_public_lookups: true,
    open: open_api,
};

/// Synapse's SQLite database, written directly.
pub static SQLITE: Backend = Backend {
    name: "synapse_sqlite",
    server: "Synapse",
    reach: Reach::Database(DatabaseKind::Sqlite),
    offers: &[Capability::AdminFlag],
    limits_public_lookups: false,
    open: open_database,
};

/// Synapse's PostgreSQL database, written directly.
pub static POSTGRES: Backend = Backend {
    name: "synapse_postgres",
    server: "Synapse",
    reach: Reach::Database(DatabaseKind::Postgres),
    offers: &[Capability::AdminFlag],
    limits_public_lookups: false,
    open: open_database,
};

fn open_api(access: Access) -> Result<Server> {
    let mut server = Server::new(&API);
    let hs = Homeserver::open(&mut server, &access)?;
    if let Some(secret) = access.shared_secret {
        server.set_registrar(SharedSecretRegistration::new(
            hs.client.clone(),
            secret,
            shared_secret::SYNAPSE,
        ));
    }
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
