//! The accounts of one register_user task, validated before anything is sent: the one account of
//! `username`, or each entry of `users` on its own (a bad entry fails alone).

use crate::ansible::{Error, Kind, Opt, Params, Result, Spec};
use crate::args;
use crate::choice_enum;
use crate::fail;
use crate::matrix::{NameSource, User};
use serde_json::Value;
use std::collections::HashMap;

choice_enum! {
    /// When a password given is set.
    pub enum UpdatePassword {
        Always = "always",
        OnCreate = "on_create",
    }
}

choice_enum! {
    /// matrix-docker-ansible-deploy's `initial_type` (its `matrix_user_creator_users`).
    pub enum InitialType {
        Admin = "admin",
        User = "user",
        Bot = "bot",
        Support = "support",
    }
}

choice_enum! {
    /// What the account should be.
    pub enum State {
        Present = "present",
        Deactivated = "deactivated",
    }
}

/// Options of one account, at top level or as an entry of `users`.
pub static USER_OPTIONS: &[Opt] = &[
    Opt::str("username").aliases(&["name", "user"]).doc(&[
        "The account, as a localpart (C(alice)) or a full user ID (C(@alice:example.org)).",
        "Lower case C(a-z), C(0-9) and C(. _ = - +); anything else fails before any request.",
    ]),
    Opt::str("password").no_log().doc(&[
        "The password of a new account (and of an existing one with I(update_password=always), and of a reactivated one). At most 512 bytes.",
        "Required with I(state=present); not used with I(state=deactivated).",
    ]),
    Opt::path("password_file").doc(&[
        "A file holding the password; surrounding whitespace is removed, as C(register_new_matrix_user --password-file) does.",
    ]),
    Opt::str("update_password").choices(UpdatePassword::NAMES).doc(&[
        "C(on_create) (the default) sets the password only for a new account.",
        "C(always) also sets it on an existing account, through the admin API, and reports C(changed) every time (a server cannot compare a password without a login). Needs I(access_token) or I(admin_username) + I(admin_password) (with backend C(mas), its credentials).",
        "With I(users), the default for entries that do not set it; an entry may set its own.",
    ]),
    Opt::str("initial_password").no_log().doc(&[
        "matrix-docker-ansible-deploy's field (C(matrix_user_creator_users)): the password of a new account, never set on an existing one (as I(password) with I(update_password=on_create)). Needs I(initial_type).",
    ]),
    Opt::str("initial_type").choices(InitialType::NAMES).doc(&[
        "matrix-docker-ansible-deploy's field (C(matrix_user_creator_users)), with its meaning: what a new account is created as - C(admin) a server admin, C(user) a regular user, C(bot) or C(support) a regular user of that user type (on Synapse; servers without user types create a regular user, as matrix-docker-ansible-deploy does). An existing account is left as it is: its admin flag and type are not converged (use I(admin) for that).",
    ]),
    Opt::str("origin").doc(&[
        "For entries of I(users): how messages and results name the entry, e.g. C(matrix_user_creator_users_additional[2]) (the variable it came from). Default C(users[N]).",
    ]),
    Opt::bool("admin").doc(&[
        "Whether the account is a server admin. A new account gets it. An existing account gets it too when admin credentials are given and the backend can set it (Synapse); otherwise the module warns and names the command to run. Left out, an existing account's rights are left alone.",
        "Accepts Ansible's booleans, including the strings C(yes) and C(no) from C(--extra-vars).",
        "With I(users), the default for entries that do not set it.",
    ]),
    Opt::str("user_type").doc(&[
        "The user type of a new account. Synapse knows C(bot) and C(support), plus any in its C(user_types.extra_user_types). Dendrite has no user types.",
    ]),
    Opt::str("displayname")
        .doc(&["The display name of a new account (default on the server is the localpart)."]),
    Opt::str("state").choices(State::NAMES).doc(&[
        "C(present) (the default): the account exists and is active. A deactivated account is not reactivated unless I(reactivate=true): without it the module fails for that account.",
        "C(deactivated): an existing account is deactivated (it can no longer log in, and its access tokens are refused); one that already is, or that does not exist, is left as it is (nothing is created). Needs admin credentials (backend C(mas): its credentials). See I(erase).",
        "Reactivation does not unlock a locked account. On MAS, deactivation also ends all the account's sessions and removes its e-mail addresses (reactivation does not bring them back).",
        "With I(users), the default for entries that do not set it.",
    ]),
    Opt::bool("locked").doc(&[
        "Whether the account is locked: a locked account cannot log in, and keeps everything else. Left out, a lock is left as it is. Synapse (C(PUT /_synapse/admin/v2/users/<user_id>) C({\"locked\": ..})), tuwunel and MAS (C(lock)/C(unlock)); Dendrite has no locks (refused). A new account asked to be locked is locked right after its creation. Synapse and MAS keep a locked account's sessions, refused while it is locked and working again once it is unlocked.",
        "With I(users), the default for entries that do not set it.",
    ]),
    Opt::list("email", Kind::Str).doc(&[
        "Backend C(mas) only: one e-mail address or a list, attached to the account as verified addresses (C(POST /api/admin/v1/user-emails)), so that its first login does not stop for an e-mail confirmation.",
        "Converges on existing accounts too: missing addresses are added, addresses the account has besides these are kept. An address another account has is an error.",
    ]),
];

/// Options that exclude each other in one account (top level, or an entry).
pub const PASSWORD_EXCLUSIVE: &[&[&str]] = &[
    &["password", "password_file"],
    &["password", "initial_password"],
    &["password_file", "initial_password"],
    &["initial_type", "admin"],
    &["initial_type", "user_type"],
];

/// The spec of one `users` entry, validated entry by entry so that a bad entry fails alone.
pub static ENTRY_SPEC: Spec = Spec {
    groups: &[USER_OPTIONS],
    mutually_exclusive: PASSWORD_EXCLUSIVE,
    // password or password_file: required with state=present (checked in Account::from_params).
    required_one_of: &[&["username"]],
    required_together: &[],
};

pub enum Accounts {
    One(Account),
    /// The entries of `users`, each validated on its own: a bad entry fails alone.
    Many(Vec<Entry>),
}

/// One entry of `users`: its name as given (for messages), and the account or why it is bad.
pub struct Entry {
    pub name: String,
    /// How messages name the entry: its `origin`, or `users[N]`.
    pub label: String,
    pub account: std::result::Result<Account, Error>,
    /// An account no entry names, deactivated by `exclusive`.
    pub unnamed: bool,
}

/// What an entry of `users` inherits from the top level.
#[derive(Debug, Clone)]
pub struct Defaults {
    pub admin: Option<bool>,
    pub user_type: Option<String>,
    pub displayname: Option<String>,
    pub emails: Vec<String>,
    pub state: Option<State>,
    pub locked: Option<bool>,
    pub update_password: UpdatePassword,
    /// Whether a missing account is created (a password is then required).
    pub create: bool,
}

impl Default for Defaults {
    fn default() -> Defaults {
        Defaults {
            admin: None,
            user_type: None,
            displayname: None,
            emails: Vec::new(),
            state: None,
            locked: None,
            update_password: UpdatePassword::OnCreate,
            create: true,
        }
    }
}

/// One account to ensure, validated.
#[derive(Debug, Clone)]
pub struct Account {
    pub user: User,
    /// Given with state=present (required then), and optional with state=deactivated.
    pub password: Option<String>,
    pub state: State,
    /// None: a lock is left as it is.
    pub locked: Option<bool>,
    /// None: not asked (a new account is not an admin, an existing one is left as it is).
    pub admin: Option<bool>,
    pub user_type: Option<String>,
    pub displayname: Option<String>,
    /// Addresses to attach (backend mas).
    pub emails: Vec<String>,
    /// Whether the password is set on an existing account too.
    pub update_password: UpdatePassword,
    /// What a new account is created as (matrix-docker-ansible-deploy's create-only meaning).
    pub initial_type: Option<InitialType>,
}

/// `email`: one address or a list, blanks dropped.
pub fn emails(p: &Params) -> Vec<String> {
    p.list("email")
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

impl Account {
    /// An account with nothing asked of it but what `defaults` say (no password).
    pub fn from_defaults(user: User, defaults: &Defaults) -> Account {
        Account {
            user,
            password: None,
            state: defaults.state.unwrap_or(State::Present),
            locked: defaults.locked,
            admin: defaults.admin,
            user_type: defaults.user_type.clone(),
            displayname: defaults.displayname.clone(),
            emails: defaults.emails.clone(),
            update_password: defaults.update_password,
            initial_type: None,
        }
    }

    /// One account from validated params (top level, or an entry of `users`, whose missing
    /// admin/user_type/displayname fall back to `defaults`).
    pub fn from_params(
        p: &Params,
        server_name: Option<(&str, NameSource)>,
        defaults: &Defaults,
    ) -> Result<Account> {
        let name = p.str("username").unwrap_or_default();
        let user = User::parse_on(p.given_as("username"), name, server_name)?;
        let state = match p.str("state") {
            Some(_) => p.choice::<State>("state")?,
            None => defaults.state.unwrap_or(State::Present),
        };
        let initial = p.str("initial_password").map(str::to_string);
        let initial_type = p
            .str("initial_type")
            .map(|_| p.choice::<InitialType>("initial_type"))
            .transpose()?;
        if initial.is_some() && initial_type.is_none() {
            return Err(fail!(
                "initial_type is required with initial_password for '{name}' (as in matrix_user_creator_users): one of admin, user, bot, support"
            ));
        }
        let update_password = match p.str("update_password") {
            Some(_) => p.choice::<UpdatePassword>("update_password")?,
            None => defaults.update_password,
        };
        if initial.is_some() && p.str("update_password") == Some("always") {
            return Err(fail!(
                "initial_password of '{name}' is set at creation only; with update_password=always give password instead"
            ));
        }
        let update_password = if initial.is_some() {
            UpdatePassword::OnCreate
        } else {
            update_password
        };
        let field = if initial.is_some() {
            "initial_password"
        } else {
            "password"
        };
        let password = match initial {
            Some(p) => Some(p),
            None => args::secret_option(p, "password", "password_file")?,
        };
        if password.is_none() && state == State::Present && defaults.create {
            return Err(fail!(
                "password or password_file is required to register '{name}' (state=present)"
            ));
        }
        if let Some(password) = &password {
            if password.is_empty() {
                return Err(fail!("{field} for '{name}' is empty"));
            }
            if password.len() > 512 || password.contains('\0') {
                return Err(fail!(
                    "{field} for '{name}' is not accepted by Matrix servers: at most 512 bytes and no NUL character"
                ));
            }
        }
        let user_type = p
            .str("user_type")
            .map(str::to_string)
            .or_else(|| defaults.user_type.clone());
        if user_type.as_deref() == Some("") {
            return Err(fail!("user_type is empty; leave it out for a regular user"));
        }
        Ok(Account {
            user,
            password,
            state,
            locked: p.opt_bool("locked").or(defaults.locked),
            admin: p.opt_bool("admin").or(defaults.admin),
            user_type,
            displayname: p
                .str("displayname")
                .map(str::to_string)
                .or_else(|| defaults.displayname.clone()),
            emails: if p.is_given("email") {
                emails(p)
            } else {
                defaults.emails.clone()
            },
            update_password,
            initial_type,
        })
    }
}

/// Validates the entries of `users`: each one alone, and no name twice.
pub fn bulk_accounts(
    entries: &[Value],
    defaults: &Defaults,
    server_name: Option<(&str, NameSource)>,
) -> Vec<Entry> {
    let mut seen: HashMap<String, String> = HashMap::new();
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let name = ["username", "name", "user"]
                .iter()
                .find_map(|k| entry.get(*k).and_then(Value::as_str))
                .unwrap_or("")
                .to_string();
            let label = match entry.get("origin").and_then(Value::as_str) {
                Some(o) if !o.trim().is_empty() => o.trim().to_string(),
                _ => format!("users[{i}]"),
            };
            let account = (|| {
                let obj = entry
                    .as_object()
                    .ok_or_else(|| fail!("{label} must be a dict with username and password"))?;
                let p = ENTRY_SPEC
                    .validate(obj)
                    .map_err(|e| fail!("{label}: {}", e.join("; ")))?;
                let a = Account::from_params(&p, server_name, defaults)
                    .map_err(|e| fail!("{label}: {e}"))?;
                let key = a.user.localpart.clone();
                if let Some(first) = seen.get(&key) {
                    return Err(fail!("{label}: '{key}' is already listed as {first}"));
                }
                seen.insert(key, label.clone());
                Ok(a)
            })();
            Entry {
                name,
                label,
                account,
                unnamed: false,
            }
        })
        .collect()
}

pub fn full_or_local(u: &User) -> String {
    u.id().unwrap_or_else(|| u.localpart.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entries(list: Value) -> Vec<Entry> {
        bulk_accounts(
            list.as_array().unwrap(),
            &Defaults::default(),
            Some(("example.org", NameSource::Option)),
        )
    }

    fn error(e: &Entry) -> String {
        e.account.as_ref().unwrap_err().0.clone()
    }

    #[test]
    fn mdad_entries_are_created_once_with_their_type() {
        let e = entries(json!([
            {"username": "bot.baibot", "initial_password": "pw-123456", "initial_type": "bot"},
            {"username": "alice", "initial_password": "pw-123456", "initial_type": "admin", "origin": "matrix_user_creator_users_additional[0] (alice)"},
        ]));
        let bot = e[0].account.as_ref().unwrap();
        assert_eq!(bot.initial_type, Some(InitialType::Bot));
        assert_eq!(
            bot.admin, None,
            "initial_type never converges an existing account"
        );
        assert_eq!(bot.update_password, UpdatePassword::OnCreate);
        assert_eq!(bot.password.as_deref(), Some("pw-123456"));
        assert_eq!(e[0].label, "users[0]");
        assert_eq!(
            e[1].label,
            "matrix_user_creator_users_additional[0] (alice)"
        );
    }

    #[test]
    fn bad_mdad_entries_fail_alone_naming_the_entry() {
        let e = entries(json!([
            {"username": "a", "initial_password": "pw-123456", "initial_type": "superuser", "origin": "auto[0] (a)"},
            {"username": "b", "initial_password": "pw-123456"},
            {"username": "c", "initial_password": "pw-123456", "initial_type": "user", "admin": true},
            {"username": "d", "initial_password": "pw-123456", "initial_type": "user", "update_password": "always"},
            {"username": "e", "initial_password": "", "initial_type": "user"},
            {"username": "f", "initial_password": "pw-123456", "password": "other-pw", "initial_type": "user"},
            {"username": "g", "initial_password": "pw-123456", "initial_type": "user", "initial_admin": true},
            {"username": "h", "initial_password": "pw-123456", "initial_type": "user"},
            {"username": "h", "password": "pw-123456", "origin": "matrix_user_management_users[0] (h)"},
        ]));
        assert!(error(&e[0]).starts_with("auto[0] (a): value of initial_type must be one of: admin, user, bot, support, got: superuser"), "{}", error(&e[0]));
        assert!(
            error(&e[1]).contains("initial_type is required with initial_password"),
            "{}",
            error(&e[1])
        );
        assert!(
            error(&e[2]).contains("initial_type") && error(&e[2]).contains("admin"),
            "{}",
            error(&e[2])
        );
        assert!(
            error(&e[3]).contains("set at creation only"),
            "{}",
            error(&e[3])
        );
        assert!(
            error(&e[4]).contains("initial_password for 'e' is empty"),
            "{}",
            error(&e[4])
        );
        assert!(
            error(&e[5]).contains("initial_password") && error(&e[5]).contains("password"),
            "{}",
            error(&e[5])
        );
        assert!(error(&e[6]).contains("initial_admin"), "{}", error(&e[6]));
        assert!(e[7].account.is_ok());
        assert_eq!(
            error(&e[8]),
            "matrix_user_management_users[0] (h): 'h' is already listed as users[7]"
        );
    }

    #[test]
    fn an_entry_sets_its_own_update_password() {
        let e = entries(json!([
            {"username": "a", "password": "pw-123456", "update_password": "always"},
            {"username": "b", "password": "pw-123456"},
        ]));
        assert_eq!(
            e[0].account.as_ref().unwrap().update_password,
            UpdatePassword::Always
        );
        assert_eq!(
            e[1].account.as_ref().unwrap().update_password,
            UpdatePassword::OnCreate
        );
    }
}
