//! Entry points for the fuzz targets in `fuzz/` (cargo feature `fuzzing`, off by default):
//! the form-body parser and the client-metadata rules, which are private to the crate.
//!
//! Not an API for users: hidden from the docs, absent without the feature, and changed
//! whenever the parsers change.

use outpost_store::{ClientId, ClientRecord};

use crate::{
    AuthorizationServer,
    register::{RegistrationRequest, validate_metadata},
};

/// The errors the form parser and [`registration`] answer with.
pub use crate::errors::OAuthError;
/// The form-body parser of the token, revocation and introspection endpoints
/// (`FormParams::parse`) and the query parser of `/authorize` (`FormParams::from_urlencoded`).
pub use crate::form::FormParams;

/// Checks `body` as `POST /register` does (the JSON, then the metadata rules) for a client
/// that would get `client_id`.
pub fn registration(
    server: &AuthorizationServer,
    body: &[u8],
    client_id: ClientId,
) -> Result<ClientRecord, OAuthError> {
    let request: RegistrationRequest = serde_json::from_slice(body)
        .map_err(|error| OAuthError::InvalidClientMetadata(error.to_string()))?;
    validate_metadata(server, request, client_id)
}
