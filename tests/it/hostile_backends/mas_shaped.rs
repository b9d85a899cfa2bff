//! A hostile server that impersonates Matrix Authentication Service: its OAuth discovery
//! document, token and revocation endpoints, site configuration and admin API answer in the
//! shapes of the real MAS 1.22 recording (tests/data/mas/transcripts.jsonl: ids
//! `discovery-openid-configuration`, `token-client-credentials-basic`, `admin-site-config`,
//! `users-by-username-alice`, `users-list-first-2`, `regtokens-list`, `emails-add`, ...), unless
//! the test's handler answers first. Not a MAS fake: what it answers is what a proxy, a
//! misconfigured or a compromised service could send.

use crate::common::hostile::{Hostile, Reply, Req};
use serde_json::{json, Value};

/// ULIDs from the recording (alice's and frank's), and two made up the same way.
pub const ALICE: &str = "01M83PX7NDQB6KXCB3W5STR3DY";
pub const MALLORY: &str = "01M83PX7XBSDJ02WWY631QTSQV";
pub const EMAIL_ID: &str = "01M83PXDASTW027RBW2XFE06TT";
pub const ADV_ID: &str = "01M83PXDD5D34GHMYNM5E91EZS";
pub const OTHER_ID: &str = "01M83PXDDFMKGDAQ3KERR1VCYW";

/// The admin client (a ULID, as MAS client ids are) and its secret, with characters that every
/// encoding changes: quote, backslash, non-ASCII, `+ / = & %` and a space.
pub const CLIENT_ID: &str = "01JADM1N0000000000000000AA";
pub const CLIENT_SECRET: &str = "Cs\"ü\\q+r/s=t&u%v w-Secret-Tail-5521";
/// The access token the stand-in grants.
pub const ACCESS_TOKEN: &str = "mat_HostileGrantedAdminToken0000_7Qx2p1";

pub const API: &str = "/api/admin/v1";

/// The module options for backend mas against `url` (client credentials), plus `extra`.
pub fn mas_args(url: &str, extra: Value) -> Value {
    super::with(
        &json!({"backend": "mas", "api_url": url, "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET, "timeout": 10, "retries": 0}),
        extra,
    )
}

/// A user resource as `users-by-username-alice` shows one.
pub fn user(id: &str, username: &str, admin: bool) -> Value {
    json!({"type": "user", "id": id,
        "attributes": {"username": username, "created_at": "2026-11-23T08:03:39.821524Z",
            "locked_at": null, "deactivated_at": null, "admin": admin, "legacy_guest": false},
        "links": {"self": format!("{API}/users/{id}")}})
}

/// A registration token resource as `regtokens-list` shows one.
pub fn regtoken(
    id: &str,
    token: &str,
    valid: bool,
    usage_limit: Value,
    revoked_at: Value,
) -> Value {
    json!({"type": "user-registration_token", "id": id,
        "attributes": {"token": token, "valid": valid, "usage_limit": usage_limit, "times_used": 0,
            "created_at": "2026-11-23T08:03:45.701768Z", "last_used_at": null,
            "expires_at": null, "revoked_at": revoked_at},
        "links": {"self": format!("{API}/user-registration-tokens/{id}")},
        "meta": {"page": {"cursor": id}}})
}

/// A user-email resource as `emails-add` shows one.
pub fn email(id: &str, user_id: &str, address: &str) -> Value {
    json!({"type": "user-email", "id": id,
        "attributes": {"created_at": "2026-11-23T08:03:45.625754Z", "user_id": user_id,
            "email": address},
        "links": {"self": format!("{API}/user-emails/{id}")}})
}

/// One resource: `{"data": ..., "links": {"self": ...}}`.
pub fn one(status: u16, data: Value) -> Reply {
    let link = data["links"]["self"].clone();
    Reply::json(status, json!({"data": data, "links": {"self": link}}))
}

/// A page of a list: `meta.count`, `data`, and `links.next` when `next` is given.
pub fn page(collection: &str, count: usize, items: Vec<Value>, next: Option<&str>) -> Reply {
    let items: Vec<Value> = items
        .into_iter()
        .map(|mut i| {
            let id = i["id"].clone();
            i["meta"] = json!({"page": {"cursor": id}});
            i
        })
        .collect();
    let mut links = json!({"self": format!("{API}/{collection}"),
        "first": format!("{API}/{collection}?page[first]=10"),
        "last": format!("{API}/{collection}?page[last]=10")});
    if let Some(after) = next {
        links["next"] = json!(format!(
            "{API}/{collection}?page[after]={after}&page[first]=10"
        ));
    }
    Reply::json(
        200,
        json!({"meta": {"count": count}, "data": items, "links": links}),
    )
}

/// A JSON:API error, as `users-by-username-alice-404`.
pub fn error(status: u16, title: &str) -> Reply {
    Reply::json(status, json!({"errors": [{"title": title}]}))
}

/// The discovery document: MAS's public URL differs from `api_url`, as behind a proxy.
fn discovery() -> Reply {
    let base = "https://auth.example.org";
    Reply::json(
        200,
        json!({"issuer": format!("{base}/"), "token_endpoint": format!("{base}/oauth2/token"),
            "revocation_endpoint": format!("{base}/oauth2/revoke"),
            "introspection_endpoint": format!("{base}/oauth2/introspect"),
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["openid", "email"]}),
    )
}

/// `token-client-credentials-basic`.
pub fn granted(token_type: &str) -> Reply {
    Reply::json(
        200,
        json!({"access_token": ACCESS_TOKEN, "token_type": token_type, "expires_in": 300,
               "scope": "urn:mas:admin"}),
    )
}

/// `admin-site-config`.
fn site_config() -> Reply {
    Reply::json(
        200,
        json!({"server_name": "localhost", "password_login_enabled": true,
            "password_registration_enabled": false, "registration_token_required": false,
            "email_change_allowed": true, "displayname_change_allowed": true,
            "password_change_allowed": true, "account_recovery_allowed": false,
            "account_deactivation_allowed": true, "captcha_enabled": false,
            "minimum_password_complexity": 3}),
    )
}

/// The standard answers: discovery, a granted token, revocation (200, empty), site config;
/// anything else 404 as MAS answers an unknown user.
fn standard(r: &Req) -> Reply {
    match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/.well-known/openid-configuration") => discovery(),
        ("POST", "/oauth2/token") => granted("Bearer"),
        ("POST", "/oauth2/revoke") => Reply::Full(200, "", Vec::new()),
        ("GET", p) if p == format!("{API}/site-config") => site_config(),
        ("GET", p) if p.starts_with(&format!("{API}/users/by-username/")) => {
            let name = p.rsplit('/').next().unwrap_or("");
            error(404, &format!("User with username \"{name}\" not found"))
        }
        ("GET", p) if p.starts_with(&format!("{API}/user-emails")) => {
            page("user-emails", 0, vec![], None)
        }
        _ => error(404, "Not found"),
    }
}

/// The stand-in: `handler` answers first; where it returns None, the standard answers.
pub fn mas_like(handler: impl Fn(&Req) -> Option<Reply> + Send + Sync + 'static) -> Hostile {
    Hostile::start(super::guarded(move |r| {
        handler(r).unwrap_or_else(|| standard(r))
    }))
}

/// Whether `r` is `method` on the admin API path `rest` (query ignored).
pub fn is(r: &Req, method: &str, rest: &str) -> bool {
    r.method == method && r.path.split('?').next() == Some(&format!("{API}{rest}"))
}

/// Requests that acted on the resource `id` (any POST, PUT or DELETE under `.../{id}`) or named it
/// in a body (`user_id`).
pub fn writes_about(h: &Hostile, id: &str) -> Vec<String> {
    h.requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .filter(|r| r.path.contains(id) || r.json()["user_id"] == id)
        .map(|r| format!("{} {} {}", r.method, r.path, r.body_text()))
        .collect()
}

/// How many `method` requests reached the admin API path `rest` exactly (query ignored).
pub fn sent(h: &Hostile, method: &str, rest: &str) -> usize {
    h.requests().iter().filter(|r| is(r, method, rest)).count()
}
