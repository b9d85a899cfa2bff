//! Dendrite's registration tokens (`/_dendrite/admin/registrationTokens`, since 0.13), acting
//! with an admin's access token (an account of `account_type` 3).
//!
//! The API copies Synapse's fields (`token`, `uses_allowed`, `pending`, `completed`,
//! `expiry_time` in ms), with differences measured on Dendrite 0.13.8 (tests/it/dendrite_server/):
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
use crate::api::admin_session::admin_error;
use crate::api::admin_session::AdminSession;
use crate::api::token_objects::{TokenObjects, CAPABILITIES};
use crate::capabilities::{TokenCapabilities, TokenService};
use crate::client::{Auth, Body, Refusal, Response};
use crate::fail;
use crate::token::{rfc3339, Token};
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{Map, Value};
use std::sync::Arc;

const TOKENS: &str = "/_dendrite/admin/registrationTokens";

/// Dendrite's token objects.
pub const OBJECTS: TokenObjects = TokenObjects {
    server: "Dendrite",
    base: TOKENS,
    zero_is_unlimited: false,
};

pub struct DendriteTokens {
    session: Arc<AdminSession>,
}

impl DendriteTokens {
    pub fn new(session: Arc<AdminSession>) -> DendriteTokens {
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
            &OBJECTS.path(name),
            Body::Json(&Value::Object(body)),
            true,
        )?;
        let t = OBJECTS.expect(&r, action, token_error)?;
        let raw = &r.body;
        let ignored = wanted.iter().any(|(k, v)| raw.get(k) != Some(v));
        if ignored {
            return Err(fail!(
                "{action}: Dendrite answered success but kept the old values ({}): Dendrite on SQLite does not apply registration token updates (a bug of its SQLite storage); delete the token (state=absent) and create it anew, or run Dendrite on PostgreSQL",
                token_summary(&t)
            ));
        }
        Ok(t)
    }
}

fn token_summary(t: &Token) -> String {
    format!(
        "max_usage {}, expires {}",
        t.max_usage,
        t.expiration_date
            .map(rfc3339)
            .unwrap_or_else(|| "never".into())
    )
}

impl TokenService for DendriteTokens {
    fn capabilities(&self) -> TokenCapabilities {
        CAPABILITIES
    }

    fn service_name(&self) -> &'static str {
        "Dendrite"
    }

    fn list(&self, valid: Option<bool>) -> Result<Vec<Token>> {
        let path = OBJECTS.list_path(valid);
        let r = self.send(Method::GET, &path, Body::Empty, true)?;
        if !r.is_success() {
            return Err(token_error(&r, "listing registration tokens"));
        }
        match r.body.get("registration_tokens") {
            Some(Value::Array(list)) => list.iter().map(|v| OBJECTS.parse(v)).collect(),
            Some(Value::Null) => Ok(Vec::new()),
            _ => Err(fail!(
                "Dendrite sent no registration_tokens list ({})",
                r.summary()
            )),
        }
    }

    fn get(&self, name: &str) -> Result<Option<Token>> {
        let r = self.send(Method::GET, &OBJECTS.path(name), Body::Empty, true)?;
        if r.refusal() == Some(Refusal::NotFound) {
            return Ok(None);
        }
        OBJECTS
            .expect(
                &r,
                &format!("reading registration token {name}"),
                token_error,
            )
            .map(Some)
    }

    fn create(
        &self,
        name: Option<&str>,
        max_usage: u64,
        expiry: Option<DateTime<Utc>>,
    ) -> Result<Token> {
        let (path, body) = OBJECTS.create(name, max_usage, expiry);
        let r = self.send(Method::POST, &path, Body::Json(&body), false)?;
        if r.status.as_u16() == 409 {
            return Err(fail!(
                "registration token {} already exists on Dendrite ({})",
                name.unwrap_or(""),
                r.summary()
            ));
        }
        OBJECTS.expect(&r, "creating a registration token", token_error)
    }

    fn update(
        &self,
        current: &Token,
        max_usage: Option<u64>,
        expiry: Option<DateTime<Utc>>,
    ) -> Result<Token> {
        let body = TokenObjects::update_body(max_usage, expiry);
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
        let r = self.send(Method::DELETE, &OBJECTS.path(name), Body::Empty, true)?;
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

fn token_error(r: &Response, action: &str) -> crate::ansible::Error {
    if r.status.as_u16() == 403 && r.error_text().unwrap_or("").contains("not enabled") {
        return fail!(
            "{action}: Dendrite refuses registration tokens ({}): set client_api.registration_requires_token: true in dendrite.yaml",
            r.summary()
        );
    }
    if r.refusal() == Some(Refusal::NotServed) {
        return fail!(
            "{action}: the server does not serve {TOKENS} ({}); Dendrite has it since 0.13, and backend dendrite needs homeserver_url to be Dendrite's client API",
            r.summary()
        );
    }
    admin_error(r, action)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dendrite_tokens_normalise_with_dendrites_own_rule() {
        let t = OBJECTS.parse(&json!({"token": "a", "uses_allowed": null, "pending": 0, "completed": 0, "expiry_time": null})).unwrap();
        assert_eq!((t.max_usage, t.valid, t.disabled), (0, true, false));
        let t = OBJECTS.parse(&json!({"token": "z", "uses_allowed": 0, "pending": 0, "completed": 0, "expiry_time": null})).unwrap();
        assert!(
            !t.valid && t.disabled,
            "0 uses allowed is no use on Dendrite"
        );
        let t = OBJECTS.parse(&json!({"token": "u", "uses_allowed": 2, "pending": 0, "completed": 2, "expiry_time": null})).unwrap();
        assert_eq!((t.used, t.valid), (2, false));
        let past = Utc::now().timestamp_millis() - 1000;
        let t = OBJECTS.parse(&json!({"token": "e", "uses_allowed": 5, "pending": 0, "completed": 0, "expiry_time": past})).unwrap();
        assert!(!t.valid);
        assert_eq!(t.expiration_date.unwrap().timestamp_millis(), past);
    }
}
