//! Synapse's PostgreSQL database, written directly: the operators' recipe
//! `UPDATE users SET admin = 1 WHERE name = '@foo:bar.com'`, in one transaction that locks the
//! row, reads the flag, and writes only when it differs. Synapse caches user records
//! (`is_server_admin`, `get_user_by_id`), so the running server sees the change only after a
//! restart (measured on Synapse 1.163.2: tests/it/postgres_server.rs).

use crate::ansible::Result;
use crate::capabilities::{AdminChange, AdminFlag, Answered};
use crate::database::{is_undefined_table, pg_error, PostgresTarget};
use crate::fail;

pub struct SynapsePostgres {
    target: PostgresTarget,
}

impl SynapsePostgres {
    pub fn new(target: PostgresTarget) -> SynapsePostgres {
        SynapsePostgres { target }
    }
}

impl AdminFlag for SynapsePostgres {
    fn converge(&self, user_id: &str, admin: bool, check_mode: bool) -> Result<AdminChange> {
        let db = self.target.display.clone();
        let user_id = user_id.to_string();
        self.target
            .run(move |client| set_admin(client, &db, &user_id, admin, check_mode))
    }

    /// Synapse caches user records until it restarts.
    fn restart_required(&self) -> bool {
        true
    }
}

/// One transaction: lock the row, read the flag, write only when it differs.
fn set_admin(
    client: &mut postgres::Client,
    db: &str,
    user_id: &str,
    admin: bool,
    check_mode: bool,
) -> Result<AdminChange> {
    {
        // Check mode: a read-only transaction, so nothing can be written even by mistake.
        let mut tx = client
            .build_transaction()
            .read_only(check_mode)
            .start()
            .map_err(|e| fail!("PostgreSQL {db}: {}", pg_error(&e)))?;
        let lock = if check_mode { "" } else { " FOR UPDATE" };
        let row = tx
            .query_opt(
                &format!("SELECT admin FROM users WHERE name = $1{lock}"),
                &[&user_id],
            )
            .map_err(|e| {
                if is_undefined_table(&e) {
                    fail!("PostgreSQL {db} has no users table: is it Synapse's database?")
                } else {
                    fail!("reading {user_id} from PostgreSQL {db}: {}", pg_error(&e))
                }
            })?;
        let before = row
            .ok_or_else(|| fail!("user {user_id} does not exist in PostgreSQL {db}; user_admin never creates accounts (use register_user)"))?
            .try_get::<_, i16>(0)
            .map_err(|e| fail!("reading users.admin of {user_id} from {db}: {}", pg_error(&e)))?
            != 0;
        if before == admin || check_mode {
            tx.rollback()
                .map_err(|e| fail!("PostgreSQL {db}: {}", pg_error(&e)))?;
            return Ok(AdminChange {
                before,
                changed: before != admin,
                answered: Answered::default(),
            });
        }
        let n = tx
            .execute(
                "UPDATE users SET admin = $1 WHERE name = $2",
                &[&(admin as i16), &user_id],
            )
            .map_err(|e| fail!("updating {user_id} in PostgreSQL {db}: {}", pg_error(&e)))?;
        if n != 1 {
            return Err(fail!(
                "updating {user_id} in PostgreSQL {db} touched {n} rows; nothing was changed"
            ));
        }
        tx.commit()
            .map_err(|e| fail!("committing the change to PostgreSQL {db}: {}", pg_error(&e)))?;
        Ok(AdminChange {
            before,
            changed: true,
            answered: Answered::default(),
        })
    }
}
