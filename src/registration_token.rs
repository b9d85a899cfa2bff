//! Module `registration_token`: creates, converges, disables or deletes registration tokens on
//! matrix-registration (0.7/0.8 and 0.9 APIs) or Synapse.

use crate::ansible::{Diff, Module, Opt, Outcome, Result, Spec};
use crate::client::CONNECTION_OPTIONS;
use crate::fail;
use crate::tokens::{self, Token, TokenService, SERVICE_OPTIONS, TOKEN_NAME};
use chrono::{DateTime, Utc};
use serde_json::Value;

static MODULE_OPTIONS: &[Opt] = &[
    TOKEN_NAME,
    Opt::str("state")
        .choices(&["present", "disabled", "absent"])
        .default_str("present"),
    Opt::bool("one_time"),
    Opt::int("max_usage"),
    Opt::str("ex_date"),
    Opt::str("expires_in"),
];

pub static SPEC: Spec = Spec {
    groups: &[MODULE_OPTIONS, SERVICE_OPTIONS, CONNECTION_OPTIONS],
    mutually_exclusive: &[
        &["one_time", "max_usage"],
        &["ex_date", "expires_in"],
        &["access_token", "admin_username"],
        &["admin_secret", "access_token"],
        &["admin_secret", "admin_username"],
    ],
    required_one_of: &[],
    required_together: &[&["admin_username", "admin_password"]],
};

pub fn run(m: &mut Module) -> Result<Outcome> {
    let p = m.params.clone();
    let state = p.str("state").unwrap_or("present");
    let name = p.str("token");
    if let Some(n) = name {
        tokens::validate_name("token", n)?;
    }
    if state != "present" && name.is_none() {
        return Err(fail!("state={state} needs token: the name of the token"));
    }
    let max_usage = tokens::wanted_max_usage(&p)?;
    let expiry = tokens::wanted_expiry(&p, Utc::now())?;
    if state != "present" && (max_usage.is_some() || expiry.is_some()) {
        m.warn(format!(
            "one_time, max_usage, ex_date and expires_in are ignored with state={state}"
        ));
    }

    let client = tokens::service_client(&p)?;
    let service = TokenService::connect(&p, &client)?;
    let result = match state {
        "absent" => absent(m.check_mode, &service, name.unwrap_or_default()),
        "disabled" => disable(m.check_mode, &service, name.unwrap_or_default()),
        _ => present(m, &service, name, max_usage, expiry),
    };
    let url = match &result {
        Ok((_, _, Some(t), _)) => service.registration_url(&t.name),
        _ => None,
    };
    service.close()?;
    let (changed, before, after, msg) = result?;

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

type Applied = (bool, Option<Token>, Option<Token>, String);

fn present(
    m: &Module,
    service: &TokenService<'_>,
    name: Option<&str>,
    max_usage: Option<u64>,
    expiry: Option<DateTime<Utc>>,
) -> Result<Applied> {
    let what = service.describe();
    let current = match name {
        Some(n) => service.get(n)?,
        None => None,
    };
    let Some(cur) = current else {
        if m.check_mode {
            if let (TokenService::MatrixRegistration(_), Some(n)) = (service, name) {
                // The refusal a real run would give, not a promise it cannot keep.
                return Err(fail!(
                    "token '{n}' does not exist, and matrix-registration picks token names itself: leave token out to create one"
                ));
            }
            return Ok((
                true,
                None,
                None,
                format!("a token would be created on {what}"),
            ));
        }
        let t = service.create(name, max_usage.unwrap_or(0), expiry)?;
        let msg = format!("created token {} on {what}", t.name);
        return Ok((true, None, Some(t), msg));
    };
    // expires_in is relative to now: it applies when a token is created, never to an existing
    // one, or every run would move the expiry and report a change.
    let expiry = if m.params.is_given("expires_in") {
        None
    } else {
        expiry
    };
    let differs = (cur.disabled && service.has_disabled_flag())
        || max_usage.is_some_and(|n| n != cur.max_usage)
        || expiry
            .is_some_and(|t| Some(t.timestamp()) != cur.expiration_date.map(|c| c.timestamp()));
    if !differs {
        let msg = format!("token {} is as asked", cur.name);
        return Ok((false, Some(cur.clone()), Some(cur), msg));
    }
    if m.check_mode {
        let mut predicted = cur.clone();
        predicted.disabled = predicted.disabled && !service.has_disabled_flag();
        predicted.max_usage = max_usage.unwrap_or(predicted.max_usage);
        predicted.expiration_date = expiry.or(predicted.expiration_date);
        let msg = format!("token {} would be updated", cur.name);
        return Ok((true, Some(cur), Some(predicted), msg));
    }
    let after = service.update(&cur, max_usage, expiry)?;
    let msg = format!("updated token {}", cur.name);
    Ok((true, Some(cur), Some(after), msg))
}

fn disable(check_mode: bool, service: &TokenService<'_>, name: &str) -> Result<Applied> {
    let cur = service.get(name)?.ok_or_else(|| {
        fail!(
            "token '{name}' does not exist on {}; nothing to disable",
            service.describe()
        )
    })?;
    if cur.disabled {
        let msg = format!("token {name} is already disabled");
        return Ok((false, Some(cur.clone()), Some(cur), msg));
    }
    if check_mode {
        let mut predicted = cur.clone();
        predicted.disabled = true;
        predicted.valid = false;
        return Ok((
            true,
            Some(cur),
            Some(predicted),
            format!("token {name} would be disabled"),
        ));
    }
    let after = service.disable(&cur)?;
    Ok((
        true,
        Some(cur),
        Some(after),
        format!("disabled token {name}"),
    ))
}

fn absent(check_mode: bool, service: &TokenService<'_>, name: &str) -> Result<Applied> {
    if let TokenService::MatrixRegistration(_) = service {
        // It cannot delete at all: say so even when the token is already gone.
        return service
            .delete(name)
            .map(|()| (false, None, None, String::new()));
    }
    let Some(cur) = service.get(name)? else {
        return Ok((false, None, None, format!("token {name} does not exist")));
    };
    if !check_mode {
        service.delete(name)?;
    }
    let verb = if check_mode {
        "would be deleted"
    } else {
        "deleted"
    };
    Ok((true, Some(cur), None, format!("token {name} {verb}")))
}
