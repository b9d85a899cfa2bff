//! The registration-token objects Synapse's admin API defined and Dendrite and tuwunel copied
//! (`token`, `uses_allowed`, `pending`, `completed`, `expiry_time` in ms): their paths, reading
//! and the `uses_allowed` they are sent, for every API that speaks them.

use crate::ansible::{Error, Result};
use crate::capabilities::TokenCapabilities;
use crate::client::{encode_segment, Response};
use crate::fail;
use crate::token::Token;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

/// What the token APIs in Synapse's style can do: the caller names tokens, limits and expiry can
/// change, there is no disabled flag (a token is disabled by making it expire now), and tokens
/// can be deleted.
pub const CAPABILITIES: TokenCapabilities = TokenCapabilities {
    caller_names_tokens: true,
    can_delete: true,
    has_disabled_flag: false,
    can_reenable: true,
    can_change_expiry: true,
    can_change_max_usage: true,
    max_usage_limit: None,
};

/// One server's dialect of the token objects.
#[derive(Debug, Clone, Copy)]
pub struct TokenObjects {
    /// For messages: "Synapse", "Dendrite".
    pub server: &'static str,
    /// The collection's path, e.g. `/_synapse/admin/v1/registration_tokens`.
    pub base: &'static str,
    /// Whether `uses_allowed: 0` means unlimited (Synapse's `if uses_allowed and ...`) rather
    /// than no use at all (Dendrite's rule).
    pub zero_is_unlimited: bool,
}

impl TokenObjects {
    /// The listing's path, with the server-side `valid` filter where asked.
    pub fn list_path(&self, valid: Option<bool>) -> String {
        match valid {
            Some(v) => format!("{}?valid={v}", self.base),
            None => self.base.to_string(),
        }
    }

    /// The creation's path and body (`token` only where the caller names it).
    pub fn create(
        &self,
        name: Option<&str>,
        max_usage: u64,
        expiry: Option<DateTime<Utc>>,
    ) -> (String, Value) {
        let mut body = json!({
            "uses_allowed": uses_json(max_usage),
            "expiry_time": expiry.map(|t| t.timestamp_millis()),
        });
        if let Some(n) = name {
            body["token"] = Value::from(n);
        }
        (format!("{}/new", self.base), body)
    }

    /// An update's body: only what is given.
    pub fn update_body(
        max_usage: Option<u64>,
        expiry: Option<DateTime<Utc>>,
    ) -> Map<String, Value> {
        let mut body = Map::new();
        if let Some(n) = max_usage {
            body.insert("uses_allowed".into(), uses_json(n));
        }
        if let Some(t) = expiry {
            body.insert("expiry_time".into(), Value::from(t.timestamp_millis()));
        }
        body
    }

    /// The path of one token, its name encoded as one segment.
    pub fn path(&self, name: &str) -> String {
        format!("{}/{}", self.base, encode_segment(name))
    }

    /// A token object, normalised with the server's own validity rule: a usage limit must
    /// exceed pending + completed uses, an expiry must be in the future.
    pub fn parse(&self, v: &Value) -> Result<Token> {
        let server = self.server;
        let name = v
            .get("token")
            .and_then(Value::as_str)
            .ok_or_else(|| fail!("{server} sent a registration token without a name: {v}"))?
            .to_string();
        // Each field is of its promised JSON type or absent/null: a limit of "5" or an expiry of
        // "never" is not read as unlimited or never expiring.
        let field = |k: &str| -> Result<Option<&Value>> {
            match v.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(x) if x.is_u64() || (k == "expiry_time" && x.is_i64()) => Ok(Some(x)),
                Some(x) => Err(fail!(
                    "{server} sent registration token {name} with {k} = {x}, which is not a number; nothing was read from it"
                )),
            }
        };
        let uses_allowed = field("uses_allowed")?.and_then(Value::as_u64);
        let pending = field("pending")?.and_then(Value::as_u64).unwrap_or(0);
        let completed = field("completed")?.and_then(Value::as_u64).unwrap_or(0);
        let expiry = match field("expiry_time")?.and_then(Value::as_i64) {
            None => None,
            Some(ms) => Some(DateTime::<Utc>::from_timestamp_millis(ms).ok_or_else(|| {
                fail!("{server} sent registration token {name} with expiry_time {ms}, which is no time")
            })?),
        };
        let unlimited = |n: u64| self.zero_is_unlimited && n == 0;
        let valid = uses_allowed.is_none_or(|n| unlimited(n) || pending + completed < n)
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

    /// The token of a success (only a token object counts: a web page or an empty 200 is not
    /// one); a refusal is explained by `refused`.
    pub fn expect(
        &self,
        r: &Response,
        action: &str,
        refused: impl Fn(&Response, &str) -> Error,
    ) -> Result<Token> {
        if r.is_success() {
            r.str_field(action, "token")?;
            self.parse(&r.body)
        } else {
            Err(refused(r, action))
        }
    }

    /// As [`TokenObjects::expect`], and the answer must name the token acted on.
    pub fn expect_named(
        &self,
        r: &Response,
        action: &str,
        name: &str,
        refused: impl Fn(&Response, &str) -> Error,
    ) -> Result<Token> {
        let token = self.expect(r, action, refused)?;
        if token.name != name {
            return Err(r.unexpected(action, &format!("the token {name} (it named another)")));
        }
        Ok(token)
    }
}

/// `uses_allowed` for a usage limit: null is unlimited (0 here) on every server.
pub fn uses_json(max_usage: u64) -> Value {
    if max_usage == 0 {
        Value::Null
    } else {
        Value::from(max_usage)
    }
}
