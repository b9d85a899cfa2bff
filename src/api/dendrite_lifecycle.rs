//! Dendrite's account lifecycle through its user API database (docs/lifecycle-dendrite.md):
//! Dendrite v0.13 has no admin API to deactivate or reactivate an account, and no locks.
//!
//! - Deactivation: one transaction sets `userapi_accounts.is_deactivated` and deletes the
//!   account's `userapi_devices` rows (its access tokens). The flag alone refuses password logins
//!   but not existing tokens; both together end the account at once, while Dendrite runs (it
//!   caches no accounts, devices or tokens).
//!   With admin credentials the account first leaves its rooms
//!   (`POST /_dendrite/admin/evacuateUser`), as Dendrite's own deactivation does; without them it
//!   stays a member of its rooms (it can no longer act in them).
//! - Erasure: Dendrite has none (its own deactivation ignores `erase`): refused.
//! - Reactivation: without a password, the flag is cleared and the account logs in with the
//!   password it had (Dendrite keeps the hash). A password given is set first through Dendrite's
//!   own admin API
//!   (`POST /_dendrite/admin/resetPassword`, which hashes it as Dendrite's configuration says and
//!   works on a deactivated account without enabling its login), then the flag is cleared. A
//!   failure in between leaves the account deactivated, as it was, with the new password: a
//!   re-run completes it. The crate has no bcrypt of its own, and Dendrite's cost and password
//!   rules live in its configuration, so the module never writes a hash itself.
//!
//! Rows are keyed by `(localpart, server_name)`: an account of another server name is another
//! account (not found here).

use crate::ansible::Result;
use crate::api::dendrite_admin::DendriteAdmin;
use crate::capabilities::{AccountState, Answered, Lifecycle, PasswordReset};
use crate::database::{is_undefined_table, open_sqlite, pg_error, Database, PostgresTarget};
use crate::fail;
use rusqlite::{OptionalExtension, TransactionBehavior};

const WHAT: &str =
    "Dendrite's user API database (dendrite_userapi.db, or the one database of a monolith)";

/// Dendrite's accounts in its database, and its admin API where admin credentials were given
/// (for the password of a reactivated account).
pub struct DendriteLifecycle {
    database: Database,
    admin: Option<DendriteAdmin>,
}

impl DendriteLifecycle {
    pub fn new(database: Database, admin: Option<DendriteAdmin>) -> DendriteLifecycle {
        DendriteLifecycle { database, admin }
    }
}

/// `@localpart:server` split for the table's key.
fn key(user_id: &str) -> Result<(&str, &str)> {
    user_id
        .strip_prefix('@')
        .and_then(|s| s.split_once(':'))
        .ok_or_else(|| fail!("'{user_id}' is not a full user ID"))
}

/// What one write does, for both databases.
#[derive(Clone, Copy)]
enum Write {
    /// Set the flag and delete the devices.
    Deactivate,
    /// Clear the flag.
    Reactivate,
}

impl Write {
    fn action(self, user_id: &str) -> String {
        match self {
            Write::Deactivate => format!("deactivating {user_id}"),
            Write::Reactivate => format!("reactivating {user_id}"),
        }
    }
}

impl Lifecycle for DendriteLifecycle {
    fn state(&self, user_id: &str) -> Result<Option<AccountState>> {
        let (localpart, server) = key(user_id)?;
        let row = match &self.database {
            Database::Sqlite(path) => sqlite_state(path, user_id, localpart, server)?,
            Database::Postgres(t) => postgres_state(t, user_id, localpart, server)?,
        };
        Ok(row.map(|(l, s, deactivated)| AccountState {
            named: Some(format!("@{l}:{s}")),
            deactivated,
            erased: None,
            locked: None,
        }))
    }

    /// The answer names nobody: the shared layer reads the account back.
    fn deactivate(&self, user_id: &str, erase: bool) -> Result<Answered> {
        if erase {
            return Err(fail!("erase: {NO_ERASURE}; {user_id} was not deactivated"));
        }
        // With admin credentials it leaves its rooms first, as Dendrite's own deactivation does:
        // a failure after that leaves an active account outside its rooms, and a re-run repeats
        // both (the evacuation is idempotent).
        if let Some(admin) = &self.admin {
            admin.evacuate_user(user_id).map_err(|e| {
                fail!("deactivating {user_id}: {e}; it was not deactivated (it may have left some of its rooms); a re-run tries again")
            })?;
        }
        self.write(user_id, Write::Deactivate)
            .map_err(|e| match &self.admin {
                Some(_) => fail!(
                    "{e}. It had left its rooms already (evacuateUser); a re-run deactivates it"
                ),
                None => e,
            })?;
        Ok(Answered::default())
    }

    fn cannot_erase(&self) -> Option<&'static str> {
        Some(NO_ERASURE)
    }

    fn reactivate(&self, user_id: &str, password: Option<&str>) -> Result<Answered> {
        if let Some(password) = password {
            let admin = self.admin.as_ref().ok_or_else(|| {
                fail!(
                    "reactivating {user_id}: Dendrite sets the password of a reactivated account through its admin API (POST /_dendrite/admin/resetPassword), which needs admin credentials: give access_token, or admin_username and admin_password; nothing was changed"
                )
            })?;
            // Its sessions ended with the deactivation; none may come back with the account.
            admin.set_password(user_id, password, true).map_err(|e| {
                fail!("reactivating {user_id}: {e}; it is still deactivated, nothing was changed")
            })?;
        }
        self.write(user_id, Write::Reactivate).map_err(|e| match password {
            Some(_) => fail!(
                "{e}. Its password was set already (through the admin API); it is still deactivated: a re-run completes the reactivation"
            ),
            None => e,
        })?;
        Ok(Answered::default())
    }

    /// Dendrite keeps the hash of a deactivated account: without a password it comes back with
    /// its old one (a password given is set, through the admin API).
    fn reactivation_needs_password(&self) -> bool {
        false
    }
}

const NO_ERASURE: &str = "Dendrite has no erasure of account data (its own deactivation ignores erase; the profile and messages stay): leave erase out";

impl DendriteLifecycle {
    fn write(&self, user_id: &str, what: Write) -> Result<()> {
        let (localpart, server) = key(user_id)?;
        match &self.database {
            Database::Sqlite(path) => sqlite_write(path, user_id, localpart, server, what),
            Database::Postgres(t) => postgres_write(t, user_id, localpart, server, what),
        }
    }
}

type Row = (String, String, bool);

fn sqlite_state(path: &str, user_id: &str, localpart: &str, server: &str) -> Result<Option<Row>> {
    let conn = open_sqlite(path, false, "userapi_accounts", WHAT)?;
    conn.query_row(
        "SELECT localpart, server_name, is_deactivated FROM userapi_accounts WHERE localpart = ?1 AND server_name = ?2",
        [localpart, server],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .optional()
    .map_err(|e| fail!("reading {user_id} from {path}: {e}"))
}

fn sqlite_write(
    path: &str,
    user_id: &str,
    localpart: &str,
    server: &str,
    what: Write,
) -> Result<()> {
    let action = what.action(user_id);
    let mut conn = open_sqlite(path, true, "userapi_accounts", WHAT)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| fail!("{action}: cannot lock database {path} for writing: {e}"))?;
    let flag = matches!(what, Write::Deactivate);
    let n = tx
        .execute(
            "UPDATE userapi_accounts SET is_deactivated = ?1 WHERE localpart = ?2 AND server_name = ?3",
            rusqlite::params![flag, localpart, server],
        )
        .map_err(|e| fail!("{action} in {path}: {e}; nothing was changed"))?;
    if n != 1 {
        return Err(fail!(
            "{action} in {path}: the update touched {n} rows, not 1; nothing was changed"
        ));
    }
    if let Write::Deactivate = what {
        tx.execute(
            "DELETE FROM userapi_devices WHERE localpart = ?1 AND server_name = ?2",
            [localpart, server],
        )
        .map_err(|e| fail!("{action}: deleting its devices in {path}: {e}; nothing was changed"))?;
        let left: i64 = tx
            .query_row(
                "SELECT count(*) FROM userapi_devices WHERE localpart = ?1 AND server_name = ?2",
                [localpart, server],
                |r| r.get(0),
            )
            .map_err(|e| {
                fail!("{action}: reading its devices back in {path}: {e}; nothing was changed")
            })?;
        if left != 0 {
            return Err(fail!(
                "{action}: {left} devices were still there after deleting them in {path}; nothing was changed"
            ));
        }
    }
    tx.commit()
        .map_err(|e| fail!("{action}: committing to {path}: {e}; nothing was changed"))
}

fn postgres_state(
    t: &PostgresTarget,
    user_id: &str,
    localpart: &str,
    server: &str,
) -> Result<Option<Row>> {
    let db = format!("PostgreSQL {}", t.display);
    let (user_id, localpart, server) = (
        user_id.to_string(),
        localpart.to_string(),
        server.to_string(),
    );
    t.run(move |client| {
        let row = client
            .query_opt(
                "SELECT localpart, server_name, is_deactivated FROM userapi_accounts WHERE localpart = $1 AND server_name = $2",
                &[&localpart, &server],
            )
            .map_err(|e| pg_read_error(&e, &db, &user_id))?;
        row.map(|r| -> Result<Row> {
            let get = |e: postgres::Error| fail!("reading {user_id} from {db}: {}", pg_error(&e));
            Ok((r.try_get(0).map_err(get)?, r.try_get(1).map_err(get)?, r.try_get(2).map_err(get)?))
        })
        .transpose()
    })
}

fn pg_read_error(e: &postgres::Error, db: &str, user_id: &str) -> crate::ansible::Error {
    if is_undefined_table(e) {
        fail!("{db} has no userapi_accounts table: is it {WHAT}?")
    } else {
        fail!("reading {user_id} from {db}: {}", pg_error(e))
    }
}

fn postgres_write(
    t: &PostgresTarget,
    user_id: &str,
    localpart: &str,
    server: &str,
    what: Write,
) -> Result<()> {
    let db = format!("PostgreSQL {}", t.display);
    let action = what.action(user_id);
    let (localpart, server) = (localpart.to_string(), server.to_string());
    t.run(move |client| {
        let nothing = |e: postgres::Error| fail!("{action} in {db}: {}; nothing was changed", pg_error(&e));
        let mut tx = client.transaction().map_err(nothing)?;
        let flag = matches!(what, Write::Deactivate);
        let n = tx
            .execute(
                "UPDATE userapi_accounts SET is_deactivated = $1 WHERE localpart = $2 AND server_name = $3",
                &[&flag, &localpart, &server],
            )
            .map_err(|e| {
                if is_undefined_table(&e) {
                    fail!("{db} has no userapi_accounts table: is it {WHAT}?")
                } else {
                    nothing(e)
                }
            })?;
        if n != 1 {
            return Err(fail!(
                "{action} in {db}: the update touched {n} rows, not 1; nothing was changed"
            ));
        }
        if let Write::Deactivate = what {
            tx.execute(
                "DELETE FROM userapi_devices WHERE localpart = $1 AND server_name = $2",
                &[&localpart, &server],
            )
            .map_err(nothing)?;
            let left: i64 = tx
                .query_one(
                    "SELECT count(*) FROM userapi_devices WHERE localpart = $1 AND server_name = $2",
                    &[&localpart, &server],
                )
                .and_then(|r| r.try_get(0))
                .map_err(nothing)?;
            if left != 0 {
                return Err(fail!(
                    "{action}: {left} devices were still there after deleting them in {db}; nothing was changed"
                ));
            }
        }
        tx.commit().map_err(|e| {
            fail!(
                "{action}: committing to {db}: {}; whether it was written is not known: check the account and re-run",
                pg_error(&e)
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dendrite_userapi.db");
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE userapi_accounts (localpart TEXT NOT NULL, server_name TEXT NOT NULL,
               created_ts BIGINT NOT NULL, password_hash TEXT, appservice_id TEXT,
               is_deactivated BOOLEAN DEFAULT 0, account_type INTEGER NOT NULL);
             CREATE TABLE userapi_devices (access_token TEXT PRIMARY KEY, session_id INTEGER,
               device_id TEXT, localpart TEXT, server_name TEXT NOT NULL);
             INSERT INTO userapi_accounts VALUES ('alice', 'example.org', 0, 'x', NULL, 0, 1);
             INSERT INTO userapi_accounts VALUES ('alice', 'other.org', 0, 'x', NULL, 0, 1);
             INSERT INTO userapi_devices VALUES ('t1', 1, 'D1', 'alice', 'example.org');
             INSERT INTO userapi_devices VALUES ('t2', 2, 'D2', 'alice', 'example.org');
             INSERT INTO userapi_devices VALUES ('t3', 3, 'D3', 'alice', 'other.org');",
        )
        .unwrap();
        (dir, path.to_str().unwrap().to_string())
    }

    fn rows(p: &str, sql: &str) -> Vec<String> {
        let c = rusqlite::Connection::open(p).unwrap();
        let mut s = c.prepare(sql).unwrap();
        s.query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    }

    #[test]
    fn sqlite_deactivates_one_account_of_one_server_and_its_devices() {
        let (_d, p) = db();
        let l = DendriteLifecycle::new(Database::Sqlite(p.clone()), None);
        let s = l.state("@alice:example.org").unwrap().unwrap();
        assert_eq!(
            (s.named.as_deref(), s.deactivated, s.locked),
            (Some("@alice:example.org"), false, None)
        );
        assert_eq!(l.state("@bob:example.org").unwrap(), None);
        l.deactivate("@alice:example.org", false).unwrap();
        assert!(l.state("@alice:example.org").unwrap().unwrap().deactivated);
        assert!(!l.state("@alice:other.org").unwrap().unwrap().deactivated);
        assert_eq!(
            rows(&p, "SELECT access_token FROM userapi_devices"),
            ["t3"],
            "only the devices of that account are gone"
        );
        // A missing account writes nothing.
        let e = l.deactivate("@bob:example.org", false).unwrap_err();
        assert!(e.0.contains("touched 0 rows"), "{e}");
        // Erasure is refused before anything is written.
        let e = l.deactivate("@alice:other.org", true).unwrap_err();
        assert!(e.0.contains("no erasure"), "{e}");
        assert!(!l.state("@alice:other.org").unwrap().unwrap().deactivated);
    }

    #[test]
    fn sqlite_reactivates_without_a_password_and_refuses_one_without_admin() {
        let (_d, p) = db();
        let l = DendriteLifecycle::new(Database::Sqlite(p.clone()), None);
        l.deactivate("@alice:example.org", false).unwrap();
        let e = l.reactivate("@alice:example.org", Some("pw")).unwrap_err();
        assert!(e.0.contains("access_token"), "{e}");
        assert!(l.state("@alice:example.org").unwrap().unwrap().deactivated);
        l.reactivate("@alice:example.org", None).unwrap();
        assert!(!l.state("@alice:example.org").unwrap().unwrap().deactivated);
    }
}
