//! Module `registration_token`: creates, converges, disables or deletes registration tokens on
//! any token service of [`crate::servers`]. What a service cannot do is refused here, from its
//! [`TokenCapabilities`], before anything is sent.

use crate::ansible::{
    Diff, Kind, Module, ModuleDef, ModuleDoc, Opt, Outcome, Params, Result, Ret, Spec,
};
use crate::args::{
    self, TokenServiceArgs, ADMIN_CREDENTIALS_TOGETHER, ADMIN_CREDENTIAL_OPTIONS,
    CONNECTION_OPTIONS, MAS_CLIENT_EXCLUSIVE, MAS_CLIENT_OPTIONS, MAS_SECRET_EXCLUSIVE,
    TOKEN_SERVICE_EXCLUSIVE, TOKEN_SERVICE_OPTIONS,
};
use crate::capabilities::{TokenCapabilities, TokenService};
use crate::choice_enum;
use crate::fail;
use crate::servers::{AdminAccess, Server};
use crate::token::{self, rfc3339, Token, TOKEN_FIELDS};
use chrono::{DateTime, Utc};
use serde_json::Value;

choice_enum! {
    enum State {
        Present = "present",
        Disabled = "disabled",
        Absent = "absent",
    }
}

/// `token`: the name of one token, in both token modules.
pub static TOKEN_OPTION: Opt = Opt::new("token", Kind::Str);

static MODULE_OPTIONS: &[Opt] = &[
    TOKEN_OPTION.doc(&["The token's name, to update, disable or delete it (required for those). On Synapse, Dendrite and MAS, also the name of a new token. C(A-Z a-z 0-9 . _ ~ -), at most 64 characters."]),
    Opt::str("state")
        .choices(State::NAMES)
        .default_str("present")
        .doc(&["C(present) creates (or converges), C(disabled) makes the token unusable (revokes it on MAS), C(absent) deletes it (Synapse and Dendrite)."]),
    Opt::bool("one_time").doc(&["A token for one registration (the same as I(max_usage=1)); C(no) means unlimited. Accepts Ansible's booleans, such as C(yes) from C(--extra-vars)."]),
    Opt::int("max_usage").doc(&["How many registrations the token allows; 0 is unlimited."]),
    Opt::str("ex_date").doc(&["When the token expires - a date C(YYYY-MM-DD) (00:00 UTC that day, as matrix-registration reads it) or an RFC 3339 time. A time in the past is refused."]),
    Opt::bool("unrevoke").default_bool(false).doc(&["Backend C(mas): with I(state=present), un-revoke the token if it was revoked. Without it, I(state=present) on a revoked token fails and says so, so that a token an admin revoked is not brought back by a re-run."]),
    Opt::str("expires_in").doc(&["How long the token lives from now, e.g. C(30m), C(12h), C(7d), C(2w). Applied when a token is created; an existing token's expiry is left alone, so re-runs stay unchanged."]),
];

pub static SPEC: Spec = Spec {
    groups: &[
        MODULE_OPTIONS,
        TOKEN_SERVICE_OPTIONS,
        ADMIN_CREDENTIAL_OPTIONS,
        MAS_CLIENT_OPTIONS,
        CONNECTION_OPTIONS,
    ],
    mutually_exclusive: &[
        &["one_time", "max_usage"],
        &["ex_date", "expires_in"],
        TOKEN_SERVICE_EXCLUSIVE[0],
        TOKEN_SERVICE_EXCLUSIVE[1],
        TOKEN_SERVICE_EXCLUSIVE[2],
        MAS_SECRET_EXCLUSIVE,
        MAS_CLIENT_EXCLUSIVE,
    ],
    required_one_of: &[],
    required_together: &[ADMIN_CREDENTIALS_TOGETHER],
};

pub static MODULE: ModuleDef = ModuleDef {
    name: "registration_token",
    spec: &SPEC,
    doc: &DOC,
    run,
};

/// The typed arguments.
struct Args {
    state: State,
    name: Option<String>,
    /// The usage limit asked for (0: unlimited); None: not asked.
    max_usage: Option<u64>,
    /// The expiry asked for; None: not asked.
    expiry: Option<DateTime<Utc>>,
    /// The expiry is relative to now (`expires_in`): it applies to new tokens only, or every
    /// run would move it and report a change.
    expiry_is_relative: bool,
    /// A revoked token may be un-revoked (MAS).
    unrevoke: bool,
    service: TokenServiceArgs,
}

impl Args {
    fn from_params(p: &Params) -> Result<Args> {
        let state = p.choice::<State>("state")?;
        let name = p.str("token").map(str::to_string);
        if let Some(n) = &name {
            token::validate_name("token", n)?;
        }
        if state != State::Present && name.is_none() {
            return Err(fail!(
                "state={} needs token: the name of the token",
                state.name()
            ));
        }
        Ok(Args {
            state,
            name,
            max_usage: wanted_max_usage(p)?,
            expiry: wanted_expiry(p, Utc::now())?,
            expiry_is_relative: p.is_given("expires_in"),
            unrevoke: p.bool("unrevoke"),
            service: args::token_service(p)?,
        })
    }
}

/// The usage limit asked for by `one_time` or `max_usage` (0: unlimited). None: not asked.
fn wanted_max_usage(p: &Params) -> Result<Option<u64>> {
    if p.bool("one_time") {
        return Ok(Some(1));
    }
    match p.int("max_usage") {
        Some(n) if n < 0 => Err(fail!("max_usage must be 0 (unlimited) or more, got {n}")),
        Some(n) => Ok(Some(n as u64)),
        None if p.is_given("one_time") => Ok(Some(0)),
        None => Ok(None),
    }
}

/// The expiry asked for by `ex_date` or `expires_in`, refused if it is not in the future.
fn wanted_expiry(p: &Params, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
    let (t, option, given) = match (p.str("ex_date"), p.str("expires_in")) {
        (Some(d), _) => (token::parse_ex_date("ex_date", d)?, "ex_date", d),
        (None, Some(d)) => (
            now + token::parse_duration("expires_in", d)?,
            "expires_in",
            d,
        ),
        (None, None) => return Ok(None),
    };
    if t <= now {
        return Err(fail!(
            "{option} '{given}' is in the past ({}); a token must expire after it is created",
            rfc3339(t)
        ));
    }
    Ok(Some(t))
}

/// What one run found and did.
struct TokenChange {
    changed: bool,
    before: Option<Token>,
    after: Option<Token>,
    msg: String,
}

fn run(m: &mut Module) -> Result<Outcome> {
    let mut a = Args::from_params(&m.params)?;
    if a.state != State::Present && (a.max_usage.is_some() || a.expiry.is_some()) {
        m.warn(format!(
            "one_time, max_usage, ex_date and expires_in are ignored with state={}",
            a.state.name()
        ));
    }
    let server = a
        .service
        .backend
        .open(std::mem::take(&mut a.service.access))?;
    let outcome = converge(m, &a, &server);
    server.close_after(outcome)
}

/// The token asked for, on the opened service.
fn converge(m: &Module, a: &Args, server: &Server) -> Result<Outcome> {
    if server.admin == AdminAccess::NotLoggedIn {
        return Ok(Outcome::changed(false).msg(
            "not predicted: check mode does not log in as admin_username; give access_token",
        ));
    }
    let service = server.tokens().ok_or_else(|| {
        fail!(
            "backend {} keeps no registration tokens",
            server.backend.name
        )
    })?;
    let name = a.name.as_deref().unwrap_or_default();
    let result = match a.state {
        State::Absent => absent(m.check_mode, service, name),
        State::Disabled => disable(m.check_mode, service, name),
        State::Present => present(m.check_mode, service, a),
    };
    let url = match &result {
        Ok(TokenChange { after: Some(t), .. }) => service.registration_url(&t.name),
        _ => None,
    };
    let TokenChange {
        changed,
        before,
        after,
        msg,
    } = result?;

    let header = after
        .as_ref()
        .or(before.as_ref())
        .map_or_else(|| "(new token)".to_string(), |t| t.name.clone());
    let mut out = Outcome::changed(changed)
        .msg(msg)
        .with("token", after.as_ref().map(Token::to_json))
        .diff(Diff {
            before: before.as_ref().map_or(Value::Null, Token::to_json),
            after: after.as_ref().map_or(Value::Null, Token::to_json),
            before_header: Some(header.clone()),
            after_header: Some(header),
        });
    if let Some(url) = url {
        out = out.with("registration_url", url);
    }
    Ok(out)
}

/// Refuses, before anything is sent, what the service cannot do: `current` is the token (None
/// for a creation), the rest what was asked.
fn refuse_unsupported(
    caps: TokenCapabilities,
    what: &str,
    current: Option<&Token>,
    name: Option<&str>,
    max_usage: Option<u64>,
    expiry: Option<DateTime<Utc>>,
) -> Result<()> {
    let Some(cur) = current else {
        if let (Some(n), false) = (name, caps.caller_names_tokens) {
            return Err(fail!(
                "token '{n}' does not exist, and {what} picks token names itself: leave token out to create one, and use the name it returns"
            ));
        }
        if let (Some(n), Some(limit)) = (max_usage, caps.max_usage_limit) {
            if n > limit {
                return Err(fail!(
                    "{what} knows only one-time or unlimited tokens; max_usage {n} needs 0.9 or later"
                ));
            }
        }
        return Ok(());
    };
    let name = &cur.name;
    if cur.disabled && caps.has_disabled_flag && !caps.can_reenable {
        return Err(fail!(
            "token {name} is disabled, and {what} cannot enable a token again; create a new one"
        ));
    }
    if let Some(n) = max_usage.filter(|n| *n != cur.max_usage) {
        if !caps.can_change_max_usage {
            return Err(fail!(
                "{what} cannot change the usage limit of token {name} (max_usage {} to {n}); create a new token",
                cur.max_usage
            ));
        }
    }
    if let Some(t) = expiry.filter(|t| !same_second(Some(*t), cur.expiration_date)) {
        if !caps.can_change_expiry {
            return Err(fail!(
                "{what} cannot change the expiry of an existing token ({name} expires {}, asked for {}): its API fails with a server error. Disable the token and create a new one",
                cur.expiration_date.map(rfc3339).unwrap_or_else(|| "never".into()),
                rfc3339(t)
            ));
        }
    }
    Ok(())
}

fn same_second(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> bool {
    a.map(|t| t.timestamp()) == b.map(|t| t.timestamp())
}

fn present(check_mode: bool, service: &dyn TokenService, a: &Args) -> Result<TokenChange> {
    let what = service.service_name();
    let caps = service.capabilities();
    let name = a.name.as_deref();
    let current = match name {
        Some(n) => service.get(n)?,
        None => None,
    };
    let Some(cur) = current else {
        refuse_unsupported(caps, what, None, name, a.max_usage, a.expiry)?;
        if check_mode {
            return Ok(TokenChange {
                changed: true,
                before: None,
                after: None,
                msg: format!("a token would be created on {what}"),
            });
        }
        let t = service.create(name, a.max_usage.unwrap_or(0), a.expiry)?;
        let msg = format!("created token {} on {what}", t.name);
        return Ok(TokenChange {
            changed: true,
            before: None,
            after: Some(t),
            msg,
        });
    };
    if cur.disabled && caps.has_disabled_flag && service.reenables_only_when_asked() && !a.unrevoke
    {
        return Err(fail!(
            "token {} is revoked on {what}; state=present un-revokes it only with unrevoke: true (state=disabled keeps it revoked)",
            cur.name
        ));
    }
    let expiry = if a.expiry_is_relative { None } else { a.expiry };
    let differs = (cur.disabled && caps.has_disabled_flag)
        || a.max_usage.is_some_and(|n| n != cur.max_usage)
        || expiry.is_some_and(|t| !same_second(Some(t), cur.expiration_date));
    if !differs {
        let msg = format!("token {} is as asked", cur.name);
        return Ok(TokenChange {
            changed: false,
            before: Some(cur.clone()),
            after: Some(cur),
            msg,
        });
    }
    refuse_unsupported(caps, what, Some(&cur), name, a.max_usage, expiry)?;
    if check_mode {
        let mut predicted = cur.clone();
        predicted.disabled = predicted.disabled && !caps.has_disabled_flag;
        predicted.max_usage = a.max_usage.unwrap_or(predicted.max_usage);
        predicted.expiration_date = expiry.or(predicted.expiration_date);
        let msg = format!("token {} would be updated", cur.name);
        return Ok(TokenChange {
            changed: true,
            before: Some(cur),
            after: Some(predicted),
            msg,
        });
    }
    let after = service.update(&cur, a.max_usage, expiry)?;
    let msg = format!("updated token {}", cur.name);
    Ok(TokenChange {
        changed: true,
        before: Some(cur),
        after: Some(after),
        msg,
    })
}

fn disable(check_mode: bool, service: &dyn TokenService, name: &str) -> Result<TokenChange> {
    let what = service.service_name();
    let Some(cur) = service.get(name)? else {
        if service.unusable_tokens_vanish() {
            // tuwunel deletes expired and used-up tokens: one disabled earlier may be gone.
            return Ok(TokenChange {
                changed: false,
                before: None,
                after: None,
                msg: format!("token {name} does not exist on {what}, which deletes tokens that can no longer be used: it cannot be used"),
            });
        }
        return Err(fail!(
            "token '{name}' does not exist on {what}; nothing to disable"
        ));
    };
    if cur.disabled {
        let msg = format!("token {name} is already disabled");
        return Ok(TokenChange {
            changed: false,
            before: Some(cur.clone()),
            after: Some(cur),
            msg,
        });
    }
    if check_mode {
        let mut predicted = cur.clone();
        predicted.disabled = true;
        predicted.valid = false;
        let msg = format!("token {name} would be disabled");
        return Ok(TokenChange {
            changed: true,
            before: Some(cur),
            after: Some(predicted),
            msg,
        });
    }
    let after = service.disable(&cur)?;
    let msg = format!("disabled token {name}");
    Ok(TokenChange {
        changed: true,
        before: Some(cur),
        after: Some(after),
        msg,
    })
}

fn absent(check_mode: bool, service: &dyn TokenService, name: &str) -> Result<TokenChange> {
    if !service.capabilities().can_delete {
        // Said even when the token is already gone: the service cannot delete at all.
        return Err(fail!(
            "{} cannot delete tokens; use state=disabled to make token '{name}' unusable",
            service.service_name()
        ));
    }
    let Some(cur) = service.get(name)? else {
        let msg = format!("token {name} does not exist");
        return Ok(TokenChange {
            changed: false,
            before: None,
            after: None,
            msg,
        });
    };
    if !check_mode {
        service.delete(name)?;
    }
    let verb = if check_mode {
        "would be deleted"
    } else {
        "deleted"
    };
    Ok(TokenChange {
        changed: true,
        before: Some(cur),
        after: None,
        msg: format!("token {name} {verb}"),
    })
}

static DOC: ModuleDoc = ModuleDoc {
    short_description: "Create, update, disable or delete Matrix registration tokens (matrix-registration, Synapse, Dendrite, MAS)",
    description: &["Hands out registration tokens with a usage limit and an expiry, on matrix-registration (the registration page service; API 0.7/0.8 as deployed by matrix-docker-ansible-deploy, and 0.9), on the homeserver itself (Synapse's and Dendrite's registration tokens, for C(registration_requires_token)), or on Matrix Authentication Service.", "I(state=present) without I(token) creates a new token every run (the service picks the name on matrix-registration). With I(token), it converges the usage limit and expiry of that token and reports C(changed) only when something differed; on Synapse, Dendrite and MAS a missing token of that name is created.", "I(state=disabled) makes a token unusable. matrix-registration has a disabled flag. Synapse and Dendrite have none (Synapse reads C(uses_allowed=0) as unlimited), so the module makes the token expire now; there, C(disabled) is reported for every token that can no longer be used. Such a token is used again only by asking for a later I(ex_date) or a larger I(max_usage).", "I(state=absent) deletes the token on Synapse and Dendrite. matrix-registration and MAS cannot delete tokens; the module fails and points to I(state=disabled).", "On Matrix Authentication Service (I(backend=mas), MAS 0.17 and later) tokens are named by the caller (or by MAS when I(token) is left out), have a usage limit and an expiry that can be changed, and are disabled by revoking them. I(state=present) un-revokes a revoked token only with I(unrevoke=true). C(valid) and C(used) are MAS's own fields. MAS has no look-up by token string: the module pages through the list.", "Known limits of matrix-registration, refused with a clear message instead of sent - its API cannot change an expiry date (0.9 fails with a server error), and 0.7/0.8 cannot change or re-enable an existing token, nor issue tokens of more than one use.", "Dendrite (0.13 or later) serves its tokens only with C(client_api.registration_requires_token: true); on SQLite it answers success to a change of an existing token but keeps the old values, which the module detects and reports as a failure (delete and create the token instead, or run Dendrite on PostgreSQL). Dendrite 0.13 cannot register anyone with a token yet (no C(m.login.registration_token) stage)."],
    check_mode: "Reads the token and predicts C(changed); writes nothing.",
    diff_mode: "Shows the token before and after.",
    notes: &[],
    examples: r#"- name: A one-time registration link that expires at the end of the year
  registration_token:
    api_url: https://matrix.example.org/matrix-registration
    admin_secret: "{{ matrix_registration_admin_secret }}"
    one_time: true
    ex_date: "2026-12-31"
  register: link

- name: Show it
  ansible.builtin.debug:
    msg: "{{ link.registration_url }}"

- name: A named Synapse token for 10 sign-ups, kept as declared
  registration_token:
    backend: synapse
    access_token: "{{ matrix_admin_access_token }}"
    token: spring-workshop
    max_usage: 10
    ex_date: "2026-04-30T18:00:00Z"

- name: A MAS registration token for 20 sign-ups (MAS 0.17 and later)
  registration_token:
    backend: mas
    api_url: https://matrix.example.org/auth/
    client_id: 01J0000000000000000000ADMN
    client_secret_file: /matrix/mas/admin-client-secret
    token: autumn-meetup
    max_usage: 20
    expires_in: 14d

- name: A Dendrite token for one sign-up, expiring in a week
  registration_token:
    backend: dendrite
    homeserver_url: http://127.0.0.1:8008
    access_token: "{{ dendrite_admin_access_token }}"
    token: welcome-alice
    max_usage: 1
    expires_in: 7d

- name: Disable a token
  registration_token:
    api_url: https://matrix.example.org/matrix-registration
    admin_secret: "{{ matrix_registration_admin_secret }}"
    token: TalentSpecialDenmark
    state: disabled
"#,
    returns: &[
        Ret::new("token", Kind::Dict, "always", "The token after the run, the same shape for every service; null when it was deleted or, in check mode, not yet created.").contains(TOKEN_FIELDS),
        Ret::new("registration_url", Kind::Str, "backend matrix_registration, when there is a token", "Where a person registers with the token (matrix-registration).").sample(r#""https://matrix.example.org/matrix-registration/register?token=TalentSpecialDenmark""#),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{matrix_registration, token_objects};

    fn token(disabled: bool, max_usage: u64) -> Token {
        Token {
            name: "T".into(),
            max_usage,
            used: 0,
            expiration_date: None,
            disabled,
            valid: !disabled,
        }
    }

    fn refused(
        caps: TokenCapabilities,
        cur: Option<&Token>,
        name: Option<&str>,
        max: Option<u64>,
        expiry: bool,
    ) -> Option<String> {
        let t = expiry.then(|| Utc::now() + chrono::TimeDelta::days(3));
        refuse_unsupported(caps, "svc", cur, name, max, t)
            .err()
            .map(|e| e.0)
    }

    #[test]
    fn what_each_service_refuses() {
        let (legacy, v09, synapse) = (
            matrix_registration::LEGACY,
            matrix_registration::V09,
            token_objects::CAPABILITIES,
        );
        // Creating.
        assert!(refused(legacy, None, None, Some(5), false)
            .unwrap()
            .contains("one-time or unlimited"));
        assert!(refused(legacy, None, None, Some(1), true).is_none());
        assert!(refused(v09, None, None, Some(5), true).is_none());
        assert!(refused(v09, None, Some("mine"), None, false)
            .unwrap()
            .contains("picks token names itself"));
        assert!(refused(synapse, None, Some("mine"), Some(5), true).is_none());
        // Changing.
        let disabled = token(true, 1);
        assert!(refused(legacy, Some(&disabled), None, None, false)
            .unwrap()
            .contains("cannot enable"));
        assert!(refused(v09, Some(&disabled), None, None, false).is_none());
        let one = token(false, 1);
        assert!(refused(legacy, Some(&one), None, Some(0), false)
            .unwrap()
            .contains("cannot change the usage limit"));
        assert!(
            refused(legacy, Some(&one), None, Some(1), false).is_none(),
            "no change, no refusal"
        );
        assert!(refused(v09, Some(&one), None, Some(7), false).is_none());
        assert!(refused(v09, Some(&one), None, None, true)
            .unwrap()
            .contains("cannot change the expiry"));
        assert!(refused(synapse, Some(&one), None, Some(7), true).is_none());
    }
}
