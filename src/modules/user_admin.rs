//! Module `user_admin`: grants or revokes server-admin rights on an existing account.
//!
//! Backends: `synapse` (the admin API) and `synapse_sqlite` (the documented SQL update, for a
//! server on SQLite where no admin account exists yet; Synapse must restart to see it).
//! A missing account is always a failure: this module never creates one.

use crate::ansible::{
    Diff, Kind, Module, ModuleDef, ModuleDoc, Opt, Outcome, Params, Result, Ret, Spec,
};
use crate::api::client_session::{AdminCredentials, AdminSession};
use crate::api::mas::site_config;
use crate::api::mas_session::MasSession;
use crate::args::{
    self, MasArgs, ADMIN_CREDENTIALS_EXCLUSIVE, ADMIN_CREDENTIALS_TOGETHER,
    ADMIN_CREDENTIAL_OPTIONS, CONNECTION_OPTIONS, MAS_CLIENT_EXCLUSIVE, MAS_CLIENT_OPTIONS,
    MAS_SECRET_EXCLUSIVE, MAS_URL_OPTIONS,
};
use crate::backends::{self, AdminChange, AdminStore, Homeserver};
use crate::client::Connection;
use crate::fail;
use crate::matrix::{validate_server_name, User};
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
        .choices(AdminStore::NAMES)
        .default_str("synapse")
        .doc(&["C(synapse) uses the admin API, with the admin credentials; C(synapse_sqlite) writes Synapse's SQLite database; C(mas) sets the admin flag of Matrix Authentication Service (with I(api_url) and I(client_id) + I(client_secret), or I(access_token))."]),
    Opt::path("database").doc(&["Backend C(synapse_sqlite) only, required there - the path of Synapse's SQLite database (C(homeserver.db)). It is never created; a wrong path fails."]),
    Opt::str("server_name").doc(&["The server name, to build the user ID from a localpart."]),
];

pub static SPEC: Spec = Spec {
    groups: &[
        MODULE_OPTIONS,
        ADMIN_CREDENTIAL_OPTIONS,
        MAS_URL_OPTIONS,
        MAS_CLIENT_OPTIONS,
        CONNECTION_OPTIONS,
    ],
    mutually_exclusive: &[
        ADMIN_CREDENTIALS_EXCLUSIVE,
        MAS_SECRET_EXCLUSIVE,
        MAS_CLIENT_EXCLUSIVE,
        &["database", "access_token"],
        &["database", "admin_username"],
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

/// Where the flag lives, with what that place needs.
enum Store {
    Api {
        credentials: AdminCredentials,
        connection: Connection,
    },
    Database {
        store: AdminStore,
        path: String,
    },
    /// Matrix Authentication Service's admin API.
    Mas(MasArgs),
}

/// The typed arguments.
struct Args {
    user: User,
    admin: bool,
    store: Store,
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
        let backend = args::choice::<AdminStore>(p, "backend")?;
        if backend != AdminStore::Mas {
            args::refuse_mas_options(p, backend.name())?;
        }
        let store = match backend {
            AdminStore::Mas => Store::Mas(args::mas(p)?),
            AdminStore::Synapse => Store::Api {
                credentials: args::admin_credentials(p)?.ok_or_else(|| fail!(
                    "backend synapse needs admin credentials: access_token, or admin_username and admin_password (or use backend synapse_sqlite with database)"
                ))?,
                connection: args::connection(p, "homeserver_url")?,
            },
            store => Store::Database {
                store,
                path: p.str("database").map(str::to_string).ok_or_else(|| {
                    fail!("backend {} needs database: the path of Synapse's homeserver.db", store.name())
                })?,
            },
        };
        Ok(Args {
            user,
            admin: p.bool("admin"),
            store,
        })
    }
}

fn run(m: &mut Module) -> Result<Outcome> {
    let args = Args::from_params(&m.params)?;
    let want = args.admin;
    let (user_id, change, restart_required) = match &args.store {
        Store::Database { store, path } => {
            let user_id = args.user.id().ok_or_else(|| {
                fail!(
                "backend {} needs the full user ID: give server_name, or username as @{}:<server>",
                store.name(),
                args.user.localpart
            )
            })?;
            let flag = backends::admin_flag_database(*store, path)
                .ok_or_else(|| fail!("backend {} keeps no database", store.name()))?;
            let change = flag.converge(&user_id, want, m.check_mode)?;
            (
                user_id,
                change,
                flag.restart_required()
                    .then_some(change.changed && !m.check_mode),
            )
        }
        Store::Api {
            credentials,
            connection,
        } => {
            let client = connection.client()?;
            let session = AdminSession::open(&client, credentials)?;
            if !session.is_live() {
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
            let r = via_api(&session, &args.user, want, m.check_mode);
            session.close()?;
            let (user_id, change) = r?;
            (user_id, change, None)
        }
        Store::Mas(mas) => {
            let client = mas.connection.client()?;
            let session = MasSession::open(&client, &mas.credentials)?;
            let r = via_mas(&session, &args.user, want, m.check_mode);
            session.close()?;
            let (user_id, change) = r?;
            (user_id, change, None)
        }
    };

    if restart_required == Some(true) {
        m.warn(format!(
            "the admin flag of {user_id} was written to the database; Synapse caches user records, so restart Synapse for the change to take effect"
        ));
    }
    let AdminChange { before, changed } = change;
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
    if let Some(r) = restart_required {
        out = out.with("restart_required", r);
    }
    Ok(out)
}

/// The flag through the admin API; a localpart's server comes from the admin's own user ID.
fn via_api(
    session: &AdminSession<'_>,
    user: &User,
    want: bool,
    check_mode: bool,
) -> Result<(String, AdminChange)> {
    let user_id = match user.id() {
        Some(id) => id,
        None => format!("@{}:{}", user.localpart, session.server_name()?),
    };
    let flag = backends::admin_flag(Homeserver::Synapse, session)
        .ok_or_else(|| fail!("the homeserver has no admin-flag API"))?;
    let change = flag.converge(&user_id, want, check_mode)?;
    Ok((user_id, change))
}

/// The flag through MAS's admin API; a localpart's server is the one MAS serves.
fn via_mas(
    session: &MasSession<'_>,
    user: &User,
    want: bool,
    check_mode: bool,
) -> Result<(String, AdminChange)> {
    let server_name = site_config(session)?.server_name;
    let user_id = match user.id() {
        Some(id) => id,
        None => format!("@{}:{server_name}", user.localpart),
    };
    let users = backends::mas_users(session, &server_name, false);
    let change = users.admin_flags.converge(&user_id, want, check_mode)?;
    Ok((user_id, change))
}

static DOC: ModuleDoc = ModuleDoc {
    short_description: "Grant or revoke server-admin rights on an existing Matrix account",
    description: &["Makes an existing account a server admin, or takes the rights away, in one idempotent task; nothing is written when the flag already matches.", "Backend C(synapse) uses the Synapse admin API (C(PUT /_synapse/admin/v1/users/<user_id>/admin)), acting with an admin's I(access_token), or logging in as I(admin_username) and logging out at the end.", "Backend C(synapse_sqlite) updates Synapse's SQLite database directly, the documented way to make the first admin when no admin account exists yet. Synapse caches user records, so the change takes effect after Synapse restarts; the module returns C(restart_required=true) and warns.", "Backend C(mas) sets the admin flag of Matrix Authentication Service (C(POST /api/admin/v1/users/<id>/set-admin)), for a homeserver that delegates authentication to MAS. Under MAS the flag lets the user ask for admin scopes (such as C(urn:synapse:admin:*) for Synapse's admin API) when it next logs in; sessions that exist already are not affected.", "A missing account is a failure, never a creation.", "A compiled binary module; secrets never appear in its output."],
    check_mode: "Reads the current flag and predicts C(changed); writes nothing (the database is opened read-only).",
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
"#,
    returns: &[
        Ret::new("user_id", Kind::Str, "always", "The account's full user ID.").sample(r#""@john:example.org""#),
        Ret::new("admin", Kind::Bool, "success", "The admin flag after the run (in check mode, the current flag).").sample(r#"true"#),
        Ret::new("restart_required", Kind::Bool, "backend synapse_sqlite", "Whether Synapse must restart to see the change (backend synapse_sqlite).").sample(r#"true"#),
    ],
};
