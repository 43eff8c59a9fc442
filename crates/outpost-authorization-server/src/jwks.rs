//! `GET /jwks.json`: the public keys that verify access tokens (RFC 7517 §5), named in the
//! metadata as `jwks_uri` (RFC 8414 §2). It lists the active key and every retired key whose
//! tokens may still be live, so a cache of a few minutes never misses a key that signs.

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};

use super::AuthorizationServer;

/// How long clients may cache the key set: short against the retired-key window (at least
/// an access-token lifetime).
const CACHE_CONTROL: &str = "public, max-age=300";

/// `GET /jwks.json`.
pub async fn jwks(State(server): State<AuthorizationServer>) -> Response {
    let set = server.keyring().jwks(server.now());
    let mut response = Json(set).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    response
}
