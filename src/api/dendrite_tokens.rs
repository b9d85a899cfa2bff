//! Dendrite's registration tokens (`/_dendrite/admin/registrationTokens`, since 0.13), acting
//! with an admin's access token (an account of `account_type` 3).
//!
//! The API copies Synapse's fields (`token`, `uses_allowed`, `pending`, `completed`,
//! `expiry_time` in ms), with differences measured on Dendrite 0.13.8 (tests/dendrite_server.rs):
//! - creating needs `client_api.registration_requires_token: true` (403 otherwise);
//! - an empty list is `{"registration_tokens": null}`;
//! - `uses_allowed: 0` means no use at all (Synapse reads it as unlimited): unlimited is `null`;
//! - `DELETE` answers 200 whether or not the token exists;
//! - on SQLite, `PUT` answers 200 with the old values and changes nothing (the statement's
//!   parameters are bound in the wrong order): updates are checked and a no-op is reported;
//! - Dendrite 0.13 has no `m.login.registration_token` stage, so its client registration never
//!   consumes a token: tokens can be managed, not yet used.
//!
//! There is no disabled flag: as on Synapse, `state=disabled` makes the token expire now.

use crate::ansible::Result;
use crate::api::client_session::AdminSession;
use crate::api::synapse_admin::admin_error;
use crate::backends::{TokenCapabilities, TokenService};
use crate::client::{encode_segment, Auth, Body, Refusal, Response};
use crate::fail;
use crate::token::{rfc3339, Token};
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{json, Map, Value};

/// What Dendrite's token API can do.
pub const CAPABILITIES: TokenCapabilities = TokenCapabilities {
    caller_names_tokens: true,
    can_delete: true,
    has_disabled_flag: false,
    can_reenable: true,
    can_change_expiry: true,
    can_change_max_usage: true,
    max_usage_limit: None,
};

const TOKENS: &str = "/_dendrite/admin/registrationTokens";

pub struct DendriteTokens<'a> {
    session: &'a AdminSession<'a>,
}

impl<'a> DendriteTokens<'a> {
    pub fn new(session: &'a AdminSession<'a>) -> DendriteTokens<'a> {
        DendriteTokens { session }
    }

    fn send(
        &self,
        method: Method,
        path: &str,
        body: Body<'_>,
        idempotent: bool,
    ) -> Result<Response> {
        self.session.client().send(
            method,
            path,
            Auth::Bearer(self.session.token()),
            body,
            idempotent,
        )
    }

    /// PUT, then checks that Dendrite applied it (on SQLite it silently does not).
    fn put(&self, name: &str, body: Map<String, Value>, action: &str) -> Result<Token> {
        let wanted = body.clone();
        let r = self.send(
            Method::PUT,
            &token_path(name),
            Body::Json(&Value::Object(body)),
            true,
        )?;
        let t = expect_token(&r, action)?;
        let raw = &r.body;
        let ignored = wanted.iter().any(|(k, v)| raw.get(k) != Some(v));
        if ignored {
            return Err(fail!(
                "{action}: Dendrite answered success but kept the old values ({}): Dendrite on SQLite does not apply registration token updates (a bug of its SQLite storage); delete the token (state=absent) and create it anew, or run Dendrite on PostgreSQL",
                describe(&t)
            ));
        }
        Ok(t)
    }
}

fn describe(t: &Token) -> String {
    format!(
        "max_usage {}, expires {}",
        t.max_usage,
        t.expiration_date
            .map(rfc3339)
            .unwrap_or_else(|| "never".into())
    )
}

impl TokenService for DendriteTokens<'_> {
    fn capabilities(&self) -> TokenCapabilities {
        CAPABILITIES
    }

    fn describe(&self) -> &'static str {
        "Dendrite"
    }

    fn list(&self, valid: Option<bool>) -> Result<Vec<Token>> {
        let path = match valid {
            Some(v) => format!("{TOKENS}?valid={v}"),
            None => TOKENS.to_string(),
        };
        let r = self.send(Method::GET, &path, Body::Empty, true)?;
        if !r.is_success() {
            return Err(token_error(&r, "listing registration tokens"));
        }
        match r.body.get("registration_tokens") {
            Some(Value::Array(list)) => list.iter().map(parse_token).collect(),
            Some(Value::Null) => Ok(Vec::new()),
            _ => Err(fail!(
                "Dendrite sent no registration_tokens list ({})",
                r.describe()
            )),
        }
    }

    fn get(&self, name: &str) -> Result<Option<Token>> {
        let r = self.send(Method::GET, &token_path(name), Body::Empty, true)?;
        if r.refusal() == Some(Refusal::NotFound) {
            return Ok(None);
        }
        expect_token(&r, &format!("reading registration token {name}")).map(Some)
    }

    fn create(
        &self,
        name: Option<&str>,
        max_usage: u64,
        expiry: Option<DateTime<Utc>>,
    ) -> Result<Token> {
        let mut body = json!({
            "uses_allowed": uses_json(max_usage),
            "expiry_time": expiry.map(|t| t.timestamp_millis()),
        });
        if let Some(n) = name {
            body["token"] = Value::from(n);
        }
        let r = self.send(
            Method::POST,
            &format!("{TOKENS}/new"),
            Body::Json(&body),
            false,
        )?;
        if r.status.as_u16() == 409 {
            return Err(fail!(
                "registration token {} already exists on Dendrite ({})",
                name.unwrap_or(""),
                r.describe()
            ));
        }
        expect_token(&r, "creating a registration token")
    }

    fn update(
        &self,
        current: &Token,
        max_usage: Option<u64>,
        expiry: Option<DateTime<Utc>>,
    ) -> Result<Token> {
        let mut body = Map::new();
        if let Some(n) = max_usage {
            body.insert("uses_allowed".into(), uses_json(n));
        }
        if let Some(t) = expiry {
            body.insert("expiry_time".into(), Value::from(t.timestamp_millis()));
        }
        let name = &current.name;
        self.put(name, body, &format!("updating registration token {name}"))
    }

    /// Makes the token expire now: Dendrite refuses an expiry in the past, so it is set a second
    /// ahead and the call returns once that second has passed.
    fn disable(&self, current: &Token) -> Result<Token> {
        let name = &current.name;
        let until = Utc::now() + chrono::TimeDelta::seconds(1);
        let mut body = Map::new();
        body.insert("expiry_time".into(), Value::from(until.timestamp_millis()));
        self.put(name, body, &format!("disabling registration token {name}"))?;
        if let Ok(wait) = (until - Utc::now() + chrono::TimeDelta::milliseconds(20)).to_std() {
            std::thread::sleep(wait);
        }
        self.get(name)?
            .ok_or_else(|| fail!("registration token {name} vanished while it was being disabled"))
    }

    /// Dendrite answers 200 whether or not the token existed; the module looks it up first.
    fn delete(&self, name: &str) -> Result<()> {
        let r = self.send(Method::DELETE, &token_path(name), Body::Empty, true)?;
        if r.is_success() {
            Ok(())
        } else {
            Err(token_error(
                &r,
                &format!("deleting registration token {name}"),
            ))
        }
    }
}

/// Dendrite's own validity rule: unlimited is `null`; `uses_allowed` must exceed pending +
/// completed (so 0 allows nothing); an expiry must be in the future.
pub fn parse_token(v: &Value) -> Result<Token> {
    let name = v
        .get("token")
        .and_then(Value::as_str)
        .ok_or_else(|| fail!("Dendrite sent a registration token without a name: {v}"))?
        .to_string();
    let uses_allowed = v.get("uses_allowed").and_then(Value::as_u64);
    let pending = v.get("pending").and_then(Value::as_u64).unwrap_or(0);
    let completed = v.get("completed").and_then(Value::as_u64).unwrap_or(0);
    let expiry = v
        .get("expiry_time")
        .and_then(Value::as_i64)
        .and_then(DateTime::<Utc>::from_timestamp_millis);
    let valid = uses_allowed.is_none_or(|n| pending + completed < n)
        && expiry.is_none_or(|t| t > Utc::now());
    Ok(Token {
        name,
        max_usage: uses_allowed.unwrap_or(0),
        used: completed,
        expiration_date: expiry,
        disabled: !valid,
        valid,
    })
}

fn token_path(name: &str) -> String {
    format!("{TOKENS}/{}", encode_segment(name))
}

fn expect_token(r: &Response, action: &str) -> Result<Token> {
    if r.is_success() {
        // Only a token object counts: a web page or an empty 200 is not a token.
        r.str_field(action, "token")?;
        parse_token(&r.body)
    } else {
        Err(token_error(r, action))
    }
}

fn token_error(r: &Response, action: &str) -> crate::ansible::Error {
    if r.status.as_u16() == 403 && r.error_text().unwrap_or("").contains("not enabled") {
        return fail!(
            "{action}: Dendrite refuses registration tokens ({}): set client_api.registration_requires_token: true in dendrite.yaml",
            r.describe()
        );
    }
    if r.refusal() == Some(Refusal::NotServed) {
        return fail!(
            "{action}: the server does not serve {TOKENS} ({}); Dendrite has it since 0.13, and backend dendrite needs homeserver_url to be Dendrite's client API",
            r.describe()
        );
    }
    admin_error(r, action)
}

fn uses_json(max_usage: u64) -> Value {
    if max_usage == 0 {
        Value::Null
    } else {
        Value::from(max_usage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dendrite_tokens_normalise_with_dendrites_own_rule() {
        let t = parse_token(&json!({"token": "a", "uses_allowed": null, "pending": 0, "completed": 0, "expiry_time": null})).unwrap();
        assert_eq!((t.max_usage, t.valid, t.disabled), (0, true, false));
        let t = parse_token(&json!({"token": "z", "uses_allowed": 0, "pending": 0, "completed": 0, "expiry_time": null})).unwrap();
        assert!(
            !t.valid && t.disabled,
            "0 uses allowed is no use on Dendrite"
        );
        let t = parse_token(&json!({"token": "u", "uses_allowed": 2, "pending": 0, "completed": 2, "expiry_time": null})).unwrap();
        assert_eq!((t.used, t.valid), (2, false));
        let past = Utc::now().timestamp_millis() - 1000;
        let t = parse_token(&json!({"token": "e", "uses_allowed": 5, "pending": 0, "completed": 0, "expiry_time": past})).unwrap();
        assert!(!t.valid);
        assert_eq!(t.expiration_date.unwrap().timestamp_millis(), past);
    }
}
