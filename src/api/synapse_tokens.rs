//! Synapse's registration tokens (`/_synapse/admin/v1/registration_tokens`), for servers with
//! `registration_requires_token`.
//!
//! Synapse has no disabled flag, and `uses_allowed: 0` means unlimited to its validity check
//! (`if uses_allowed and ...`), so a token is disabled by making it expire now; a token that can
//! no longer be used is reported disabled.
//!
//! tuwunel serves the same five endpoints ([`TokenDialect`], docs/tuwunel.md section 6), with
//! differences: `uses_allowed: 0` allows no use; tokens from its configuration answer 403 to
//! updates and deletes; an expired or used-up token is deleted by the next listing, so a
//! disabled token may be gone, and `?valid=false` always lists none.

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

/// Where a server's copy of this API differs from Synapse's.
#[derive(Debug, Clone, Copy)]
pub struct TokenDialect {
    pub objects: TokenObjects,
    /// Tokens from the server's configuration answer 403 to updates and deletes.
    pub config_tokens: bool,
    /// Expired and used-up tokens are deleted (by the next listing); an expiry in the past is
    /// accepted, so disabling is setting it to now.
    pub unusable_tokens_vanish: bool,
}

pub const SYNAPSE: TokenDialect = TokenDialect {
    objects: OBJECTS,
    config_tokens: false,
    unusable_tokens_vanish: false,
};

/// tuwunel 1.9.0: src/api/client/admin/tokens/*.rs, src/service/registration_tokens/data.rs
/// (`uses_allowed` 0 = no use, data.rs:35-51; invalid tokens deleted, data.rs:149-177, 204-219;
/// config tokens 403, update.rs:29-33 and registration_tokens/mod.rs:160-169).
pub const TUWUNEL: TokenDialect = TokenDialect {
    objects: TokenObjects {
        server: "tuwunel",
        base: TOKENS,
        zero_is_unlimited: false,
    },
    config_tokens: true,
    unusable_tokens_vanish: true,
};

pub struct SynapseTokens {
    session: Arc<AdminSession>,
    dialect: TokenDialect,
}

impl SynapseTokens {
    pub fn new(session: Arc<AdminSession>) -> SynapseTokens {
        SynapseTokens::speaking(session, SYNAPSE)
    }

    /// The API as a server that copied it serves it.
    pub fn speaking(session: Arc<AdminSession>, dialect: TokenDialect) -> SynapseTokens {
        SynapseTokens { session, dialect }
    }

    /// A refusal explained; on tuwunel a 403 about the configuration names the token's origin.
    fn refused(&self, r: &Response, action: &str) -> crate::ansible::Error {
        let server = self.dialect.objects.server;
        if self.dialect.config_tokens
            && r.status.as_u16() == 403
            && r.error_text().unwrap_or("").contains("config file")
        {
            return fail!(
                "{action}: the token is set in {server}'s configuration (registration_token or registration_token_file; with matrix-docker-ansible-deploy matrix_tuwunel_config_registration_token), and {server} cannot change, disable or delete such a token over its API ({}). Change the configuration instead, or manage a token created through the API",
                r.summary()
            );
        }
        admin_error(r, action)
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
        self.dialect.objects.server
    }

    fn unusable_tokens_vanish(&self) -> bool {
        self.dialect.unusable_tokens_vanish
    }

    fn list(&self, valid: Option<bool>) -> Result<Vec<Token>> {
        let path = self.dialect.objects.list_path(valid);
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
            .map(|v| self.dialect.objects.parse(v))
            .collect()
    }

    fn get(&self, name: &str) -> Result<Option<Token>> {
        let objects = self.dialect.objects;
        let r = self.send(Method::GET, &objects.path(name), Body::Empty, true)?;
        if r.refusal() == Some(Refusal::NotFound) && r.is_matrix_error() {
            return Ok(None);
        }
        let action = format!("reading registration token {name}");
        let token = objects.expect(&r, &action, admin_error)?;
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
        let objects = self.dialect.objects;
        let (path, body) = objects.create(name, max_usage, expiry);
        let r = self.send(Method::POST, &path, Body::Json(&body), false)?;
        objects.expect(&r, "creating a registration token", admin_error)
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
        let objects = self.dialect.objects;
        let r = self.send(
            Method::PUT,
            &objects.path(name),
            Body::Json(&Value::Object(body)),
            true,
        )?;
        objects.expect_named(
            &r,
            &format!("updating registration token {name}"),
            name,
            |r, a| self.refused(r, a),
        )
    }

    /// Makes the token expire now. Synapse refuses an expiry in the past, so it is set a second
    /// ahead and the call returns once that second has passed and the token is unusable.
    fn disable(&self, current: &Token) -> Result<Token> {
        let name = &current.name;
        let objects = self.dialect.objects;
        let action = format!("disabling registration token {name}");
        if self.dialect.unusable_tokens_vanish {
            // tuwunel takes an expiry of now, and the answer shows the token expired (the shared
            // layer refuses an answer that still shows it usable). The next listing deletes it.
            let body = json!({"expiry_time": Utc::now().timestamp_millis()});
            let r = self.send(Method::PUT, &objects.path(name), Body::Json(&body), true)?;
            return objects.expect_named(&r, &action, name, |r, a| self.refused(r, a));
        }
        let until = Utc::now() + chrono::TimeDelta::seconds(1);
        let body = json!({"expiry_time": until.timestamp_millis()});
        let r = self.send(Method::PUT, &objects.path(name), Body::Json(&body), true)?;
        objects.expect_named(&r, &action, name, admin_error)?;
        if let Ok(wait) = (until - Utc::now() + chrono::TimeDelta::milliseconds(20)).to_std() {
            std::thread::sleep(wait);
        }
        self.get(name)?
            .ok_or_else(|| fail!("registration token {name} vanished while it was being disabled"))
    }

    fn delete(&self, name: &str) -> Result<()> {
        let action = format!("deleting registration token {name}");
        if self.dialect.config_tokens {
            let path = self.dialect.objects.path(name);
            let r = self.send(Method::DELETE, &path, Body::Empty, true)?;
            if !r.is_success() {
                return Err(self.refused(&r, &action));
            }
            return r.object(&action).map(drop);
        }
        admin_call(
            &self.session,
            Method::DELETE,
            &self.dialect.objects.path(name),
            Body::Empty,
            &action,
        )
        .map(drop)
    }
}
