//! Matrix Authentication Service (MAS): users, passwords, the admin flag and e-mail addresses
//! through its admin API (`/api/admin/v1`, JSON:API envelopes, ULIDs), acting with a token of the
//! scope `urn:mas:admin` held by [`super::mas_session`].
//!
//! Every request here is one a real MAS 1.22 was seen to answer (`tests/data/mas/transcripts.jsonl`).
//! MAS has no user types and no display-name change for existing users in its admin API; what it
//! cannot do is refused before anything is sent.

use crate::ansible::{Error, Result};
use crate::api::mas_session::{summary as mas_summary, MasSession, API};
use crate::capabilities::{
    AccountListing, AdminChange, AdminFlag, Answered, Directory, EmailAddresses, Identity, Listed,
    NewUser, PasswordReset, Presence, Registrar, Registration,
};
use crate::client::{encode_segment, Body, Response};
use crate::fail;
use crate::matrix::NameSource;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::{Arc, OnceLock};

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
    /// `deactivated_at` is set.
    pub deactivated: bool,
    /// `locked_at` is set (MAS's deactivation does not set it).
    pub locked: bool,
    /// `created_at` (RFC 3339), where it reads as a time.
    pub created: Option<chrono::DateTime<chrono::Utc>>,
}

impl MasUser {
    /// A `user` resource; any other type (a `user-email`, ...) is not a user.
    pub(crate) fn from_resource(data: &Value) -> Result<MasUser> {
        if data.get("type").and_then(Value::as_str) != Some("user") {
            return Err(fail!(
                "MAS answered a resource of type {} where a user was expected: {data}",
                data.get("type")
                    .map_or("(none)".to_string(), Value::to_string)
            ));
        }
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
                deactivated: attrs
                    .and_then(|a| a.get("deactivated_at"))
                    .is_some_and(|v| !v.is_null()),
                locked: attrs
                    .and_then(|a| a.get("locked_at"))
                    .is_some_and(|v| !v.is_null()),
                created: attrs
                    .and_then(|a| a.get("created_at"))
                    .and_then(Value::as_str)
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.to_utc()),
            }),
            _ => Err(fail!("MAS sent a user without id or username: {data}")),
        }
    }
}

/// Accounts per page of the users listing (register_user's check for long lists assumes 1000).
const LISTING_PAGE: u32 = 1000;

/// Users, passwords, the admin flag and e-mail addresses through MAS's admin API.
#[derive(Clone)]
pub struct MasAdmin {
    session: Arc<MasSession>,
    site: Arc<MasSite>,
    /// Passwords are set with `skip_password_check` (as `mas-cli --ignore-password-complexity`).
    skip_password_check: bool,
}

impl MasAdmin {
    pub fn new(site: Arc<MasSite>, skip_password_check: bool) -> MasAdmin {
        MasAdmin {
            session: site.session.clone(),
            site,
            skip_password_check,
        }
    }

    /// The Matrix server name this MAS serves.
    pub fn server_name(&self) -> Result<&str> {
        Ok(&self.site.config()?.server_name)
    }

    /// The admin API session.
    pub(crate) fn session(&self) -> &MasSession {
        &self.session
    }

    /// `@name:server` to `name`; a user of another server is an error (MAS serves one).
    pub(crate) fn localpart<'u>(&self, user_id: &'u str) -> Result<&'u str> {
        let Some(rest) = user_id.strip_prefix('@') else {
            return Ok(user_id);
        };
        let served = self.server_name()?;
        match rest.split_once(':') {
            Some((local, server)) if server == served => Ok(local),
            Some((_, server)) => Err(fail!(
                "{user_id} is not a user of this MAS, which serves the server name {served} (not {server})"
            )),
            None => Ok(rest),
        }
    }

    pub(crate) fn user_id(&self, username: &str) -> Result<String> {
        Ok(format!("@{username}:{}", self.server_name()?))
    }

    /// `GET /users/by-username/{name}`: the user, or None.
    pub fn find_user(&self, username: &str) -> Result<Option<MasUser>> {
        let path = format!("{API}/users/by-username/{}", encode_segment(username));
        let r = self.session.call(Method::GET, &path, Body::Empty, true)?;
        let action = format!("looking up {username}");
        match r.status.as_u16() {
            200 => {
                let user = MasUser::from_resource(&r.object(&action)?["data"])?;
                named(&r, &action, username, &user)?;
                Ok(Some(user))
            }
            // MAS's own 404 is a JSON:API error; a web page is a proxy, not "no such user".
            404 if r.body.get("errors").is_some_and(Value::is_array) => Ok(None),
            404 => Err(r.unexpected(&action, "MAS's JSON answer (errors for no such user)")),
            _ => Err(self.session.refused(&r, &action)),
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
            201 | 200 => {
                // The account created must be the one asked for: nothing more is done to
                // another one (no password, no admin flag, no address).
                let action = format!("creating {username}");
                let user = MasUser::from_resource(&r.object(&action)?["data"])?;
                named(&r, &action, username, &user)?;
                Ok(Some(user))
            }
            409 if title(&r).contains("already exists") => Ok(None),
            409 => Err(fail!(
                "MAS refused to create {username} ({}): the homeserver already has this name or reserves it (purely numeric names are reserved for guests)",
                mas_summary(&r)
            )),
            400 => Err(fail!(
                "MAS refused the username '{username}' ({}): MAS usernames are 1 to 255 characters of lower case a-z, 0-9 and = _ - . / + (not starting with _)",
                mas_summary(&r)
            )),
            _ => Err(self.session.refused(&r, &format!("creating {username}"))),
        }
    }

    /// `POST /users/{id}/set-password`.
    pub(crate) fn set_password_of(&self, user: &MasUser, password: &str) -> Result<()> {
        let mut body = json!({ "password": password });
        if self.skip_password_check {
            body["skip_password_check"] = Value::from(true);
        }
        let path = format!("{API}/users/{}/set-password", user.id);
        let r = self
            .session
            .call(Method::POST, &path, Body::Json(&body), true)?;
        match r.status.as_u16() {
            // MAS answers 204 without a body; a web page answering 2xx did not set anything.
            204 if r.len == 0 => Ok(()),
            200..=299 if r.body.is_object() => Ok(()),
            200..=299 => Err(r.unexpected(
                &format!("setting the password of {}", self.user_id(&user.username)?),
                "MAS's answer (204 without a body)",
            )),
            400 if title(&r).contains("too weak") => Err(fail!(
                "MAS refused the password of {} ({}): it is below MAS's passwords.minimum_complexity; choose a stronger password, or set skip_password_check: true (as mas-cli --ignore-password-complexity)",
                self.user_id(&user.username)?,
                mas_summary(&r)
            )),
            403 => Err(fail!(
                "MAS refused to set the password of {} ({}): password login is disabled in MAS (passwords.enabled: false); users sign in through an upstream provider there, so leave password out or enable passwords in MAS",
                self.user_id(&user.username)?,
                mas_summary(&r)
            )),
            _ => Err(self.session.refused(
                &r,
                &format!("setting the password of {}", self.user_id(&user.username)?),
            )),
        }
    }

    /// `POST /users/{id}/set-admin`: what MAS's answer says was set.
    fn set_admin_of(&self, user: &MasUser, admin: bool) -> Result<Answered> {
        let path = format!("{API}/users/{}/set-admin", user.id);
        let r = self.session.call(
            Method::POST,
            &path,
            Body::Json(&json!({ "admin": admin })),
            true,
        )?;
        let action = format!(
            "setting the admin flag of {}",
            self.user_id(&user.username)?
        );
        if !r.is_success() {
            return Err(self.session.refused(&r, &action));
        }
        // MAS answers with the user: its record says what was set, and on whom.
        let answered = MasUser::from_resource(&r.object(&action)?["data"])?;
        Ok(Answered {
            subject: Some(self.user_id(&answered.username)?),
            admin: Some(answered.admin),
        })
    }

    /// The addresses of a user (`GET /user-emails?filter[user]=`), every page.
    pub(crate) fn emails_of(&self, user: &MasUser) -> Result<Vec<String>> {
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

    /// `POST /user-emails`: the address as MAS's answer names it.
    fn add_email(&self, user: &MasUser, email: &str) -> Result<String> {
        let body = json!({ "user_id": user.id, "email": email });
        let r = self.session.call(
            Method::POST,
            &format!("{API}/user-emails"),
            Body::Json(&body),
            false,
        )?;
        let who = self.user_id(&user.username)?;
        match r.status.as_u16() {
            200..=299 => {
                // MAS answers with the address added: it must be this one, on this user.
                let action = format!("adding {email} to {who}");
                let data = &r.object(&action)?["data"];
                let answered = data["attributes"]["email"].as_str();
                let owner = data["attributes"]["user_id"].as_str();
                if data["type"].as_str() != Some("user-email") {
                    return Err(r.unexpected(&action, &format!("the user-email {email} of {who}")));
                }
                if !answered.is_some_and(|a| a.eq_ignore_ascii_case(email))
                    || owner != Some(user.id.as_str())
                {
                    return Err(fail!(
                        "{action}: MAS answered with the address {} of the user {} (not {email} of {who}, whose id is {}); it was not counted as added",
                        answered.unwrap_or("(none)"),
                        owner.unwrap_or("(none)"),
                        user.id
                    ));
                }
                Ok(answered.unwrap_or(email).to_string())
            }
            409 => Err(fail!(
                "MAS refused {email} for {who} ({}): another account has this address",
                mas_summary(&r)
            )),
            400 => Err(fail!(
                "MAS refused the e-mail address '{email}' of {who} ({})",
                mas_summary(&r)
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

/// MAS's site configuration, read once per task when first needed.
pub struct MasSite {
    session: Arc<MasSession>,
    config: OnceLock<SiteConfig>,
}

impl MasSite {
    pub fn new(session: Arc<MasSession>) -> Arc<MasSite> {
        Arc::new(MasSite {
            session,
            config: OnceLock::new(),
        })
    }

    pub fn config(&self) -> Result<&SiteConfig> {
        if let Some(c) = self.config.get() {
            return Ok(c);
        }
        let c = site_config(&self.session)?;
        Ok(self.config.get_or_init(|| c))
    }
}

impl Identity for MasSite {
    /// The server MAS serves; a `server_name` option that names another is refused.
    fn server_name(&self, given: Option<&str>) -> Result<Option<(String, NameSource)>> {
        let served = &self.config()?.server_name;
        if let Some(s) = given.filter(|s| s != served) {
            return Err(fail!(
                "server_name is {s}, but this MAS serves {served}: leave server_name out with backend mas, or point api_url at the MAS of {s}"
            ));
        }
        Ok(Some((served.clone(), NameSource::MasSiteConfig)))
    }
}

/// The site configuration (`GET /site-config`): the Matrix server name MAS serves, and whether
/// password login is on.
fn site_config(session: &MasSession) -> Result<SiteConfig> {
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

/// The user an answer about `username` names must be that user.
fn named(r: &Response, action: &str, username: &str, user: &MasUser) -> Result<()> {
    if user.username != username {
        return Err(r.unexpected(
            action,
            &format!(
                "the user {username} (it named {}, another account; nothing was done to it)",
                user.username
            ),
        ));
    }
    Ok(())
}

fn title(r: &Response) -> String {
    r.body["errors"][0]["title"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

impl Registrar for MasAdmin {
    /// MAS has no user types.
    fn keeps_user_types(&self) -> bool {
        false
    }

    /// Every account gets a password: MAS must have password login on.
    fn preflight(&self) -> Result<()> {
        if !self.site.config()?.password_login_enabled {
            return Err(fail!(
                "MAS has password login disabled (its site-config says password_login_enabled: false; passwords.enabled in its config): register_user sets a password on every account it creates, so nothing was done. Enable passwords in MAS, or create the accounts through the upstream identity provider"
            ));
        }
        Ok(())
    }

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
        let user_id = self.user_id(&created.username)?;
        let finish = || -> Result<()> {
            self.set_password_of(&created, user.password)?;
            if user.admin {
                let answered = self.set_admin_of(&created, true)?;
                if answered.admin != Some(true) {
                    return Err(fail!(
                        "MAS answered the admin flag of {user_id} as {:?}, not set",
                        answered.admin
                    ));
                }
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

impl Directory for MasAdmin {
    fn lookup(&self, user_id: &str) -> Result<Presence> {
        Ok(match self.find_user(self.localpart(user_id)?)? {
            Some(u) => Presence::Exists {
                admin: Some(u.admin),
                named: Some(self.user_id(&u.username)?),
                deactivated: Some(u.deactivated),
                locked: Some(u.locked),
            },
            None => Presence::Absent,
        })
    }
}

impl AccountListing for MasAdmin {
    fn list_accounts(
        &self,
        worth_it: &dyn Fn(u64) -> bool,
        each: &mut dyn FnMut(&str, Listed),
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
                let listed = Listed {
                    admin: u.admin,
                    deactivated: Some(u.deactivated),
                    locked: Some(u.locked),
                    // MAS's users are people: application services register on the homeserver.
                    appservice: Some(false),
                };
                each(&self.user_id(&u.username)?, listed);
                Ok(())
            },
        )?;
        Ok(!stopped)
    }
}

impl PasswordReset for MasAdmin {
    fn set_password(&self, user_id: &str, password: &str, _logout: bool) -> Result<Answered> {
        let user = self.require_user(user_id)?;
        self.set_password_of(&user, password)?;
        // MAS answers 204 without a body: it names nobody.
        Ok(Answered::default())
    }
    /// MAS's set-password keeps the account's sessions (it has no option to end them).
    fn cannot_end_sessions(&self) -> Option<&'static str> {
        Some("MAS keeps an account's sessions when its password is set, and its admin API has no option to end them with it; end them with `mas-cli manage kill-sessions <username>`, or leave logout_devices out")
    }
}

impl AdminFlag for MasAdmin {
    fn converge(&self, user_id: &str, want: bool, check_mode: bool) -> Result<AdminChange> {
        let user = self.require_user(user_id)?;
        let before = user.admin;
        let answered = if before != want && !check_mode {
            self.set_admin_of(&user, want)?
        } else {
            Answered::default()
        };
        Ok(AdminChange {
            before,
            changed: before != want,
            answered,
        })
    }
}

impl EmailAddresses for MasAdmin {
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
        if check_mode {
            return Ok(missing);
        }
        missing.iter().map(|e| self.add_email(&user, e)).collect()
    }
}
