//! `exclusive`: the accounts of `users` are all the accounts there should be. Every account the
//! server lists that no entry names is deactivated, except what must never be: server admins,
//! accounts an application service registered (bridges and their bots), the account the task
//! acts as, and those `keep` names. More than `max_deactivations` such accounts refuse the whole
//! task before anything is written.

use super::accounts::{Account, Defaults, Entry, State};
use crate::ansible::{Params, Result};
use crate::capabilities::Listed;
use crate::fail;
use crate::matrix::{NameSource, User};
use crate::servers::{self, Capability, Server};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The options of exclusive mode.
#[derive(Debug, Clone)]
pub struct Exclusive {
    pub max_deactivations: usize,
    /// Localparts or full user IDs, `*` matching any run of characters.
    pub keep: Vec<String>,
}

/// The most accounts one run deactivates unless `max_deactivations` says otherwise.
pub const MAX_DEACTIVATIONS: i64 = 5;
/// How many names a refusal lists.
const NAMES_IN_REFUSAL: usize = 20;

impl Exclusive {
    /// None without `exclusive: true`; `max_deactivations` and `keep` are refused without it.
    pub fn from_params(p: &Params) -> Result<Option<Exclusive>> {
        let keep: Vec<String> = p
            .list("keep")
            .map(|l| {
                l.iter()
                    .filter_map(|v| v.as_str())
                    .map(|s| s.trim().to_ascii_lowercase())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if !p.bool("exclusive") {
            for o in ["max_deactivations", "keep"] {
                if p.is_given(o) {
                    return Err(fail!(
                        "{o} is for exclusive: true (deactivating the accounts no entry of users names)"
                    ));
                }
            }
            return Ok(None);
        }
        if !p.is_given("users") {
            return Err(fail!(
                "exclusive deactivates the accounts no entry of users names: give users (a list), not username"
            ));
        }
        if p.list("users").is_none_or(Vec::is_empty) {
            return Err(fail!(
                "exclusive with an empty users list would deactivate every account: refused; name the accounts there should be in users"
            ));
        }
        let max = p.int("max_deactivations").unwrap_or(MAX_DEACTIVATIONS);
        if max < 0 {
            return Err(fail!("max_deactivations must be 0 or more, got {max}"));
        }
        Ok(Some(Exclusive {
            max_deactivations: max as usize,
            keep,
        }))
    }
}

/// Whether `pattern` (with `*` for any run of characters) matches all of `text`.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// The localpart of a name as an entry gives it (`alice` or `@alice:example.org`).
fn localpart_of(name: &str) -> String {
    let name = name.trim();
    let name = name.strip_prefix('@').unwrap_or(name);
    name.split(':').next().unwrap_or(name).to_ascii_lowercase()
}

/// What exclusive mode found on the server.
pub struct Unnamed {
    /// Accounts to deactivate, as entries of their own (after the named ones).
    pub entries: Vec<Entry>,
    /// Accounts left alone because the server could not tell whether an application service
    /// uses them.
    pub unknown: Vec<String>,
}

/// Records read at once where the listing does not say whether an application service owns an
/// account (a bridge's puppets can be thousands; `keep` patterns spare their look-ups).
const RECORD_READERS: usize = 8;

/// Whether an application service owns each candidate: the listing's word, else its record's
/// (`Some(None)`: neither says). Stops reading records once more than `max` accounts are known
/// to be people (the task is refused then): None for the candidates not read, and false.
fn appservice_standing(
    server: &Server,
    candidates: &[(&String, &Listed)],
    max: usize,
) -> Result<(Vec<Option<Option<bool>>>, bool)> {
    type Slot = std::sync::Mutex<Option<Result<Option<bool>>>>;
    let people = AtomicUsize::new(
        candidates
            .iter()
            .filter(|(_, l)| l.appservice == Some(false))
            .count(),
    );
    // The listing's word where it has one; the others' records are read.
    let slots: Vec<Slot> = candidates
        .iter()
        .map(|(_, l)| Slot::new(l.appservice.map(|a| Ok(Some(a)))))
        .collect();
    let unread: Vec<usize> = (0..candidates.len())
        .filter(|i| candidates[*i].1.appservice.is_none())
        .collect();
    let next = AtomicUsize::new(0);
    let records = server.records();
    std::thread::scope(|s| {
        for _ in 0..RECORD_READERS.min(unread.len()) {
            s.spawn(|| loop {
                if people.load(Ordering::Relaxed) > max {
                    break;
                }
                let Some(&i) = unread.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    break;
                };
                let answer = match records {
                    Some(records) => records
                        .record(candidates[i].0)
                        .map(|r| r.and_then(|r| r.appservice)),
                    None => Ok(None),
                };
                if matches!(answer, Ok(Some(false))) {
                    people.fetch_add(1, Ordering::Relaxed);
                }
                *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(answer);
            });
        }
    });
    let mut standing = Vec::with_capacity(candidates.len());
    let mut complete = true;
    for slot in slots {
        match slot.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(answer) => standing.push(Some(answer?)),
            None => {
                complete = false;
                standing.push(None);
            }
        }
    }
    Ok((standing, complete))
}

/// The accounts of `listed` that no entry names and nothing protects, as entries that
/// deactivate them. Fails, before anything is written, past `max_deactivations`.
pub fn unnamed(
    server: &Server,
    entries: &[Entry],
    listed: &HashMap<String, Listed>,
    ex: &Exclusive,
    server_name: (&str, NameSource),
) -> Result<Unnamed> {
    let named: HashSet<String> = entries.iter().map(|e| localpart_of(&e.name)).collect();
    let acting = match &server.sessions.admin {
        Some(session) if session.is_live() => Some(session.user_id()?),
        _ => None,
    };
    let suffix = format!(":{}", server_name.0);
    let mut candidates: Vec<(&String, &Listed)> = listed
        .iter()
        .filter(|(id, l)| {
            let local = localpart_of(id);
            id.ends_with(&suffix)
                && !named.contains(&local)
                && !l.admin
                && l.deactivated != Some(true)
                && l.appservice != Some(true)
                && acting.as_deref() != Some(id.as_str())
                && !ex.keep.iter().any(|k| glob(k, &local) || glob(k, id))
        })
        .collect();
    candidates.sort_by(|a, b| a.0.cmp(b.0));
    // Where the listing does not say whether an application service uses an account, its
    // record does (Synapse's appservice_id); where neither says, the account is kept.
    let (standing, complete) = appservice_standing(server, &candidates, ex.max_deactivations)?;
    let mut deactivate = Vec::new();
    let mut unknown = Vec::new();
    for ((id, _), appservice) in candidates.iter().zip(standing) {
        match appservice {
            Some(Some(true)) | None => {}
            Some(Some(false)) => deactivate.push((*id).clone()),
            Some(None) => unknown.push((*id).clone()),
        }
    }
    if deactivate.len() > ex.max_deactivations {
        let shown: Vec<&str> = deactivate
            .iter()
            .take(NAMES_IN_REFUSAL)
            .map(String::as_str)
            .collect();
        let more = deactivate.len().saturating_sub(NAMES_IN_REFUSAL);
        return Err(fail!(
            "exclusive: {}{} accounts are named in no entry of users and would be deactivated, more than max_deactivations ({}) allows, so nothing was changed: {}{}. Name the accounts that should stay (in users, or in keep), or raise max_deactivations for this run",
            if complete { "" } else { "at least " },
            deactivate.len(),
            ex.max_deactivations,
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ));
    }
    let entries = deactivate
        .into_iter()
        .map(|id| {
            let account = User::parse_on("username", &id, Some(server_name)).map(|user| {
                let mut a = Account::from_defaults(user, &Defaults::default());
                a.state = State::Deactivated;
                a
            });
            Entry {
                name: localpart_of(&id),
                label: format!("exclusive ({id})"),
                account,
                unnamed: true,
            }
        })
        .collect();
    Ok(Unnamed { entries, unknown })
}

/// Refuses exclusive mode, before any request for an account, where the server cannot list
/// every account and deactivate them, or its name is not known.
pub fn possible(server: &Server, name_known: bool) -> Result<()> {
    let backend = server.backend;
    if server.listing().is_none() || server.lifecycle().is_none() {
        return Err(if backend.offers(Capability::LifecycleByDatabase) {
            fail!(
                "exclusive lists every account and deactivates those no entry names, and {} has no API for either: give database (its user API database: a SQLite file, or a postgresql:// URL)",
                backend.server
            )
        } else if backend.offers(Capability::Lifecycle) && backend.offers(Capability::Records) {
            fail!(
                "exclusive lists every account and deactivates those no entry names, which needs admin credentials: give access_token, or admin_username and admin_password"
            )
        } else {
            servers::cannot("exclusive", backend, Capability::Records)
        });
    }
    if !name_known {
        return Err(fail!(
            "exclusive compares the server's accounts with users, which needs the server's name: set server_name"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_patterns_match_whole_names() {
        assert!(glob("telegram_*", "telegram_123"));
        assert!(glob("*bot", "whatsappbot"));
        assert!(glob("bot.*.x", "bot.a.b.x"));
        assert!(glob("alice", "alice"));
        assert!(!glob("alice", "alice2"));
        assert!(!glob("telegram_*", "xtelegram_1"));
        assert!(!glob("a*a", "a"), "one a cannot be both ends");
        assert!(glob("@*:example.org", "@bob:example.org"));
    }

    #[test]
    fn entries_name_localparts_whatever_way_they_are_written() {
        assert_eq!(localpart_of("@Alice:example.org"), "alice");
        assert_eq!(localpart_of(" bob "), "bob");
        assert_eq!(localpart_of("carol"), "carol");
    }
}
