//! The plan of a `users` task: what would change (check mode) or what changed, a few readable
//! lines whatever the length of the list - counts, the names of the accounts that change (at
//! most [`NAMES_SHOWN`] per line), and how many are unchanged. Never a secret: names only.

use super::converge::AccountResult;

/// Names listed per line; the rest are counted.
pub const NAMES_SHOWN: usize = 50;

/// One kind of change, and how it reads done and planned.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Change {
    Create,
    Reactivate,
    GrantAdmin,
    RevokeAdmin,
    SetPassword,
    AddEmail,
    Lock,
    Unlock,
    Deactivate,
    /// Deactivated because no list names it (`exclusive`).
    DeactivateUnnamed,
    Failed,
}

const ORDER: [Change; 11] = [
    Change::Create,
    Change::Reactivate,
    Change::GrantAdmin,
    Change::RevokeAdmin,
    Change::SetPassword,
    Change::AddEmail,
    Change::Lock,
    Change::Unlock,
    Change::Deactivate,
    Change::DeactivateUnnamed,
    Change::Failed,
];

impl Change {
    fn reads(self, check_mode: bool) -> &'static str {
        match (self, check_mode) {
            (Change::Create, false) => "created",
            (Change::Create, true) => "to create",
            (Change::Reactivate, false) => "reactivated",
            (Change::Reactivate, true) => "to reactivate",
            (Change::GrantAdmin, false) => "made admins",
            (Change::GrantAdmin, true) => "to make admins",
            (Change::RevokeAdmin, false) => "admin rights revoked",
            (Change::RevokeAdmin, true) => "to revoke admin rights from",
            (Change::SetPassword, false) => "passwords set",
            (Change::SetPassword, true) => "passwords to set",
            (Change::AddEmail, false) => "e-mail addresses added to",
            (Change::AddEmail, true) => "to add e-mail addresses to",
            (Change::Lock, false) => "locked",
            (Change::Lock, true) => "to lock",
            (Change::Unlock, false) => "unlocked",
            (Change::Unlock, true) => "to unlock",
            (Change::Deactivate, false) => "deactivated",
            (Change::Deactivate, true) => "to deactivate",
            (Change::DeactivateUnnamed, false) => "deactivated, named in no list",
            (Change::DeactivateUnnamed, true) => "to deactivate, named in no list",
            (Change::Failed, _) => "failed",
        }
    }
}

/// The changes of one account's result.
pub fn changes(r: &AccountResult, unnamed: bool) -> Vec<Change> {
    let mut c = Vec::new();
    if r.created {
        c.push(Change::Create);
    }
    if r.reactivated {
        c.push(Change::Reactivate);
    }
    match r.admin_now {
        Some(true) => c.push(Change::GrantAdmin),
        Some(false) => c.push(Change::RevokeAdmin),
        None => {}
    }
    if r.password_updated && !r.created && !r.reactivated {
        c.push(Change::SetPassword);
    }
    if !r.emails_added.is_empty() && !r.created {
        c.push(Change::AddEmail);
    }
    match r.lock_changed {
        Some(true) => c.push(Change::Lock),
        Some(false) => c.push(Change::Unlock),
        None => {}
    }
    if r.deactivated {
        c.push(if unnamed {
            Change::DeactivateUnnamed
        } else {
            Change::Deactivate
        });
    }
    c
}

/// Collects names per change, then reads as lines.
#[derive(Default)]
pub struct Plan {
    names: Vec<(Change, Vec<String>)>,
    pub unchanged: usize,
}

impl Plan {
    pub fn add(&mut self, change: Change, name: &str) {
        match self.names.iter_mut().find(|(c, _)| *c == change) {
            Some((_, names)) => names.push(name.to_string()),
            None => self.names.push((change, vec![name.to_string()])),
        }
    }

    /// The plan as lines: one per kind of change, in a fixed order, then the unchanged count.
    pub fn lines(&self, check_mode: bool) -> Vec<String> {
        let mut lines = Vec::new();
        for change in ORDER {
            let Some((_, names)) = self.names.iter().find(|(c, _)| *c == change) else {
                continue;
            };
            let shown = names
                .iter()
                .take(NAMES_SHOWN)
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            let more = names.len().saturating_sub(NAMES_SHOWN);
            let more = if more > 0 {
                format!(" and {more} more (see results)")
            } else {
                String::new()
            };
            lines.push(format!(
                "{} ({}): {shown}{more}",
                change.reads(check_mode),
                names.len()
            ));
        }
        lines.push(format!("unchanged: {}", self.unchanged));
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_plan_lists_fifty_names_per_line_and_counts_the_rest() {
        let mut plan = Plan::default();
        for i in 0..120 {
            plan.add(Change::Create, &format!("user{i:03}"));
        }
        plan.add(Change::DeactivateUnnamed, "mallory");
        plan.unchanged = 9_879;
        let lines = plan.lines(true);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].starts_with("to create (120): user000, user001"));
        assert!(lines[0].contains("user049 and 70 more (see results)"));
        assert!(!lines[0].contains("user050"));
        assert_eq!(lines[1], "to deactivate, named in no list (1): mallory");
        assert_eq!(lines[2], "unchanged: 9879");
        assert_eq!(
            plan.lines(false)[1],
            "deactivated, named in no list (1): mallory"
        );
    }

    #[test]
    fn changes_name_what_happened_to_an_account() {
        let r = AccountResult {
            admin_now: Some(false),
            admin_updated: true,
            lock_changed: Some(true),
            ..AccountResult::default()
        };
        assert_eq!(changes(&r, false), vec![Change::RevokeAdmin, Change::Lock]);
        let created = AccountResult {
            created: true,
            password_updated: true,
            ..AccountResult::default()
        };
        assert_eq!(changes(&created, false), vec![Change::Create]);
        let gone = AccountResult {
            deactivated: true,
            ..AccountResult::default()
        };
        assert_eq!(changes(&gone, true), vec![Change::DeactivateUnnamed]);
    }
}
