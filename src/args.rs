//! Options shared by several modules, declared once, and their reading into typed values.
//!
//! Each module turns its validated [`Params`] into a typed `Args` at its top (the ripgrep way:
//! low-level options, then a typed configuration); the readers of shared options live here.
//! Below the `Args` layer nothing reads an option by name.

use crate::ansible::{Opt, Params, Result};
use crate::api::admin_session::AdminCredentials;
use crate::api::mas_session::MasCredentials;
use crate::client::{parse_base_url, Connection};
use crate::fail;
use crate::secret_file;
use crate::servers::{self, Access, Backend, Capability, Reach};
use std::time::Duration;

/// Options every module takes for reaching its server.
pub static CONNECTION_OPTIONS: &[Opt] = &[
    Opt::str("homeserver_url")
        .default_str("http://127.0.0.1:8008")
        .doc(&["Base URL of the homeserver's client API, as reached from the target host."]),
    Opt::bool("validate_certs")
        .default_bool(true)
        .doc(&["Whether to verify the server's TLS certificate."]),
    Opt::path("ca_path").doc(&["A PEM bundle of extra CA certificates to trust."]),
    Opt::int("timeout")
        .default_int(30)
        .doc(&["Seconds to wait for each request; retries stop once this much time has passed."]),
    Opt::int("retries").default_int(3).doc(&[
        "How often to retry a transient failure (connection refused, HTTP 429, 5xx) with backoff.",
    ]),
];

/// The PostgreSQL password of `database`, for the modules that read or write a homeserver's
/// database (user_admin's database backends, Dendrite's lifecycle and listings).
pub static DATABASE_PASSWORD_OPTIONS: &[Opt] = &[
    Opt::str("database_password")
        .no_log()
        .doc(&["The PostgreSQL password of the user in I(database)."]),
    Opt::path("database_password_file").doc(&[
        "A file on the target holding only the PostgreSQL password; surrounding whitespace is removed.",
    ]),
];

/// An admin's credentials on the homeserver: a token, or a login for the duration of the task.
pub static ADMIN_CREDENTIAL_OPTIONS: &[Opt] = &[
    Opt::str("access_token")
        .no_log()
        .doc(&[
            "An admin's access token. Preferred over logging in: Synapse rate-limits logins.",
            "With I(backend=mas), a MAS admin token (scope C(urn:mas:admin)) instead; such tokens live 5 minutes by default, so prefer I(client_id) and I(client_secret) there.",
        ]),
    Opt::str("admin_username").doc(&[
        "Instead of I(access_token), log in as this admin once per task, act, and log out at the end (no device is left behind).",
        "Synapse's default login rate limit (a burst of about 5) makes a login per loop item fail; prefer I(access_token) in loops.",
    ]),
    Opt::str("admin_password")
        .no_log()
        .doc(&["The password of I(admin_username)."]),
];

/// MAS's base URL, for the modules that have no `api_url` of their own (register_user,
/// user_admin); the token modules' `api_url` ([`TOKEN_SERVICE_OPTIONS`]) serves the same purpose.
pub static MAS_URL_OPTIONS: &[Opt] = &[Opt::str("api_url").doc(&[
    "Backend C(mas) only, required there: the base URL of Matrix Authentication Service (where it serves C(/.well-known/openid-configuration) and its admin API C(/api/admin/v1)), as reached from the target host, e.g. C(http://127.0.0.1:8080). MAS is not the homeserver: I(homeserver_url) is not used with backend C(mas).",
])];

/// How to act as a MAS admin: OAuth2 client credentials (or C(access_token), a MAS admin token).
pub static MAS_CLIENT_OPTIONS: &[Opt] = &[
    Opt::str("client_id").doc(&[
        "Backend C(mas): the C(client_id) (a ULID) of a confidential client in MAS's C(clients:) config with C(client_auth_method: client_secret_basic), listed in MAS's C(policy.data.admin_clients).",
        "The module gets a token of the scope C(urn:mas:admin) with the client credentials grant, renews it when it runs out during a long task, and revokes it at the end.",
    ]),
    Opt::str("client_secret")
        .no_log()
        .doc(&["Backend C(mas): the secret of I(client_id)."]),
    Opt::path("client_secret_file").doc(&[
        "Backend C(mas): a file holding only the secret of I(client_id); surrounding whitespace is removed.",
    ]),
];

/// Relations of [`MAS_CLIENT_OPTIONS`], for a module's spec.
pub const MAS_SECRET_EXCLUSIVE: &[&str] = &["client_secret", "client_secret_file"];
pub const MAS_CLIENT_EXCLUSIVE: &[&str] = &["client_id", "access_token"];

/// `api_url` and the MAS credentials, for backend mas.
pub fn mas(p: &Params) -> Result<Access> {
    if !p.is_given("api_url") {
        return Err(fail!(
            "backend mas needs api_url: the base URL of Matrix Authentication Service (not the homeserver), e.g. http://127.0.0.1:8080"
        ));
    }
    let connection = connection(p, "api_url")?;
    if p.is_given("admin_username") {
        return Err(fail!(
            "backend mas does not log in with admin_username: give client_id and client_secret (a client in MAS's policy.data.admin_clients), or access_token (a MAS admin token)"
        ));
    }
    let credentials = match (p.str("access_token"), p.str("client_id")) {
        (Some(""), _) => return Err(fail!("access_token is empty")),
        (Some(t), _) => MasCredentials::Token(t.to_string()),
        (None, Some(id)) => {
            let secret = secret_option(p, "client_secret", "client_secret_file")?.ok_or_else(|| {
                fail!("client_id needs client_secret or client_secret_file")
            })?;
            if secret.is_empty() {
                return Err(fail!("the client secret is empty"));
            }
            MasCredentials::Client {
                id: id.to_string(),
                secret,
            }
        }
        (None, None) => return Err(fail!(
            "backend mas needs MAS admin credentials: client_id and client_secret (or client_secret_file), or access_token (a MAS admin token)"
        )),
    };
    Ok(Access {
        connection: Some(connection),
        mas: Some(credentials),
        ..Access::default()
    })
}

/// Refuses the MAS-only options with another backend: they would be silently unused.
pub fn refuse_mas_options(p: &Params, backend: &str) -> Result<()> {
    for o in ["client_id", "client_secret", "client_secret_file"] {
        if p.is_given(o) {
            return Err(fail!("{o} is for backend mas only, not {backend}"));
        }
    }
    Ok(())
}

/// `database` with its password options, for a homeserver backend that also reaches its
/// database (register_user's backend dendrite): the kind is told by the value's shape. None if
/// `database` is not given.
pub fn homeserver_database(p: &Params) -> Result<Option<crate::database::Database>> {
    let Some(value) = p.str("database") else {
        for o in ["database_password", "database_password_file"] {
            if p.is_given(o) {
                return Err(fail!("{o} is the password of database, which is not given"));
            }
        }
        return Ok(None);
    };
    let password = secret_option(p, "database_password", "database_password_file")?;
    let timeout = p.int("timeout").unwrap_or(30).clamp(1, 3600) as u64;
    crate::database::either(
        "database",
        value,
        password.as_deref(),
        Duration::from_secs(timeout),
        p.str("ca_path"),
    )
    .map(Some)
}

/// Relations of [`ADMIN_CREDENTIAL_OPTIONS`], for a module's spec.
pub const ADMIN_CREDENTIALS_EXCLUSIVE: &[&str] = &["access_token", "admin_username"];
pub const ADMIN_CREDENTIALS_TOGETHER: &[&str] = &["admin_username", "admin_password"];

/// The connection to the server whose base URL is option `url_option`.
pub fn connection(p: &Params, url_option: &str) -> Result<Connection> {
    let url = p.str(url_option).unwrap_or_default();
    let base = parse_base_url(url_option, url)?;
    let timeout = p.int("timeout").unwrap_or(30);
    if !(1..=3600).contains(&timeout) {
        return Err(fail!(
            "timeout must be between 1 and 3600 seconds, got {timeout}"
        ));
    }
    let retries = p.int("retries").unwrap_or(3);
    if !(0..=20).contains(&retries) {
        return Err(fail!("retries must be between 0 and 20, got {retries}"));
    }
    Ok(Connection {
        base,
        url_option: url_option.to_string(),
        validate_certs: p.opt_bool("validate_certs").unwrap_or(true),
        ca_path: p.str("ca_path").map(str::to_string),
        timeout: Duration::from_secs(timeout as u64),
        retries: retries as u32,
    })
}

/// `access_token`, or `admin_username` + `admin_password`; None if neither is given.
pub fn admin_credentials(p: &Params) -> Result<Option<AdminCredentials>> {
    if let Some(t) = p.str("access_token") {
        if t.is_empty() {
            return Err(fail!("access_token is empty"));
        }
        return Ok(Some(AdminCredentials::Token(t.to_string())));
    }
    match (p.str("admin_username"), p.str("admin_password")) {
        (Some(u), Some(pw)) => {
            crate::ansible::register_secret(pw);
            Ok(Some(AdminCredentials::Login {
                username: u.to_string(),
                password: pw.to_string(),
            }))
        }
        _ => Ok(None),
    }
}

/// A secret given inline (`value_opt`) or in a file (`file_opt`); see [`secrets`].
pub fn secret_option(p: &Params, value_opt: &str, file_opt: &str) -> Result<Option<String>> {
    match (p.str(value_opt), p.str(file_opt)) {
        (Some(v), _) => {
            crate::ansible::register_secret(v);
            Ok(Some(v.to_string()))
        }
        (None, Some(path)) => secret_file::read_file(file_opt, path).map(Some),
        (None, None) => Ok(None),
    }
}

/// Options of both token modules: which service keeps the tokens, and how to reach it.
pub static TOKEN_SERVICE_OPTIONS: &[Opt] = &[
    Opt::str("backend")
        .choices_from(servers::token_backends)
        .default_str("matrix_registration")
        .doc(&[
            "The service that issues the tokens. C(matrix_registration) is the registration page service (both API generations, 0.7/0.8 C(/token) and 0.9 C(/api/token), detected automatically); C(synapse) uses Synapse's own registration tokens (admin API, with the admin credentials); C(dendrite) uses Dendrite's (C(/_dendrite/admin/registrationTokens), Dendrite 0.13 or later, with the credentials of an admin account); C(mas) uses Matrix Authentication Service's registration tokens (MAS 0.17 and later; with I(client_id) and I(client_secret), or I(access_token)); C(tuwunel) uses tuwunel's copy of Synapse's token API (with the admin credentials).",
            "tuwunel deletes tokens that can no longer be used (expired or used up) at its next listing, so a disabled token may later not exist (I(state=disabled) then reports it unusable, unchanged), and it lists no invalid tokens. Tokens from its configuration (C(registration_token), C(registration_token_file)) cannot be changed, disabled or deleted through its API: the module fails naming the configuration.",
            "C(continuwuity) - refused before any request: continuwuity has no API for registration tokens; the message names its admin-room commands (C(!admin token issue), C(!admin token revoke), C(!admin token list)). Its tokens register accounts with register_user's I(registration_token).",
            "Dendrite creates tokens only with C(client_api.registration_requires_token: true), and Dendrite 0.13 on SQLite does not apply changes to existing tokens (the module says so instead of reporting success). Dendrite 0.13 has no token stage in its client registration, so its tokens cannot be used to register yet.",
        ]),
    Opt::str("api_url").doc(&["Base URL of the token service. For C(matrix_registration), the URL it is mounted at, e.g. C(https://matrix.example.org/matrix-registration) (required). For C(synapse), C(dendrite) and C(tuwunel), the default is I(homeserver_url). For C(mas), the base URL of Matrix Authentication Service (required)."]),
    Opt::str("admin_secret")
        .no_log()
        .doc(&["matrix-registration's admin API secret (C(admin_api_shared_secret), or C(admin_secret) in 0.7/0.8)."]),
];

/// Relations of [`TOKEN_SERVICE_OPTIONS`] and the admin credentials, for a token module's spec.
pub const TOKEN_SERVICE_EXCLUSIVE: &[&[&str]] = &[
    ADMIN_CREDENTIALS_EXCLUSIVE,
    &["admin_secret", "access_token"],
    &["admin_secret", "admin_username"],
];

/// A token service, typed: the backend, and what reaches it.
pub struct TokenServiceArgs {
    pub backend: &'static Backend,
    pub access: Access,
}

pub fn token_service(p: &Params) -> Result<TokenServiceArgs> {
    let backend = servers::require(
        "backend",
        p.str("backend").unwrap_or_default(),
        Capability::Tokens,
    )?;
    let name = backend.name;
    if backend.reach != Reach::Mas {
        refuse_mas_options(p, name)?;
    }
    let access = match backend.reach {
        Reach::Homeserver => Access {
            connection: Some(connection(
                p,
                if p.is_given("api_url") {
                    "api_url"
                } else {
                    "homeserver_url"
                },
            )?),
            admin: Some(admin_credentials(p)?.ok_or_else(|| {
                fail!("backend {name} needs admin credentials: access_token, or admin_username and admin_password")
            })?),
            ..Access::default()
        },
        Reach::TokenService => {
            if !p.is_given("api_url") {
                return Err(fail!(
                    "backend {name} needs api_url: the URL matrix-registration is served at, e.g. https://matrix.example.org/matrix-registration"
                ));
            }
            let connection = connection(p, "api_url")?;
            let secret = p.str("admin_secret").filter(|s| !s.is_empty()).ok_or_else(|| {
                fail!("backend {name} needs admin_secret: matrix-registration's admin API shared secret (admin_api_shared_secret, or admin_secret in 0.7/0.8)")
            })?;
            crate::ansible::register_secret(secret);
            Access {
                connection: Some(connection),
                admin_secret: Some(secret.to_string()),
                ..Access::default()
            }
        }
        Reach::Mas | Reach::Database(_) => {
            if p.is_given("admin_secret") {
                return Err(fail!("admin_secret is matrix-registration's; backend mas takes client_id and client_secret, or access_token"));
            }
            mas(p)?
        }
    };
    Ok(TokenServiceArgs { backend, access })
}
