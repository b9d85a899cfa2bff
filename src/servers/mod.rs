//! The backend chosen once: every value an operator can give `backend` is a [`Backend`] in
//! [`BACKENDS`], which says what it can do ([`Capability`]) before any request and opens, once
//! per task, a [`Server`]: the bundle of capabilities the modules call. Modules never compare
//! backends; they ask the server for a capability, and a capability a backend lacks is refused
//! with the backends that have it ([`require`]).
//!
//! Adding a server: a file here that declares its `Backend` and binds the API files it serves
//! (under `src/api/`, reusing the shared ones), and one line in [`BACKENDS`].

pub mod backend;
mod checked;
pub mod continuwuity;
pub mod dendrite;
mod homeserver;
pub mod mas;
pub mod matrix_registration;
pub mod synapse;
pub mod tuwunel;

pub use backend::{Access, AdminAccess, Backend, Capability, DatabaseKind, Reach, Server};

use crate::ansible::Result;
use crate::fail;
use std::sync::OnceLock;

/// Every backend, in the order their names are listed in the modules' docs.
pub static BACKENDS: &[&Backend] = &[
    &matrix_registration::BACKEND,
    &synapse::API,
    &synapse::SQLITE,
    &synapse::POSTGRES,
    &dendrite::API,
    &dendrite::SQLITE,
    &dendrite::POSTGRES,
    &mas::BACKEND,
    &tuwunel::API,
    &continuwuity::API,
];

/// The backend named `name`.
pub fn named(name: &str) -> Option<&'static Backend> {
    BACKENDS.iter().copied().find(|b| b.name == name)
}

/// The names of the backends that can do `c`, in [`BACKENDS`] order: a module's `backend`
/// choices.
pub fn names_offering(c: Capability) -> &'static [&'static str] {
    static REGISTER: OnceLock<Vec<&'static str>> = OnceLock::new();
    static ADMIN_FLAG: OnceLock<Vec<&'static str>> = OnceLock::new();
    static TOKENS: OnceLock<Vec<&'static str>> = OnceLock::new();
    static RECORDS: OnceLock<Vec<&'static str>> = OnceLock::new();
    static LIFECYCLE: OnceLock<Vec<&'static str>> = OnceLock::new();
    static LOCKS: OnceLock<Vec<&'static str>> = OnceLock::new();
    static PASSWORDS: OnceLock<Vec<&'static str>> = OnceLock::new();
    let cell = match c {
        Capability::Register => &REGISTER,
        Capability::AdminFlag => &ADMIN_FLAG,
        Capability::Tokens => &TOKENS,
        Capability::Records | Capability::RecordsByDatabase => &RECORDS,
        Capability::Lifecycle | Capability::LifecycleByDatabase => &LIFECYCLE,
        Capability::Locks => &LOCKS,
        Capability::Passwords => &PASSWORDS,
    };
    cell.get_or_init(|| {
        BACKENDS
            .iter()
            .filter(|b| able(b, c))
            .map(|b| b.name)
            .collect()
    })
}

/// The capability that `c` is, or is done through the database of (Records for
/// RecordsByDatabase).
fn through_api(c: Capability) -> Capability {
    match c {
        Capability::LifecycleByDatabase => Capability::Lifecycle,
        Capability::RecordsByDatabase => Capability::Records,
        c => c,
    }
}

/// Whether `b` can do `c`, through its API or through its database (which the module then
/// needs: `database`).
pub fn able(b: &Backend, c: Capability) -> bool {
    let api = through_api(c);
    b.offers(api) || api.by_database().is_some_and(|d| b.offers(d))
}

/// The names of the backends that offer exactly `c` (e.g. RecordsByDatabase: those whose
/// modules then need `database`).
pub fn names_offering_only(c: Capability) -> Vec<&'static str> {
    BACKENDS
        .iter()
        .filter(|b| b.offers(c))
        .map(|b| b.name)
        .collect()
}

/// The `backend` choices of a module that needs `c`: the backends that can, then those that
/// cannot but name what to do instead (refused by [`require`] with that hint).
fn choices(c: Capability, cell: &'static OnceLock<Vec<&'static str>>) -> &'static [&'static str] {
    cell.get_or_init(|| {
        let mut names = names_offering(c).to_vec();
        names.extend(
            BACKENDS
                .iter()
                .filter(|b| !able(b, c) && instead(b, c).is_some())
                .map(|b| b.name),
        );
        names
    })
}

/// The `backend` choices of register_user.
pub fn account_backends() -> &'static [&'static str] {
    static CELL: OnceLock<Vec<&'static str>> = OnceLock::new();
    choices(Capability::Register, &CELL)
}

/// The `backend` choices of user_admin.
pub fn admin_flag_backends() -> &'static [&'static str] {
    static CELL: OnceLock<Vec<&'static str>> = OnceLock::new();
    choices(Capability::AdminFlag, &CELL)
}

/// The `backend` choices of the token modules.
pub fn token_backends() -> &'static [&'static str] {
    static CELL: OnceLock<Vec<&'static str>> = OnceLock::new();
    choices(Capability::Tokens, &CELL)
}

/// The `backend` choices of user_info.
pub fn record_backends() -> &'static [&'static str] {
    static CELL: OnceLock<Vec<&'static str>> = OnceLock::new();
    choices(Capability::Records, &CELL)
}

/// What `backend` names to do instead of `c`, where it cannot (e.g. an admin-room command).
pub fn instead(backend: &Backend, c: Capability) -> Option<&'static str> {
    let same = |x: Capability| through_api(x) == through_api(c);
    backend
        .instead
        .iter()
        .find(|(x, _)| same(*x))
        .map(|(_, hint)| *hint)
}

/// The refusal of `what` (an option, or a module's need) on `backend`, which cannot do `c`:
/// the backends that can, and what this one's server offers instead where it names something.
pub fn cannot(what: &str, backend: &Backend, c: Capability) -> crate::ansible::Error {
    let can = names_offering(c).join(", ");
    match instead(backend, c) {
        Some(hint) => fail!(
            "{what}: backend {} cannot {} ({} has no API for it): {hint}; the backends that can: {can}",
            backend.name,
            c.what(),
            backend.server
        ),
        None => fail!(
            "{what}: backend {} cannot {} ({} has no API for it); the backends that can: {can}",
            backend.name,
            c.what(),
            backend.server
        ),
    }
}

/// The backend of option `option` that can do `c` (through its API or its database): any other
/// is refused before any request, naming those that can (and what to do instead, where the
/// backend names it).
pub fn require(option: &str, name: &str, c: Capability) -> Result<&'static Backend> {
    match named(name) {
        Some(b) if able(b, c) => Ok(b),
        Some(b) if instead(b, c).is_some() => Err(cannot(option, b, c)),
        _ => Err(fail!(
            "{option} {name} cannot {}; the backends that can: {}",
            c.what(),
            names_offering(c).join(", ")
        )),
    }
}
