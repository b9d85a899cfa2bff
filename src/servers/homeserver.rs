//! What every homeserver with a client-server API shares when it is opened: its client, the
//! admin session (logged in once, logged out at the end), public profile look-ups, and its name
//! (given, or from the admin's user ID, or from its signing keys).

use super::backend::{Access, AdminAccess, Server};
use crate::ansible::Result;
use crate::api::admin_session::AdminSession;
use crate::api::profiles::{server_name_from_keys, ProfileDirectory};
use crate::api::shared_secret::{RegistrationRules, SharedSecretRegistration};
use crate::api::token_registration::{TokenRegistration, TokenRules};
use crate::capabilities::Identity;
use crate::client::Client;
use crate::matrix::NameSource;
use std::sync::Arc;

/// An opened homeserver, for a backend's `open` to bind its own APIs to.
pub struct Homeserver {
    pub client: Client,
    /// The admin session, where credentials were given (live or not).
    pub admin: Option<Arc<AdminSession>>,
}

impl Homeserver {
    /// Opens the client and the admin session, and fills in what every homeserver serves: public
    /// look-ups and its name.
    pub fn open(server: &mut Server, access: &Access) -> Result<Homeserver> {
        let client = access.connection(server.backend.name)?.client()?;
        let admin = access
            .admin
            .as_ref()
            .map(|c| AdminSession::open(client.clone(), c))
            .transpose()?
            .map(Arc::new);
        server.admin = match &admin {
            None => AdminAccess::None,
            Some(s) if s.is_live() => AdminAccess::Live,
            Some(_) => AdminAccess::NotLoggedIn,
        };
        server.set_public_directory(ProfileDirectory::new(
            client.clone(),
            admin.as_deref().map(AdminSession::token),
        ));
        server.set_identity(HomeserverIdentity {
            client: client.clone(),
            admin: admin.clone().filter(|s| s.is_live()),
        });
        server.sessions.admin = admin.clone();
        Ok(Homeserver { client, admin })
    }

    /// The admin session where it can act (check mode never logs in).
    pub fn live_admin(&self) -> Option<Arc<AdminSession>> {
        self.admin.clone().filter(|s| s.is_live())
    }

    /// The registrar: shared-secret registration (with the server's `shared_secret` rules)
    /// when the secret is given, else client-server registration with the registration token
    /// when that is given (any server with token registration enabled).
    pub fn set_registrar(
        &self,
        server: &mut Server,
        access: &mut Access,
        shared_secret: RegistrationRules,
        token: TokenRules,
    ) {
        if let Some(secret) = access.shared_secret.take() {
            server.set_registrar(SharedSecretRegistration::new(
                self.client.clone(),
                secret,
                shared_secret,
            ));
        } else if let Some(t) = access.registration_token.take() {
            server.set_registrar(TokenRegistration::new(self.client.clone(), t, token));
        }
    }
}

/// A homeserver's name: the `server_name` option, else the admin's user ID (`whoami`), else the
/// server's signing keys where it serves them (one small GET: with the name known, an answer
/// about an account on another server is caught before anything more is done).
struct HomeserverIdentity {
    client: Client,
    admin: Option<Arc<AdminSession>>,
}

impl Identity for HomeserverIdentity {
    fn server_name(&self, given: Option<&str>) -> Result<Option<(String, NameSource)>> {
        Ok(match (given, &self.admin) {
            (Some(s), _) => Some((s.to_string(), NameSource::Option)),
            (None, Some(s)) => Some((s.server_name()?, NameSource::Whoami)),
            (None, None) => {
                server_name_from_keys(&self.client)?.map(|s| (s, NameSource::ServerKeys))
            }
        })
    }
}
