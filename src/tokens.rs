//! Registration tokens, the same for every service: the normalised token the modules return,
//! expiry parsing, and [`TokenService`], which sends each operation to the configured backend.

use crate::ansible::{register_secret, Kind, Opt, Params, Result};
use crate::backends::matrix_registration::{self as mreg, MatrixRegistration};
use crate::backends::synapse::{self, AdminCredentials, AdminSession};
use crate::client::{Client, Connection};
use crate::fail;
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use serde_json::{json, Value};

/// Options shared by registration_token and registration_token_info: which service, and how to
/// authenticate to it.
pub static SERVICE_OPTIONS: &[Opt] = &[
    Opt::str("backend")
        .choices(&["matrix_registration", "synapse"])
        .default_str("matrix_registration"),
    Opt::str("api_url"),
    Opt::str("admin_secret").no_log(),
    Opt::str("access_token").no_log(),
    Opt::str("admin_username"),
    Opt::str("admin_password").no_log(),
];

/// `token`: the name of one token.
pub static TOKEN_NAME: Opt = Opt::new("token", Kind::Str);

/// A token as every module returns it, whatever the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub name: String,
    /// 0 means unlimited.
    pub max_usage: u64,
    pub used: u64,
    pub expiration_date: Option<DateTime<Utc>>,
    pub disabled: bool,
    pub valid: bool,
}

impl Token {
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "max_usage": self.max_usage,
            "used": self.used,
            "expiration_date": self.expiration_date.map(rfc3339),
            "disabled": self.disabled,
            "valid": self.valid,
        })
    }
}

pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Checks a token name before it goes into a URL: Synapse allows `A-Z a-z 0-9 . _ ~ -`, at most
/// 64 characters; matrix-registration's names are letters.
pub fn validate_name(option: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(fail!("{option} is empty"));
    }
    if name.len() > 64 {
        return Err(fail!(
            "{option} is {} characters long; at most 64 are allowed",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._~-".contains(*c)))
    {
        return Err(fail!(
            "{option} '{}' contains {:?}; a token may only contain A-Z, a-z, 0-9 and . _ ~ -",
            name.escape_debug(),
            c
        ));
    }
    if name == "." || name == ".." {
        return Err(fail!("{option} '{name}' is not a token name"));
    }
    Ok(())
}

/// Parses `ex_date`: a calendar date (`2026-12-31`, meaning 00:00 UTC that day, as
/// matrix-registration reads it), an RFC 3339 time, or a date and time without zone (UTC).
pub fn parse_ex_date(option: &str, s: &str) -> Result<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Ok(t.and_utc());
        }
    }
    Err(fail!(
        "{option} '{s}' is not a date: use YYYY-MM-DD (e.g. 2026-12-31) or RFC 3339 (e.g. 2026-12-31T23:59:00Z)"
    ))
}

/// Parses `expires_in`: a duration such as `30m`, `12h`, `7d`, `2w`, or `1d12h`.
pub fn parse_duration(option: &str, s: &str) -> Result<TimeDelta> {
    let bad = || {
        fail!("{option} '{s}' is not a duration: use a number and a unit, e.g. 30m, 12h, 7d, 2w (s, m, h, d, w)")
    };
    let text = s.trim();
    if text.is_empty() {
        return Err(bad());
    }
    let mut total: i64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(bad()),
        };
        total = n
            .checked_mul(unit)
            .and_then(|x| total.checked_add(x))
            .filter(|t| *t <= 100 * 366 * 86_400)
            .ok_or_else(|| fail!("{option} '{s}' is longer than a hundred years"))?;
    }
    if !digits.is_empty() || total == 0 {
        return Err(bad());
    }
    Ok(TimeDelta::seconds(total))
}

/// The expiry asked for by `ex_date` or `expires_in`, refused if it is not in the future.
/// Outer None: not asked.
pub fn wanted_expiry(p: &Params, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
    let (t, option, given) = match (p.str("ex_date"), p.str("expires_in")) {
        (Some(d), _) => (parse_ex_date("ex_date", d)?, "ex_date", d),
        (None, Some(d)) => (now + parse_duration("expires_in", d)?, "expires_in", d),
        (None, None) => return Ok(None),
    };
    if t <= now {
        return Err(fail!(
            "{option} '{given}' is in the past ({}); a token must expire after it is created",
            rfc3339(t)
        ));
    }
    Ok(Some(t))
}

/// The usage limit asked for by `one_time` or `max_usage` (0: unlimited). None: not asked.
pub fn wanted_max_usage(p: &Params) -> Result<Option<u64>> {
    if p.bool("one_time") {
        return Ok(Some(1));
    }
    match p.int("max_usage") {
        Some(n) if n < 0 => Err(fail!("max_usage must be 0 (unlimited) or more, got {n}")),
        Some(n) => Ok(Some(n as u64)),
        None if p.is_given("one_time") => Ok(Some(0)),
        None => Ok(None),
    }
}

/// A connected token service.
pub enum TokenService<'c> {
    MatrixRegistration(MatrixRegistration<'c>),
    Synapse {
        client: &'c Client,
        session: AdminSession<'c>,
    },
}

/// Builds the client for the configured backend (api_url for matrix_registration; api_url or
/// homeserver_url for synapse).
pub fn service_client(p: &Params) -> Result<Client> {
    let (option, url) = match (p.str("backend"), p.str("api_url")) {
        (Some("synapse"), Some(u)) => ("api_url", u),
        (Some("synapse"), None) => ("homeserver_url", p.str("homeserver_url").unwrap_or_default()),
        (_, Some(u)) => ("api_url", u),
        (_, None) => {
            return Err(fail!(
                "backend matrix_registration needs api_url: the URL matrix-registration is served at, e.g. https://matrix.example.org/matrix-registration"
            ))
        }
    };
    Connection::from_params(p, option, url)?.client()
}

impl<'c> TokenService<'c> {
    pub fn connect(p: &Params, client: &'c Client) -> Result<TokenService<'c>> {
        match p.str("backend") {
            Some("synapse") => {
                let creds = AdminCredentials::from_params(p)?.ok_or_else(|| {
                    fail!("backend synapse needs admin credentials: access_token, or admin_username and admin_password")
                })?;
                Ok(TokenService::Synapse {
                    client,
                    session: AdminSession::open(client, &creds)?,
                })
            }
            _ => {
                let secret = p.str("admin_secret").filter(|s| !s.is_empty()).ok_or_else(|| {
                    fail!("backend matrix_registration needs admin_secret: matrix-registration's admin API shared secret (admin_api_shared_secret, or admin_secret in 0.7/0.8)")
                })?;
                register_secret(secret);
                Ok(TokenService::MatrixRegistration(
                    MatrixRegistration::connect(client, secret)?,
                ))
            }
        }
    }

    /// Logs out a session opened by logging in.
    pub fn close(self) -> Result<()> {
        match self {
            TokenService::Synapse { session, .. } => session.close(),
            TokenService::MatrixRegistration(_) => Ok(()),
        }
    }

    pub fn list(&self, valid: Option<bool>) -> Result<Vec<Token>> {
        match self {
            TokenService::MatrixRegistration(m) => {
                let mut all = m.list()?;
                if let Some(v) = valid {
                    all.retain(|t| t.valid == v);
                }
                Ok(all)
            }
            TokenService::Synapse { client, session } => {
                synapse::list_tokens(client, session.token(), valid)
            }
        }
    }

    pub fn get(&self, name: &str) -> Result<Option<Token>> {
        match self {
            TokenService::MatrixRegistration(m) => m.get(name),
            TokenService::Synapse { client, session } => {
                synapse::get_token(client, session.token(), name)
            }
        }
    }

    /// Creates a token; `name` only where the service lets the caller choose it.
    pub fn create(
        &self,
        name: Option<&str>,
        max_usage: u64,
        expiry: Option<DateTime<Utc>>,
    ) -> Result<Token> {
        match self {
            TokenService::MatrixRegistration(m) => {
                if let Some(n) = name {
                    return Err(fail!(
                        "token '{n}' does not exist, and matrix-registration picks token names itself: leave token out to create one, and use the name it returns"
                    ));
                }
                m.create(max_usage, expiry)
            }
            TokenService::Synapse { client, session } => {
                synapse::create_token(client, session.token(), name, max_usage, expiry)
            }
        }
    }

    /// Whether `disabled` is a flag of its own that `state=present` clears (matrix-registration),
    /// rather than a consequence of usage and expiry (Synapse).
    pub fn has_disabled_flag(&self) -> bool {
        matches!(self, TokenService::MatrixRegistration(_))
    }

    /// Changes what differs between `current` and the wanted usage limit and expiry, and clears
    /// the disabled flag where there is one; returns the token after the change. Errors where the
    /// service cannot make the change.
    pub fn update(
        &self,
        current: &Token,
        max_usage: Option<u64>,
        expiry: Option<DateTime<Utc>>,
    ) -> Result<Token> {
        match self {
            TokenService::MatrixRegistration(m) => m.update(current, max_usage, expiry),
            // Synapse has no flag to clear: a new limit or expiry is what makes a token usable again.
            TokenService::Synapse { client, session } => {
                synapse::update_token(client, session.token(), &current.name, max_usage, expiry)
            }
        }
    }

    pub fn disable(&self, current: &Token) -> Result<Token> {
        match self {
            TokenService::MatrixRegistration(m) => m.disable(&current.name),
            TokenService::Synapse { client, session } => {
                synapse::disable_token(client, session.token(), &current.name)
            }
        }
    }

    pub fn delete(&self, name: &str) -> Result<()> {
        match self {
            TokenService::MatrixRegistration(_) => Err(fail!(
                "matrix-registration cannot delete tokens; use state=disabled to make token '{name}' unusable"
            )),
            TokenService::Synapse { client, session } => synapse::delete_token(client, session.token(), name),
        }
    }

    /// Where a person registers with this token, for services that have a registration page.
    pub fn registration_url(&self, name: &str) -> Option<String> {
        match self {
            TokenService::MatrixRegistration(m) => Some(m.registration_url(name)),
            TokenService::Synapse { .. } => None,
        }
    }

    pub fn describe(&self) -> &'static str {
        match self {
            TokenService::MatrixRegistration(m) => match m.api {
                mreg::Api::Legacy => "matrix-registration (0.7/0.8 API)",
                mreg::Api::V09 => "matrix-registration (0.9 API)",
            },
            TokenService::Synapse { .. } => "Synapse",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse() {
        assert_eq!(
            rfc3339(parse_ex_date("ex_date", "2026-12-31").unwrap()),
            "2026-12-31T00:00:00Z"
        );
        assert_eq!(
            rfc3339(parse_ex_date("ex_date", "2026-12-31T23:59:00+02:00").unwrap()),
            "2026-12-31T21:59:00Z"
        );
        assert_eq!(
            rfc3339(parse_ex_date("ex_date", "2026-12-31 12:30:00").unwrap()),
            "2026-12-31T12:30:00Z"
        );
        for bad in ["31.12.2026", "2026-13-01", "tomorrow", "", "2026-02-30"] {
            let e = parse_ex_date("ex_date", bad).unwrap_err();
            assert!(
                e.0.starts_with("ex_date") && e.0.contains("YYYY-MM-DD"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn durations_parse() {
        assert_eq!(
            parse_duration("expires_in", "30m").unwrap(),
            TimeDelta::minutes(30)
        );
        assert_eq!(
            parse_duration("expires_in", "12h").unwrap(),
            TimeDelta::hours(12)
        );
        assert_eq!(
            parse_duration("expires_in", "7d").unwrap(),
            TimeDelta::days(7)
        );
        assert_eq!(
            parse_duration("expires_in", "2w").unwrap(),
            TimeDelta::weeks(2)
        );
        assert_eq!(
            parse_duration("expires_in", "1d12h").unwrap(),
            TimeDelta::hours(36)
        );
        for bad in ["", "7", "d", "7x", "-1d", "0d", "1.5h"] {
            assert!(
                parse_duration("expires_in", bad)
                    .unwrap_err()
                    .0
                    .starts_with("expires_in"),
                "{bad}"
            );
        }
        assert!(parse_duration("expires_in", "99999999999w")
            .unwrap_err()
            .0
            .contains("hundred years"));
    }

    #[test]
    fn names_are_checked() {
        assert!(validate_name("token", "TalentSpecialDenmark").is_ok());
        assert!(validate_name("token", "ci-token_1.x~").is_ok());
        for bad in ["", "a/b", "../x", "..", "%2F", "a b", &"x".repeat(65)] {
            assert!(
                validate_name("token", bad)
                    .unwrap_err()
                    .0
                    .starts_with("token"),
                "{bad}"
            );
        }
    }
}
