//! Dendrite's account table, `userapi_accounts`, written directly: Dendrite has no admin-flag
//! API, and its documented way to make an admin is
//! `UPDATE userapi_accounts SET account_type = 3 WHERE localpart = '...'`.
//!
//! `account_type`: 1 user, 2 guest, 3 admin, 4 appservice. Promotion turns a user (1) into an
//! admin (3), demotion an admin into a user; guests and appservice accounts are never touched.
//! Rows are keyed by `(localpart, server_name)`.
//!
//! Dendrite does not cache the account type: it reads the account on every authenticated request,
//! so a change takes effect at once, without a restart (measured on Dendrite 0.13.8, SQLite and
//! PostgreSQL: tests/it/dendrite_server/, tests/it/dendrite_backends.rs).

use crate::ansible::Result;
use crate::capabilities::{AdminChange, AdminFlag, Answered};
use crate::database::{is_undefined_table, open_sqlite, pg_error, PostgresTarget};
use crate::fail;
use rusqlite::{OptionalExtension, TransactionBehavior};

pub const USER: i64 = 1;
pub const GUEST: i64 = 2;
pub const ADMIN: i64 = 3;
pub const APPSERVICE: i64 = 4;

const WHAT: &str =
    "Dendrite's user API database (dendrite_userapi.db, or the one database of a monolith)";

/// Where the table is.
pub enum DendriteAccounts {
    Sqlite(String),
    Postgres(Box<PostgresTarget>),
}

/// `@localpart:server` split for the table's key.
fn key(user_id: &str) -> Result<(&str, &str)> {
    user_id
        .strip_prefix('@')
        .and_then(|s| s.split_once(':'))
        .ok_or_else(|| fail!("'{user_id}' is not a full user ID"))
}

/// The account type to write for `admin`, or None when the account already is what is asked.
pub fn wanted_type(user_id: &str, current: i64, admin: bool) -> Result<Option<i64>> {
    match (current, admin) {
        (ADMIN, true) | (USER | GUEST | APPSERVICE, false) => Ok(None),
        (USER, true) => Ok(Some(ADMIN)),
        (ADMIN, false) => Ok(Some(USER)),
        (GUEST, true) => Err(fail!(
            "{user_id} is a guest account (account_type 2); Dendrite's admin rights are for user accounts: register a user account instead"
        )),
        (APPSERVICE, true) => Err(fail!(
            "{user_id} is an appservice account (account_type 4); it is not made an admin"
        )),
        (other, _) => Err(fail!(
            "{user_id} has account_type {other}, which Dendrite does not define (1 user, 2 guest, 3 admin, 4 appservice); nothing was changed"
        )),
    }
}

fn missing(user_id: &str, db: &str) -> crate::ansible::Error {
    fail!("user {user_id} does not exist in {db}; user_admin never creates accounts (use register_user)")
}

impl AdminFlag for DendriteAccounts {
    fn converge(&self, user_id: &str, admin: bool, check_mode: bool) -> Result<AdminChange> {
        let (localpart, server) = key(user_id)?;
        match self {
            DendriteAccounts::Sqlite(path) => {
                sqlite(path, user_id, localpart, server, admin, check_mode)
            }
            DendriteAccounts::Postgres(t) => {
                postgres(t, user_id, localpart, server, admin, check_mode)
            }
        }
    }
}

fn sqlite(
    path: &str,
    user_id: &str,
    localpart: &str,
    server: &str,
    admin: bool,
    check_mode: bool,
) -> Result<AdminChange> {
    let mut conn = open_sqlite(path, !check_mode, "userapi_accounts", WHAT)?;
    let read = |c: &rusqlite::Connection| -> Result<i64> {
        c.query_row(
            "SELECT account_type FROM userapi_accounts WHERE localpart = ?1 AND server_name = ?2",
            [localpart, server],
            |r| r.get::<_, i64>(0),
        )
        .optional()
        .map_err(|e| fail!("reading {user_id} from {path}: {e}"))?
        .ok_or_else(|| missing(user_id, path))
    };
    if check_mode {
        let current = read(&conn)?;
        let to = wanted_type(user_id, current, admin)?;
        return Ok(AdminChange {
            before: current == ADMIN,
            changed: to.is_some(),
            answered: Answered::default(),
        });
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| fail!("cannot lock database {path} for writing: {e}"))?;
    let current = read(&tx)?;
    let before = current == ADMIN;
    let Some(to) = wanted_type(user_id, current, admin)? else {
        return Ok(AdminChange {
            before,
            changed: false,
            answered: Answered::default(),
        });
    };
    let n = tx
        .execute(
            "UPDATE userapi_accounts SET account_type = ?1 WHERE localpart = ?2 AND server_name = ?3",
            rusqlite::params![to, localpart, server],
        )
        .map_err(|e| fail!("updating {user_id} in {path}: {e}"))?;
    if n != 1 {
        return Err(fail!(
            "updating {user_id} in {path} touched {n} rows; nothing was changed"
        ));
    }
    tx.commit()
        .map_err(|e| fail!("committing the change to {path}: {e}"))?;
    Ok(AdminChange {
        before,
        changed: true,
        answered: Answered::default(),
    })
}

fn postgres(
    t: &PostgresTarget,
    user_id: &str,
    localpart: &str,
    server: &str,
    admin: bool,
    check_mode: bool,
) -> Result<AdminChange> {
    let db = format!("PostgreSQL {}", t.display);
    let (user_id, localpart, server) = (
        user_id.to_string(),
        localpart.to_string(),
        server.to_string(),
    );
    t.run(move |client| {
        set_type(
            client, &db, &user_id, &localpart, &server, admin, check_mode,
        )
    })
}

/// One transaction: lock the row, read the account type, write only when it differs.
fn set_type(
    client: &mut postgres::Client,
    db: &str,
    user_id: &str,
    localpart: &str,
    server: &str,
    admin: bool,
    check_mode: bool,
) -> Result<AdminChange> {
    let mut tx = client
        .build_transaction()
        .read_only(check_mode)
        .start()
        .map_err(|e| fail!("{db}: {}", pg_error(&e)))?;
    let lock = if check_mode { "" } else { " FOR UPDATE" };
    let row = tx
        .query_opt(
            &format!("SELECT account_type FROM userapi_accounts WHERE localpart = $1 AND server_name = $2{lock}"),
            &[&localpart, &server],
        )
        .map_err(|e| {
            if is_undefined_table(&e) {
                fail!("{db} has no userapi_accounts table: is it {WHAT}?")
            } else {
                fail!("reading {user_id} from {db}: {}", pg_error(&e))
            }
        })?
        .ok_or_else(|| missing(user_id, db))?;
    let current = i64::from(row.try_get::<_, i16>(0).map_err(|e| {
        fail!(
            "reading account_type of {user_id} from {db}: {}",
            pg_error(&e)
        )
    })?);
    let before = current == ADMIN;
    let to = wanted_type(user_id, current, admin)?;
    let (Some(to), false) = (to, check_mode) else {
        tx.rollback().map_err(|e| fail!("{db}: {}", pg_error(&e)))?;
        return Ok(AdminChange {
            before,
            changed: to.is_some(),
            answered: Answered::default(),
        });
    };
    let n = tx
        .execute(
            "UPDATE userapi_accounts SET account_type = $1 WHERE localpart = $2 AND server_name = $3",
            &[&(to as i16), &localpart, &server],
        )
        .map_err(|e| fail!("updating {user_id} in {db}: {}", pg_error(&e)))?;
    if n != 1 {
        return Err(fail!(
            "updating {user_id} in {db} touched {n} rows; nothing was changed"
        ));
    }
    tx.commit()
        .map_err(|e| fail!("committing the change to {db}: {}", pg_error(&e)))?;
    Ok(AdminChange {
        before,
        changed: true,
        answered: Answered::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_types_converge_and_guests_are_refused() {
        let u = "@a:example.org";
        assert_eq!(wanted_type(u, USER, true).unwrap(), Some(ADMIN));
        assert_eq!(wanted_type(u, ADMIN, false).unwrap(), Some(USER));
        assert_eq!(wanted_type(u, ADMIN, true).unwrap(), None);
        assert_eq!(wanted_type(u, USER, false).unwrap(), None);
        assert_eq!(wanted_type(u, APPSERVICE, false).unwrap(), None);
        assert!(wanted_type(u, GUEST, true).unwrap_err().0.contains("guest"));
        assert!(wanted_type(u, APPSERVICE, true).is_err());
        assert!(wanted_type(u, 7, false).unwrap_err().0.contains("7"));
    }

    fn db() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dendrite_userapi.db");
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE userapi_accounts (localpart TEXT NOT NULL, server_name TEXT NOT NULL,
               created_ts BIGINT NOT NULL, password_hash TEXT, appservice_id TEXT,
               is_deactivated BOOLEAN DEFAULT 0, account_type INTEGER NOT NULL);
             INSERT INTO userapi_accounts VALUES ('alice', 'example.org', 0, 'x', NULL, 0, 1);
             INSERT INTO userapi_accounts VALUES ('alice', 'other.org', 0, 'x', NULL, 0, 1);",
        )
        .unwrap();
        (dir, path.to_str().unwrap().to_string())
    }

    #[test]
    fn sqlite_promotes_one_account_of_one_server_once() {
        let (_d, p) = db();
        let a = DendriteAccounts::Sqlite(p.clone());
        let r = a.converge("@alice:example.org", true, true).unwrap();
        assert_eq!((r.before, r.changed), (false, true));
        let r = a.converge("@alice:example.org", true, false).unwrap();
        assert_eq!((r.before, r.changed), (false, true));
        let r = a.converge("@alice:example.org", true, false).unwrap();
        assert_eq!((r.before, r.changed), (true, false));
        let c = rusqlite::Connection::open(&p).unwrap();
        let types: Vec<i64> = c
            .prepare("SELECT account_type FROM userapi_accounts ORDER BY server_name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(types, [3, 1], "only the row of example.org changed");
        let e = a.converge("@bob:example.org", true, false).unwrap_err();
        assert!(e.0.contains("does not exist"), "{e}");
    }
}
