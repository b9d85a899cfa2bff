//! Module `user_admin`: grants or revokes server-admin rights on an existing account.
//!
//! Backends: `synapse` (the admin API) and `synapse_sqlite` (the documented SQL update, for a
//! server on SQLite where no admin account exists yet; Synapse must restart to see it).
//! A missing account is always a failure: this module never creates one.

use crate::ansible::{Diff, Module, Opt, Outcome, Result, Spec};
use crate::backends::synapse::{self, AdminCredentials, AdminSession};
use crate::backends::synapse_sqlite;
use crate::client::{encode_segment, Auth, Body, Client, Connection, CONNECTION_OPTIONS};
use crate::fail;
use crate::matrix::{validate_server_name, User};
use reqwest::Method;
use serde_json::{json, Value};

static MODULE_OPTIONS: &[Opt] = &[
    Opt::str("username").aliases(&["name", "user"]).required(),
    Opt::bool("admin").required(),
    Opt::str("backend")
        .choices(&["synapse", "synapse_sqlite"])
        .default_str("synapse"),
    Opt::str("access_token").no_log(),
    Opt::str("admin_username"),
    Opt::str("admin_password").no_log(),
    Opt::path("database"),
    Opt::str("server_name"),
];

pub static SPEC: Spec = Spec {
    groups: &[MODULE_OPTIONS, CONNECTION_OPTIONS],
    mutually_exclusive: &[
        &["access_token", "admin_username"],
        &["database", "access_token"],
        &["database", "admin_username"],
    ],
    required_one_of: &[],
    required_together: &[&["admin_username", "admin_password"]],
};

pub fn run(m: &mut Module) -> Result<Outcome> {
    let p = m.params.clone();
    let p = &p;
    let want = p.bool("admin");
    if let Some(s) = p.str("server_name") {
        validate_server_name("server_name", s)?;
    }
    let username = p.str("username").unwrap_or_default();
    // Validate the name before anything else touches the server or the database.
    let user = User::parse("username", username, p.str("server_name"))?;

    let (user_id, before, changed, restart_required) = match p.str("backend") {
        Some("synapse_sqlite") => {
            let database = p.str("database").ok_or_else(|| {
                fail!("backend synapse_sqlite needs database: the path of Synapse's homeserver.db")
            })?;
            let user_id = user.id().ok_or_else(|| fail!(
                "backend synapse_sqlite needs the full user ID: give server_name, or username as @{}:<server>",
                user.localpart
            ))?;
            let change = synapse_sqlite::set_admin(database, &user_id, want, m.check_mode)?;
            (user_id, change.before, change.changed, change.changed)
        }
        _ => {
            let creds = AdminCredentials::from_params(p)?.ok_or_else(|| fail!(
                "backend synapse needs admin credentials: access_token, or admin_username and admin_password (or use backend synapse_sqlite with database)"
            ))?;
            let url = p.str("homeserver_url").unwrap_or_default();
            let client = Connection::from_params(p, "homeserver_url", url)?.client()?;
            let session = AdminSession::open(&client, &creds)?;
            let r = via_api(&client, &session, &user, want, m.check_mode);
            session.close()?;
            let (user_id, before, changed) = r?;
            (user_id, before, changed, false)
        }
    };

    if restart_required && !m.check_mode {
        m.warn(format!(
            "the admin flag of {user_id} was written to the database; Synapse caches user records, so restart Synapse for the change to take effect"
        ));
    }
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
    if p.str("backend") == Some("synapse_sqlite") {
        out = out.with("restart_required", restart_required && !m.check_mode);
    }
    Ok(out)
}

/// Reads the flag through the admin API and changes it if needed: (user_id, before, changed).
fn via_api(
    client: &Client,
    session: &AdminSession<'_>,
    user: &User,
    want: bool,
    check_mode: bool,
) -> Result<(String, bool, bool)> {
    let user_id = match user.id() {
        Some(id) => id,
        None => format!(
            "@{}:{}",
            user.localpart,
            synapse::server_name_of_token(client, session.token())?
        ),
    };
    // GET /v1/users/<id>/admin answers {"admin": false} for accounts that do not exist, so
    // existence (and the current flag) comes from the v2 user record.
    let record = synapse::admin_get_user(client, session.token(), &user_id)?.ok_or_else(|| {
        fail!(
            "user {user_id} does not exist; user_admin never creates accounts (use register_user)"
        )
    })?;
    let before = record
        .get("admin")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if before == want || check_mode {
        return Ok((user_id, before, before != want));
    }
    let path = format!(
        "/_synapse/admin/v1/users/{}/admin",
        encode_segment(&user_id)
    );
    let r = client.send(
        Method::PUT,
        &path,
        Auth::Bearer(session.token()),
        Body::Json(&json!({"admin": want})),
        true,
    )?;
    if r.is_success() {
        return Ok((user_id, before, true));
    }
    if r.status.as_u16() == 400 && r.error_text().unwrap_or("").contains("demote yourself") {
        return Err(fail!(
            "Synapse does not let an admin demote itself ({}): use the credentials of another admin to demote {user_id}",
            r.describe()
        ));
    }
    Err(synapse::admin_error(
        &r,
        &format!("changing the admin flag of {user_id}"),
    ))
}
