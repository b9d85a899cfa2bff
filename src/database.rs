//! Homeserver databases written directly (user_admin's database backends): where the database
//! is, read from the options a person would copy from the homeserver's config, and the connection.
//!
//! - SQLite: a file path (Dendrite's `file:` connection strings are accepted too). The file is
//!   never created: a wrong path fails.
//! - PostgreSQL: a libpq URL (`postgresql://synapse@127.0.0.1:5432/synapse?sslmode=require`) or
//!   libpq `key=value` words, with the password in its own no_log option or a file. A password
//!   inside the URL is refused (and masked in the output): URLs end up in logs and process lists.
//!   TLS follows libpq's `sslmode`: `disable`; `prefer` (libpq's default: TLS when the server
//!   offers it) and `require` encrypt without checking the certificate, as libpq does;
//!   `verify-ca` checks the chain, `verify-full` the chain and the host name, against
//!   `sslrootcert` (a PEM file) or else the system's CAs plus `ca_path`.

use crate::ansible::{register_secret, Result};
use crate::fail;
use crate::tls;
use postgres::config::SslMode;
use std::str::FromStr;
use std::time::Duration;

/// Where a homeserver keeps its users.
#[derive(Debug, Clone)]
pub enum Database {
    Sqlite(String),
    Postgres(Box<PostgresTarget>),
}

/// How a TLS certificate of the database server is checked (libpq's sslmode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertCheck {
    /// No TLS at all (`sslmode=disable`).
    NoTls,
    /// TLS without checking the certificate (`prefer`, `require`), as libpq does.
    Encrypt,
    /// The chain, not the host name (`verify-ca`, or `require` with `sslrootcert`).
    Chain,
    /// The chain and the host name (`verify-full`).
    Full,
}

/// A PostgreSQL database to connect to.
#[derive(Clone)]
pub struct PostgresTarget {
    config: postgres::Config,
    verify: CertCheck,
    root_cert: Option<String>,
    extra_ca: Option<String>,
    /// `user@host:port/dbname`, for messages (never the password).
    pub display: String,
    /// The option the URL came from, for messages.
    option: String,
    timeout: Duration,
    /// The connection (TCP, TLS, start-up and authentication) must be made within this.
    connect_timeout: Duration,
}

impl std::fmt::Debug for PostgresTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PostgresTarget({}, {:?})", self.display, self.verify)
    }
}

/// A SQLite path from `database`: a plain path, or Dendrite's `file:` connection string.
pub fn sqlite_path(option: &str, value: &str) -> Result<String> {
    if looks_like_postgres(value) {
        return Err(fail!(
            "{option} is a PostgreSQL connection string, but this backend reads a SQLite file: choose the _postgres backend, or give the path of the database file"
        ));
    }
    let path = value.strip_prefix("file:").unwrap_or(value);
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() {
        return Err(fail!("{option} is empty"));
    }
    if !path.starts_with('/') {
        return Err(fail!(
            "{option} must be an absolute path ('{path}' is relative: Dendrite's file: paths are relative to Dendrite's working directory, which the module does not know)"
        ));
    }
    Ok(path.to_string())
}

/// A database of either kind, told apart by its shape (for a backend that reaches both): a
/// PostgreSQL URL or libpq words, else a SQLite path. A password is for PostgreSQL only.
pub fn either(
    option: &str,
    value: &str,
    password: Option<&str>,
    timeout: Duration,
    ca_path: Option<&str>,
) -> Result<Database> {
    if looks_like_postgres(value) {
        return postgres_target(option, value, password, timeout, ca_path)
            .map(|t| Database::Postgres(Box::new(t)));
    }
    if password.is_some() {
        return Err(fail!(
            "{option} is a SQLite file, which has no password: leave database_password and database_password_file out"
        ));
    }
    sqlite_path(option, value).map(Database::Sqlite)
}

fn looks_like_postgres(value: &str) -> bool {
    value.starts_with("postgres://")
        || value.starts_with("postgresql://")
        || (value.contains('=') && !value.contains('/') && !value.starts_with("file:"))
}

/// A PostgreSQL target from `option` (URL or key=value words) and a password given apart.
pub fn postgres_target(
    option: &str,
    value: &str,
    password: Option<&str>,
    timeout: Duration,
    ca_path: Option<&str>,
) -> Result<PostgresTarget> {
    // Any password written into the value is a secret from the first moment, before any parsing
    // that could fail and describe it.
    let embedded = embedded_password(value);
    if let Some(p) = &embedded {
        register_secret(p);
    }
    if value.trim().is_empty() {
        return Err(fail!("{option} is empty"));
    }
    if !looks_like_postgres(value) {
        return Err(fail!(
            "{option} must be a PostgreSQL URL such as postgresql://synapse@127.0.0.1:5432/synapse (or libpq key=value words); for a SQLite file choose a _sqlite backend"
        ));
    }
    let (rest, sslmode, root_cert) = take_tls_params(value);
    let mut config = postgres::Config::from_str(&rest).map_err(|e| {
        fail!("{option} is not a PostgreSQL connection string libpq would accept: {e}")
    })?;
    if embedded.is_some() || config.get_password().is_some() {
        if let Some(p) = config.get_password() {
            register_secret(&String::from_utf8_lossy(p));
        }
        return Err(fail!(
            "{option} contains a password; remove it from the URL and give it in database_password (no_log) or database_password_file"
        ));
    }
    let user = config
        .get_user()
        .ok_or_else(|| {
            fail!("{option} names no user: write it into the URL, e.g. postgresql://synapse@host/synapse")
        })?
        .to_string();
    let dbname = config
        .get_dbname()
        .map(str::to_string)
        .unwrap_or_else(|| user.clone());
    if config.get_hosts().is_empty() {
        return Err(fail!(
            "{option} names no host: write it into the URL, e.g. postgresql://{user}@127.0.0.1:5432/{dbname}"
        ));
    }
    let host = match &config.get_hosts()[0] {
        postgres::config::Host::Tcp(h) => h.clone(),
        #[cfg(unix)]
        postgres::config::Host::Unix(p) => p.display().to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let display = format!("{user}@{host}:{port}/{dbname}");
    if let Some(p) = password {
        if p.is_empty() {
            return Err(fail!("database_password is empty"));
        }
        register_secret(p);
        config.password(p);
    }
    let verify = match sslmode.as_deref() {
        None | Some("prefer") => CertCheck::Encrypt,
        Some("disable") => CertCheck::NoTls,
        Some("allow") => CertCheck::Encrypt,
        Some("require") if root_cert.is_some() => CertCheck::Chain,
        Some("require") => CertCheck::Encrypt,
        Some("verify-ca") => CertCheck::Chain,
        Some("verify-full") => CertCheck::Full,
        Some(other) => {
            return Err(fail!(
            "{option}: sslmode={other} is not one of disable, allow, prefer, require, verify-ca, verify-full"
        ))
        }
    };
    config.ssl_mode(match (verify, sslmode.as_deref()) {
        (CertCheck::NoTls, _) => SslMode::Disable,
        (CertCheck::Encrypt, None | Some("prefer" | "allow")) => SslMode::Prefer,
        _ => SslMode::Require,
    });
    // libpq's connect_timeout in the URL is honoured where it is shorter than timeout.
    let connect_timeout = config
        .get_connect_timeout()
        .copied()
        .filter(|t| *t < timeout && !t.is_zero())
        .unwrap_or(timeout);
    config.connect_timeout(connect_timeout);
    if config.get_application_name().is_none() {
        config.application_name("matrix-users");
    }
    Ok(PostgresTarget {
        config,
        verify,
        root_cert,
        extra_ca: ca_path.map(str::to_string),
        display,
        option: option.to_string(),
        timeout,
        connect_timeout,
    })
}

/// The password of `postgresql://user:PASSWORD@...` or of a `password=...` word, if any.
fn embedded_password(value: &str) -> Option<String> {
    if let Some(rest) = value
        .strip_prefix("postgresql://")
        .or_else(|| value.strip_prefix("postgres://"))
    {
        let authority = rest.split(['/', '?']).next().unwrap_or("");
        let userinfo = authority.rsplit_once('@')?.0;
        let (_, pw) = userinfo.split_once(':')?;
        let decoded: String = url::form_urlencoded::parse(format!("p={pw}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        // Both spellings are masked: the raw one is what the URL shows.
        register_secret(pw);
        return Some(decoded);
    }
    value.split_whitespace().find_map(|w| {
        w.strip_prefix("password=")
            .map(|p| p.trim_matches('\'').to_string())
    })
}

/// Takes libpq's TLS parameters that rust-postgres does not know (`sslmode=verify-ca`,
/// `verify-full`, `allow`, and `sslrootcert`) out of the string; returns the rest, the sslmode
/// and the root certificate path.
fn take_tls_params(value: &str) -> (String, Option<String>, Option<String>) {
    let decode = |v: &str| -> String {
        url::form_urlencoded::parse(format!("v={v}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let (mut sslmode, mut root) = (None, None);
    if value.starts_with("postgres://") || value.starts_with("postgresql://") {
        let Some((base, query)) = value.split_once('?') else {
            return (value.to_string(), None, None);
        };
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("sslmode", v)) => sslmode = Some(decode(v)),
                Some(("sslrootcert", v)) => root = Some(decode(v)),
                _ => kept.push(pair),
            }
        }
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return (rest, sslmode, root);
    }
    let mut kept = Vec::new();
    for w in value.split_whitespace() {
        match w.split_once('=') {
            Some(("sslmode", v)) => sslmode = Some(v.trim_matches('\'').to_string()),
            Some(("sslrootcert", v)) => root = Some(v.trim_matches('\'').to_string()),
            _ => kept.push(w),
        }
    }
    (kept.join(" "), sslmode, root)
}

impl PostgresTarget {
    /// Connects, with TLS as sslmode says. Errors name the option and the server, never the
    /// password.
    pub fn connect(&self) -> Result<postgres::Client> {
        let what = format!("{} ({})", self.option, self.display);
        let result = match self.verify {
            CertCheck::NoTls => self.config.connect(postgres::NoTls),
            verify => {
                let tls = tokio_postgres_rustls::MakeRustlsConnect::new(self.tls_config(verify)?);
                self.config.connect(tls)
            }
        };
        let mut client = result.map_err(|e| {
            let detail = pg_error(&e);
            let hint = if detail.contains("password authentication failed") {
                ": check database_password or database_password_file"
            } else if e.as_db_error().is_none() && self.verify != CertCheck::NoTls && detail.contains("certificate") {
                ": the server's TLS certificate was not accepted (sslmode, sslrootcert in the URL, or ca_path)"
            } else if self.config.get_password().is_none() && detail.contains("password missing") {
                ": the server asks for a password; give database_password or database_password_file"
            } else {
                ""
            };
            fail!("cannot connect to PostgreSQL {what}: {detail}{hint}")
        })?;
        // A row lock held by the homeserver is waited for, but not for ever.
        let ms = self.timeout.as_millis().max(1000);
        client
            .batch_execute(&format!(
                "SET lock_timeout = {ms}; SET statement_timeout = {ms}"
            ))
            .map_err(|e| fail!("PostgreSQL {what}: {}", pg_error(&e)))?;
        Ok(client)
    }

    /// Connects and runs `work` on the connection within the task's `timeout`: a server that
    /// accepts the connection and never answers (or stops answering mid-way) ends the task at
    /// the deadline, whatever libpq-style timeouts the URL holds.
    pub fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut postgres::Client) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let target = self.clone();
        let (connected, connecting) = std::sync::mpsc::channel();
        let (done, outcome) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let r = target.connect().and_then(|mut client| {
                let _ = connected.send(());
                work(&mut client)
            });
            let _ = done.send(r);
        });
        // The connection within connect_timeout (libpq's, where the URL sets a shorter one),
        // then the work within timeout.
        let started = std::time::Instant::now();
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
            connecting.recv_timeout(self.connect_timeout)
        {
            return Err(fail!(
                "cannot connect to PostgreSQL {} ({}): no answer within {} s (connect_timeout); nothing was written. Check that the server behind database is PostgreSQL and answering",
                self.display,
                self.option,
                self.connect_timeout.as_secs()
            ));
        }
        match outcome.recv_timeout(self.timeout.saturating_sub(started.elapsed())) {
            Ok(r) => r,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(fail!(
                "PostgreSQL {} ({}): no answer within {} s (timeout); the task stopped waiting, so whether anything was written is not known (a transaction that did not commit changed nothing): check that the server behind database is PostgreSQL and answering, then re-run",
                self.display,
                self.option,
                self.timeout.as_secs()
            )),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(fail!(
                "PostgreSQL {} ({}): the connection ended without an answer",
                self.display,
                self.option
            )),
        }
    }

    fn tls_config(&self, verify: CertCheck) -> Result<rustls::ClientConfig> {
        let check = match verify {
            CertCheck::NoTls | CertCheck::Encrypt => tls::Check::SignaturesOnly,
            CertCheck::Chain => tls::Check::Chain,
            CertCheck::Full => tls::Check::Full,
        };
        let roots = match check {
            tls::Check::SignaturesOnly => rustls::RootCertStore::empty(),
            _ => self.roots()?,
        };
        tls::client_config(&self.option, check, roots, Vec::new())
    }

    /// `sslrootcert` alone when given (as libpq), else the system's CAs and `ca_path`.
    fn roots(&self) -> Result<rustls::RootCertStore> {
        let pem =
            |path: &str, what: &str| -> Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
                let bytes = crate::ansible::read_regular_file(path, 4 << 20)
                    .map_err(|e| fail!("{what}: cannot read {path}: {e}"))?;
                tls::pem_certificates(&format!("{what} {path}"), &bytes)
            };
        let roots = match (&self.root_cert, &self.extra_ca) {
            (Some(path), _) => {
                tls::roots(&pem(path, &format!("{} sslrootcert", self.option))?, false)
            }
            (None, Some(path)) => tls::roots(&pem(path, "ca_path")?, true),
            (None, None) => tls::roots(&[], true),
        };
        if roots.is_empty() {
            return Err(fail!(
                "{}: no CA certificates to check the server with: give sslrootcert in the URL or ca_path",
                self.option
            ));
        }
        Ok(roots)
    }
}

/// Refuses anything at `path` but an existing regular file, saying what is there: a directory,
/// a FIFO or a device is not "missing", and is never opened (a FIFO would block).
pub fn require_sqlite_file(path: &str, what: &str) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    // What is there, said as it is: a directory, a FIFO or a device is not "missing".
    let kind = match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some("does not exist".to_string()),
        Err(e) => Some(format!("cannot be read ({e})")),
        Ok(m) if m.is_file() => None,
        Ok(m) if m.is_dir() => Some("is a directory".to_string()),
        Ok(m) if m.file_type().is_fifo() => Some("is a FIFO, not a file".to_string()),
        Ok(m) if m.file_type().is_char_device() || m.file_type().is_block_device() => {
            Some("is a device, not a file".to_string())
        }
        Ok(m) if m.file_type().is_socket() => Some("is a socket, not a file".to_string()),
        Ok(_) => Some("is not a regular file".to_string()),
    };
    if let Some(kind) = kind {
        return Err(fail!("database {path} {kind} (it must be {what})"));
    }
    Ok(())
}

/// Opens a SQLite database that must exist (never created), read-only in check mode, waiting
/// for the homeserver's write lock, and checks that it has `table`.
pub fn open_sqlite(
    path: &str,
    write: bool,
    table: &str,
    what: &str,
) -> Result<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    require_sqlite_file(path, what)?;
    let flags = if write {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    } else {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = rusqlite::Connection::open_with_flags(path, flags)
        .map_err(|e| fail!("cannot open database {path}: {e}"))?;
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(|e| fail!("database {path}: {e}"))?;
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [table],
            |r| r.get(0),
        )
        .map_err(|e| fail!("database {path} cannot be read as SQLite: {e}"))?;
    if n != 1 {
        return Err(fail!("database {path} has no {table} table: is it {what}?"));
    }
    Ok(conn)
}

/// A PostgreSQL error in full: the server's own message (rust-postgres shows only "db error"),
/// or the chain of causes of a connection error.
pub fn pg_error(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return db.to_string();
    }
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
        source = cause.source();
    }
    s
}

/// Whether a PostgreSQL error says the table is missing (the wrong database).
pub fn is_undefined_table(e: &postgres::Error) -> bool {
    e.code() == Some(&postgres::error::SqlState::UNDEFINED_TABLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(v: &str) -> Result<PostgresTarget> {
        postgres_target(
            "database",
            v,
            Some("pw-from-option"),
            Duration::from_secs(5),
            None,
        )
    }

    #[test]
    fn urls_and_words_are_read_as_libpq_reads_them() {
        let t = target("postgresql://synapse@127.0.0.1:5432/synapse").unwrap();
        assert_eq!(t.display, "synapse@127.0.0.1:5432/synapse");
        assert_eq!(t.verify, CertCheck::Encrypt);
        assert_eq!(t.config.get_ssl_mode(), SslMode::Prefer);
        let t = target("postgres://dendrite@db.example.org/dendrite?sslmode=verify-full&sslrootcert=/etc/ca.pem&connect_timeout=3").unwrap();
        assert_eq!(t.verify, CertCheck::Full);
        assert_eq!(t.root_cert.as_deref(), Some("/etc/ca.pem"));
        assert_eq!(t.config.get_ssl_mode(), SslMode::Require);
        assert_eq!(t.display, "dendrite@db.example.org:5432/dendrite");
        let t = target("postgresql://u@h/d?sslmode=disable").unwrap();
        assert_eq!(t.verify, CertCheck::NoTls);
        let t = target("postgresql://u@h/d?sslmode=require").unwrap();
        assert_eq!(t.verify, CertCheck::Encrypt);
        assert_eq!(t.config.get_ssl_mode(), SslMode::Require);
        let t = target("postgresql://u@h/d?sslmode=require&sslrootcert=/ca.pem").unwrap();
        assert_eq!(t.verify, CertCheck::Chain);
        let t = target("host=127.0.0.1 port=5433 user=synapse dbname=synapse sslmode=verify-ca")
            .unwrap();
        assert_eq!(t.verify, CertCheck::Chain);
        assert_eq!(t.display, "synapse@127.0.0.1:5433/synapse");
        assert_eq!(t.config.get_password(), Some(&b"pw-from-option"[..]));
    }

    #[test]
    fn passwords_in_the_url_are_refused_and_never_echoed() {
        for v in [
            "postgresql://synapse:hunter2-secret@127.0.0.1/synapse",
            "postgres://synapse:hunter2-secret@127.0.0.1:5432/synapse?sslmode=disable",
            "host=127.0.0.1 user=synapse password=hunter2-secret dbname=synapse",
        ] {
            let e = target(v).unwrap_err();
            assert!(e.0.contains("database_password"), "{e}");
            assert!(!e.0.contains("hunter2"), "{e}");
            let mut out = serde_json::json!({"database": v});
            crate::ansible::scrub(&mut out);
            assert!(!out.to_string().contains("hunter2-secret"), "{out}");
        }
    }

    #[test]
    fn bad_strings_name_the_option() {
        let e = target("/var/lib/synapse/homeserver.db").unwrap_err();
        assert!(e.0.starts_with("database must be a PostgreSQL URL"), "{e}");
        let e = target("postgresql://127.0.0.1/synapse").unwrap_err();
        assert!(e.0.contains("names no user"), "{e}");
        let e = target("postgresql://u@h/d?sslmode=sometimes").unwrap_err();
        assert!(e.0.contains("sslmode=sometimes"), "{e}");
        let e = target("postgresql://u@h:notaport/d").unwrap_err();
        assert!(
            e.0.starts_with("database is not a PostgreSQL connection string"),
            "{e}"
        );
    }

    #[test]
    fn either_kind_by_its_shape() {
        let t = Duration::from_secs(5);
        let d = either(
            "database",
            "postgresql://dendrite@127.0.0.1/dendrite",
            Some("pw"),
            t,
            None,
        );
        assert!(matches!(d, Ok(Database::Postgres(_))), "{d:?}");
        let d = either(
            "database",
            "file:/var/lib/dendrite/dendrite_userapi.db",
            None,
            t,
            None,
        );
        assert!(
            matches!(d, Ok(Database::Sqlite(ref p)) if p == "/var/lib/dendrite/dendrite_userapi.db"),
            "{d:?}"
        );
        let e = either("database", "/x/dendrite_userapi.db", Some("pw"), t, None).unwrap_err();
        assert!(e.0.contains("no password"), "{e}");
        let e = either("database", "dendrite_userapi.db", None, t, None).unwrap_err();
        assert!(e.0.contains("absolute path"), "{e}");
    }

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_path("database", "file:/var/lib/dendrite/dendrite_userapi.db").unwrap(),
            "/var/lib/dendrite/dendrite_userapi.db"
        );
        assert_eq!(
            sqlite_path("database", "/x/homeserver.db").unwrap(),
            "/x/homeserver.db"
        );
        let e = sqlite_path("database", "file:dendrite_userapi.db").unwrap_err();
        assert!(e.0.contains("absolute path"), "{e}");
        let e = sqlite_path("database", "postgresql://u@h/d").unwrap_err();
        assert!(e.0.contains("_postgres backend"), "{e}");
    }
}
