//! Registration tokens the same for every service: the normalised token the modules return, and
//! the parsing of names, dates and durations. Below every token API and module.

use crate::ansible::{Kind, Result, Ret};
use crate::fail;
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use serde_json::{json, Value};

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

/// The fields of [`Token::to_json`], for the modules' RETURN docs.
pub static TOKEN_FIELDS: &[Ret] = &[
    Ret::new("name", Kind::Str, "always", "The token, as a person types it.").sample(r#""TalentSpecialDenmark""#),
    Ret::new("max_usage", Kind::Int, "always", "How many registrations it allows; 0 is unlimited.").sample("1"),
    Ret::new("used", Kind::Int, "always", "How many registrations used it.").sample("0"),
    // No sample: YAML would read an RFC 3339 sample as a timestamp, which the doc schema refuses.
    Ret::new("expiration_date", Kind::Str, "always", "When it expires (RFC 3339, UTC, e.g. C(2026-12-31T00:00:00Z)), or null."),
    Ret::new("disabled", Kind::Bool, "always", "Whether it was disabled (Synapse, which has no such flag - whether it can no longer be used).").sample("false"),
    Ret::new("valid", Kind::Bool, "always", "Whether a registration can use it now.").sample("true"),
];

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
    let t = parse_ex_date_any_year(option, s)?;
    // chrono reads signed years of five digits and more; no token service stores them.
    if !(0..=9999).contains(&chrono::Datelike::year(&t)) {
        return Err(fail!(
            "{option} '{}' has a year outside 0000-9999",
            crate::ansible::escape_text(s.trim())
        ));
    }
    Ok(t)
}

fn parse_ex_date_any_year(option: &str, s: &str) -> Result<DateTime<Utc>> {
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
