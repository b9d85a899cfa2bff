//! Conformance of the FAKE tuwunel and FAKE continuwuity with their sources, over raw HTTP.
//! Neither server can be installed here; these tests prove that the fakes refuse what the real
//! servers refuse (a lenient fake fails them) and keep the state the real servers keep. Each
//! case names the source line it follows: tuwunel v1.9.0 (docs/tuwunel.md) and continuwuity
//! v26.7.3 (docs/continuwuity.md). The cases live in this directory.
mod continuwuity;
mod tuwunel_admin;
mod tuwunel_registration;

use crate::common::fakes::{Answer, FakeServer, Flavor};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};

pub(crate) fn tuwunel() -> FakeServer {
    FakeServer::start(Flavor::Tuwunel, &[], None)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Synapse's MAC, as tuwunel checks it (src/api/client/admin/register.rs:110-132).
pub(crate) fn mac(
    secret: &str,
    nonce: &str,
    user: &str,
    pw: &str,
    admin: bool,
    user_type: Option<&str>,
) -> String {
    let mut m = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    let mut parts = vec![nonce, user, pw, if admin { "admin" } else { "notadmin" }];
    parts.extend(user_type);
    m.update(parts.join("\0").as_bytes());
    hex(&m.finalize().into_bytes())
}

pub(crate) fn nonce(s: &FakeServer) -> String {
    let a = s.call("GET", "/_synapse/admin/v1/register", None, None);
    assert_eq!(a.status, 200, "{:?}", a.body);
    a.body["nonce"].as_str().unwrap().to_string()
}

/// A shared-secret registration with a fresh nonce; `tweak` may alter the body after the MAC.
pub(crate) fn register(
    s: &FakeServer,
    user: &str,
    pw: &str,
    admin: bool,
    tweak: impl FnOnce(&mut Value),
) -> (Answer, String) {
    let n = nonce(s);
    let secret = s.file("registration-shared-secret");
    let mut body = json!({"nonce": n, "username": user, "password": pw, "admin": admin,
        "mac": mac(&secret, &n, user, pw, admin, None), "inhibit_login": true});
    tweak(&mut body);
    (
        s.call("POST", "/_synapse/admin/v1/register", None, Some(&body)),
        n,
    )
}

pub(crate) fn assert_err(a: &Answer, status: u16, errcode: &str) {
    assert_eq!((a.status, a.errcode()), (status, errcode), "{:?}", a.body);
}

pub(crate) fn details(s: &FakeServer, token: &str, user: &str) -> Answer {
    s.call(
        "GET",
        &format!("/_synapse/admin/v2/users/@{user}:localhost"),
        Some(token),
        None,
    )
}
