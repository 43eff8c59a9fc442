//! `POST /introspect`: token introspection (RFC 7662), for resource servers that do not
//! verify tokens locally.
//!
//! The caller must be a registered confidential client (RFC 7662 §2.1 requires authorization;
//! a public client proves nothing): otherwise 401 `invalid_client`. It learns about a token
//! only when the token was issued to it, or when it is one of the server's resource servers
//! ([`AuthorizationServer::resource_servers`]); about any other client's token it hears
//! `{"active": false}`, as RFC 7662 §4 allows, so a self-registered client cannot find out
//! whose a token is. An active token answers
//! `active: true` with its `scope`, `client_id`, `username`, `sub`, `aud`, `iss`, `exp` (and
//! `iat`, `token_type: "Bearer"` for access tokens); anything else — unknown, expired, rotated,
//! revoked, forged — answers only `{"active": false}` (RFC 7662 §2.2). Failed client
//! authentication is throttled as at the token endpoint ([`throttle`](super::throttle)).

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};
use serde::Serialize;

use super::{
    AuthorizationServer,
    client_auth::authenticate_throttled,
    errors::{OAuthError, no_store_json},
    form::FormParams,
    inspection::{TokenKind, inspect},
    throttle::ClientIp,
};
use outpost_store::ClientId;

/// The introspection response (RFC 7662 §2.2). Everything but `active` is left out for an
/// inactive token.
#[derive(Debug, Default, Serialize)]
pub struct IntrospectionResponse {
    /// Whether the token may be used now.
    pub active: bool,
    /// Space-delimited scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The client the token was issued to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The user's login name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The user's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The resource the token is bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// The issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Expiry, Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issue time, Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// `Bearer` for access tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
}

/// `POST /introspect`.
pub async fn introspect(
    State(server): State<AuthorizationServer>,
    source: ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let form = FormParams::parse(&headers, &body)?;
    let client = authenticate_throttled(&server, source, &headers, &form).await?;
    if !client.is_confidential() {
        return Err(OAuthError::invalid_client(
            "introspection requires a confidential client",
        ));
    }
    let token = form.require("token")?;
    let response = match inspect(&server, token, server.now()).await? {
        Some(facts)
            if facts.active && may_see(&server, &client.record.client_id, &facts.client_id) =>
        {
            IntrospectionResponse {
                active: true,
                scope: (!facts.scope.is_empty()).then_some(facts.scope),
                client_id: Some(facts.client_id),
                username: facts.username,
                sub: Some(facts.sub),
                aud: Some(facts.aud),
                iss: Some(server.issuer.clone()),
                exp: Some(facts.exp),
                iat: facts.iat,
                token_type: (facts.kind == TokenKind::Access).then_some("Bearer"),
            }
        }
        _ => IntrospectionResponse::default(),
    };
    Ok(no_store_json(StatusCode::OK, &response))
}

/// Whether `caller` may learn about a token issued to `issued_to`: its own, or any as a
/// resource server.
fn may_see(server: &AuthorizationServer, caller: &ClientId, issued_to: &str) -> bool {
    caller.as_str() == issued_to || server.resource_servers.contains(caller)
}
