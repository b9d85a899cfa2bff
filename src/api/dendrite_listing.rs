//! Dendrite's accounts listed from its user API database: Dendrite v0.13 has no HTTP API that
//! lists accounts (its admin API resets passwords, manages registration tokens, evacuates and
//! purges), so a long `users` list would otherwise be looked up one account at a time.
//!
//! One read-only pass over `userapi_accounts`: the number of accounts first (`worth_it` decides
//! on it), then every row in one SELECT ordered by `(localpart, server_name)`. Rows of every
//! server name are listed as full user IDs; the caller keeps those of its server.
//!
//! `account_type` (Dendrite's `userapi/api`): 1 user, 2 guest, 3 admin, 4 appservice (its
//! migration gave type 4 to every account with an `appservice_id`). Guests are left out, as
//! Synapse's listing leaves them out (`guests=false`). Dendrite has no locks.

use crate::ansible::Result;
use crate::api::dendrite_accounts::{ADMIN, APPSERVICE, GUEST, USER};
use crate::capabilities::{AccountListing, Listed};
use crate::database::{is_undefined_table, open_sqlite, pg_error, Database, PostgresTarget};
use crate::fail;

const WHAT: &str =
    "Dendrite's user API database (dendrite_userapi.db, or the one database of a monolith)";

/// The most accounts one listing reads; a larger table is refused, not read in part.
pub const MAX_ACCOUNTS: u64 = 1_000_000;

const COUNT_SQL: &str = "SELECT count(*) FROM userapi_accounts WHERE account_type <> 2";

/// The accounts' columns the listing reads; with `detail` (user_info's records) also the
/// creation time and the display name (Dendrite keeps it in `userapi_profiles`, one row an
/// account, joined on the same key).
fn select_sql(detail: bool) -> &'static str {
    if detail {
        "SELECT a.localpart, a.server_name, a.account_type, a.is_deactivated, a.created_ts, \
         p.display_name FROM userapi_accounts a LEFT JOIN userapi_profiles p \
         ON p.localpart = a.localpart AND p.server_name = a.server_name"
    } else {
        "SELECT a.localpart, a.server_name, a.account_type, a.is_deactivated FROM userapi_accounts a"
    }
}

/// The rows in byte order (SQLite's BINARY, PostgreSQL's "C": the order [`checked`] checks,
/// whatever the database's collation), one more than the cap (to tell a table that grew past
/// it); with `one`, only the account with that localpart (`p1`) and server name (`p2`), the
/// placeholders of the database's dialect.
fn rows_sql(cap: u64, collate: &str, detail: bool, one: Option<(&str, &str)>) -> String {
    let one = match one {
        Some((p1, p2)) => format!(" AND a.localpart = {p1} AND a.server_name = {p2}"),
        None => String::new(),
    };
    format!(
        "{} WHERE a.account_type <> 2{one} ORDER BY a.localpart{collate}, a.server_name{collate} LIMIT {}",
        select_sql(detail),
        cap + 1
    )
}

/// Dendrite's accounts in its database.
pub struct DendriteListing {
    database: Database,
    /// [`MAX_ACCOUNTS`], lower in tests.
    cap: u64,
}

impl DendriteListing {
    pub fn new(database: Database) -> DendriteListing {
        DendriteListing {
            database,
            cap: MAX_ACCOUNTS,
        }
    }
}

/// One row as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Row {
    pub localpart: String,
    pub server_name: String,
    pub account_type: i64,
    /// NULL where the column was never written (it has a default, so never in practice).
    pub is_deactivated: Option<bool>,
    /// Read with `detail` only: `created_ts` (milliseconds since the epoch).
    pub created_ts: Option<i64>,
    /// Read with `detail` only: the display name, NULL where the account has no profile row.
    pub display_name: Option<String>,
}

impl Row {
    pub fn user_id(&self) -> String {
        format!("@{}:{}", self.localpart, self.server_name)
    }
}

/// What one read asks for: every account, or one.
pub(super) enum Scope {
    All,
    One {
        localpart: String,
        server_name: String,
    },
}

/// What the listing says of a row: None for a guest (left out); an account type Dendrite does
/// not define fails the listing.
fn listed(
    user_id: &str,
    account_type: i64,
    is_deactivated: Option<bool>,
) -> Result<Option<Listed>> {
    let (admin, appservice) = match kind(user_id, account_type)? {
        None => return Ok(None),
        Some(k) => k,
    };
    Ok(Some(Listed {
        admin,
        deactivated: is_deactivated,
        locked: None,
        appservice: Some(appservice),
    }))
}

/// `(admin, appservice)` of an account type; None for a guest; an account type Dendrite does
/// not define is refused.
pub(super) fn kind(user_id: &str, account_type: i64) -> Result<Option<(bool, bool)>> {
    Ok(Some(match account_type {
        USER => (false, false),
        GUEST => return Ok(None),
        ADMIN => (true, false),
        APPSERVICE => (false, true),
        other => {
            return Err(fail!(
                "listing the accounts: {user_id} has account_type {other} in {WHAT}, which Dendrite does not define (1 user, 2 guest, 3 admin, 4 appservice); the listing was not used"
            ))
        }
    }))
}

fn too_many(cap: u64, db: &str) -> crate::ansible::Error {
    fail!(
        "listing the accounts: {db} holds more than {cap} accounts, the most one listing reads; the listing was not used (a shorter users list is looked up account by account)"
    )
}

/// Hands the rows to `each`, checking that they come in order, each once, at most `cap`.
pub(super) fn checked(
    rows: impl IntoIterator<Item = Result<Row>>,
    cap: u64,
    db: &str,
    each: &mut dyn FnMut(Row) -> Result<()>,
) -> Result<()> {
    let mut n = 0u64;
    let mut last: Option<(String, String)> = None;
    for row in rows {
        let row = row?;
        n += 1;
        if n > cap {
            return Err(too_many(cap, db));
        }
        let key = (row.localpart.clone(), row.server_name.clone());
        if last.as_ref().is_some_and(|l| *l >= key) {
            return Err(fail!(
                "listing the accounts: {db} listed @{}:{} out of order or twice; the listing was not used",
                key.0,
                key.1
            ));
        }
        each(row)?;
        last = Some(key);
    }
    Ok(())
}

/// Hands the rows to `each` as full user IDs, checking that they come in order, each once.
fn emit(
    rows: impl IntoIterator<Item = Result<Row>>,
    cap: u64,
    db: &str,
    each: &mut dyn FnMut(&str, Listed),
) -> Result<()> {
    checked(rows, cap, db, &mut |row| {
        let user_id = row.user_id();
        if let Some(l) = listed(&user_id, row.account_type, row.is_deactivated)? {
            each(&user_id, l);
        }
        Ok(())
    })
}

impl AccountListing for DendriteListing {
    fn list_accounts(
        &self,
        worth_it: &dyn Fn(u64) -> bool,
        each: &mut dyn FnMut(&str, Listed),
    ) -> Result<bool> {
        read(
            &self.database,
            self.cap,
            false,
            Scope::All,
            worth_it,
            &mut |rows, cap, db| emit(rows, cap, db, each),
        )
    }
}

/// Where [`read`] hands its rows: with the cap and the database's name, for [`checked`].
pub(super) type Rows<'a> =
    dyn FnMut(&mut dyn Iterator<Item = Result<Row>>, u64, &str) -> Result<()> + 'a;

/// One read-only pass: the count of every account (`worth_it` decides on it; not counted for
/// one account), then the rows, handed to `rows` (false: not worth it, nothing read).
pub(super) fn read(
    database: &Database,
    cap: u64,
    detail: bool,
    scope: Scope,
    worth_it: &dyn Fn(u64) -> bool,
    rows: &mut Rows<'_>,
) -> Result<bool> {
    match database {
        Database::Sqlite(path) => sqlite(path, cap, detail, scope, worth_it, rows),
        Database::Postgres(t) => postgres(t, cap, detail, scope, worth_it, rows),
    }
}

/// One read-only connection and one read transaction: the count and the rows agree.
fn sqlite(
    path: &str,
    cap: u64,
    detail: bool,
    scope: Scope,
    worth_it: &dyn Fn(u64) -> bool,
    each: &mut Rows<'_>,
) -> Result<bool> {
    let mut conn = open_sqlite(path, false, "userapi_accounts", WHAT)?;
    let read = |e: rusqlite::Error| fail!("listing the accounts in {path}: {e}");
    let tx = conn.transaction().map_err(read)?;
    let (sql, params) = match scope {
        Scope::All => {
            let total: i64 = tx.query_row(COUNT_SQL, [], |r| r.get(0)).map_err(read)?;
            let total = u64::try_from(total).unwrap_or(0);
            if total > cap {
                return Err(too_many(cap, path));
            }
            if !worth_it(total) {
                return Ok(false);
            }
            (rows_sql(cap, "", detail, None), vec![])
        }
        Scope::One {
            localpart,
            server_name,
        } => (
            rows_sql(cap, "", detail, Some(("?1", "?2"))),
            vec![localpart, server_name],
        ),
    };
    let mut stmt = tx.prepare(&sql).map_err(read)?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(params.iter()), |r| {
            Ok(Row {
                localpart: r.get(0)?,
                server_name: r.get(1)?,
                account_type: r.get(2)?,
                is_deactivated: r.get(3)?,
                created_ts: if detail { r.get(4)? } else { None },
                display_name: if detail { r.get(5)? } else { None },
            })
        })
        .map_err(read)?;
    each(&mut rows.map(|r| r.map_err(read)), cap, path)?;
    Ok(true)
}

/// Two short read-only connections: the count, then (where worth it) the rows. `worth_it` and
/// `each` stay on the caller's thread; the connection's work runs within the task's deadline.
fn postgres(
    t: &PostgresTarget,
    cap: u64,
    detail: bool,
    scope: Scope,
    worth_it: &dyn Fn(u64) -> bool,
    each: &mut Rows<'_>,
) -> Result<bool> {
    let db = format!("PostgreSQL {}", t.display);
    let (sql, params) = match scope {
        Scope::All => {
            let d = db.clone();
            let total = t.run(move |client| {
                let row = client
                    .query_one(COUNT_SQL, &[])
                    .map_err(|e| pg_read_error(&e, &d))?;
                row.try_get::<_, i64>(0).map_err(|e| pg_read_error(&e, &d))
            })?;
            let total = u64::try_from(total).unwrap_or(0);
            if total > cap {
                return Err(too_many(cap, &db));
            }
            if !worth_it(total) {
                return Ok(false);
            }
            (rows_sql(cap, " COLLATE \"C\"", detail, None), vec![])
        }
        Scope::One {
            localpart,
            server_name,
        } => (
            rows_sql(cap, " COLLATE \"C\"", detail, Some(("$1", "$2"))),
            vec![localpart, server_name],
        ),
    };
    let d = db.clone();
    let rows = t.run(move |client| {
        let mut tx = client
            .build_transaction()
            .read_only(true)
            .start()
            .map_err(|e| pg_read_error(&e, &d))?;
        let params: Vec<&(dyn postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| p as &(dyn postgres::types::ToSql + Sync))
            .collect();
        let rows = tx.query(&sql, &params).map_err(|e| pg_read_error(&e, &d))?;
        let get = |e: postgres::Error| pg_read_error(&e, &d);
        let rows = rows
            .iter()
            .map(|r| {
                Ok(Row {
                    localpart: r.try_get(0).map_err(get)?,
                    server_name: r.try_get(1).map_err(get)?,
                    account_type: i64::from(r.try_get::<_, i16>(2).map_err(get)?),
                    is_deactivated: r.try_get(3).map_err(get)?,
                    created_ts: if detail {
                        r.try_get(4).map_err(get)?
                    } else {
                        None
                    },
                    display_name: if detail {
                        r.try_get(5).map_err(get)?
                    } else {
                        None
                    },
                })
            })
            .collect::<Result<Vec<Row>>>()?;
        tx.rollback().map_err(|e| pg_read_error(&e, &d))?;
        Ok(rows)
    })?;
    each(&mut rows.into_iter().map(Ok), cap, &db)?;
    Ok(true)
}

fn pg_read_error(e: &postgres::Error, db: &str) -> crate::ansible::Error {
    if is_undefined_table(e) {
        fail!("{db} has no userapi_accounts or userapi_profiles table: is it {WHAT}?")
    } else {
        fail!("listing the accounts in {db}: {}", pg_error(e))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn rows_map_to_listed_and_guests_are_left_out() {
        let u = "@a:example.org";
        let l = |t, d| listed(u, t, d).unwrap();
        assert_eq!(
            l(USER, Some(false)),
            Some(Listed {
                admin: false,
                deactivated: Some(false),
                locked: None,
                appservice: Some(false)
            })
        );
        assert_eq!(
            l(ADMIN, Some(true)),
            Some(Listed {
                admin: true,
                deactivated: Some(true),
                locked: None,
                appservice: Some(false)
            })
        );
        assert_eq!(
            l(APPSERVICE, Some(false)),
            Some(Listed {
                admin: false,
                deactivated: Some(false),
                locked: None,
                appservice: Some(true)
            })
        );
        assert_eq!(l(GUEST, Some(false)), None);
        assert_eq!(l(USER, None).unwrap().deactivated, None);
        let e = listed(u, 7, Some(false)).unwrap_err();
        assert!(e.0.contains("account_type 7") && e.0.contains(u), "{e}");
    }

    /// A SQLite user API database with Dendrite v0.13's schema and `rows` (SQL) in it, for the
    /// listing's and the records' unit tests.
    pub(crate) fn db(rows: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dendrite_userapi.db");
        let c = rusqlite::Connection::open(&path).unwrap();
        // userapi/storage/sqlite3/accounts_table.go, profile_table.go.
        c.execute_batch(&format!(
            "CREATE TABLE userapi_accounts (localpart TEXT NOT NULL, server_name TEXT NOT NULL,
               created_ts BIGINT NOT NULL, password_hash TEXT, appservice_id TEXT,
               is_deactivated BOOLEAN DEFAULT 0, account_type INTEGER NOT NULL);
             CREATE UNIQUE INDEX userapi_accounts_idx ON userapi_accounts(localpart, server_name);
             CREATE TABLE userapi_profiles (localpart TEXT NOT NULL, server_name TEXT NOT NULL,
               display_name TEXT, avatar_url TEXT);
             CREATE UNIQUE INDEX userapi_profiles_idx ON userapi_profiles(localpart, server_name);
             {rows}"
        ))
        .unwrap();
        (dir, path.to_str().unwrap().to_string())
    }

    fn list(l: &DendriteListing, worth: u64) -> Result<(bool, Vec<(String, Listed)>)> {
        let mut got = Vec::new();
        let complete = l.list_accounts(&|total| total <= worth, &mut |id, listed| {
            got.push((id.to_string(), listed))
        })?;
        Ok((complete, got))
    }

    const ROWS: &str = "
        INSERT INTO userapi_accounts VALUES ('carol', 'example.org', 0, 'x', NULL, 1, 1);
        INSERT INTO userapi_accounts VALUES ('alice', 'other.org', 0, 'x', NULL, 0, 1);
        INSERT INTO userapi_accounts VALUES ('alice', 'example.org', 0, 'x', NULL, 0, 3);
        INSERT INTO userapi_accounts VALUES ('123', 'example.org', 0, NULL, NULL, 0, 2);
        INSERT INTO userapi_accounts (localpart, server_name, created_ts, appservice_id, account_type)
          VALUES ('bridge', 'example.org', 0, 'irc', 4);";

    #[test]
    fn sqlite_lists_every_server_name_in_order_without_guests() {
        let (_d, p) = db(ROWS);
        let l = DendriteListing::new(Database::Sqlite(p));
        let (complete, got) = list(&l, 100).unwrap();
        assert!(complete);
        let ids: Vec<&str> = got.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "@alice:example.org",
                "@alice:other.org",
                "@bridge:example.org",
                "@carol:example.org"
            ]
        );
        let by = |id: &str| got.iter().find(|(i, _)| i == id).unwrap().1;
        assert!(by("@alice:example.org").admin);
        assert!(!by("@alice:other.org").admin);
        assert_eq!(by("@bridge:example.org").appservice, Some(true));
        assert_eq!(by("@bridge:example.org").deactivated, Some(false));
        assert_eq!(by("@carol:example.org").deactivated, Some(true));
        assert_eq!(by("@carol:example.org").locked, None);
    }

    #[test]
    fn sqlite_stops_when_not_worth_it_and_refuses_past_the_cap() {
        let (_d, p) = db(ROWS);
        let l = DendriteListing::new(Database::Sqlite(p.clone()));
        // Four accounts (the guest is not counted): not worth it below that.
        let (complete, got) = list(&l, 3).unwrap();
        assert!(!complete && got.is_empty(), "{got:?}");
        let l = DendriteListing {
            database: Database::Sqlite(p),
            cap: 3,
        };
        let e = list(&l, 100).unwrap_err();
        assert!(e.0.contains("more than 3 accounts"), "{e}");
    }

    #[test]
    fn sqlite_refuses_an_undefined_type_and_a_missing_table_or_file() {
        let (_d, p) =
            db("INSERT INTO userapi_accounts VALUES ('odd', 'example.org', 0, 'x', NULL, 0, 9);");
        let e = list(&DendriteListing::new(Database::Sqlite(p)), 100).unwrap_err();
        assert!(e.0.contains("@odd:example.org has account_type 9"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let other = dir.path().join("homeserver.db");
        rusqlite::Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE users (name TEXT);")
            .unwrap();
        let l = DendriteListing::new(Database::Sqlite(other.to_str().unwrap().into()));
        let e = list(&l, 100).unwrap_err();
        assert!(e.0.contains("no userapi_accounts table"), "{e}");
        let missing = dir.path().join("missing.db");
        let l = DendriteListing::new(Database::Sqlite(missing.to_str().unwrap().into()));
        let e = list(&l, 100).unwrap_err();
        assert!(e.0.contains("does not exist"), "{e}");
        assert!(!missing.exists(), "never created");
    }

    #[test]
    fn rows_out_of_order_or_twice_are_refused() {
        let row = |l: &str| {
            Ok(Row {
                localpart: l.into(),
                server_name: "example.org".into(),
                account_type: USER,
                is_deactivated: Some(false),
                created_ts: None,
                display_name: None,
            })
        };
        for rows in [vec![row("a"), row("a")], vec![row("b"), row("a")]] {
            let e = emit(rows, 10, "db", &mut |_, _| {}).unwrap_err();
            assert!(e.0.contains("out of order or twice"), "{e}");
        }
        let e = emit(vec![row("a"), row("b"), row("c")], 2, "db", &mut |_, _| {}).unwrap_err();
        assert!(e.0.contains("more than 2 accounts"), "{e}");
    }
}
