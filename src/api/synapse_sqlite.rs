//! Synapse's SQLite database, written directly: the documented way to make the first admin when
//! no admin account exists yet (`UPDATE users SET admin = 1 WHERE name = '@foo:bar.com'`).
//! Synapse caches user records, so a change is seen only after Synapse restarts.

use crate::ansible::Result;
use crate::capabilities::{AdminChange, AdminFlag, Answered};
use crate::fail;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use std::time::Duration;

/// Synapse's SQLite database file.
pub struct SynapseSqlite {
    path: String,
}

impl SynapseSqlite {
    pub fn new(path: &str) -> SynapseSqlite {
        SynapseSqlite {
            path: path.to_string(),
        }
    }
}

impl AdminFlag for SynapseSqlite {
    fn converge(&self, user_id: &str, admin: bool, check_mode: bool) -> Result<AdminChange> {
        set_admin(&self.path, user_id, admin, check_mode)
    }

    /// Synapse caches user records (and `is_server_admin`) until it restarts.
    fn restart_required(&self) -> bool {
        true
    }
}

/// How long to wait for a lock: the task's `timeout` (10 s without one).
fn busy_wait() -> Duration {
    crate::ansible::task_timeout().unwrap_or(Duration::from_secs(10))
}

/// An SQLite error, saying how long a lock was waited for when it is one.
fn lock_hint(e: &rusqlite::Error) -> String {
    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) {
        format!(
            "{e}: it stayed locked for {} s (timeout); another process holds it. Retry, or raise timeout",
            busy_wait().as_secs()
        )
    } else {
        e.to_string()
    }
}

fn open(path: &str, write: bool) -> Result<Connection> {
    // Never create a database: a wrong path must fail, not leave an empty file behind.
    let flags = if write {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    } else {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    crate::database::require_sqlite_file(path, "Synapse's SQLite database, homeserver.db")?;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| fail!("cannot open database {path}: {e}"))?;
    // Synapse holds the database open; wait for its write lock instead of failing at once, as
    // long as the task's timeout allows.
    conn.busy_timeout(busy_wait())
        .map_err(|e| fail!("database {path}: {e}"))?;
    let is_synapse: bool = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'users'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n == 1)
        .map_err(|e| {
            fail!(
                "database {path} cannot be read as SQLite: {}",
                lock_hint(&e)
            )
        })?;
    if !is_synapse {
        return Err(fail!(
            "database {path} has no users table: is it Synapse's homeserver.db?"
        ));
    }
    Ok(conn)
}

fn read_admin(conn: &Connection, path: &str, user_id: &str) -> Result<bool> {
    conn.query_row("SELECT admin FROM users WHERE name = ?1", [user_id], |r| r.get::<_, i64>(0))
        .optional()
        .map_err(|e| fail!("reading {user_id} from {path}: {e}"))?
        .map(|a| a != 0)
        .ok_or_else(|| fail!("user {user_id} does not exist in {path}; user_admin never creates accounts (use register_user)"))
}

/// Sets the admin flag of an existing user in one immediate transaction. In check mode the
/// database is opened read-only and nothing is written.
fn set_admin(path: &str, user_id: &str, admin: bool, check_mode: bool) -> Result<AdminChange> {
    if check_mode {
        let conn = open(path, false)?;
        let before = read_admin(&conn, path, user_id)?;
        return Ok(AdminChange {
            before,
            changed: before != admin,
            answered: Answered::default(),
        });
    }
    let mut conn = open(path, true)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| fail!("cannot lock database {path} for writing: {}", lock_hint(&e)))?;
    let before = read_admin(&tx, path, user_id)?;
    if before == admin {
        return Ok(AdminChange {
            before,
            changed: false,
            answered: Answered::default(),
        });
    }
    let n = tx
        .execute(
            "UPDATE users SET admin = ?1 WHERE name = ?2",
            rusqlite::params![admin as i64, user_id],
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

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir
            .path()
            .join("homeserver.db")
            .to_str()
            .unwrap()
            .to_string();
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE users(name TEXT, admin SMALLINT DEFAULT 0 NOT NULL, UNIQUE(name));
             INSERT INTO users(name, admin) VALUES ('@alice:example.org', 0);",
        )
        .unwrap();
        (dir, path)
    }

    #[test]
    fn promotes_once_and_check_mode_writes_nothing() {
        let (_d, p) = db();
        assert_eq!(
            set_admin(&p, "@alice:example.org", true, true).unwrap(),
            AdminChange {
                before: false,
                changed: true,
                answered: Answered::default(),
            }
        );
        assert_eq!(
            set_admin(&p, "@alice:example.org", true, false).unwrap(),
            AdminChange {
                before: false,
                changed: true,
                answered: Answered::default(),
            }
        );
        assert_eq!(
            set_admin(&p, "@alice:example.org", true, false).unwrap(),
            AdminChange {
                before: true,
                changed: false,
                answered: Answered::default(),
            }
        );
    }

    #[test]
    fn missing_users_and_files_fail_without_writing() {
        let (d, p) = db();
        let e = set_admin(&p, "@bob:example.org", true, false).unwrap_err();
        assert!(e.0.contains("does not exist"), "{e}");
        let missing = d.path().join("nope.db");
        let e =
            set_admin(missing.to_str().unwrap(), "@alice:example.org", true, false).unwrap_err();
        assert!(e.0.contains("does not exist"), "{e}");
        assert!(!missing.exists(), "no database may be created");
        let other = d.path().join("other.db");
        Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE t(x)")
            .unwrap();
        let e = set_admin(other.to_str().unwrap(), "@alice:example.org", true, false).unwrap_err();
        assert!(e.0.contains("no users table"), "{e}");
    }
}
