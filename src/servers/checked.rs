//! The guarantees every backend gets without writing them: each capability a backend provides is
//! wrapped here before a module can call it, so an answer that names another subject than the
//! one asked for (another user, token or address), or that contradicts the write just made, is a
//! failure that says what answered, whichever API file produced it. The API files report what
//! the server's answers named ([`Answered`], `Presence::Exists::named`, the token returned); the
//! comparison with what was asked is made once, here.

use crate::ansible::Result;
use crate::capabilities::{
    AccountFilter, AccountListing, AccountRecord, AccountRecords, AccountState, AdminChange,
    AdminFlag, Answered, Directory, EmailAddresses, Identity, Lifecycle, Listed, Locks, NewUser,
    PasswordReset, Presence, Registrar, Registration, TokenCapabilities, TokenService,
};
use crate::fail;
use crate::matrix::NameSource;
use crate::token::Token;
use chrono::{DateTime, Utc};
use std::collections::HashSet;

/// A capability as a backend provides it, and the server's name for messages.
pub struct Checked<T: ?Sized> {
    server: &'static str,
    inner: Box<T>,
}

impl<T: ?Sized> Checked<T> {
    pub fn new(server: &'static str, inner: Box<T>) -> Checked<T> {
        Checked { server, inner }
    }
}

/// The localpart of a full user ID (`@local:server`), if it is one.
fn localpart(user_id: &str) -> Option<&str> {
    user_id
        .strip_prefix('@')
        .and_then(|u| u.split_once(':'))
        .map(|(l, _)| l)
}

fn another_subject(server: &str, action: &str, asked: &str, named: &str) -> crate::ansible::Error {
    fail!(
        "{action}: {server} answered about {named}, not {asked}; the answer was not used and nothing more was done for it. Check that the URL option points at the server itself (not a proxy or another server)"
    )
}

impl Registrar for Checked<dyn Registrar> {
    fn preflight(&self) -> Result<()> {
        self.inner.preflight()
    }
    fn check(&self, user: &NewUser<'_>) -> Result<()> {
        self.inner.check(user)
    }
    fn keeps_user_types(&self) -> bool {
        self.inner.keeps_user_types()
    }
    fn register(&self, user: &NewUser<'_>) -> Result<Registration> {
        let r = self.inner.register(user)?;
        if let Registration::Created { user_id, .. } = &r {
            if localpart(user_id) != Some(user.localpart) {
                return Err(fail!(
                    "registering '{}': {} answered that it created '{user_id}', which is not that account: the answer was not counted as done and nothing more was done. Check that homeserver_url (or api_url) points at the server itself, then look the account up",
                    user.localpart,
                    self.server
                ));
            }
        }
        Ok(r)
    }
}

impl Directory for Checked<dyn Directory> {
    fn lookup(&self, user_id: &str) -> Result<Presence> {
        let p = self.inner.lookup(user_id)?;
        if let Presence::Exists {
            named: Some(named), ..
        } = &p
        {
            if named != user_id {
                return Err(another_subject(
                    self.server,
                    &format!("looking up {user_id}"),
                    user_id,
                    named,
                ));
            }
        }
        Ok(p)
    }
}

impl AccountListing for Checked<dyn AccountListing> {
    fn list_accounts(
        &self,
        worth_it: &dyn Fn(u64) -> bool,
        each: &mut dyn FnMut(&str, Listed),
    ) -> Result<bool> {
        let mut bad = None;
        let mut twice = None;
        let mut seen = std::collections::HashSet::new();
        let complete = self.inner.list_accounts(worth_it, &mut |user_id, listed| {
            if localpart(user_id).is_none_or(str::is_empty) {
                bad.get_or_insert_with(|| user_id.to_string());
            } else if !seen.insert(user_id.to_string()) {
                // A server that pages wrongly (or a loop) lists an account twice.
                twice.get_or_insert_with(|| user_id.to_string());
            } else {
                each(user_id, listed);
            }
        })?;
        match (bad, twice) {
            (Some(b), _) => Err(fail!(
                "listing the accounts: {} listed '{b}', which is not a user ID; the listing was not used",
                self.server
            )),
            (None, Some(t)) => Err(fail!(
                "listing the accounts: {} listed {t} twice (its pages overlap); the listing was not used and nothing was changed",
                self.server
            )),
            (None, None) => Ok(complete),
        }
    }
}

/// The subject a write's answer named, where it named one, must be the one written to.
fn check_answered(server: &str, action: &str, asked: &str, a: &Answered) -> Result<()> {
    match &a.subject {
        Some(named) if named != asked => Err(another_subject(server, action, asked, named)),
        _ => Ok(()),
    }
}

impl PasswordReset for Checked<dyn PasswordReset> {
    fn set_password(
        &self,
        user_id: &str,
        password: &str,
        logout_devices: bool,
    ) -> Result<Answered> {
        if let (true, Some(why)) = (logout_devices, self.inner.cannot_end_sessions()) {
            return Err(fail!(
                "logout_devices: {why}; the password of {user_id} was not set"
            ));
        }
        let a = self.inner.set_password(user_id, password, logout_devices)?;
        check_answered(
            self.server,
            &format!("setting the password of {user_id}"),
            user_id,
            &a,
        )?;
        Ok(a)
    }
    fn cannot_end_sessions(&self) -> Option<&'static str> {
        self.inner.cannot_end_sessions()
    }
}

impl Checked<dyn Lifecycle> {
    /// Reads the account back after a write: the state must be the one written.
    fn confirm(&self, action: &str, user_id: &str, deactivated: bool, erase: bool) -> Result<()> {
        match self.state(user_id)? {
            Some(s) if erase && s.erased == Some(false) => Err(fail!(
                "{action}: {} answered success, but reading the account back shows its data not erased; it was not counted as done",
                self.server
            )),
            Some(s) if s.deactivated == deactivated => Ok(()),
            Some(_) => Err(fail!(
                "{action}: {} answered success, but reading the account back shows it still {}; it was not counted as done",
                self.server,
                if deactivated { "active" } else { "deactivated" }
            )),
            None => Err(fail!(
                "{action}: {} answered success, but reading the account back finds no such account",
                self.server
            )),
        }
    }
}

impl Lifecycle for Checked<dyn Lifecycle> {
    fn state(&self, user_id: &str) -> Result<Option<AccountState>> {
        let s = self.inner.state(user_id)?;
        if let Some(named) = s.as_ref().and_then(|s| s.named.as_deref()) {
            if named != user_id {
                let action = format!("reading the state of {user_id}");
                return Err(another_subject(self.server, &action, user_id, named));
            }
        }
        Ok(s)
    }
    fn deactivate(&self, user_id: &str, erase: bool) -> Result<Answered> {
        let action = format!("deactivating {user_id}");
        if let (true, Some(why)) = (erase, self.inner.cannot_erase()) {
            return Err(fail!("erase: {why}; {user_id} was not deactivated"));
        }
        let a = self.inner.deactivate(user_id, erase)?;
        check_answered(self.server, &action, user_id, &a)?;
        self.confirm(&action, user_id, true, erase)?;
        Ok(a)
    }
    fn cannot_erase(&self) -> Option<&'static str> {
        self.inner.cannot_erase()
    }
    fn reactivate(&self, user_id: &str, password: Option<&str>) -> Result<Answered> {
        let action = format!("reactivating {user_id}");
        if password.is_none() && self.inner.reactivation_needs_password() {
            return Err(fail!(
                "{action}: {} gives a reactivated account a password: give password (or password_file)",
                self.server
            ));
        }
        let a = self.inner.reactivate(user_id, password)?;
        check_answered(self.server, &action, user_id, &a)?;
        self.confirm(&action, user_id, false, false)?;
        Ok(a)
    }
    fn reactivation_needs_password(&self) -> bool {
        self.inner.reactivation_needs_password()
    }
}

impl Locks for Checked<dyn Locks> {
    fn locked(&self, user_id: &str) -> Result<Option<bool>> {
        self.inner.locked(user_id)
    }
    fn set_locked(&self, user_id: &str, locked: bool) -> Result<Answered> {
        let action = format!("{} {user_id}", if locked { "locking" } else { "unlocking" });
        let a = self.inner.set_locked(user_id, locked)?;
        check_answered(self.server, &action, user_id, &a)?;
        match self.inner.locked(user_id)? {
            Some(now) if now == locked => Ok(a),
            Some(_) => Err(fail!(
                "{action}: {} answered success, but reading the account back shows it still {}; it was not counted as done",
                self.server,
                if locked { "unlocked" } else { "locked" }
            )),
            None => Err(fail!(
                "{action}: {} answered success, but reading the account back finds no such account",
                self.server
            )),
        }
    }
}

impl AccountRecords for Checked<dyn AccountRecords> {
    fn record(&self, user_id: &str) -> Result<Option<AccountRecord>> {
        let r = self.inner.record(user_id)?;
        if let Some(r) = &r {
            if r.user_id != user_id {
                let action = format!("reading {user_id}");
                return Err(another_subject(self.server, &action, user_id, &r.user_id));
            }
        }
        Ok(r)
    }
    /// Every record must be a user ID and listed once; the filter is applied here whatever the
    /// server did with it.
    fn records(&self, filter: &AccountFilter, each: &mut dyn FnMut(AccountRecord)) -> Result<()> {
        let mut seen = HashSet::new();
        let mut bad: Option<String> = None;
        self.inner.records(filter, &mut |r| {
            if bad.is_some() {
                return;
            }
            if localpart(&r.user_id).is_none_or(str::is_empty) {
                bad = Some(format!("'{}', which is not a user ID", r.user_id));
            } else if !seen.insert(r.user_id.clone()) {
                bad = Some(format!("{} twice", r.user_id));
            } else if filter.admits(&r) {
                each(r);
            }
        })?;
        match bad {
            Some(b) => Err(fail!(
                "listing the accounts: {} listed {b}; the listing was not used",
                self.server
            )),
            None => Ok(()),
        }
    }
}

impl AdminFlag for Checked<dyn AdminFlag> {
    fn converge(&self, user_id: &str, admin: bool, check_mode: bool) -> Result<AdminChange> {
        let c = self.inner.converge(user_id, admin, check_mode)?;
        let action = format!("setting the admin flag of {user_id}");
        check_answered(self.server, &action, user_id, &c.answered)?;
        if let Some(stated) = c.answered.admin.filter(|s| *s != admin) {
            return Err(fail!(
                "{action} to {admin}: {} answered that the flag is {stated}; it was not counted as done",
                self.server
            ));
        }
        Ok(c)
    }
    fn restart_required(&self) -> bool {
        self.inner.restart_required()
    }
}

impl EmailAddresses for Checked<dyn EmailAddresses> {
    fn add_missing(
        &self,
        user_id: &str,
        emails: &[String],
        check_mode: bool,
    ) -> Result<Vec<String>> {
        let added = self.inner.add_missing(user_id, emails, check_mode)?;
        if let Some(other) = added
            .iter()
            .find(|a| !emails.iter().any(|e| e.eq_ignore_ascii_case(a)))
        {
            return Err(fail!(
                "adding e-mail addresses to {user_id}: {} answered with the address {other}, which was not asked for; it was not counted as added",
                self.server
            ));
        }
        Ok(added)
    }
}

impl Identity for Checked<dyn Identity> {
    fn server_name(&self, given: Option<&str>) -> Result<Option<(String, NameSource)>> {
        self.inner.server_name(given)
    }
}

impl Checked<dyn TokenService> {
    fn same_token(&self, action: &str, asked: &str, t: Token) -> Result<Token> {
        if t.name != asked {
            return Err(fail!(
                "{action}: {} answered about token {}, not {asked}; the answer was not used",
                self.server,
                t.name
            ));
        }
        Ok(t)
    }
}

impl TokenService for Checked<dyn TokenService> {
    fn capabilities(&self) -> TokenCapabilities {
        self.inner.capabilities()
    }
    fn service_name(&self) -> &'static str {
        self.inner.service_name()
    }
    fn list(&self, valid: Option<bool>) -> Result<Vec<Token>> {
        let tokens = self.inner.list(valid)?;
        if let (Some(v), Some(t)) = (valid, tokens.iter().find(|t| Some(t.valid) != valid)) {
            return Err(fail!(
                "listing the tokens with valid={v}: {} answered token {} with valid={}; the listing was not used",
                self.server,
                t.name,
                t.valid
            ));
        }
        Ok(tokens)
    }
    fn get(&self, name: &str) -> Result<Option<Token>> {
        self.inner
            .get(name)?
            .map(|t| self.same_token(&format!("reading token {name}"), name, t))
            .transpose()
    }
    fn create(
        &self,
        name: Option<&str>,
        max_usage: u64,
        expiry: Option<DateTime<Utc>>,
    ) -> Result<Token> {
        let t = self.inner.create(name, max_usage, expiry)?;
        match name {
            Some(n) => self.same_token(&format!("creating token {n}"), n, t),
            None => Ok(t),
        }
    }
    fn update(
        &self,
        current: &Token,
        max_usage: Option<u64>,
        expiry: Option<DateTime<Utc>>,
    ) -> Result<Token> {
        let name = &current.name;
        let t = self.inner.update(current, max_usage, expiry)?;
        self.same_token(&format!("updating token {name}"), name, t)
    }
    fn disable(&self, current: &Token) -> Result<Token> {
        let name = &current.name;
        let action = format!("disabling token {name}");
        let t = self.same_token(&action, name, self.inner.disable(current)?)?;
        if t.valid || !t.disabled {
            return Err(fail!(
                "{action}: {} answered the token as {}{}; it was not counted as disabled",
                self.server,
                if t.disabled {
                    "disabled"
                } else {
                    "not disabled"
                },
                if t.valid { " and still valid" } else { "" }
            ));
        }
        Ok(t)
    }
    fn delete(&self, name: &str) -> Result<()> {
        self.inner.delete(name)
    }
    fn reenables_only_when_asked(&self) -> bool {
        self.inner.reenables_only_when_asked()
    }
    fn unusable_tokens_vanish(&self) -> bool {
        self.inner.unusable_tokens_vanish()
    }
    fn registration_url(&self, name: &str) -> Option<String> {
        self.inner.registration_url(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listing that sends what it is given, as a server would.
    struct Sends(Vec<&'static str>);

    impl AccountListing for Sends {
        fn list_accounts(
            &self,
            _worth_it: &dyn Fn(u64) -> bool,
            each: &mut dyn FnMut(&str, Listed),
        ) -> Result<bool> {
            for id in &self.0 {
                each(id, Listed::default());
            }
            Ok(true)
        }
    }

    fn list(ids: Vec<&'static str>) -> Result<Vec<String>> {
        let checked: Checked<dyn AccountListing> = Checked::new("Synapse", Box::new(Sends(ids)));
        let mut got = Vec::new();
        checked.list_accounts(&|_| true, &mut |id, _| got.push(id.to_string()))?;
        Ok(got)
    }

    #[test]
    fn a_listing_that_names_an_account_twice_is_not_used() {
        assert_eq!(list(vec!["@a:x", "@b:x"]).unwrap(), ["@a:x", "@b:x"]);
        let e = list(vec!["@a:x", "@b:x", "@a:x"]).unwrap_err();
        assert!(e.0.contains("listed @a:x twice"), "{e}");
        let e = list(vec!["@a:x", "not-an-id"]).unwrap_err();
        assert!(e.0.contains("which is not a user ID"), "{e}");
    }
}
