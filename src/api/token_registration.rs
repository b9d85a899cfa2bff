//! Registration through the client-server API with a registration token (the standard
//! `m.login.registration_token` stage), for a homeserver that has token registration enabled and
//! no shared secret at hand: continuwuity (docs/continuwuity.md 4), and any other server.
//!
//! The name is checked first with `GET /register/available` (200: free; 400 `M_USER_IN_USE`:
//! taken, deactivated accounts included): continuwuity counts a token use before it checks the
//! user name (docs/continuwuity.md 4.2 step 5), so an existing account must never reach the POST.
//! Then one `POST /register` with `inhibit_login: true` and the token stage given without a
//! session (continuwuity and Synapse both start a session and go on in the same request). It is
//! never retried: a retry would spend another use of the token. Where the server's flow asks for
//! `m.login.dummy` after the token (Synapse: `[token, dummy]`), that stage follows in the same
//! session; any other stage is a failure naming what the server asks for. An access token that
//! comes back anyway (a server that ignores `inhibit_login`) is logged out at once, so no device
//! is left.

use crate::ansible::{register_secret, Error, Result};
use crate::api::logout;
use crate::capabilities::{Directory, NewUser, Presence, Registrar, Registration};
use crate::client::{Auth, Body, Client, Response};
use crate::fail;
use reqwest::Method;
use serde_json::{json, Value};

const REGISTER: &str = "/_matrix/client/v3/register";
const TOKEN_STAGE: &str = "m.login.registration_token";
const DUMMY_STAGE: &str = "m.login.dummy";

/// What a server's token registration needs said in its refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenRules {
    /// For messages.
    pub server: &'static str,
    /// What to do instead of `admin: true` (client registration cannot make admins).
    pub admin_hint: &'static str,
    /// What to set when the server does not accept registrations.
    pub enable_hint: &'static str,
    /// Where the server's registration tokens come from.
    pub token_hint: &'static str,
}

/// Any homeserver with token registration enabled.
pub const GENERIC: TokenRules = TokenRules {
    server: "the homeserver",
    admin_hint: "give the account admin rights afterwards with the server's own tools (module user_admin where the backend can set admin flags)",
    enable_hint: "enable registration with a registration token in the server's configuration (Synapse: enable_registration and registration_requires_token)",
    token_hint: "it must be a registration token of the server that is neither expired nor used up",
};

/// continuwuity v26.7.3 (docs/continuwuity.md 4 and 8).
pub const CONTINUWUITY: TokenRules = TokenRules {
    server: "continuwuity",
    admin_hint: "make the account an admin afterwards in continuwuity's admin room with `!admin users make-user-admin <user_id>`",
    enable_hint: "set allow_registration = true in continuwuity's configuration (with matrix-docker-ansible-deploy: matrix_continuwuity_config_allow_registration: true)",
    token_hint: "it must be continuwuity's registration_token (or a line of registration_token_file, read at start; with matrix-docker-ansible-deploy: matrix_continuwuity_config_registration_token), or a token issued in the admin room with `!admin token issue` that is neither expired nor used up",
};

/// Registration with a registration token through `POST /_matrix/client/v3/register`; also
/// the look-up `GET /register/available`, which needs no credentials.
pub struct TokenRegistration {
    client: Client,
    /// None: look-ups only.
    token: Option<String>,
    rules: TokenRules,
}

impl TokenRegistration {
    pub fn new(client: Client, token: String, rules: TokenRules) -> TokenRegistration {
        register_secret(&token);
        TokenRegistration {
            client,
            token: Some(token),
            rules,
        }
    }

    /// `GET /register/available` alone, as a [`Directory`].
    pub fn availability(client: Client, rules: TokenRules) -> TokenRegistration {
        TokenRegistration {
            client,
            token: None,
            rules,
        }
    }

    /// Whether the user name is taken (Exists) or free (Absent), as the server says.
    fn available(&self, localpart: &str) -> Result<Presence> {
        let path = format!(
            "{REGISTER}/available?username={}",
            crate::client::encode_segment(localpart)
        );
        let action = format!("checking whether the user name '{localpart}' is taken");
        let r = self
            .client
            .send(Method::GET, &path, Auth::None, Body::Empty, true)
            .map_err(|e| fail!("{action}: {e}"))?;
        if r.is_success() {
            return match r.object(&action)?.get("available") {
                Some(Value::Bool(true)) => Ok(Presence::Absent),
                _ => Err(r.unexpected(&action, "{\"available\": true}")),
            };
        }
        match (r.status.as_u16(), r.errcode()) {
            (400, Some("M_USER_IN_USE")) => Ok(Presence::Exists {
                admin: None,
                named: None,
                deactivated: None,
                locked: None,
            }),
            _ => Err(self.refusal(&r, localpart, &action)),
        }
    }

    /// A refusal of the look-up or the registration, explained.
    fn refusal(&self, r: &Response, localpart: &str, action: &str) -> Error {
        let server = self.rules.server;
        let detail = r.summary();
        if !r.is_matrix_error() {
            return r.unexpected(action, "a Matrix answer");
        }
        match (r.status.as_u16(), r.errcode(), r.error_text().unwrap_or("")) {
            (400, Some("M_INVALID_USERNAME" | "M_EXCLUSIVE"), _) => {
                fail!("{action}: {server} refused the user name '{localpart}' ({detail})")
            }
            (403, Some("M_FORBIDDEN"), e)
                if e.contains("not accepting registrations") || e.contains("disabled") =>
            {
                fail!(
                    "{action}: registration is off on {server} ({detail}): {}",
                    self.rules.enable_hint
                )
            }
            (404 | 405, _, _) => fail!(
                "{action}: the server does not serve {REGISTER} ({detail}): homeserver_url must be the homeserver's client API"
            ),
            (400, Some("M_INVALID_PARAM"), e) if e.contains("No flows include") => fail!(
                "{action}: {server} does not take registration tokens ({detail}); registration_token can only be used where token registration is enabled: {}",
                self.rules.enable_hint
            ),
            _ => fail!("{action} failed: {detail}"),
        }
    }

    /// One POST of the registration request with `auth`; never retried (it spends a token use).
    fn post(&self, user: &NewUser<'_>, auth: Value) -> Result<Response> {
        let body = json!({
            "username": user.localpart.to_lowercase(),
            "password": user.password,
            "inhibit_login": true,
            "auth": auth,
        });
        self.client
            .send(Method::POST, REGISTER, Auth::None, Body::Json(&body), false)
            .map_err(|e| {
                fail!(
                    "registering '{}': {e}; whether the account was created is not known (look it up; the request is not repeated, it would spend another use of the token)",
                    user.localpart
                )
            })
    }

    /// What a 401 answer asks next: the token stage again within the session the server
    /// opened (Synapse wants the session inside the stage: `M_MISSING_PARAM`, the token not yet
    /// spent), `m.login.dummy` after the token (Synapse's `[token, dummy]`), or nothing this
    /// module can give (the token refused, other stages): a failure.
    fn next_stage(&self, r: &Response, user: &NewUser<'_>, token: &str) -> Result<Value> {
        let localpart = user.localpart;
        let completed: Vec<&str> = r
            .body
            .get("completed")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let flows: Vec<Vec<&str>> = r
            .body
            .get("flows")
            .and_then(Value::as_array)
            .map(|fs| {
                fs.iter()
                    .map(|f| {
                        f.get("stages")
                            .and_then(Value::as_array)
                            .map(|s| s.iter().filter_map(Value::as_str).collect())
                            .unwrap_or_default()
                    })
                    .collect()
            })
            .unwrap_or_default();
        let session = r.body.get("session").and_then(Value::as_str);
        if !completed.contains(&TOKEN_STAGE) {
            return match (r.errcode(), session) {
                (Some("M_MISSING_PARAM"), Some(s)) => {
                    Ok(json!({"type": TOKEN_STAGE, "token": token, "session": s}))
                }
                (Some("M_FORBIDDEN" | "M_UNAUTHORIZED"), _) => Err(fail!(
                    "registering '{localpart}': {} refused registration_token ({}): {}",
                    self.rules.server,
                    r.summary(),
                    self.rules.token_hint
                )),
                _ => Err(self.stages_error(localpart, &flows, r)),
            };
        }
        // The token stage is done (its use spent): a flow that needs only m.login.dummy more
        // is finished in the same session.
        let only_dummy_left = flows.iter().any(|f| {
            f.contains(&TOKEN_STAGE) && f.iter().all(|s| completed.contains(s) || *s == DUMMY_STAGE)
        });
        match (only_dummy_left, session) {
            (true, Some(s)) => Ok(json!({"type": DUMMY_STAGE, "session": s})),
            _ => Err(self.stages_error(localpart, &flows, r)),
        }
    }

    fn stages_error(&self, localpart: &str, flows: &[Vec<&str>], r: &Response) -> Error {
        let shown: Vec<String> = flows
            .iter()
            .map(|f| format!("[{}]", f.join(", ")))
            .collect();
        fail!(
            "registering '{localpart}': {} asks for the registration stages {} ({}) - none of them is a registration token alone (with m.login.dummy), so registration_token cannot register here: {}",
            self.rules.server,
            if shown.is_empty() { "(none listed)".to_string() } else { shown.join(" or ") },
            r.summary(),
            self.rules.enable_hint
        )
    }

    /// A server that ignored `inhibit_login` answered with an access token of a new device:
    /// logging it out deletes the device. On failure, a note for the result.
    fn log_out(&self, user_id: &str, token: &str) -> Option<String> {
        logout::log_out(&self.client, token, "logging out the session opened for the new account")
            .err()
            .map(|why| {
                format!(
                    "{user_id} was registered, but the server logged it in despite inhibit_login and that session could not be logged out ({}); delete its device",
                    why.0
                )
            })
    }
}

impl Directory for TokenRegistration {
    fn lookup(&self, user_id: &str) -> Result<Presence> {
        let localpart = user_id
            .strip_prefix('@')
            .and_then(|u| u.split_once(':'))
            .map_or(user_id, |(l, _)| l);
        self.available(localpart)
    }
}

impl Registrar for TokenRegistration {
    fn keeps_user_types(&self) -> bool {
        false
    }

    /// Client registration has no user types and cannot make admins.
    fn check(&self, user: &NewUser<'_>) -> Result<()> {
        let localpart = user.localpart;
        if let Some(t) = user.user_type {
            return Err(fail!(
                "user_type ('{t}') for '{localpart}': registration with registration_token goes through the client-server API, which has no user types; leave user_type out"
            ));
        }
        if let Some(d) = user.displayname {
            return Err(fail!(
                "displayname ('{}') for '{localpart}': registration with registration_token goes through the client-server API, which sets no display name at registration (the server picks one); leave displayname out",
                crate::ansible::escape_text(d)
            ));
        }
        if user.admin {
            return Err(fail!(
                "admin: true for '{localpart}': client registration cannot make admins (registration_token registers ordinary accounts); leave admin out, and {}",
                self.rules.admin_hint
            ));
        }
        Ok(())
    }

    fn register(&self, user: &NewUser<'_>) -> Result<Registration> {
        self.check(user)?;
        let Some(token) = &self.token else {
            return Err(fail!(
                "registering '{}': no registration_token",
                user.localpart
            ));
        };
        let localpart = user.localpart;
        // The token is spent before the server checks the name: check it first.
        if self.available(&localpart.to_lowercase())? != Presence::Absent {
            return Ok(Registration::Exists);
        }
        // At most three requests: the token, the token again in Synapse's session, the dummy
        // stage. A stage is never repeated once the server counted it.
        let mut r = self.post(user, json!({"type": TOKEN_STAGE, "token": token}))?;
        for _ in 0..2 {
            if r.status.as_u16() != 401 || r.body.get("flows").is_none() {
                break;
            }
            let next = self.next_stage(&r, user, token)?;
            r = self.post(user, next)?;
        }
        let action = format!("registering '{localpart}'");
        if r.is_success() {
            let user_id = r.str_field(&action, "user_id")?.to_string();
            let note = r
                .body
                .get("access_token")
                .and_then(Value::as_str)
                .and_then(|t| self.log_out(&user_id, t));
            return Ok(Registration::Created { user_id, note });
        }
        match (r.status.as_u16(), r.errcode()) {
            (400, Some("M_USER_IN_USE")) => {
                // Taken between the look-up and the POST: the token's use is spent all the same.
                crate::ansible::warn(format!(
                    "'{localpart}' was registered by someone else between the name check and the registration; {} counted a use of registration_token all the same",
                    self.rules.server
                ));
                Ok(Registration::Exists)
            }
            (401, _) if r.body.get("flows").is_some() => {
                Err(self.next_stage(&r, user, token).err().unwrap_or_else(|| {
                    fail!(
                        "{action}: {} kept asking for more stages ({})",
                        self.rules.server,
                        r.summary()
                    )
                }))
            }
            _ => Err(self.refusal(&r, localpart, &action)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Connection;
    use reqwest::StatusCode;

    fn registrar() -> TokenRegistration {
        let conn = Connection {
            base: "http://127.0.0.1:9".parse().unwrap(),
            url_option: "homeserver_url".into(),
            validate_certs: true,
            ca_path: None,
            timeout: std::time::Duration::from_secs(1),
            retries: 0,
        };
        TokenRegistration::new(Client::new(conn).unwrap(), "tok".into(), CONTINUWUITY)
    }

    fn answer(body: Value) -> Response {
        Response {
            status: StatusCode::UNAUTHORIZED,
            body,
            text: String::new(),
            content_type: "application/json".into(),
            len: 1,
            request: "POST /register".into(),
            url_option: "homeserver_url".into(),
        }
    }

    const USER: NewUser<'static> = NewUser {
        localpart: "kim",
        password: "pw",
        admin: false,
        user_type: None,
        displayname: None,
        emails: &[],
    };

    #[test]
    fn synapse_asks_for_the_token_inside_its_session_then_the_dummy_stage() {
        let r = registrar();
        let flows = json!([{"stages": [TOKEN_STAGE, DUMMY_STAGE]}]);
        let missing = answer(json!({"flows": flows, "session": "s1",
            "errcode": "M_MISSING_PARAM", "error": "Missing UIA session"}));
        assert_eq!(
            r.next_stage(&missing, &USER, "tok").unwrap(),
            json!({"type": TOKEN_STAGE, "token": "tok", "session": "s1"})
        );
        let done = answer(json!({"flows": flows, "session": "s1", "completed": [TOKEN_STAGE]}));
        assert_eq!(
            r.next_stage(&done, &USER, "tok").unwrap(),
            json!({"type": DUMMY_STAGE, "session": "s1"})
        );
    }

    #[test]
    fn a_refused_token_or_other_stages_fail_saying_so() {
        let r = registrar();
        let bad = answer(json!({"flows": [{"stages": [TOKEN_STAGE]}], "session": "s",
            "errcode": "M_FORBIDDEN", "error": "Invalid registration token"}));
        let e = r.next_stage(&bad, &USER, "tok").unwrap_err().0;
        assert!(e.contains("registration_token") && e.contains("Invalid registration token"));
        let captcha = answer(json!({"flows": [{"stages": ["m.login.recaptcha"]}], "session": "s"}));
        let e = r.next_stage(&captcha, &USER, "tok").unwrap_err().0;
        assert!(e.contains("[m.login.recaptcha]"), "{e}");
        // The token done, but an e-mail stage still asked for: not finished with a dummy.
        let email = answer(
            json!({"flows": [{"stages": [TOKEN_STAGE, "m.login.email.identity"]}],
            "session": "s", "completed": [TOKEN_STAGE]}),
        );
        assert!(r.next_stage(&email, &USER, "tok").is_err());
    }

    #[test]
    fn client_registration_refuses_what_it_cannot_do() {
        let r = registrar();
        let admin = NewUser {
            admin: true,
            ..USER
        };
        assert!(r
            .check(&admin)
            .unwrap_err()
            .0
            .contains("!admin users make-user-admin"));
        let typed = NewUser {
            user_type: Some("bot"),
            ..USER
        };
        assert!(r.check(&typed).unwrap_err().0.contains("user_type"));
        assert!(r.check(&USER).is_ok());
    }
}
