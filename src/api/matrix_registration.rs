//! matrix-registration's admin API, both generations in the field:
//! - 0.7/0.8 (what matrix-docker-ansible-deploy deployed): `/token`, tokens are one-time or
//!   unlimited (`one_time`), `ex_date`, disabling with `PUT {"disable": true}`, which rewrites
//!   `ex_date` to 0001-01-01;
//! - 0.9: `/api/token`, `max_usage`, `expiration_date`, `PATCH {"disabled": bool}`.
//!
//! Only 0.9 answers `GET /api/version`, which tells them apart. What each generation cannot do
//! is declared in [`LEGACY`] and [`V09`]; the modules refuse those changes instead of sending
//! them (0.9 fails with a server error when asked to change an expiry date). Dates are naive
//! `YYYY-MM-DD HH:MM:SS` in the service's local time; they are read and written as UTC.

use crate::ansible::Result;
use crate::capabilities::{TokenCapabilities, TokenService};
use crate::client::{encode_segment, Auth, Body, Client, Response};
use crate::fail;
use crate::token::Token;
use chrono::{DateTime, NaiveDateTime, Utc};
use reqwest::Method;
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// 0.7.x and 0.8.x: `/token`.
    Legacy,
    /// 0.9.x: `/api/token`.
    V09,
}

/// 0.7/0.8: one-time or unlimited tokens; disabling rewrites the expiry, so no way back.
pub const LEGACY: TokenCapabilities = TokenCapabilities {
    caller_names_tokens: false,
    can_delete: false,
    has_disabled_flag: true,
    can_reenable: false,
    can_change_expiry: false,
    can_change_max_usage: false,
    max_usage_limit: Some(1),
};

/// 0.9: usage limits and a real disabled flag; expiry changes fail on the server.
pub const V09: TokenCapabilities = TokenCapabilities {
    caller_names_tokens: false,
    can_delete: false,
    has_disabled_flag: true,
    can_reenable: true,
    can_change_expiry: false,
    can_change_max_usage: true,
    max_usage_limit: None,
};

pub struct MatrixRegistration {
    client: Client,
    secret: String,
    pub api: Api,
}

const NAIVE: &str = "%Y-%m-%d %H:%M:%S";

impl MatrixRegistration {
    /// Detects the API generation and checks the secret.
    pub fn connect(client: Client, secret: &str) -> Result<MatrixRegistration> {
        let mut m = MatrixRegistration {
            client,
            secret: secret.to_string(),
            api: Api::V09,
        };
        let r = m.send(Method::GET, "/api/version", Body::Empty)?;
        match r.status.as_u16() {
            // 0.9 answers {"version": "0.9.1"}; a web page answering 200 is not matrix-registration.
            200 => {
                r.str_field("detecting the matrix-registration API", "version")?;
                return Ok(m);
            }
            401 if r.is_matrix_error() => return Err(bad_secret(&r)),
            404 => {}
            _ => {
                return Err(fail!(
                    "GET {} answered {}: is api_url matrix-registration?",
                    m.client.url("/api/version"),
                    r.summary()
                ))
            }
        }
        m.api = Api::Legacy;
        let r = m.send(Method::GET, "/token", Body::Empty)?;
        match r.status.as_u16() {
            200 if r.body.is_array() => Ok(m),
            200 => Err(r.unexpected(
                "detecting the matrix-registration API",
                "the JSON list of tokens of matrix-registration 0.7/0.8",
            )),
            401 if r.is_matrix_error() => Err(bad_secret(&r)),
            _ => Err(fail!(
                "{} serves neither matrix-registration API (/api/version answered 404, /token {}): check api_url",
                m.client.base(),
                r.summary()
            )),
        }
    }

    fn send(&self, method: Method, path: &str, body: Body<'_>) -> Result<Response> {
        let idempotent = method != Method::POST;
        self.client.send(
            method,
            path,
            Auth::SharedSecret(&self.secret),
            body,
            idempotent,
        )
    }

    fn tokens_path(&self) -> &'static str {
        match self.api {
            Api::Legacy => "/token",
            Api::V09 => "/api/token",
        }
    }

    fn token_path(&self, name: &str) -> String {
        format!("{}/{}", self.tokens_path(), encode_segment(name))
    }

    pub fn registration_url(&self, name: &str) -> String {
        self.client
            .url(&format!("/register?token={}", encode_segment(name)))
    }

    pub fn list(&self) -> Result<Vec<Token>> {
        let r = self.send(Method::GET, self.tokens_path(), Body::Empty)?;
        let body = expect_ok(&r, "listing tokens")?;
        body.as_array()
            .ok_or_else(|| fail!("matrix-registration sent a token list that is not a list"))?
            .iter()
            .map(|t| parse(self.api, t))
            .collect()
    }

    pub fn get(&self, name: &str) -> Result<Option<Token>> {
        let r = self.send(Method::GET, &self.token_path(name), Body::Empty)?;
        // "No such token" is a JSON error; an HTML 404 is a proxy that lost the way.
        if r.status.as_u16() == 404 && r.is_matrix_error() {
            return Ok(None);
        }
        let action = format!("reading token {name}");
        let body = expect_ok(&r, &action)?;
        let token = parse(self.api, &body)?;
        if token.name != name {
            return Err(r.unexpected(&action, &format!("the token {name} (it named another)")));
        }
        Ok(Some(token))
    }

    pub fn create(&self, max_usage: u64, expiry: Option<DateTime<Utc>>) -> Result<Token> {
        let expiry = expiry.map(|t| t.naive_utc().format(NAIVE).to_string());
        let body = match self.api {
            Api::V09 => json!({"max_usage": max_usage, "expiration_date": expiry}),
            // one_time must be a JSON boolean: the string "yes" gives a server error.
            Api::Legacy => json!({"one_time": max_usage == 1, "ex_date": expiry}),
        };
        let r = self.send(Method::POST, self.tokens_path(), Body::Json(&body))?;
        let body = expect_ok(&r, "creating a token")?;
        parse(self.api, &body)
    }

    /// Converges the usage limit and (0.9) clears the disabled flag of an existing token. The
    /// caller has refused what [`Self::capabilities`] excludes.
    pub fn update(&self, current: &Token, max_usage: Option<u64>) -> Result<Token> {
        let name = &current.name;
        let mut patch = Map::new();
        if current.disabled {
            patch.insert("disabled".into(), Value::Bool(false));
        }
        if let Some(n) = max_usage.filter(|n| *n != current.max_usage) {
            patch.insert("max_usage".into(), Value::from(n));
        }
        if patch.is_empty() {
            return Ok(current.clone());
        }
        let r = self.send(
            Method::PATCH,
            &self.token_path(name),
            Body::Json(&Value::Object(patch)),
        )?;
        let action = format!("updating token {name}");
        let body = expect_ok(&r, &action)?;
        let token = parse(self.api, &body)?;
        if token.name != *name {
            return Err(r.unexpected(&action, &format!("the token {name} (it named another)")));
        }
        Ok(token)
    }

    pub fn disable(&self, name: &str) -> Result<Token> {
        let r = match self.api {
            Api::V09 => self.send(
                Method::PATCH,
                &self.token_path(name),
                Body::Json(&json!({"disabled": true})),
            )?,
            Api::Legacy => self.send(
                Method::PUT,
                &self.token_path(name),
                Body::Json(&json!({"disable": true})),
            )?,
        };
        let action = format!("disabling token {name}");
        let body = expect_ok(&r, &action)?;
        let token = parse(self.api, &body)?;
        if token.name != *name {
            return Err(r.unexpected(&action, &format!("the token {name} (it named another)")));
        }
        Ok(token)
    }
}

impl TokenService for MatrixRegistration {
    fn capabilities(&self) -> TokenCapabilities {
        match self.api {
            Api::Legacy => LEGACY,
            Api::V09 => V09,
        }
    }

    fn service_name(&self) -> &'static str {
        match self.api {
            Api::Legacy => "matrix-registration (0.7/0.8 API)",
            Api::V09 => "matrix-registration (0.9 API)",
        }
    }

    fn list(&self, valid: Option<bool>) -> Result<Vec<Token>> {
        let mut all = MatrixRegistration::list(self)?;
        if let Some(v) = valid {
            all.retain(|t| t.valid == v);
        }
        Ok(all)
    }

    fn get(&self, name: &str) -> Result<Option<Token>> {
        MatrixRegistration::get(self, name)
    }

    fn create(
        &self,
        _name: Option<&str>,
        max_usage: u64,
        expiry: Option<DateTime<Utc>>,
    ) -> Result<Token> {
        MatrixRegistration::create(self, max_usage, expiry)
    }

    fn update(
        &self,
        current: &Token,
        max_usage: Option<u64>,
        _expiry: Option<DateTime<Utc>>,
    ) -> Result<Token> {
        MatrixRegistration::update(self, current, max_usage)
    }

    fn disable(&self, current: &Token) -> Result<Token> {
        MatrixRegistration::disable(self, &current.name)
    }

    fn delete(&self, name: &str) -> Result<()> {
        Err(fail!("{} cannot delete token {name}", self.service_name()))
    }

    fn registration_url(&self, name: &str) -> Option<String> {
        Some(MatrixRegistration::registration_url(self, name))
    }
}

/// Reads a token as the service's API generation writes it.
fn parse(api: Api, t: &Value) -> Result<Token> {
    let name = t
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| fail!("matrix-registration sent a token without a name: {t}"))?
        .to_string();
    let used = t.get("used").and_then(Value::as_u64).unwrap_or(0);
    let date = |k: &str| -> Result<Option<DateTime<Utc>>> {
        match t.get(k).and_then(Value::as_str) {
            None => Ok(None),
            Some(s) => NaiveDateTime::parse_from_str(s, NAIVE)
                .map(|d| Some(d.and_utc()))
                .map_err(|_| {
                    fail!("matrix-registration sent an unreadable date '{s}' for token {name}")
                }),
        }
    };
    Ok(match api {
        Api::V09 => Token {
            max_usage: t.get("max_usage").and_then(Value::as_u64).unwrap_or(0),
            used,
            expiration_date: date("expiration_date")?,
            disabled: t.get("disabled").and_then(Value::as_bool).unwrap_or(false),
            valid: t.get("active").and_then(Value::as_bool).unwrap_or(false),
            name,
        },
        Api::Legacy => {
            // Disabling sets ex_date to the year 1: that is 0.7's disabled flag, not an
            // expiry, and the real expiry is gone.
            let ex = date("ex_date")?;
            let disabled = ex.is_some_and(|d| d.format("%Y").to_string() == "0001");
            Token {
                max_usage: u64::from(t.get("one_time").and_then(Value::as_bool).unwrap_or(false)),
                used,
                disabled,
                expiration_date: ex.filter(|_| !disabled),
                valid: t.get("valid").and_then(Value::as_bool).unwrap_or(false),
                name,
            }
        }
    })
}

fn bad_secret(r: &Response) -> crate::ansible::Error {
    fail!(
        "matrix-registration refused admin_secret ({}): it must be the service's admin API secret",
        r.summary()
    )
}

fn expect_ok(r: &Response, action: &str) -> Result<Value> {
    match r.status.as_u16() {
        200..=299 if r.body.is_object() || r.body.is_array() => Ok(r.body.clone()),
        200..=299 => Err(r.unexpected(action, "a JSON answer of matrix-registration")),
        401 if r.is_matrix_error() => Err(bad_secret(r)),
        _ if !r.is_matrix_error() => {
            Err(r.unexpected(action, "a JSON answer of matrix-registration"))
        }
        _ => Err(fail!(
            "{action} on matrix-registration failed: {}",
            r.summary()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_legacy_token_disabled_by_year_one_is_disabled_without_expiry() {
        let t = parse(
            Api::Legacy,
            &json!({"name": "FluidObscureBallet", "one_time": true, "used": 0, "valid": false,
                    "ex_date": "0001-01-01 00:00:00"}),
        )
        .unwrap();
        assert!(t.disabled && !t.valid);
        assert_eq!(t.expiration_date, None);
        assert_eq!(t.max_usage, 1);
        let t = parse(
            Api::Legacy,
            &json!({"name": "X", "one_time": false, "used": 2, "valid": true,
                    "ex_date": "2031-12-31 00:00:00"}),
        )
        .unwrap();
        assert!(!t.disabled && t.valid);
        assert_eq!(t.max_usage, 0);
        assert_eq!(
            crate::token::rfc3339(t.expiration_date.unwrap()),
            "2031-12-31T00:00:00Z"
        );
    }

    #[test]
    fn a_09_token_reads_its_own_fields() {
        let t = parse(
            Api::V09,
            &json!({"active": false, "disabled": true, "expiration_date": null, "ips": [],
                    "max_usage": 3, "name": "TalentSpecialDenmark", "used": 1}),
        )
        .unwrap();
        assert!(t.disabled && !t.valid);
        assert_eq!((t.max_usage, t.used), (3, 1));
        let e = parse(
            Api::V09,
            &json!({"name": "X", "expiration_date": "31.12.2030"}),
        )
        .unwrap_err();
        assert!(e.0.contains("unreadable date"), "{e}");
        assert!(parse(Api::V09, &json!({"max_usage": 1})).is_err());
    }
}
