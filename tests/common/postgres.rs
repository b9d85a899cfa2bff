//! A throwaway PostgreSQL cluster (Debian's `postgresql`) on 127.0.0.1, started by
//! `tests/servers/postgres.sh` and stopped by PID when dropped (and by its watchdog when the test
//! process exits however it exits). State is read with Debian's `psql`, the password passed in
//! the PGPASSWORD environment variable, never on a command line.

use super::repo;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

pub struct Postgres {
    pub dir: tempfile::TempDir,
    /// libpq URL of the superuser's default database, without password.
    pub url: String,
    pub port: u16,
}

/// One database of the cluster and the role that owns it.
#[derive(Clone, Debug)]
pub struct Database {
    /// postgresql://OWNER@127.0.0.1:PORT/NAME (no password).
    pub url: String,
    pub port: u16,
    /// A file (mode 600) holding the owner's password.
    pub password_file: PathBuf,
}

fn script() -> PathBuf {
    repo().join("tests/servers/postgres.sh")
}

impl Postgres {
    pub fn start() -> Postgres {
        let dir = tempfile::Builder::new()
            .prefix("postgres-test-")
            .tempdir()
            .unwrap();
        let out = Command::new(script())
            .arg("start")
            .arg(dir.path())
            .env("WATCH_PID", std::process::id().to_string())
            .env("WATCH_CLEANUP", "1")
            .output()
            .expect("run tests/servers/postgres.sh");
        assert!(
            out.status.success(),
            "postgres.sh start failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let port = port_of(&url);
        Postgres { dir, url, port }
    }

    /// Creates a database owned by `owner` (a new login role with its own password), with the
    /// encoding and collation Synapse requires (UTF8, C, template0).
    pub fn create_database(&self, name: &str, owner: &str) -> Database {
        let out = Command::new(script())
            .arg("createdb")
            .arg(self.dir.path())
            .arg(name)
            .arg(owner)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "postgres.sh createdb failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8(out.stdout).unwrap().trim().to_string();
        Database {
            port: port_of(&url),
            url,
            password_file: self.dir.path().join(format!("password-{owner}")),
        }
    }

    /// The cluster's superuser `matrix` on its default database (password in DIR/password).
    pub fn superuser(&self) -> Database {
        Database {
            url: self.url.clone(),
            port: self.port,
            password_file: self.dir.path().join("password"),
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }

    pub fn stop(&self) {
        let _ = Command::new(script())
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Database {
    pub fn password(&self) -> String {
        std::fs::read_to_string(&self.password_file)
            .unwrap()
            .trim()
            .to_string()
    }

    /// Runs SQL (on psql's stdin) as the owner; returns the rows, one per line, columns joined
    /// by `|` (psql -A -t). Panics on an SQL error.
    pub fn sql(&self, sql: &str) -> String {
        let (ok, out, err) = self.try_sql(sql);
        assert!(ok, "psql failed on {sql:?}: {err}");
        out
    }

    /// Like `sql`, but returns (success, stdout, stderr) instead of panicking.
    pub fn try_sql(&self, sql: &str) -> (bool, String, String) {
        psql(&self.url, &self.password(), sql)
    }

    /// The first column of the first row, or None if there is no row.
    pub fn value(&self, sql: &str) -> Option<String> {
        self.sql(sql).lines().next().map(|l| l.to_string())
    }
}

/// psql against `url` (no password in it), the password in PGPASSWORD, SQL on stdin.
pub fn psql(url: &str, password: &str, sql: &str) -> (bool, String, String) {
    let mut child = Command::new("psql")
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("psql (Debian's postgresql-client)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(sql.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim_end().to_string(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// SQL string literal (single quotes doubled).
pub fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn port_of(url: &str) -> u16 {
    // postgresql://USER@127.0.0.1:PORT/DB
    let after_at = url.rsplit('@').next().unwrap();
    let host_port = after_at.split('/').next().unwrap();
    host_port.rsplit(':').next().unwrap().parse().unwrap()
}
