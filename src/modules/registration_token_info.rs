//! Module `registration_token_info`: lists registration tokens, read-only.

use crate::ansible::{Kind, Module, ModuleDef, ModuleDoc, Opt, Outcome, Params, Result, Ret, Spec};
use crate::args::{
    self, TokenServiceArgs, ADMIN_CREDENTIALS_TOGETHER, ADMIN_CREDENTIAL_OPTIONS,
    CONNECTION_OPTIONS, MAS_CLIENT_EXCLUSIVE, MAS_CLIENT_OPTIONS, MAS_SECRET_EXCLUSIVE,
    TOKEN_SERVICE_EXCLUSIVE, TOKEN_SERVICE_OPTIONS,
};
use crate::fail;
use crate::modules::registration_token::TOKEN_OPTION;
use crate::servers::{AdminAccess, Server};
use crate::token::{self, TOKEN_FIELDS};
use serde_json::Value;

static MODULE_OPTIONS: &[Opt] = &[
    TOKEN_OPTION.doc(&["Only this token (an empty list when it does not exist)."]),
    Opt::bool("valid")
        .doc(&["Only tokens a registration can use now (C(true)) or cannot (C(false))."]),
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
    name: "registration_token_info",
    spec: &SPEC,
    doc: &DOC,
    run,
};

/// The typed arguments.
struct Args {
    name: Option<String>,
    valid: Option<bool>,
    service: TokenServiceArgs,
}

impl Args {
    fn from_params(p: &Params) -> Result<Args> {
        let name = p.str("token").map(str::to_string);
        if let Some(n) = &name {
            token::validate_name("token", n)?;
        }
        Ok(Args {
            name,
            valid: p.opt_bool("valid"),
            service: args::token_service(p)?,
        })
    }
}

fn run(m: &mut Module) -> Result<Outcome> {
    let mut a = Args::from_params(&m.params)?;
    let server = a
        .service
        .backend
        .open(std::mem::take(&mut a.service.access))?;
    let outcome = list(&a, &server);
    server.close_after(outcome)
}

/// The tokens asked for, from the opened service.
fn list(a: &Args, server: &Server) -> Result<Outcome> {
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
    let found = match &a.name {
        Some(n) => service.get(n).map(|t| {
            t.into_iter()
                .filter(|t| a.valid.is_none_or(|v| t.valid == v))
                .collect()
        }),
        None => service.list(a.valid),
    };
    let tokens: Vec<Value> = found
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|t| {
            let mut v = t.to_json();
            if let Some(u) = service.registration_url(&t.name) {
                v["registration_url"] = Value::from(u);
            }
            v
        })
        .collect();
    let what = service.service_name();
    found?;
    Ok(Outcome::changed(false)
        .msg(format!("{} token(s) on {what}", tokens.len()))
        .with("tokens", tokens))
}

static DOC: ModuleDoc = ModuleDoc {
    short_description: "List Matrix registration tokens (matrix-registration, Synapse, Dendrite, MAS)",
    description: &[
        "Lists registration tokens, all or one, optionally only the valid (or invalid) ones, in the same normalised shape for matrix-registration (both API generations), Synapse, Dendrite and Matrix Authentication Service (I(backend=mas); C(valid) and C(used) are MAS's own fields, and C(disabled) means revoked).",
        "Read-only; safe in check mode.",
    ],
    check_mode: "Read-only.",
    diff_mode: "Changes nothing.",
    notes: &[],
    examples: r#"- name: List the tokens that can still be used
  registration_token_info:
    api_url: https://matrix.example.org/matrix-registration
    admin_secret: "{{ matrix_registration_admin_secret }}"
    valid: true
  register: tokens

- name: One Synapse token
  registration_token_info:
    backend: synapse
    access_token: "{{ matrix_admin_access_token }}"
    token: spring-workshop
"#,
    returns: &[Ret::new(
        "tokens",
        Kind::List,
        "always",
        "The tokens; each also has C(registration_url) on matrix-registration.",
    )
    .contains(TOKEN_FIELDS)],
};
