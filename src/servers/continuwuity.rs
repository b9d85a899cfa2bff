//! continuwuity (continuwuity/continuwuity, v26.7.3 as matrix-docker-ansible-deploy deploys it;
//! docs/continuwuity.md): no shared-secret registration and no Synapse admin API. Accounts are
//! registered through the client-server API with a registration token (`registration_token`,
//! looked up first with `/register/available`), locks go through MSC4323 with an admin's token,
//! and everything else is refused up front naming the admin-room command that does it
//! (docs/continuwuity.md 8).

use super::backend::{Access, Backend, Capability, Reach, Server};
use super::homeserver::Homeserver;
use crate::ansible::Result;
use crate::api::msc4323::Msc4323Locks;
use crate::api::shared_secret;
use crate::api::token_registration::{self, TokenRegistration};
use crate::fail;

/// continuwuity's client API.
pub static API: Backend = Backend {
    name: "continuwuity",
    server: "continuwuity",
    reach: Reach::Homeserver,
    offers: &[Capability::Register, Capability::Locks],
    // No rate limit on /register/available (src/api/client/account/mod.rs:45-61).
    limits_public_lookups: false,
    instead: &[
        (
            Capability::AdminFlag,
            "use `!admin users make-user-admin <user_id>` in continuwuity's admin room (no command removes admin rights at v26.7.3: remove the user from the admin room or from admins_list)",
        ),
        (
            Capability::Tokens,
            "manage its registration tokens in continuwuity's admin room with `!admin token issue`, `!admin token revoke <token>` and `!admin token list` (or its configuration's registration_token)",
        ),
        (
            Capability::Passwords,
            "use `!admin users reset-password <username> [password]` in continuwuity's admin room",
        ),
        (
            Capability::Lifecycle,
            "deactivate with `!admin users deactivate <user_id>` in continuwuity's admin room; continuwuity has no way at all to reactivate an account (no command, no API)",
        ),
        (
            Capability::Records,
            "list accounts with `!admin users list-users` in continuwuity's admin room",
        ),
    ],
    open,
};

fn open(mut access: Access) -> Result<Server> {
    if access.shared_secret.is_some() {
        return Err(fail!(
            "shared_secret: continuwuity has no shared-secret registration (nothing is served under /_synapse); give registration_token (or registration_token_file) instead: its registration_token (matrix-docker-ansible-deploy: matrix_continuwuity_config_registration_token)"
        ));
    }
    let mut server = Server::new(&API);
    let hs = Homeserver::open(&mut server, &access)?;
    // Exact look-ups without admin rights: continuwuity has no admin API to look accounts up.
    server.set_directory(TokenRegistration::availability(
        hs.client.clone(),
        token_registration::CONTINUWUITY,
    ));
    hs.set_registrar(
        &mut server,
        &mut access,
        shared_secret::SYNAPSE,
        token_registration::CONTINUWUITY,
    );
    if let Some(live) = hs.live_admin() {
        server.set_locks(Msc4323Locks::new(live, API.server));
    }
    Ok(server)
}
