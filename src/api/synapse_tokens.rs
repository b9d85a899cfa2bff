//! Synapse's registration tokens (`/_synapse/admin/v1/registration_tokens`), for servers with
//! `registration_requires_token`.
//!
//! Synapse has no disabled flag, and `uses_allowed: 0` means unlimited to its validity check
//! (`if uses_allowed and ...`), so a token is disabled by making it expire now; a token that can
//! no longer be used is reported disabled.

use crate::ansible::Result;
use crate::api::admin_session::AdminSession;
use crate::api::admin_session::{admin_call, admin_error};
use crate::api::token_objects::{TokenObjects, CAPABILITIES};
use crate::capabilities::{TokenCapabilities, TokenService};
use crate::client::{Body, Refusal, Response};
use crate::fail;
use crate::token::Token;
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;

const TOKENS: &str = "/_synapse/admin/v1/registration_tokens";

/// Synapse's token objects.
pub const OBJECTS: TokenObjects = TokenObjects {
    server: "Synapse",
    base: TOKENS,
    zero_is_unlimited: true,
};

pub struct SynapseTokens {
    session: Arc<AdminSession>,
}

impl SynapseTokens {
    pub fn new(session: Arc<AdminSession>) -> SynapseTokens {
        SynapseTokens { session }
    }

    fn send(
        &self,
        method: Method,
        path: &str,
        body: Body<'_>,
        idempotent: bool,
    ) -> Result<Response> {
        let r = self.session.client().send(
            method,
            path,
            self.session
                .auth("reading or changing Synapse's registration tokens")?,
            body,
            idempotent,
        )?;
        // Under MAS delegation this API answers 404 M_UNRECOGNIZED: say to use backend mas.
        match crate::api::delegation::delegation_error(self.session.client(), &r) {
            Some(e) => Err(e),
            None => Ok(r),
        }
    }
}

impl TokenService for SynapseTokens {
    fn capabilities(&self) -> TokenCapabilities {
        CAPABILITIES
    }

    fn service_name(&self) -> &'static str {
        "Synapse"
    }

    fn list(&self, valid: Option<bool>) -> Result<Vec<Token>> {
        let path = OBJECTS.list_path(valid);
        let r = self.send(Method::GET, &path, Body::Empty, true)?;
        let action = "listing registration tokens";
        if !r.is_success() {
            return Err(admin_error(&r, action));
        }
        r.object(action)?
            .get("registration_tokens")
            .and_then(Value::as_array)
            .ok_or_else(|| r.unexpected(action, "a JSON object with a registration_tokens list"))?
            .iter()
            .map(|v| OBJECTS.parse(v))
            .collect()
    }

    fn get(&self, name: &str) -> Result<Option<Token>> {
        let r = self.send(Method::GET, &OBJECTS.path(name), Body::Empty, true)?;
        if r.refusal() == Some(Refusal::NotFound) && r.is_matrix_error() {
            return Ok(None);
        }
        let action = format!("reading registration token {name}");
        let token = OBJECTS.expect(&r, &action, admin_error)?;
        if token.name != name {
            return Err(r.unexpected(&action, &format!("the token {name} (it named another)")));
        }
        Ok(Some(token))
    }

    fn create(
        &self,
        name: Option<&str>,
        max_usage: u64,
        expiry: Option<DateTime<Utc>>,
    ) -> Result<Token> {
        let (path, body) = OBJECTS.create(name, max_usage, expiry);
        let r = self.send(Method::POST, &path, Body::Json(&body), false)?;
        OBJECTS.expect(&r, "creating a registration token", admin_error)
    }

    /// Synapse has no flag to clear: a new limit or expiry is what makes a token usable again.
    fn update(
        &self,
        current: &Token,
        max_usage: Option<u64>,
        expiry: Option<DateTime<Utc>>,
    ) -> Result<Token> {
        let name = &current.name;
        let body = TokenObjects::update_body(max_usage, expiry);
        let r = self.send(
            Method::PUT,
            &OBJECTS.path(name),
            Body::Json(&Value::Object(body)),
            true,
        )?;
        OBJECTS.expect_named(
            &r,
            &format!("updating registration token {name}"),
            name,
            admin_error,
        )
    }

    /// Makes the token expire now. Synapse refuses an expiry in the past, so it is set a second
    /// ahead and the call returns once that second has passed and the token is unusable.
    fn disable(&self, current: &Token) -> Result<Token> {
        let name = &current.name;
        let until = Utc::now() + chrono::TimeDelta::seconds(1);
        let body = json!({"expiry_time": until.timestamp_millis()});
        let r = self.send(Method::PUT, &OBJECTS.path(name), Body::Json(&body), true)?;
        OBJECTS.expect_named(
            &r,
            &format!("disabling registration token {name}"),
            name,
            admin_error,
        )?;
        if let Ok(wait) = (until - Utc::now() + chrono::TimeDelta::milliseconds(20)).to_std() {
            std::thread::sleep(wait);
        }
        self.get(name)?
            .ok_or_else(|| fail!("registration token {name} vanished while it was being disabled"))
    }

    fn delete(&self, name: &str) -> Result<()> {
        let action = format!("deleting registration token {name}");
        admin_call(
            &self.session,
            Method::DELETE,
            &OBJECTS.path(name),
            Body::Empty,
            &action,
        )
        .map(drop)
    }
}
