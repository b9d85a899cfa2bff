//! Module `user_admin`: grants or revokes server-admin rights on an existing account.
//!
//! Backends: `synapse` (the admin API); `synapse_sqlite` and `synapse_postgres` (the documented SQL
//! update, for a server where no admin account exists yet; Synapse must restart to see it);
//! `dendrite_sqlite` and `dendrite_postgres` (Dendrite has no admin-flag API: its flag is
//! `userapi_accounts.account_type`, which Dendrite reads on every request, so no restart).
//! A missing account is always a failure: this module never creates one.

use crate::ansible::{
    Diff, Kind, Module, ModuleDef, ModuleDoc, Opt, Outcome, Params, Result, Ret, Spec,
};
use crate::args::{
    self, ADMIN_CREDENTIALS_EXCLUSIVE, ADMIN_CREDENTIALS_TOGETHER, ADMIN_CREDENTIAL_OPTIONS,
    CONNECTION_OPTIONS, DATABASE_PASSWORD_OPTIONS, MAS_CLIENT_EXCLUSIVE, MAS_CLIENT_OPTIONS,
    MAS_SECRET_EXCLUSIVE, MAS_URL_OPTIONS,
};
use crate::capabilities::AdminChange;
use crate::database::{self, Database};
use crate::fail;
use crate::matrix::{validate_server_name, User};
use crate::servers::{self, Access, AdminAccess, Backend, Capability, DatabaseKind, Reach, Server};
use serde_json::json;

static MODULE_OPTIONS: &[Opt] = &[
    Opt::str("username")
        .aliases(&["name", "user"])
        .required()
        .doc(&["The account, as a localpart (needs I(server_name), or admin credentials to learn it) or a full user ID."]),
    Opt::bool("admin")
        .required()
        .doc(&["Whether the account should be a server admin. Accepts Ansible's booleans (C(yes), C(no), ...)."]),
    Opt::str("backend")
        .choices_from(servers::admin_flag_backends)
        .default_str("synapse")
        .doc(&[
            "Where the flag is read and written.",
            "C(synapse) - Synapse's admin API, with the admin credentials.",
            "C(synapse_sqlite), C(synapse_postgres) - Synapse's database, written directly (C(users.admin)); Synapse caches user records, so it sees the change after a restart (C(restart_required)).",
            "C(dendrite_sqlite), C(dendrite_postgres) - Dendrite's database (C(userapi_accounts.account_type), 3 admin, 1 user): Dendrite has no API for the admin flag. Dendrite reads it on every request, so the change counts at once (C(restart_required=false)).",
            "C(tuwunel) - tuwunel's copy of Synapse's admin API, with the admin credentials: the flag is membership of tuwunel's admin room, set with C(PUT /_synapse/admin/v2/users/<user_id>) (tuwunel does not serve the C(/admin) endpoint Synapse uses). Without an admin room granting does nothing, which the module reports as a failure.",
            "C(mas) - the admin flag of Matrix Authentication Service (with I(api_url) and I(client_id) + I(client_secret), or I(access_token)), for a homeserver that delegates authentication to MAS.",
            "C(continuwuity) - refused before any request: continuwuity has no API for the admin flag; the message names its admin-room command C(!admin users make-user-admin <user_id>).",
        ]),
    Opt::path("database").doc(&[
        "The database backends only, required there.",
        "C(synapse_sqlite), C(dendrite_sqlite) - the absolute path of the SQLite file: Synapse's C(homeserver.db), Dendrite's user API database (C(dendrite_userapi.db); Dendrite's C(file:) connection strings are accepted). It is never created; a wrong path fails.",
        "C(synapse_postgres), C(dendrite_postgres) - a libpq URL without password, e.g. C(postgresql://synapse@127.0.0.1:5432/synapse) (or libpq C(key=value) words). TLS follows C(sslmode) in the URL as in libpq - C(disable); C(prefer) (the default) and C(require) encrypt without checking the certificate; C(verify-ca) and C(verify-full) check it against C(sslrootcert) (a PEM file named in the URL) or the system's CAs plus I(ca_path). A URL that contains a password is refused: give it in I(database_password) or I(database_password_file).",
    ]),
    Opt::str("server_name").doc(&["The server name, to build the user ID from a localpart."]),
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
        &["database", "access_token"],
        &["database", "admin_username"],
        &["database_password", "database_password_file"],
    ],
    required_one_of: &[],
    required_together: &[ADMIN_CREDENTIALS_TOGETHER],
};

pub static MODULE: ModuleDef = ModuleDef {
    name: "user_admin",
    spec: &SPEC,
    doc: &DOC,
    run,
};

/// The typed arguments.
struct Args {
    user: User,
    admin: bool,
    backend: &'static Backend,
    access: Access,
}

impl Args {
    fn from_params(p: &Params) -> Result<Args> {
        if let Some(s) = p.str("server_name") {
            validate_server_name("server_name", s)?;
        }
        // The name first, before anything touches the server or the database.
        let user = User::parse(
            p.given_as("username"),
            p.str("username").unwrap_or_default(),
            p.str("server_name"),
        )?;
        let backend = servers::require(
            "backend",
            p.str("backend").unwrap_or_default(),
            Capability::AdminFlag,
        )?;
        let name = backend.name;
        if backend.reach != Reach::Mas {
            args::refuse_mas_options(p, name)?;
        }
        let access = match backend.reach {
            Reach::Mas => args::mas(p)?,
            Reach::Homeserver | Reach::TokenService => {
                let instead = servers::BACKENDS
                    .iter()
                    .find(|b| {
                        b.server == backend.server
                            && matches!(b.reach, Reach::Database(_))
                            && b.offers(Capability::AdminFlag)
                    })
                    .map(|b| format!(" (or use backend {} with database)", b.name))
                    .unwrap_or_default();
                Access {
                    admin: Some(args::admin_credentials(p)?.ok_or_else(|| {
                        fail!(
                            "backend {name} needs admin credentials: access_token, or admin_username and admin_password{instead}"
                        )
                    })?),
                    connection: Some(args::connection(p, "homeserver_url")?),
                    ..Access::default()
                }
            }
            Reach::Database(kind) => Access {
                database: Some(database_target(p, backend, kind)?),
                ..Access::default()
            },
        };
        Ok(Args {
            user,
            admin: p.bool("admin"),
            backend,
            access,
        })
    }
}

/// `database` (with its password options) as the backend reads it.
fn database_target(p: &Params, backend: &Backend, kind: DatabaseKind) -> Result<Database> {
    let name = backend.name;
    let server = backend.server.to_lowercase();
    let value = p.str("database").ok_or_else(|| match kind {
        DatabaseKind::Postgres => fail!(
            "backend {name} needs database: a PostgreSQL URL such as postgresql://{server}@127.0.0.1:5432/{server}"
        ),
        DatabaseKind::Sqlite => fail!(
            "backend {name} needs database: the path of {}",
            if backend.server == "Synapse" {
                "Synapse's homeserver.db"
            } else {
                "Dendrite's user API database (dendrite_userapi.db)"
            }
        ),
    })?;
    match kind {
        DatabaseKind::Postgres => {
            let password = args::secret_option(p, "database_password", "database_password_file")?;
            let timeout = p.int("timeout").unwrap_or(30).clamp(1, 3600) as u64;
            Ok(Database::Postgres(Box::new(database::postgres_target(
                "database",
                value,
                password.as_deref(),
                std::time::Duration::from_secs(timeout),
                p.str("ca_path"),
            )?)))
        }
        DatabaseKind::Sqlite => {
            if p.is_given("database_password") || p.is_given("database_password_file") {
                return Err(fail!(
                    "backend {name} reads a SQLite file, which has no password: leave database_password and database_password_file out"
                ));
            }
            Ok(Database::Sqlite(database::sqlite_path("database", value)?))
        }
    }
}

fn run(m: &mut Module) -> Result<Outcome> {
    let mut args = Args::from_params(&m.params)?;
    let backend = args.backend;
    let server = backend.open(std::mem::take(&mut args.access))?;
    if server.admin == AdminAccess::NotLoggedIn {
        // Check mode with admin_username: no login, so the flag cannot be read.
        let who = args.user.display();
        m.warn(format!(
            "check mode cannot tell whether the admin flag of {who} would change without logging in; give access_token to predict it"
        ));
        return Ok(Outcome::changed(false)
            .msg(format!(
                "{who}: not predicted (check mode without access_token)"
            ))
            .with("user_id", args.user.id()));
    }
    let outcome = respond(m, &args, &server);
    server.close_after(outcome)
}

/// The flag asked for, on the opened server, and the result.
fn respond(m: &mut Module, args: &Args, server: &Server) -> Result<Outcome> {
    let want = args.admin;
    let backend = server.backend;
    let converged = converge(server, &args.user, want, m.check_mode);
    let restart_required = server.restart_required;
    let (user_id, change) = converged?;
    let restart = restart_required.map(|r| r && change.changed && !m.check_mode);
    if restart == Some(true) {
        let homeserver = backend.server;
        m.warn(format!(
            "the admin flag of {user_id} was written to the database; {homeserver} caches user records, so restart {homeserver} for the change to take effect"
        ));
    }
    let AdminChange {
        before, changed, ..
    } = change;
    let verb = match (changed, m.check_mode, want) {
        (false, _, true) => "is already an admin",
        (false, _, false) => "is already not an admin",
        (true, true, true) => "would be made an admin",
        (true, true, false) => "would lose admin rights",
        (true, false, true) => "is now an admin",
        (true, false, false) => "is no longer an admin",
    };
    let mut out = Outcome::changed(changed)
        .msg(format!("{user_id} {verb}"))
        .with("user_id", user_id.clone())
        .with("admin", if m.check_mode { before } else { want })
        .diff(Diff {
            before: json!({"user_id": user_id, "admin": before}),
            after: json!({"user_id": user_id, "admin": want}),
            before_header: Some(user_id.clone()),
            after_header: Some(user_id.clone()),
        });
    if let Some(r) = restart {
        out = out.with("restart_required", r);
    }
    Ok(out)
}

/// The flag of the account; a localpart's server comes from the server (the admin's own user
/// ID, MAS's site config) where it can tell.
fn converge(
    server: &Server,
    user: &User,
    want: bool,
    check_mode: bool,
) -> Result<(String, AdminChange)> {
    let name = server.backend.name;
    let user_id = match (user.id(), &server.identity()) {
        (Some(id), _) => id,
        (None, Some(identity)) => match identity.server_name(None)? {
            Some((s, _)) => format!("@{}:{s}", user.localpart),
            None => return Err(full_id_needed(name, user)),
        },
        (None, None) => return Err(full_id_needed(name, user)),
    };
    let flag = server
        .admin_flags()
        .ok_or_else(|| fail!("backend {name} cannot set the admin flag of accounts"))?;
    let change = flag.converge(&user_id, want, check_mode)?;
    Ok((user_id, change))
}

fn full_id_needed(backend: &str, user: &User) -> crate::ansible::Error {
    fail!(
        "backend {backend} needs the full user ID: give server_name, or username as @{}:<server>",
        user.localpart
    )
}

static DOC: ModuleDoc = ModuleDoc {
    short_description: "Grant or revoke server-admin rights on an existing Matrix account",
    description: &["Makes an existing account a server admin, or takes the rights away, in one idempotent task; nothing is written when the flag already matches.", "Backend C(synapse) uses the Synapse admin API (C(PUT /_synapse/admin/v1/users/<user_id>/admin)), acting with an admin's I(access_token), or logging in as I(admin_username) and logging out at the end.", "Backend C(tuwunel) uses tuwunel's copy of that API (C(PUT /_synapse/admin/v2/users/<user_id>) with C(admin), which joins or leaves its admin room), with the same credentials; the flag is read first, and C(false) is sent only to a current admin (tuwunel fails on revoking anyone else).", "Backends C(synapse_sqlite) and C(synapse_postgres) update Synapse's database directly (C(UPDATE users SET admin)), the documented way to make the first admin when no admin account exists yet. Synapse caches user records, so the change takes effect after Synapse restarts; the module returns C(restart_required=true) and warns.", "Dendrite has no API for the admin flag; backends C(dendrite_sqlite) and C(dendrite_postgres) set C(userapi_accounts.account_type) (3 admin, 1 user), the way Dendrite's documentation gives. Dendrite reads the account type on every request, so the change counts at once (C(restart_required=false)). Guest and appservice accounts are never changed.", "Database backends work in one transaction that locks the row, read the flag, and write only when it differs; check mode opens a read-only transaction (SQLite - a read-only connection).", "Backend C(mas) sets the admin flag of Matrix Authentication Service (C(POST /api/admin/v1/users/<id>/set-admin)), for a homeserver that delegates authentication to MAS. Under MAS the flag lets the user ask for admin scopes (such as C(urn:synapse:admin:*) for Synapse's admin API) when it next logs in; sessions that exist already are not affected.", "A missing account is a failure, never a creation.", "A compiled binary module; secrets never appear in its output."],
    check_mode: "Reads the current flag and predicts C(changed); writes nothing (SQLite is opened read-only, PostgreSQL in a read-only transaction).",
    diff_mode: "Shows the admin flag before and after.",
    notes: &["Synapse refuses to let an admin demote itself; demote with another admin's credentials."],
    examples: r#"- name: Make john an admin
  user_admin:
    username: john
    admin: true
    server_name: example.org
    access_token: "{{ matrix_admin_access_token }}"

- name: Take admin rights away, logging in as another admin
  user_admin:
    username: "@john:example.org"
    admin: false
    admin_username: root-admin
    admin_password: "{{ vault_root_admin_password }}"
  no_log: true

- name: Make the first admin on a server that has none (SQLite), then restart Synapse
  user_admin:
    username: john
    admin: true
    backend: synapse_sqlite
    database: /matrix/synapse/storage/homeserver.db
    server_name: example.org
  register: first_admin
  notify: Restart Synapse

- name: Make john an admin on a homeserver that delegates to MAS
  user_admin:
    username: john
    admin: true
    backend: mas
    api_url: http://127.0.0.1:8080
    client_id: 01J0000000000000000000ADMN
    client_secret_file: /matrix/mas/admin-client-secret

- name: The same on Synapse with PostgreSQL (the password from a file on the server)
  user_admin:
    username: "@john:example.org"
    admin: true
    backend: synapse_postgres
    database: postgresql://synapse@127.0.0.1:5432/synapse
    database_password_file: /matrix/postgres/synapse.password
  notify: Restart Synapse

- name: Make a Dendrite account an admin (no restart needed)
  user_admin:
    username: "@john:example.org"
    admin: true
    backend: dendrite_postgres
    database: postgresql://dendrite@127.0.0.1:5432/dendrite?sslmode=disable
    database_password: "{{ vault_dendrite_database_password }}"

- name: Dendrite on SQLite
  user_admin:
    username: john
    server_name: example.org
    admin: true
    backend: dendrite_sqlite
    database: /var/lib/dendrite/dendrite_userapi.db
"#,
    returns: &[
        Ret::new("user_id", Kind::Str, "always", "The account's full user ID.").sample(r#""@john:example.org""#),
        Ret::new("admin", Kind::Bool, "success", "The admin flag after the run (in check mode, the current flag).").sample(r#"true"#),
        Ret::new("restart_required", Kind::Bool, "database backends", "Whether the homeserver must restart to see the change - true after a change with C(synapse_sqlite) or C(synapse_postgres), always false with Dendrite, which does not cache the flag.").sample(r#"true"#),
    ],
};
