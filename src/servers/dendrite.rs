//! Dendrite: shared-secret registration (its own rules), public look-ups, its admin API for
//! passwords and registration tokens, and its account table for the admin flag, the account
//! lifecycle and user_info's records (Dendrite has no API for them).

use super::backend::{Access, Backend, Capability, DatabaseKind, Reach, Server};
use super::homeserver::Homeserver;
use crate::ansible::Result;
use crate::api::dendrite_accounts::DendriteAccounts;
use crate::api::dendrite_admin::DendriteAdmin;
use crate::api::dendrite_lifecycle::DendriteLifecycle;
use crate::api::dendrite_listing::DendriteListing;
use crate::api::dendrite_records::DendriteRecords;
use crate::api::dendrite_tokens::DendriteTokens;
use crate::api::shared_secret;
use crate::api::token_registration;
use crate::database::Database;
use crate::fail;

/// Dendrite's client and admin APIs.
pub static API: Backend = Backend {
    name: "dendrite",
    server: "Dendrite",
    reach: Reach::Homeserver,
    offers: &[
        Capability::Register,
        Capability::Tokens,
        Capability::LifecycleByDatabase,
        Capability::RecordsByDatabase,
        Capability::Passwords,
    ],
    limits_public_lookups: false,
    instead: &[(
        Capability::Records,
        "Dendrite has no API that lists or reads accounts (its admin API resets passwords, manages registration tokens, evacuates and purges; its client API finds only users who share a room or are public); its accounts are in the userapi_accounts table of its user API database: give database (a SQLite file, or a postgresql:// URL), which is then read",
    )],
    open: open_api,
};

/// Dendrite's `userapi_accounts` in its SQLite user API database.
pub static SQLITE: Backend = Backend {
    name: "dendrite_sqlite",
    server: "Dendrite",
    reach: Reach::Database(DatabaseKind::Sqlite),
    offers: &[Capability::AdminFlag],
    limits_public_lookups: false,
    instead: &[],
    open: open_database,
};

/// Dendrite's `userapi_accounts` in PostgreSQL.
pub static POSTGRES: Backend = Backend {
    name: "dendrite_postgres",
    server: "Dendrite",
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
        shared_secret::DENDRITE,
        token_registration::GENERIC,
    );
    if let Some(admin) = &hs.admin {
        server.set_passwords(DendriteAdmin::new(admin.clone()));
        server.set_tokens(DendriteTokens::new(admin.clone()));
    }
    // Deactivation and reactivation through the database where it is given (no API has them);
    // a reactivated account's password through the admin API. The listing of long lists and the
    // admin flag of existing accounts go through the same database (no API has them either;
    // Dendrite reads the account type on every request), and so do user_info's records.
    if let Some(database) = access.database {
        server.set_listing(DendriteListing::new(database.clone()));
        server.set_records(DendriteRecords::new(database.clone()));
        server.set_admin_flags(match &database {
            Database::Sqlite(path) => DendriteAccounts::Sqlite(path.clone()),
            Database::Postgres(target) => DendriteAccounts::Postgres(target.clone()),
        });
        server.set_lifecycle(DendriteLifecycle::new(
            database,
            hs.live_admin().map(DendriteAdmin::new),
        ));
    }
    Ok(server)
}

/// Dendrite reads the account type on every request: a change counts at once.
fn open_database(access: Access) -> Result<Server> {
    let (backend, accounts) = match access.database {
        Some(Database::Sqlite(path)) => (&SQLITE, DendriteAccounts::Sqlite(path)),
        Some(Database::Postgres(target)) => (&POSTGRES, DendriteAccounts::Postgres(target)),
        None => {
            return Err(fail!(
                "backend dendrite_sqlite or dendrite_postgres needs database"
            ))
        }
    };
    let mut server = Server::new(backend);
    server.restart_required = Some(false);
    server.set_admin_flags(accounts);
    Ok(server)
}
