//! tuwunel (matrix-construct/tuwunel, 1.9.0 as matrix-docker-ansible-deploy deploys it): Synapse's
//! shared-secret registration and the part of Synapse's admin API it copied, each bound with
//! tuwunel's own rules (docs/tuwunel.md): short-lived single-use nonces and no user types, the
//! admin flag through the user record (`PUT /v1/users/<id>/admin` answers 405), registration
//! tokens from its configuration that cannot be changed, tokens deleted once unusable.
//!
//! Its own `backend` value rather than detected behind `synapse`: what it cannot do (user types,
//! the admin flag's endpoint) is then refused or routed before any request, with no probe on
//! every task and no way for a Synapse task to be silently taken for tuwunel.

use super::backend::{Access, Backend, Capability, Reach, Server};
use super::homeserver::Homeserver;
use crate::ansible::Result;
use crate::api::shared_secret;
use crate::api::synapse_admin::{self, SynapseAdmin};
use crate::api::synapse_tokens::{self, SynapseTokens};
use crate::api::token_registration;

/// tuwunel's client API with its copy of Synapse's admin API.
pub static API: Backend = Backend {
    name: "tuwunel",
    server: "tuwunel",
    reach: Reach::Homeserver,
    offers: &[
        Capability::Register,
        Capability::AdminFlag,
        Capability::Tokens,
        Capability::Lifecycle,
        Capability::Locks,
        Capability::Records,
        Capability::Passwords,
    ],
    // tuwunel has no request limiter outside 3PID mail, OIDC and rendezvous (docs/tuwunel.md 3).
    limits_public_lookups: false,
    instead: &[],
    open,
};

fn open(mut access: Access) -> Result<Server> {
    let mut server = Server::new(&API);
    let hs = Homeserver::open(&mut server, &access)?;
    hs.set_registrar(
        &mut server,
        &mut access,
        shared_secret::TUWUNEL,
        token_registration::GENERIC,
    );
    let admin_api = |s| SynapseAdmin::speaking(s, synapse_admin::TUWUNEL);
    if let Some(admin) = &hs.admin {
        server.set_passwords(admin_api(admin.clone()));
        server.set_tokens(SynapseTokens::speaking(
            admin.clone(),
            synapse_tokens::TUWUNEL,
        ));
    }
    if let Some(live) = hs.live_admin() {
        server.set_directory(admin_api(live.clone()));
        server.set_listing(admin_api(live.clone()));
        server.set_lifecycle(admin_api(live.clone()));
        server.set_locks(admin_api(live.clone()));
        server.set_records(admin_api(live.clone()));
        server.set_admin_flags(admin_api(live));
    }
    Ok(server)
}
