//! matrix-registration: the registration page service and its tokens (API generation detected).

use super::backend::{Access, Backend, Capability, Reach, Server};
use crate::ansible::Result;
use crate::api::matrix_registration::MatrixRegistration;

pub static BACKEND: Backend = Backend {
    name: "matrix_registration",
    server: "matrix-registration",
    reach: Reach::TokenService,
    offers: &[Capability::Tokens],
    limits_public_lookups: false,
    instead: &[],
    open,
};

fn open(access: Access) -> Result<Server> {
    let mut server = Server::new(&BACKEND);
    let client = access.connection(BACKEND.name)?.client()?;
    let secret = access.admin_secret.unwrap_or_default();
    server.set_tokens(MatrixRegistration::connect(client, &secret)?);
    Ok(server)
}
