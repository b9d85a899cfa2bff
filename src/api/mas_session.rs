//! A session with MAS's admin API: an access token of the scope `urn:mas:admin`, either given
//! (`access_token`) or obtained with OAuth2 client credentials (`client_secret_basic`, the token
//! endpoint from `/.well-known/openid-configuration`). MAS's tokens live 5 minutes by default:
//! an obtained token is renewed before it runs out (and once more if MAS still says it expired),
//! and every token the session obtained is revoked (`/oauth2/revoke`) when the task ends.

use crate::ansible::{register_secret, Error, Result};
use crate::client::paging::Pages;
use crate::client::{Auth, Body, Client, Response};
use crate::fail;
use reqwest::Method;
use serde_json::Value;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const ADMIN_SCOPE: &str = "urn:mas:admin";
/// Where MAS serves its admin API.
pub const API: &str = "/api/admin/v1";
/// Items per page when paging a list (MAS's default is 10).
const PAGE: u32 = 100;

/// How to act as a MAS admin.
#[derive(Clone)]
pub enum MasCredentials {
    /// A confidential client listed in MAS's `policy.data.admin_clients`.
    Client { id: String, secret: String },
    /// A ready `urn:mas:admin` access token.
    Token(String),
}

/// Secrets stay out of debug output.
impl std::fmt::Debug for MasCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MasCredentials::Client { id, .. } => {
                write!(f, "Client {{ id: {id}, secret: <hidden> }}")
            }
            MasCredentials::Token(_) => write!(f, "Token(<hidden>)"),
        }
    }
}

struct CurrentToken {
    token: String,
    /// When to get a new one (obtained tokens only).
    renew_at: Option<Instant>,
}

/// Where the client-credentials flow happens, as paths under `api_url`.
#[derive(Debug)]
struct Endpoints {
    token: String,
    revocation: Option<String>,
}

pub struct MasSession {
    client: Client,
    creds: MasCredentials,
    endpoints: Option<Endpoints>,
    current: Mutex<CurrentToken>,
    /// Every token this session obtained, to revoke at the end.
    obtained: Mutex<Vec<String>>,
}

/// A MAS answer, briefly: the JSON:API error titles, or OAuth's `error: error_description`.
pub fn summary(r: &Response) -> String {
    let mut s = format!("HTTP {}", r.status.as_u16());
    if let Some(errors) = r.body.get("errors").and_then(Value::as_array) {
        let titles: Vec<&str> = errors
            .iter()
            .filter_map(|e| e.get("title").and_then(Value::as_str))
            .collect();
        if !titles.is_empty() {
            s.push_str(": ");
            s.push_str(&titles.join("; "));
        }
        return s;
    }
    if let Some(e) = r.body.get("error").and_then(Value::as_str) {
        s.push(' ');
        s.push_str(e);
        if let Some(d) = r.body.get("error_description").and_then(Value::as_str) {
            s.push_str(": ");
            s.push_str(d);
        }
        return s;
    }
    r.summary()
}

fn is_ulid(s: &str) -> bool {
    s.len() == 26
        && s.bytes().all(|b| {
            let b = b.to_ascii_uppercase();
            b.is_ascii_digit()
                || (b.is_ascii_uppercase() && !matches!(b, b'I' | b'L' | b'O' | b'U'))
        })
}

/// The path of `endpoint` (an absolute URL from the discovery document) relative to the issuer,
/// to be sent to `api_url`: the issuer is MAS's public URL, which the target host may not reach.
fn endpoint_path(issuer: &str, endpoint: &str) -> Option<String> {
    let e = url::Url::parse(endpoint).ok()?;
    let prefix = url::Url::parse(issuer)
        .map(|i| i.path().trim_end_matches('/').to_string())
        .unwrap_or_default();
    let path = e.path();
    Some(
        path.strip_prefix(&prefix)
            .filter(|p| p.starts_with('/'))
            .unwrap_or(path)
            .to_string(),
    )
}

impl MasSession {
    pub fn open(client: Client, creds: &MasCredentials) -> Result<MasSession> {
        let (endpoints, current) = match creds {
            MasCredentials::Token(t) => (
                None,
                CurrentToken {
                    token: t.clone(),
                    renew_at: None,
                },
            ),
            MasCredentials::Client { id, .. } => {
                if !is_ulid(id) {
                    return Err(fail!(
                        "client_id '{id}' is not a MAS client id: MAS client ids are ULIDs (26 characters, the client_id of an entry of clients: in MAS's config)"
                    ));
                }
                let endpoints = discover(&client)?;
                (
                    Some(endpoints),
                    CurrentToken {
                        token: String::new(),
                        renew_at: Some(Instant::now()),
                    },
                )
            }
        };
        Ok(MasSession {
            client,
            creds: creds.clone(),
            endpoints,
            current: Mutex::new(current),
            obtained: Mutex::new(Vec::new()),
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    fn given_token(&self) -> bool {
        matches!(self.creds, MasCredentials::Token(_))
    }

    /// The current token, renewed first when it is about to run out.
    fn token(&self) -> Result<String> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.renew_at.is_some_and(|at| Instant::now() >= at) {
            *current = self.obtain()?;
        }
        Ok(current.token.clone())
    }

    /// A new token, unless another thread already replaced `stale`.
    fn renew(&self, stale: &str) -> Result<String> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.token == stale {
            *current = self.obtain()?;
        }
        Ok(current.token.clone())
    }

    /// `POST /oauth2/token` with `grant_type=client_credentials&scope=urn:mas:admin`, the client
    /// authenticated with HTTP Basic.
    fn obtain(&self) -> Result<CurrentToken> {
        let (MasCredentials::Client { id, secret }, Some(ep)) = (&self.creds, &self.endpoints)
        else {
            return Err(fail!("no client credentials to get a MAS token with"));
        };
        let form = [("grant_type", "client_credentials"), ("scope", ADMIN_SCOPE)];
        let r = self.client.send(
            Method::POST,
            &ep.token,
            Auth::Basic(id, secret),
            Body::Form(&form),
            false,
        )?;
        let detail = summary(&r);
        match (r.status.as_u16(), r.body["error"].as_str()) {
            (200, _) => {}
            (401, _) | (400, Some("invalid_client")) => return Err(fail!(
                "MAS refused the client credentials ({detail}): either client_id {id} is not a client of MAS (clients: in its config), or client_secret is not its secret; MAS answers the same for both. The client must use client_auth_method: client_secret_basic"
            )),
            (403, Some("invalid_scope")) | (400, Some("invalid_scope")) => return Err(fail!(
                "MAS does not grant client {id} the scope {ADMIN_SCOPE} ({detail}): add {id} to policy.data.admin_clients in MAS's config"
            )),
            (403, Some("unauthorized_client")) | (400, Some("unauthorized_client")) => return Err(fail!(
                "MAS does not let client {id} use the client_credentials grant ({detail}): allow it in the client's entry of clients: in MAS's config"
            )),
            _ => return Err(fail!(
                "getting a MAS admin token at {} failed: {detail}",
                ep.token
            )),
        }
        // The token answer (RFC 6749 5.1): a JSON object with a Bearer access_token. Anything
        // else (a web page, an empty 200, another token type) is not MAS's answer.
        let action = format!("getting a MAS admin token for client_id {id} at api_url");
        let expected = "MAS's token answer (a JSON object with a Bearer access_token); check api_url (MAS's own URL, not the homeserver or a proxy page) and client_id";
        let obj = r
            .object(&action)
            .map_err(|_| r.unexpected(&action, expected))?;
        let token = obj
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| r.unexpected(&action, expected))?
            .to_string();
        register_secret(&token);
        let token_type = obj.get("token_type").and_then(Value::as_str).unwrap_or("");
        if !token_type.eq_ignore_ascii_case("bearer") {
            return Err(fail!(
                "{action}: MAS answered token_type '{token_type}', not Bearer; the token was not used. Check api_url: it must be MAS itself"
            ));
        }
        let scope = r.body["scope"].as_str().unwrap_or_default();
        if !scope.split(' ').any(|s| s == ADMIN_SCOPE) {
            return Err(fail!(
                "MAS granted client {id} the scopes '{scope}' but not {ADMIN_SCOPE}: add {id} to policy.data.admin_clients in MAS's config"
            ));
        }
        self.obtained
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(token.clone());
        let ttl = Duration::from_secs(r.body["expires_in"].as_u64().unwrap_or(300));
        // Renewed with a quarter of its life (at most 30 s) left.
        let margin = (ttl / 4).min(Duration::from_secs(30));
        Ok(CurrentToken {
            token,
            renew_at: Some(Instant::now() + ttl - margin),
        })
    }

    /// An admin API request with the current token; a token MAS calls expired is renewed and the
    /// request sent once more.
    pub fn call(
        &self,
        method: Method,
        path: &str,
        body: Body<'_>,
        idempotent: bool,
    ) -> Result<Response> {
        let token = self.token()?;
        let r = self.client.send(
            method.clone(),
            path,
            Auth::Bearer(&token),
            body.clone(),
            idempotent,
        )?;
        if r.status.as_u16() == 401 && !self.given_token() && title(&r) == "Access token expired" {
            let fresh = self.renew(&token)?;
            return self
                .client
                .send(method, path, Auth::Bearer(&fresh), body, idempotent);
        }
        Ok(r)
    }

    /// A refused admin API call, explained: credentials first, then the action.
    pub fn refused(&self, r: &Response, action: &str) -> Error {
        let detail = summary(r);
        let t = title(r);
        let given = self.given_token();
        match (r.status.as_u16(), t.as_str()) {
            (401, "Missing urn:mas:admin scope") if given => fail!(
                "{action}: access_token is not a MAS admin token ({detail}): it lacks the scope {ADMIN_SCOPE}. Use a token that a client in policy.data.admin_clients got with scope {ADMIN_SCOPE}, or give client_id and client_secret"
            ),
            (401, "Access token expired") if given => fail!(
                "{action}: access_token has expired ({detail}); MAS admin tokens live 5 minutes by default. Give client_id and client_secret instead: the module then gets and renews its own token"
            ),
            (401, "Access token revoked") if given => fail!(
                "{action}: access_token was revoked ({detail}); get a new one, or give client_id and client_secret"
            ),
            (401, "Invalid type of access token") if given => fail!(
                "{action}: access_token is not a MAS access token ({detail}); a homeserver's token (syt_...) does not work on MAS's admin API"
            ),
            (401, _) if given => fail!(
                "{action}: MAS does not know access_token ({detail}); is it a token of this MAS?"
            ),
            (400, "Invalid authorization header") if given => fail!(
                "{action}: access_token is not a token MAS can read ({detail})"
            ),
            (401, _) => fail!(
                "{action}: MAS refused the token it issued to client_id ({detail}); check that the client is in policy.data.admin_clients"
            ),
            (404, _) if r.body.is_null() => fail!(
                "{action}: api_url does not serve MAS's admin API ({detail}); MAS serves it when the adminapi resource is listed under http.listeners in its config"
            ),
            _ => fail!("{action} failed: {detail}"),
        }
    }

    /// Every item of an admin API list, page by page (`page[first]`, `page[after]` the last
    /// cursor), after `filter` (e.g. `filter[user]=<ULID>`, or empty).
    pub fn each_page(
        &self,
        collection: &str,
        filter: &str,
        each: &mut dyn FnMut(&Value) -> Result<()>,
    ) -> Result<()> {
        self.each_page_meta(collection, filter, Some(PAGE), &mut |_| true, each)
    }

    /// As [`Self::each_page`] in pages of MAS's default size (10), for short lists: the first
    /// request is then exactly `?{filter}`.
    pub fn each_default_page(
        &self,
        collection: &str,
        filter: &str,
        each: &mut dyn FnMut(&Value) -> Result<()>,
    ) -> Result<()> {
        self.each_page_meta(collection, filter, None, &mut |_| true, each)
    }

    /// As [`Self::each_page`], `page` items a page (None: MAS's default); after the first page
    /// `go_on(total)` says whether to continue.
    pub fn each_page_meta(
        &self,
        collection: &str,
        filter: &str,
        page: Option<u32>,
        go_on: &mut dyn FnMut(u64) -> bool,
        each: &mut dyn FnMut(&Value) -> Result<()>,
    ) -> Result<()> {
        let mut after: Option<String> = None;
        let mut first = true;
        let mut pages = Pages::new(&format!("listing MAS's {collection}"));
        loop {
            let mut query: Vec<String> = Vec::new();
            if !filter.is_empty() {
                query.push(filter.to_string());
            }
            if let Some(n) = page {
                query.push(format!("page[first]={n}"));
            }
            if let Some(a) = &after {
                query.push(format!("page[after]={a}"));
            }
            let mut path = format!("{API}/{collection}");
            if !query.is_empty() {
                path.push('?');
                path.push_str(&query.join("&"));
            }
            let r = self.call(Method::GET, &path, Body::Empty, true)?;
            if !r.is_success() {
                return Err(self.refused(&r, &format!("listing {collection}")));
            }
            let items = r.body["data"]
                .as_array()
                .ok_or_else(|| fail!("listing {collection}: MAS's answer has no data list"))?;
            for item in items {
                each(item)?;
            }
            if first {
                first = false;
                let count = r.body["meta"]["count"].as_u64();
                if let Some(total) = count {
                    pages.expect_total(total, u64::from(page.unwrap_or(10)));
                }
                if !go_on(count.unwrap_or(0)) {
                    return Ok(());
                }
            }
            let last = items.last().and_then(|i| {
                i["meta"]["page"]["cursor"]
                    .as_str()
                    .or_else(|| i["id"].as_str())
            });
            // The cursor of the next page is the last item's; a next link after a page without
            // items has none, which Pages refuses.
            let next = r.body["links"]["next"]
                .as_str()
                .map(|_| last.unwrap_or_default());
            if !pages.next(items.len(), next)? {
                return Ok(());
            }
            after = next.map(str::to_string);
        }
    }

    /// Revokes every token this session obtained, reporting failure.
    pub fn close(&self) -> Result<()> {
        self.revoke_all()
    }

    fn revoke_all(&self) -> Result<()> {
        let tokens = std::mem::take(&mut *self.obtained.lock().unwrap_or_else(|e| e.into_inner()));
        let (MasCredentials::Client { id, secret }, Some(ep)) = (&self.creds, &self.endpoints)
        else {
            return Ok(());
        };
        let Some(revocation) = &ep.revocation else {
            return Ok(());
        };
        let mut failed = None;
        for t in tokens {
            let form = [("token", t.as_str()), ("token_type_hint", "access_token")];
            match self.client.send(
                Method::POST,
                revocation,
                Auth::Basic(id, secret),
                Body::Form(&form),
                true,
            ) {
                Ok(r) if r.is_success() => {}
                Ok(r) => failed = Some(summary(&r)),
                Err(Error(e)) => failed = Some(e),
            }
        }
        match failed {
            None => Ok(()),
            Some(why) => Err(fail!(
                "revoking the MAS token this task obtained failed ({why}); it expires by itself"
            )),
        }
    }
}

impl Drop for MasSession {
    fn drop(&mut self) {
        let _ = self.revoke_all();
    }
}

fn title(r: &Response) -> String {
    r.body["errors"][0]["title"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// `GET /.well-known/openid-configuration`: the token and revocation endpoints.
fn discover(client: &Client) -> Result<Endpoints> {
    let r = client.send(
        Method::GET,
        "/.well-known/openid-configuration",
        Auth::None,
        Body::Empty,
        true,
    )?;
    if !r.is_success() {
        return Err(fail!(
            "api_url {} does not serve MAS's discovery document (GET /.well-known/openid-configuration: {}): point api_url at Matrix Authentication Service",
            client.base(),
            summary(&r)
        ));
    }
    let issuer = r.body["issuer"].as_str().unwrap_or_default();
    let token = r.body["token_endpoint"]
        .as_str()
        .and_then(|e| endpoint_path(issuer, e))
        .ok_or_else(|| fail!("MAS's discovery document has no token_endpoint"))?;
    let revocation = r.body["revocation_endpoint"]
        .as_str()
        .and_then(|e| endpoint_path(issuer, e));
    Ok(Endpoints { token, revocation })
}

#[cfg(test)]
#[path = "mas_session_tests.rs"]
mod tests;
