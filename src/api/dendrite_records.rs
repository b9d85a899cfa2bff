//! Dendrite's accounts in full for user_info, read from its user API database (Dendrite v0.13 has
//! no API that lists or reads accounts): the listing's read ([`super::dendrite_listing`]) with
//! the creation time (`userapi_accounts.created_ts`, milliseconds) and the display name
//! (`userapi_profiles.display_name`, joined on `(localpart, server_name)`).
//!
//! Guests are left out, as the listing leaves them out. Dendrite keeps no user types, no locks
//! and no e-mail addresses in these tables (its third-party IDs are another table, not read):
//! those fields are None. Rows of every server name the database holds are listed.

use super::dendrite_listing::{kind, read, Row, Scope, MAX_ACCOUNTS};
use crate::ansible::Result;
use crate::capabilities::{AccountFilter, AccountRecord, AccountRecords};
use crate::database::Database;
use crate::fail;
use chrono::{DateTime, Utc};

/// Dendrite's accounts, read-only, from its user API database.
pub struct DendriteRecords {
    database: Database,
    /// [`MAX_ACCOUNTS`], lower in tests.
    cap: u64,
}

impl DendriteRecords {
    pub fn new(database: Database) -> DendriteRecords {
        DendriteRecords {
            database,
            cap: MAX_ACCOUNTS,
        }
    }
}

/// A row as user_info reports it; None for a guest.
fn record(row: Row) -> Result<Option<AccountRecord>> {
    let user_id = row.user_id();
    let Some((admin, appservice)) = kind(&user_id, row.account_type)? else {
        return Ok(None);
    };
    // The column has a default (FALSE); NULL would be neither state Dendrite reads.
    let Some(deactivated) = row.is_deactivated else {
        return Err(fail!(
            "listing the accounts: {user_id} has no is_deactivated in Dendrite's userapi_accounts (NULL); the listing was not used"
        ));
    };
    Ok(Some(AccountRecord {
        admin,
        user_type: None,
        deactivated,
        locked: None,
        displayname: row.display_name.filter(|d| !d.is_empty()),
        created: row
            .created_ts
            .and_then(DateTime::<Utc>::from_timestamp_millis),
        emails: None,
        appservice: Some(appservice),
        user_id,
    }))
}

impl AccountRecords for DendriteRecords {
    fn record(&self, user_id: &str) -> Result<Option<AccountRecord>> {
        let Some((localpart, server_name)) = user_id
            .strip_prefix('@')
            .and_then(|rest| rest.split_once(':'))
        else {
            return Err(fail!("{user_id} is not a full user ID (@localpart:server)"));
        };
        let scope = Scope::One {
            localpart: localpart.to_string(),
            server_name: server_name.to_string(),
        };
        let mut found = None;
        read(
            &self.database,
            self.cap,
            true,
            scope,
            &|_| true,
            &mut |rows, _, db| {
                for row in rows {
                    let row = row?;
                    if found.is_some() {
                        return Err(fail!(
                            "reading {user_id}: {db} holds it twice; it was not used"
                        ));
                    }
                    found = Some(row);
                }
                Ok(())
            },
        )?;
        match found {
            Some(row) => record(row),
            None => Ok(None),
        }
    }

    /// Every account, filtered by the shared layer (the table is read once, in byte order).
    fn records(&self, _filter: &AccountFilter, each: &mut dyn FnMut(AccountRecord)) -> Result<()> {
        read(
            &self.database,
            self.cap,
            true,
            Scope::All,
            &|_| true,
            &mut |rows, cap, db| {
                super::dendrite_listing::checked(rows, cap, db, &mut |row| {
                    if let Some(r) = record(row)? {
                        each(r);
                    }
                    Ok(())
                })
            },
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::dendrite_listing::tests::db;

    const ROWS: &str = "
        INSERT INTO userapi_accounts VALUES ('carol', 'example.org', 1700000000123, 'x', NULL, 1, 1);
        INSERT INTO userapi_accounts VALUES ('alice', 'example.org', 1600000000000, 'x', NULL, 0, 3);
        INSERT INTO userapi_accounts VALUES ('123', 'example.org', 0, NULL, NULL, 0, 2);
        INSERT INTO userapi_accounts VALUES ('bridge', 'example.org', 0, NULL, 'irc', 0, 4);
        INSERT INTO userapi_profiles VALUES ('alice', 'example.org', 'Alice A', '');
        INSERT INTO userapi_profiles VALUES ('alice', 'other.org', 'Not her', '');
        INSERT INTO userapi_profiles VALUES ('carol', 'example.org', '', '');";

    #[test]
    fn records_carry_created_time_display_name_and_type_without_guests() {
        let (_d, p) = db(ROWS);
        let r = DendriteRecords::new(Database::Sqlite(p));
        let mut got = Vec::new();
        r.records(&AccountFilter::default(), &mut |a| got.push(a))
            .unwrap();
        let ids: Vec<&str> = got.iter().map(|a| a.user_id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "@alice:example.org",
                "@bridge:example.org",
                "@carol:example.org"
            ]
        );
        let alice = &got[0];
        assert!(alice.admin && !alice.deactivated);
        assert_eq!(alice.displayname.as_deref(), Some("Alice A"));
        assert_eq!(alice.created.unwrap().timestamp_millis(), 1600000000000);
        assert_eq!((alice.user_type.clone(), alice.locked), (None, None));
        assert_eq!(got[1].appservice, Some(true));
        assert_eq!(got[1].displayname, None, "no profile row");
        assert!(got[2].deactivated && !got[2].admin);
        assert_eq!(got[2].displayname, None, "an empty display name");
        assert_eq!(got[2].created.unwrap().timestamp_millis(), 1700000000123);
    }

    #[test]
    fn one_record_is_read_by_its_key() {
        let (_d, p) = db(ROWS);
        let r = DendriteRecords::new(Database::Sqlite(p));
        let a = r.record("@alice:example.org").unwrap().unwrap();
        assert_eq!(a.displayname.as_deref(), Some("Alice A"));
        assert_eq!(r.record("@alice:other.org").unwrap(), None);
        assert_eq!(r.record("@123:example.org").unwrap(), None, "a guest");
        assert_eq!(r.record("@nobody:example.org").unwrap(), None);
        assert!(r.record("alice").is_err());
    }

    #[test]
    fn a_listing_past_the_cap_is_refused() {
        let (_d, p) = db(ROWS);
        let r = DendriteRecords {
            database: Database::Sqlite(p),
            cap: 2,
        };
        let e = r
            .records(&AccountFilter::default(), &mut |_| {})
            .unwrap_err();
        assert!(e.0.contains("more than 2 accounts"), "{e}");
    }
}
