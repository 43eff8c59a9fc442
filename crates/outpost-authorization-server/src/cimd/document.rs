//! A fetched Client ID Metadata Document, checked and turned into a [`ClientRecord`].
//!
//! draft-ietf-oauth-client-id-metadata-document §4: the document is a JSON object of RFC 7591
//! client metadata whose `client_id` equals the URL it was fetched from (simple string
//! comparison); it MUST NOT carry `client_secret` or `client_secret_expires_at` (the document
//! is public). Such a client cannot hold a shared secret, and Outpost does not support
//! `private_key_jwt`, so `token_endpoint_auth_method` must be `none` (the default when absent,
//! rather than RFC 7591's `client_secret_basic`). Everything else — redirect URIs per
//! `application_type`, grant and response types, the name's length, the scopes — goes through
//! the rules of Dynamic Client Registration (`register::validate_metadata`).

use serde_json::Value;

use super::{CimdError, ClientIdUrl};
use crate::{
    AuthorizationServer,
    register::{self, RegistrationRequest},
};
use outpost_store::{ClientId, ClientRecord};

/// Checks `body` as the document of `url` and returns the client it describes.
pub fn client_from_document(
    server: &AuthorizationServer,
    url: &ClientIdUrl,
    body: &[u8],
) -> Result<ClientRecord, CimdError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| CimdError::NotJson(e.to_string()))?;
    let Value::Object(members) = &value else {
        return Err(CimdError::NotJson(
            "the document is not a JSON object".into(),
        ));
    };
    match members.get("client_id") {
        Some(Value::String(id)) if id == url.as_str() => {}
        Some(Value::String(id)) => {
            return Err(CimdError::Metadata(format!(
                "the document's client_id {id:?} is not the URL it was fetched from"
            )));
        }
        _ => return Err(CimdError::Metadata("the document has no client_id".into())),
    }
    for secret in ["client_secret", "client_secret_expires_at"] {
        if members.contains_key(secret) {
            return Err(CimdError::Metadata(format!(
                "a public metadata document must not contain {secret}"
            )));
        }
    }
    let mut request: RegistrationRequest =
        serde_json::from_value(value).map_err(|e| CimdError::Metadata(e.to_string()))?;
    match request.token_endpoint_auth_method.as_deref() {
        None | Some("none") => request.token_endpoint_auth_method = Some("none".into()),
        Some(other) => {
            return Err(CimdError::Metadata(format!(
                "token_endpoint_auth_method {other:?} is not supported for metadata-document \
                 clients: use none"
            )));
        }
    }
    let client_id =
        ClientId::parse(url.as_str()).map_err(|e| CimdError::Metadata(e.to_string()))?;
    register::validate_metadata(server, request, client_id)
        .map_err(|e| CimdError::Metadata(e.description().to_owned()))
}
