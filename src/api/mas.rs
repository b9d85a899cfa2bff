//! Matrix Authentication Service (MAS): its admin API (`/api/admin/v1`, JSON:API envelopes,
//! ULIDs) for users, e-mail addresses and registration tokens, acting with a token of the scope
//! `urn:mas:admin`. The session that holds the token is in [`super::mas_session`].
//!
//! Every request here is one a real MAS 1.22 was seen to answer (`tests/data/mas/transcripts.jsonl`).
//! MAS has no user types, no display-name change for existing users in its admin API and cannot
//! delete registration tokens; what it cannot do is refused before anything is sent.

use crate::ansible::{Error, Result};
use crate::api::mas_session::{describe, MasSession};
use crate::backends::{
    AccountListing, AdminChange, AdminFlag, Directory, EmailAddresses, NewUser, PasswordReset,
    Presence, Registrar, Registration, TokenCapabilities, TokenService,
};
use crate::client::{encode_segment, Auth, Body, Client, Response};
use crate::fail;
use crate::token::{rfc3339, Token};
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

const API: &str = "/api/admin/v1";

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

/// The part of MAS's site configuration the modules use.
#[derive(Debug, Clone)]
pub struct SiteConfig {
    pub server_name: String,
    pub password_login_enabled: bool,
}

/// A MAS user, as the admin API shows it.
#[derive(Debug, Clone)]
pub struct MasUser {
    /// The ULID.
    pub id: String,
    pub username: String,
    pub admin: bool,
}

impl MasUser {
    fn from_resource(data: &Value) -> Result<MasUser> {
        let id = data.get("id").and_then(Value::as_str);
        let attrs = data.get("attributes");
        let username = attrs
            .and_then(|a| a.get("username"))
            .and_then(Value::as_str);
        match (id, username) {
            (Some(id), Some(username)) => Ok(MasUser {
                id: id.to_string(),
                username: username.to_string(),
                admin: attrs
                    .and_then(|a| a.get("admin"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            }),
            _ => Err(fail!("MAS sent a user without id or username: {data}")),
        }
    }
}

/// Accounts per page of the users listing (register_user's check for long lists assumes 1000).
const LISTING_PAGE: u32 = 1000;

/// Users, passwords, the admin flag and e-mail addresses through MAS's admin API.
#[derive(Clone)]
pub struct MasAdmin<'a> {
    session: &'a MasSession<'a>,
    server_name: String,
    /// Passwords are set with `skip_password_check` (as `mas-cli --ignore-password-complexity`).
    skip_password_check: bool,
}

impl<'a> MasAdmin<'a> {
    pub fn new(
        session: &'a MasSession<'a>,
        server_name: String,
        skip_password_check: bool,
    ) -> MasAdmin<'a> {
        MasAdmin {
            session,
            server_name,
            skip_password_check,
        }
    }

    pub fn server_name(&self) -> &str {
        &self.server_name
    }

    /// `@name:server` to `name`; a user of another server is an error (MAS serves one).
    fn localpart<'u>(&self, user_id: &'u str) -> Result<&'u str> {
        let Some(rest) = user_id.strip_prefix('@') else {
            return Ok(user_id);
        };
        match rest.split_once(':') {
            Some((local, server)) if server == self.server_name => Ok(local),
            Some((_, server)) => Err(fail!(
                "{user_id} is not a user of this MAS, which serves the server name {} (not {server})",
                self.server_name
            )),
            None => Ok(rest),
        }
    }

    fn user_id(&self, username: &str) -> String {
        format!("@{username}:{}", self.server_name)
    }

    /// `GET /users/by-username/{name}`: the user, or None.
    pub fn find_user(&self, username: &str) -> Result<Option<MasUser>> {
        let path = format!("{API}/users/by-username/{}", encode_segment(username));
        let r = self.session.call(Method::GET, &path, Body::Empty, true)?;
        match r.status.as_u16() {
            200 => MasUser::from_resource(&r.body["data"]).map(Some),
            404 => Ok(None),
            _ => Err(self.session.refused(&r, &format!("looking up {username}"))),
        }
    }

    fn require_user(&self, user_id: &str) -> Result<MasUser> {
        let name = self.localpart(user_id)?;
        self.find_user(name)?.ok_or_else(|| {
            fail!("user {user_id} does not exist on MAS; user_admin never creates accounts (use register_user)")
        })
    }

    /// `POST /users`: None if the name is taken.
    fn create_user(&self, username: &str, displayname: Option<&str>) -> Result<Option<MasUser>> {
        let mut body = json!({ "username": username });
        if let Some(d) = displayname {
            body["displayname"] = Value::from(d);
        }
        let r = self.session.call(
            Method::POST,
            &format!("{API}/users"),
            Body::Json(&body),
            false,
        )?;
        match r.status.as_u16() {
            201 | 200 => MasUser::from_resource(&r.body["data"]).map(Some),
            409 if title(&r).contains("already exists") => Ok(None),
            409 => Err(fail!(
                "MAS refused to create {username} ({}): the homeserver already has this name or reserves it (purely numeric names are reserved for guests)",
                describe(&r)
            )),
            400 => Err(fail!(
                "MAS refused the username '{username}' ({}): MAS usernames are 1 to 255 characters of lower case a-z, 0-9 and = _ - . / + (not starting with _)",
                describe(&r)
            )),
            _ => Err(self.session.refused(&r, &format!("creating {username}"))),
        }
    }

    /// `POST /users/{id}/set-password`.
    fn set_password_of(&self, user: &MasUser, password: &str) -> Result<()> {
        let mut body = json!({ "password": password });
        if self.skip_password_check {
            body["skip_password_check"] = Value::from(true);
        }
        let path = format!("{API}/users/{}/set-password", user.id);
        let r = self
            .session
            .call(Method::POST, &path, Body::Json(&body), true)?;
        match r.status.as_u16() {
            200..=299 => Ok(()),
            400 if title(&r).contains("too weak") => Err(fail!(
                "MAS refused the password of {} ({}): it is below MAS's passwords.minimum_complexity; choose a stronger password, or set skip_password_check: true (as mas-cli --ignore-password-complexity)",
                self.user_id(&user.username),
                describe(&r)
            )),
            403 => Err(fail!(
                "MAS refused to set the password of {} ({}): password login is disabled in MAS (passwords.enabled: false); users sign in through an upstream provider there, so leave password out or enable passwords in MAS",
                self.user_id(&user.username),
                describe(&r)
            )),
            _ => Err(self.session.refused(
                &r,
                &format!("setting the password of {}", self.user_id(&user.username)),
            )),
        }
    }

    /// `POST /users/{id}/set-admin`.
    fn set_admin_of(&self, user: &MasUser, admin: bool) -> Result<()> {
        let path = format!("{API}/users/{}/set-admin", user.id);
        let r = self.session.call(
            Method::POST,
            &path,
            Body::Json(&json!({ "admin": admin })),
            true,
        )?;
        if r.is_success() {
            Ok(())
        } else {
            Err(self.session.refused(
                &r,
                &format!("setting the admin flag of {}", self.user_id(&user.username)),
            ))
        }
    }

    /// The addresses of a user (`GET /user-emails?filter[user]=`), every page.
    fn emails_of(&self, user: &MasUser) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let filter = format!("filter[user]={}", user.id);
        self.session
            .each_default_page("user-emails", &filter, &mut |item| {
                if let Some(e) = item["attributes"]["email"].as_str() {
                    out.push(e.to_string());
                }
                Ok(())
            })?;
        Ok(out)
    }

    /// `POST /user-emails`.
    fn add_email(&self, user: &MasUser, email: &str) -> Result<()> {
        let body = json!({ "user_id": user.id, "email": email });
        let r = self.session.call(
            Method::POST,
            &format!("{API}/user-emails"),
            Body::Json(&body),
            false,
        )?;
        let who = self.user_id(&user.username);
        match r.status.as_u16() {
            200..=299 => Ok(()),
            409 => Err(fail!(
                "MAS refused {email} for {who} ({}): another account has this address",
                describe(&r)
            )),
            400 => Err(fail!(
                "MAS refused the e-mail address '{email}' of {who} ({})",
                describe(&r)
            )),
            _ => Err(self
                .session
                .refused(&r, &format!("adding {email} to {who}"))),
        }
    }

    fn missing_emails(&self, user: &MasUser, wanted: &[String]) -> Result<Vec<String>> {
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let have: Vec<String> = self
            .emails_of(user)?
            .iter()
            .map(|e| e.to_lowercase())
            .collect();
        let mut missing: Vec<String> = Vec::new();
        for w in wanted {
            let lw = w.to_lowercase();
            if !have.contains(&lw) && !missing.iter().any(|m| m.to_lowercase() == lw) {
                missing.push(w.clone());
            }
        }
        Ok(missing)
    }
}

/// The site configuration (`GET /site-config`): the Matrix server name MAS serves, and whether
/// password login is on.
pub fn site_config(session: &MasSession<'_>) -> Result<SiteConfig> {
    let r = session.call(
        Method::GET,
        &format!("{API}/site-config"),
        Body::Empty,
        true,
    )?;
    if !r.is_success() {
        return Err(session.refused(&r, "reading MAS's site configuration"));
    }
    let server_name = r.body["server_name"]
        .as_str()
        .ok_or_else(|| fail!("MAS's site-config has no server_name; is api_url MAS?"))?
        .to_string();
    Ok(SiteConfig {
        server_name,
        password_login_enabled: r.body["password_login_enabled"].as_bool().unwrap_or(true),
    })
}

fn title(r: &Response) -> String {
    r.body["errors"][0]["title"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

impl Registrar for MasAdmin<'_> {
    /// Creates the user (with its display name), then sets its password, admin flag and
    /// addresses. A failure after the creation says what the account was left without.
    fn register(&self, user: &NewUser<'_>) -> Result<Registration> {
        if let Some(t) = user.user_type {
            return Err(fail!(
                "MAS has no user types: leave user_type ('{t}') out for backend mas"
            ));
        }
        let Some(created) = self.create_user(user.localpart, user.displayname)? else {
            return Ok(Registration::Exists);
        };
        let user_id = self.user_id(&created.username);
        let finish = || -> Result<()> {
            self.set_password_of(&created, user.password)?;
            if user.admin {
                self.set_admin_of(&created, true)?;
            }
            for e in self.missing_emails(&created, user.emails)? {
                self.add_email(&created, &e)?;
            }
            Ok(())
        };
        finish().map_err(|Error(e)| {
            fail!("{user_id} was created on MAS, but then {e}. MAS cannot delete an account: fix the cause and re-run with update_password: always (and admin/email as wanted) to complete it")
        })?;
        Ok(Registration::Created {
            user_id,
            note: None,
        })
    }
}

impl Directory for MasAdmin<'_> {
    fn lookup(&self, user_id: &str) -> Result<Presence> {
        Ok(match self.find_user(self.localpart(user_id)?)? {
            Some(u) => Presence::Exists {
                admin: Some(u.admin),
            },
            None => Presence::Absent,
        })
    }
}

impl AccountListing for MasAdmin<'_> {
    fn list_accounts(
        &self,
        worth_it: &dyn Fn(u64) -> bool,
        each: &mut dyn FnMut(&str, bool),
    ) -> Result<bool> {
        let mut first = true;
        let mut stopped = false;
        self.session.each_page_meta(
            "users",
            "",
            Some(LISTING_PAGE),
            &mut |total| {
                let go_on = !first || worth_it(total);
                first = false;
                stopped = !go_on;
                go_on
            },
            &mut |item| {
                let u = MasUser::from_resource(item)?;
                each(&self.user_id(&u.username), u.admin);
                Ok(())
            },
        )?;
        Ok(!stopped)
    }
}

impl PasswordReset for MasAdmin<'_> {
    fn set_password(&self, user_id: &str, password: &str) -> Result<()> {
        let user = self.require_user(user_id)?;
        self.set_password_of(&user, password)
    }
}

impl AdminFlag for MasAdmin<'_> {
    fn converge(&self, user_id: &str, want: bool, check_mode: bool) -> Result<AdminChange> {
        let user = self.require_user(user_id)?;
        let before = user.admin;
        if before != want && !check_mode {
            self.set_admin_of(&user, want)?;
        }
        Ok(AdminChange {
            before,
            changed: before != want,
        })
    }
}

impl EmailAddresses for MasAdmin<'_> {
    fn add_missing(
        &self,
        user_id: &str,
        emails: &[String],
        check_mode: bool,
    ) -> Result<Vec<String>> {
        if emails.is_empty() {
            return Ok(Vec::new());
        }
        let user = self.require_user(user_id)?;
        let missing = self.missing_emails(&user, emails)?;
        if !check_mode {
            for e in &missing {
                self.add_email(&user, e)?;
            }
        }
        Ok(missing)
    }
}

/// MAS's registration tokens (`/user-registration-tokens`). MAS has no filter by token string,
/// so a token is found by paging the list.
pub struct MasTokens<'a> {
    session: &'a MasSession<'a>,
}

impl<'a> MasTokens<'a> {
    pub fn new(session: &'a MasSession<'a>) -> MasTokens<'a> {
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
                        normalise(item)?,
                    ));
                }
                Ok(())
            })?;
        Ok(found)
    }

    fn one(&self, r: &Response, action: &str) -> Result<Token> {
        if r.is_success() {
            normalise(&r.body["data"])
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
fn normalise(item: &Value) -> Result<Token> {
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

impl TokenService for MasTokens<'_> {
    fn capabilities(&self) -> TokenCapabilities {
        CAPABILITIES
    }

    fn describe(&self) -> &'static str {
        "Matrix Authentication Service"
    }

    fn reenables_only_when_asked(&self) -> bool {
        true
    }

    fn list(&self, valid: Option<bool>) -> Result<Vec<Token>> {
        let mut out = Vec::new();
        self.session
            .each_page("user-registration-tokens", "", &mut |item| {
                out.push(normalise(item)?);
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
                describe(&r)
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

/// The issuer of the Matrix Authentication Service a homeserver delegates to, asked once per
/// task (`GET /_matrix/client/v1/auth_metadata`: 200 with `issuer` under delegation, 404
/// `M_UNRECOGNIZED` on a homeserver that does its own authentication).
pub fn delegated_to(client: &Client) -> Option<String> {
    static ISSUER: OnceLock<Option<String>> = OnceLock::new();
    ISSUER
        .get_or_init(|| {
            let r = client
                .send(
                    Method::GET,
                    "/_matrix/client/v1/auth_metadata",
                    Auth::None,
                    Body::Empty,
                    true,
                )
                .ok()?;
            if !r.is_success() {
                return None;
            }
            r.body["issuer"].as_str().map(str::to_string)
        })
        .clone()
}

/// For a refusal of the Synapse APIs: if it is one a homeserver under MAS gives (404
/// `M_UNRECOGNIZED` for shared-secret registration and the token API, 401 `M_UNKNOWN_TOKEN` for
/// the admin API) and the homeserver says it delegates, the error that says to use backend mas.
pub fn delegation_error(client: &Client, r: &Response) -> Option<Error> {
    let typical = matches!(
        (r.status.as_u16(), r.errcode()),
        (404, Some("M_UNRECOGNIZED")) | (401, Some("M_UNKNOWN_TOKEN"))
    );
    if !typical {
        return None;
    }
    let issuer = delegated_to(client)?;
    Some(fail!(
        "this homeserver delegates authentication to Matrix Authentication Service at {issuer}: use backend mas with api_url {issuer} (in the role, matrix_authentication_service_enabled selects it) [{}]",
        r.describe()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MAS's answer to `regtokens-revoke` (tests/data/mas/transcripts.jsonl), normalised.
    #[test]
    fn a_revoked_mas_token_is_disabled_and_invalid() {
        let data = json!({"type": "user-registration_token", "id": "01M83PXDD5D34GHMYNM5E91EZS",
            "attributes": {"token": "mytoken1", "valid": false, "usage_limit": null, "times_used": 0,
                "created_at": "2026-11-23T08:03:45.701768Z", "last_used_at": null,
                "expires_at": "2029-12-31T23:59:59Z", "revoked_at": "2026-11-23T08:03:45.775816518Z"}});
        let t = normalise(&data).unwrap();
        assert_eq!(t.name, "mytoken1");
        assert_eq!(t.max_usage, 0, "no usage limit is unlimited");
        assert!(t.disabled && !t.valid);
        assert_eq!(rfc3339(t.expiration_date.unwrap()), "2029-12-31T23:59:59Z");
        assert_eq!(usage_limit(0), Value::Null);
        assert_eq!(usage_limit(5), json!(5));
    }
}
