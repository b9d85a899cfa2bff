//! Module `user_info`: lists accounts, all or one, optionally filtered, read-only; the
//! counterpart of `registration_token_info`. Every backend's accounts come out in one shape
//! ([`AccountRecord`]); the filters are applied again by the shared layer whatever the server
//! did with them, and a listing that fails anywhere is a failure, never a shorter list.

use crate::ansible::{Kind, Module, ModuleDef, ModuleDoc, Opt, Outcome, Params, Result, Ret, Spec};
use crate::args::{
    self, ADMIN_CREDENTIALS_EXCLUSIVE, ADMIN_CREDENTIALS_TOGETHER, ADMIN_CREDENTIAL_OPTIONS,
    CONNECTION_OPTIONS, DATABASE_PASSWORD_OPTIONS, MAS_CLIENT_EXCLUSIVE, MAS_CLIENT_OPTIONS,
    MAS_SECRET_EXCLUSIVE, MAS_URL_OPTIONS,
};
use crate::capabilities::{AccountFilter, AccountRecord};
use crate::fail;
use crate::matrix::{validate_server_name, User};
use crate::servers::{self, Access, AdminAccess, Backend, Capability, Reach, Server};
use crate::token::rfc3339;
use serde_json::{json, Value};

static MODULE_OPTIONS: &[Opt] = &[
    Opt::str("backend")
        .choices_from(backend_choices)
        .default_str("synapse")
        .doc(&[
            "Where the accounts are read.",
            "C(synapse) - Synapse's admin API (C(GET /_synapse/admin/v3/users), one account C(GET /_synapse/admin/v2/users/<user_id>)), with the admin credentials.",
            "C(tuwunel) - tuwunel's copy of that API, with the admin credentials. tuwunel keeps no creation time (C(created) is null) and no user types.",
            "C(mas) - the users of Matrix Authentication Service (with I(api_url) and I(client_id) + I(client_secret), or I(access_token)). MAS keeps no display name and no user type.",
            "C(dendrite) - Dendrite's user API database (I(database)), read-only: Dendrite's admin API has no endpoint that lists or reads accounts (only password resets, registration tokens, evacuations and purges), and its client API finds only users that share a room or are public. Without I(database) it is refused with that reason. Admin credentials are not needed (given, they tell the server name for a localpart in I(username)). Dendrite has no user types and no locks (C(user_type) and C(locked) are null); the creation time is C(userapi_accounts.created_ts), the display name C(userapi_profiles.display_name). Accounts of every server name the database holds are listed.",
            "C(continuwuity) - refused naming its admin-room command (C(!admin users list-users)): it has no API that lists accounts.",
        ]),
    Opt::str("username").aliases(&["user"]).doc(&[
        "Only this account, as a localpart (with I(server_name), or the server's name learnt from the admin credentials) or a full user ID. The result is then a list of one account, or an empty list when it does not exist (or the filters leave it out).",
    ]),
    Opt::str("server_name").doc(&["The server name, to build the user ID from a localpart in I(username)."]),
    Opt::bool("admins").doc(&["Only server admins (C(true)) or only other accounts (C(false))."]),
    Opt::bool("deactivated").doc(&["Only deactivated accounts (C(true)) or only active ones (C(false))."]),
    Opt::bool("locked").doc(&["Only locked accounts (C(true)) or only unlocked ones (C(false))."]),
    Opt::str("user_type")
        .choices(&["regular", "bot", "support"])
        .doc(&["Only accounts of this Synapse user type; C(regular) - accounts without one. tuwunel and MAS have no user types: all their accounts are C(regular)."]),
    Opt::str("name").doc(&["Only accounts whose user ID contains this text (not case-sensitive)."]),
    Opt::path("database").doc(&[
        "Backends that read accounts from their database only (C(dendrite)), required there: Dendrite's user API database, read-only (C(userapi_accounts), with C(userapi_profiles) for display names) in one read transaction, with a cap of 1000000 accounts (a larger table is refused, never read in part).",
        "Written as for module C(register_user) - the absolute path of the SQLite file C(dendrite_userapi.db) (Dendrite's C(file:) connection strings are accepted; it is never created), or a libpq URL without password, e.g. C(postgresql://dendrite@127.0.0.1:5432/dendrite) (or libpq C(key=value) words), with TLS as C(sslmode) in the URL says. A URL that contains a password is refused: give it in I(database_password) or I(database_password_file).",
    ]),
];

pub static SPEC: Spec = Spec {
    groups: &[
        MODULE_OPTIONS,
        ADMIN_CREDENTIAL_OPTIONS,
        MAS_URL_OPTIONS,
        MAS_CLIENT_OPTIONS,
        DATABASE_PASSWORD_OPTIONS,
        CONNECTION_OPTIONS,
    ],
    mutually_exclusive: &[
        ADMIN_CREDENTIALS_EXCLUSIVE,
        MAS_SECRET_EXCLUSIVE,
        MAS_CLIENT_EXCLUSIVE,
        &["database_password", "database_password_file"],
    ],
    required_one_of: &[],
    required_together: &[ADMIN_CREDENTIALS_TOGETHER],
};

pub static MODULE: ModuleDef = ModuleDef {
    name: "user_info",
    spec: &SPEC,
    doc: &DOC,
    run,
};

/// The backends that list accounts (through their API or their database), and those refused
/// with their reason (continuwuity).
fn backend_choices() -> &'static [&'static str] {
    servers::record_backends()
}

/// The typed arguments.
struct Args {
    user: Option<User>,
    filter: AccountFilter,
    backend: &'static Backend,
    access: Access,
}

impl Args {
    fn from_params(p: &Params) -> Result<Args> {
        if let Some(s) = p.str("server_name") {
            validate_server_name("server_name", s)?;
        }
        let user = match p.str("username") {
            Some(u) => Some(User::parse(
                p.given_as("username"),
                u,
                p.str("server_name"),
            )?),
            None => None,
        };
        let name_contains = p.str("name").map(str::to_string);
        if name_contains.as_deref() == Some("") {
            return Err(fail!("name is empty: leave it out to list every account"));
        }
        let filter = AccountFilter {
            admins: p.opt_bool("admins"),
            deactivated: p.opt_bool("deactivated"),
            locked: p.opt_bool("locked"),
            user_type: p.str("user_type").map(|t| match t {
                "regular" => String::new(),
                t => t.to_string(),
            }),
            name_contains,
        };
        let asked = p.str("backend").unwrap_or_default();
        let backend = servers::require("backend", asked, Capability::Records)?;
        let name = backend.name;
        if backend.reach != Reach::Mas {
            args::refuse_mas_options(p, name)?;
            if p.is_given("api_url") {
                return Err(fail!(
                    "api_url is for backend mas only; backend {name} uses homeserver_url"
                ));
            }
        }
        // A server whose API cannot list accounts is read in its database (no admin needed).
        let by_database = !backend.offers(Capability::Records);
        let database = if by_database {
            let database = args::homeserver_database(p)?;
            if database.is_none() {
                let why = servers::instead(backend, Capability::Records)
                    .map(|hint| format!(": {hint}"))
                    .unwrap_or_default();
                return Err(fail!(
                    "backend {name} lists accounts from its database only, and database is not given{why}"
                ));
            }
            database
        } else {
            for o in ["database", "database_password", "database_password_file"] {
                if p.is_given(o) {
                    return Err(fail!(
                        "{o} is for the backends that read accounts in their database ({}), not {name}, whose API lists them",
                        servers::names_offering_only(Capability::RecordsByDatabase).join(", ")
                    ));
                }
            }
            None
        };
        let access = match backend.reach {
            Reach::Mas => args::mas(p)?,
            _ => {
                let admin = args::admin_credentials(p)?;
                if admin.is_none() && !by_database {
                    return Err(fail!("backend {name} needs admin credentials: access_token, or admin_username and admin_password"));
                }
                Access {
                    admin,
                    connection: Some(args::connection(p, "homeserver_url")?),
                    database,
                    ..Access::default()
                }
            }
        };
        Ok(Args {
            user,
            filter,
            backend,
            access,
        })
    }
}

fn run(m: &mut Module) -> Result<Outcome> {
    let mut a = Args::from_params(&m.params)?;
    let server = a.backend.open(std::mem::take(&mut a.access))?;
    if server.admin == AdminAccess::NotLoggedIn {
        m.warn("check mode does not log in as admin_username, so the accounts were not read; give access_token to list them in check mode".to_string());
        return Ok(Outcome::changed(false)
            .msg("not read: check mode does not log in as admin_username; give access_token"));
    }
    let outcome = list(&a, &server);
    server.close_after(outcome)
}

/// The accounts asked for, from the opened server; all of them or nothing.
fn list(a: &Args, server: &Server) -> Result<Outcome> {
    let name = server.backend.name;
    let records = server
        .records()
        .ok_or_else(|| fail!("backend {name} cannot list accounts with these credentials"))?;
    // Records while listing (a quarter of the memory of JSON values), turned into JSON at the end.
    let mut found: Vec<AccountRecord> = Vec::new();
    match &a.user {
        Some(user) => {
            let user_id = match (user.id(), server.identity()) {
                (Some(id), _) => id,
                (None, Some(identity)) => match identity.server_name(None)? {
                    Some((s, _)) => format!("@{}:{s}", user.localpart),
                    None => return Err(full_id_needed(name, user)),
                },
                (None, None) => return Err(full_id_needed(name, user)),
            };
            if let Some(r) = records.record(&user_id)? {
                if a.filter.admits(&r) {
                    found.push(r);
                }
            }
        }
        None => records.records(&a.filter, &mut |r| found.push(r))?,
    }
    let users: Vec<Value> = found.into_iter().map(to_json).collect();
    let count = users.len();
    Ok(Outcome::changed(false)
        .msg(format!("{count} account(s) on {}", server.backend.server))
        .with("count", count)
        .with("users", users))
}

fn full_id_needed(backend: &str, user: &User) -> crate::ansible::Error {
    fail!(
        "backend {backend} needs the full user ID: give server_name, or username as @{}:<server>",
        user.localpart
    )
}

/// An account as the module returns it.
fn to_json(r: AccountRecord) -> Value {
    json!({
        "user_id": r.user_id,
        "admin": r.admin,
        "user_type": r.user_type,
        "deactivated": r.deactivated,
        "locked": r.locked,
        "displayname": r.displayname,
        "created": r.created.map(rfc3339),
        "emails": r.emails,
    })
}

static USER_FIELDS: &[Ret] = &[
    Ret::new("user_id", Kind::Str, "always", "The full user ID.").sample("\"@alice:example.org\""),
    Ret::new("admin", Kind::Bool, "always", "Whether it is a server admin (MAS - may ask for admin scopes).").sample("false"),
    Ret::new("user_type", Kind::Str, "always", "Synapse's user type (C(bot), C(support)), or null for a regular account (always null on tuwunel and MAS).").sample("null"),
    Ret::new("deactivated", Kind::Bool, "always", "Whether it is deactivated.").sample("false"),
    Ret::new("locked", Kind::Bool, "always", "Whether it is locked; null where the server does not say.").sample("false"),
    Ret::new("displayname", Kind::Str, "always", "Its display name, or null (always null on MAS, which keeps none).").sample("\"Alice\""),
    Ret::new("created", Kind::Str, "always", "When it was created (RFC 3339, UTC), or null where the server does not keep it (tuwunel).").sample("\"2026-01-31T09:00:00Z\""),
    Ret::new("emails", Kind::List, "always", "Its e-mail addresses with I(username) on Synapse and MAS; null in listings (the listing APIs do not show them, and a request per account would make long lists slow) and on tuwunel.").sample("[\"alice@example.org\"]"),
];

static DOC: ModuleDoc = ModuleDoc {
    short_description: "List Matrix accounts (Synapse, tuwunel, MAS, Dendrite)",
    description: &[
        "Lists the accounts of a homeserver, all of them or one (I(username)), optionally filtered by admin flag, deactivation, lock, user type and a part of the user ID, in the same shape on Synapse, tuwunel, Matrix Authentication Service and Dendrite (its database).",
        "Listings are paged (1000 accounts a request) with a cap on the number of pages and a check that every page moves forward: a server that repeats a page, lists something that is not a user ID or lists an account twice fails the task, and no partial list is ever returned as a result.",
        "Read-only; safe in check mode (with I(access_token) or MAS client credentials it reads the same in check mode).",
    ],
    check_mode: "Read-only: the same as a normal run, except that with I(admin_username) check mode does not log in and reads nothing.",
    diff_mode: "Changes nothing.",
    notes: &[
        "Dendrite has no API that lists or reads accounts; the module reads its user API database (I(database)) instead, read-only.",
        "Deactivated and locked accounts are included unless the filters leave them out; Synapse and Dendrite guests are never listed.",
        "On Synapse and tuwunel the admin and deactivation filters are sent to the server; on MAS every user is read (1000 a page) and filtered by the module, since MAS's filters were recorded on single pages only. Every filter is applied again to what the server answered.",
    ],
    examples: r#"- name: Every admin on Synapse
  user_info:
    access_token: "{{ matrix_admin_access_token }}"
    admins: true
  register: admins

- name: One account
  user_info:
    access_token: "{{ matrix_admin_access_token }}"
    username: "@alice:example.org"
  register: alice

- name: Deactivated accounts of Dendrite, from its database
  user_info:
    backend: dendrite
    database: postgresql://dendrite@127.0.0.1:5432/dendrite_userapi
    database_password_file: /matrix/dendrite/database-password
    deactivated: true

- name: Locked users of a MAS-delegated homeserver
  user_info:
    backend: mas
    api_url: http://127.0.0.1:8080
    client_id: 01J0000000000000000000ADMN
    client_secret_file: /matrix/mas/admin-client-secret
    locked: true
"#,
    returns: &[
        Ret::new("users", Kind::List, "unless check mode without access_token", "The accounts, ordered as the server lists them.").contains(USER_FIELDS),
        Ret::new("count", Kind::Int, "unless check mode without access_token", "How many accounts C(users) holds.").sample("2"),
    ],
};
