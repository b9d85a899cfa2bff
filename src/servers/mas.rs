//! Matrix Authentication Service: users, passwords, the admin flag, e-mail addresses, the
//! account lifecycle (deactivation, reactivation, locks) and registration tokens through its
//! admin API, with a token of its own obtained for the task.

use super::backend::{Access, Backend, Capability, Reach, Server};
use crate::ansible::Result;
use crate::api::mas_session::MasSession;
use crate::api::mas_tokens::MasTokens;
use crate::api::mas_users::{MasAdmin, MasSite};
use crate::fail;
use std::sync::Arc;

pub static BACKEND: Backend = Backend {
    name: "mas",
    server: "Matrix Authentication Service",
    reach: Reach::Mas,
    offers: &[
        Capability::Register,
        Capability::AdminFlag,
        Capability::Tokens,
        Capability::Lifecycle,
        Capability::Locks,
        Capability::Records,
        Capability::Passwords,
    ],
    limits_public_lookups: false,
    instead: &[],
    open,
};

fn open(access: Access) -> Result<Server> {
    let mut server = Server::new(&BACKEND);
    let client = access.connection("mas")?.client()?;
    let creds = access
        .mas
        .as_ref()
        .ok_or_else(|| fail!("backend mas needs MAS admin credentials"))?;
    let session = Arc::new(MasSession::open(client, creds)?);
    server.sessions.mas = Some(session.clone());
    let site = MasSite::new(session.clone());
    let admin = MasAdmin::new(site.clone(), access.skip_password_check);
    server.set_registrar(admin.clone());
    server.set_directory(admin.clone());
    server.set_listing(admin.clone());
    server.set_passwords(admin.clone());
    server.set_admin_flags(admin.clone());
    server.set_lifecycle(admin.clone());
    server.set_locks(admin.clone());
    server.set_records(admin.clone());
    server.set_emails(admin);
    server.set_tokens(MasTokens::new(session));
    server.set_identity(site);
    Ok(server)
}
