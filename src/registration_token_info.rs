//! Module `registration_token_info`: lists registration tokens, read-only.

use crate::ansible::{Module, Opt, Outcome, Result, Spec};
use crate::client::CONNECTION_OPTIONS;
use crate::tokens::{self, Token, TokenService, SERVICE_OPTIONS, TOKEN_NAME};
use serde_json::Value;

static MODULE_OPTIONS: &[Opt] = &[TOKEN_NAME, Opt::bool("valid")];

pub static SPEC: Spec = Spec {
    groups: &[MODULE_OPTIONS, SERVICE_OPTIONS, CONNECTION_OPTIONS],
    mutually_exclusive: &[
        &["access_token", "admin_username"],
        &["admin_secret", "access_token"],
        &["admin_secret", "admin_username"],
    ],
    required_one_of: &[],
    required_together: &[&["admin_username", "admin_password"]],
};

pub fn run(m: &mut Module) -> Result<Outcome> {
    let p = &m.params;
    let valid = p.opt_bool("valid");
    if let Some(n) = p.str("token") {
        tokens::validate_name("token", n)?;
    }
    let client = tokens::service_client(p)?;
    let service = TokenService::connect(p, &client)?;
    let found = match p.str("token") {
        Some(n) => service.get(n).map(|t| {
            t.into_iter()
                .filter(|t| valid.is_none_or(|v| t.valid == v))
                .collect()
        }),
        None => service.list(valid),
    };
    let rows: Vec<(Token, Option<String>)> = match &found {
        Ok(list) => list
            .iter()
            .map(|t| (t.clone(), service.registration_url(&t.name)))
            .collect(),
        Err(_) => Vec::new(),
    };
    let what = service.describe();
    service.close()?;
    found?;
    let tokens: Vec<Value> = rows
        .iter()
        .map(|(t, url)| {
            let mut v = t.to_json();
            if let Some(u) = url {
                v["registration_url"] = Value::from(u.as_str());
            }
            v
        })
        .collect();
    Ok(Outcome::changed(false)
        .msg(format!("{} token(s) on {what}", tokens.len()))
        .with("tokens", tokens))
}
