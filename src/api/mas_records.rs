//! Matrix Authentication Service's users read in full for the listing module (`user_info`):
//! `GET /api/admin/v1/users/by-username/{name}` and its e-mail addresses for one account, the
//! paged `GET /api/admin/v1/users` for all (docs/mas-fake.md, "Request shapes"). MAS keeps no
//! display name and no user type; a listing shows no addresses (one more request per account
//! would make a list of 10,000 take minutes), so `emails` is known for one account only.

use crate::ansible::Result;
use crate::api::mas_users::{MasAdmin, MasUser};
use crate::capabilities::{AccountFilter, AccountRecord, AccountRecords};
use crate::fail;

/// Users per page, MAS's largest.
const PAGE: u32 = 1000;

impl MasAdmin {
    fn record_of(&self, u: &MasUser, emails: Option<Vec<String>>) -> Result<AccountRecord> {
        Ok(AccountRecord {
            user_id: self.user_id(&u.username)?,
            admin: u.admin,
            user_type: None,
            deactivated: u.deactivated,
            locked: Some(u.locked),
            displayname: None,
            created: u.created,
            emails,
            appservice: Some(false),
        })
    }
}

impl AccountRecords for MasAdmin {
    fn record(&self, user_id: &str) -> Result<Option<AccountRecord>> {
        let Some(u) = self.find_user(self.localpart(user_id)?)? else {
            return Ok(None);
        };
        let emails = self.emails_of(&u)?;
        self.record_of(&u, Some(emails)).map(Some)
    }

    /// Every user, 1000 a page, filtered by the caller: MAS's own filters (`filter[admin]`,
    /// `filter[status]`) were recorded only on single pages, never combined with `page[first]`
    /// and `page[after]` (tests/data/mas/transcripts.jsonl), so the module does not send them;
    /// MAS's `filter[search]` is a LIKE pattern on the username, not a substring of the user ID.
    fn records(&self, filter: &AccountFilter, each: &mut dyn FnMut(AccountRecord)) -> Result<()> {
        if filter.user_type.as_deref().is_some_and(|t| !t.is_empty()) {
            // MAS has no user types: no account is of this one.
            return Ok(());
        }
        self.session()
            .each_page_meta("users", "", Some(PAGE), &mut |_| true, &mut |item| {
                let u = MasUser::from_resource(item)
                    .map_err(|e| fail!("listing MAS's users: {}; the listing was not used", e.0))?;
                each(self.record_of(&u, None)?);
                Ok(())
            })
    }
}
