//! Matrix Authentication Service (MAS 0.17 and later): registration tokens through its admin API.
//!
//! Every request here is one a real MAS 1.22 was seen to answer (`tests/data/mas/transcripts.jsonl`).
//! MAS cannot delete registration tokens; that is refused before anything is sent.

use crate::ansible::Result;
use crate::api::mas_session::{summary as mas_summary, MasSession, API};
use crate::capabilities::{TokenCapabilities, TokenService};
use crate::client::{Body, Response};
use crate::fail;
use crate::token::{rfc3339, Token};
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{Map, Value};
use std::sync::Arc;

/// What MAS's registration tokens (MAS 0.17 and later) can do: a revoked token can be
/// un-revoked, but MAS has no way to delete one.
pub const CAPABILITIES: TokenCapabilities = TokenCapabilities {
    caller_names_tokens: true,
    can_delete: false,
    has_disabled_flag: true,
    can_reenable: true,
    can_change_expiry: true,
    can_change_max_usage: true,
    max_usage_limit: None,
};

/// MAS's registration tokens (`/user-registration-tokens`). MAS has no filter by token string,
/// so a token is found by paging the list.
pub struct MasTokens {
    session: Arc<MasSession>,
}

impl MasTokens {
    pub fn new(session: Arc<MasSession>) -> MasTokens {
        MasTokens { session }
    }

    /// The token and its ULID.
    fn find(&self, name: &str) -> Result<Option<(String, Token)>> {
        let mut found = None;
        self.session
            .each_page("user-registration-tokens", "", &mut |item| {
                if found.is_none() && item["attributes"]["token"].as_str() == Some(name) {
                    found = Some((
                        item["id"].as_str().unwrap_or_default().to_string(),
                        parse_token(item)?,
                    ));
                }
                Ok(())
            })?;
        Ok(found)
    }

    fn one(&self, r: &Response, action: &str) -> Result<Token> {
        if r.is_success() {
            parse_token(&r.body["data"])
        } else {
            Err(self.session.refused(r, action))
        }
    }

    fn id_of(&self, name: &str) -> Result<String> {
        self.find(name)?
            .map(|(id, _)| id)
            .ok_or_else(|| fail!("token {name} is gone from MAS"))
    }
}

/// MAS's token resource as every module returns a token.
fn parse_token(item: &Value) -> Result<Token> {
    let a = &item["attributes"];
    let name = a["token"]
        .as_str()
        .ok_or_else(|| fail!("MAS sent a registration token without its token: {item}"))?;
    let date = |k: &str| -> Result<Option<DateTime<Utc>>> {
        match a[k].as_str() {
            None => Ok(None),
            Some(s) => DateTime::parse_from_rfc3339(s)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|e| fail!("MAS sent {k} '{s}' that is not RFC 3339: {e}")),
        }
    };
    Ok(Token {
        name: name.to_string(),
        max_usage: a["usage_limit"].as_u64().unwrap_or(0),
        used: a["times_used"].as_u64().unwrap_or(0),
        expiration_date: date("expires_at")?,
        disabled: !a["revoked_at"].is_null(),
        valid: a["valid"].as_bool().unwrap_or(false),
    })
}

fn usage_limit(max_usage: u64) -> Value {
    if max_usage == 0 {
        Value::Null
    } else {
        Value::from(max_usage)
    }
}

impl TokenService for MasTokens {
    fn capabilities(&self) -> TokenCapabilities {
        CAPABILITIES
    }

    fn service_name(&self) -> &'static str {
        "Matrix Authentication Service"
    }

    fn reenables_only_when_asked(&self) -> bool {
        true
    }

    fn list(&self, valid: Option<bool>) -> Result<Vec<Token>> {
        let mut out = Vec::new();
        self.session
            .each_page("user-registration-tokens", "", &mut |item| {
                out.push(parse_token(item)?);
                Ok(())
            })?;
        // Filtered here, on MAS's own `valid`: one listing for both filters.
        out.retain(|t| valid.is_none_or(|v| t.valid == v));
        Ok(out)
    }

    fn get(&self, name: &str) -> Result<Option<Token>> {
        Ok(self.find(name)?.map(|(_, t)| t))
    }

    fn create(
        &self,
        name: Option<&str>,
        max_usage: u64,
        expiry: Option<DateTime<Utc>>,
    ) -> Result<Token> {
        let mut body = Map::new();
        if let Some(n) = name {
            body.insert("token".into(), Value::from(n));
        }
        if max_usage > 0 {
            body.insert("usage_limit".into(), Value::from(max_usage));
        }
        if let Some(t) = expiry {
            body.insert("expires_at".into(), Value::from(rfc3339(t)));
        }
        let body = Value::Object(body);
        let r = self.session.call(
            Method::POST,
            &format!("{API}/user-registration-tokens"),
            Body::Json(&body),
            false,
        )?;
        if r.status.as_u16() == 409 {
            return Err(fail!(
                "MAS already has a token {} ({})",
                name.unwrap_or_default(),
                mas_summary(&r)
            ));
        }
        self.one(&r, "creating a registration token")
    }

    /// PUT what is given; a revoked token is un-revoked (the module asks only when told to).
    fn update(
        &self,
        current: &Token,
        max_usage: Option<u64>,
        expiry: Option<DateTime<Utc>>,
    ) -> Result<Token> {
        let id = self.id_of(&current.name)?;
        let path = format!("{API}/user-registration-tokens/{id}");
        let mut after = None;
        let mut body = Map::new();
        if let Some(n) = max_usage.filter(|n| *n != current.max_usage) {
            body.insert("usage_limit".into(), usage_limit(n));
        }
        if let Some(t) =
            expiry.filter(|t| Some(t.timestamp()) != current.expiration_date.map(|c| c.timestamp()))
        {
            body.insert("expires_at".into(), Value::from(rfc3339(t)));
        }
        if !body.is_empty() {
            let body = Value::Object(body);
            let r = self
                .session
                .call(Method::PUT, &path, Body::Json(&body), true)?;
            after = Some(self.one(&r, &format!("updating token {}", current.name))?);
        }
        if current.disabled {
            let r = self.session.call(
                Method::POST,
                &format!("{path}/unrevoke"),
                Body::Empty,
                false,
            )?;
            after = Some(self.one(&r, &format!("un-revoking token {}", current.name))?);
        }
        after.ok_or_else(|| fail!("token {}: nothing to update", current.name))
    }

    /// `POST .../revoke`.
    fn disable(&self, current: &Token) -> Result<Token> {
        let id = self.id_of(&current.name)?;
        let r = self.session.call(
            Method::POST,
            &format!("{API}/user-registration-tokens/{id}/revoke"),
            Body::Empty,
            false,
        )?;
        self.one(&r, &format!("revoking token {}", current.name))
    }

    fn delete(&self, name: &str) -> Result<()> {
        Err(fail!(
            "MAS cannot delete registration tokens; use state=disabled to revoke token '{name}'"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// MAS's answer to `regtokens-revoke` (tests/data/mas/transcripts.jsonl), normalised.
    #[test]
    fn a_revoked_mas_token_is_disabled_and_invalid() {
        let data = json!({"type": "user-registration_token", "id": "01M83PXDD5D34GHMYNM5E91EZS",
            "attributes": {"token": "mytoken1", "valid": false, "usage_limit": null, "times_used": 0,
                "created_at": "2026-11-23T08:03:45.701768Z", "last_used_at": null,
                "expires_at": "2029-12-31T23:59:59Z", "revoked_at": "2026-11-23T08:03:45.775816518Z"}});
        let t = parse_token(&data).unwrap();
        assert_eq!(t.name, "mytoken1");
        assert_eq!(t.max_usage, 0, "no usage limit is unlimited");
        assert!(t.disabled && !t.valid);
        assert_eq!(rfc3339(t.expiration_date.unwrap()), "2029-12-31T23:59:59Z");
        assert_eq!(usage_limit(0), Value::Null);
        assert_eq!(usage_limit(5), json!(5));
    }
}
