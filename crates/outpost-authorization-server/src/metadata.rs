//! Authorization-server metadata (RFC 8414 §2), served at
//! `/.well-known/oauth-authorization-server` (RFC 8414 §3) and, because MCP clients also probe
//! it, at the OpenID discovery path `/.well-known/openid-configuration` — the same document.
//! Clients that read the OpenID path validate the document as OpenID Connect Discovery 1.0 §3
//! metadata (the TypeScript SDK's schema requires every member §3 marks REQUIRED), so it carries
//! `subject_types_supported` and `id_token_signing_alg_values_supported` too (RFC 8414 §7.1.2
//! registers both for OAuth metadata). No ID token is issued (`openid` is not a scope here):
//! they state what one would be — the same `sub` for every client, signed with the access
//! tokens' ES256 key. §3 also asks OpenID providers to offer RS256, which this server, no
//! OpenID provider, has no key for: a validator that insists on it still refuses the document.
//!
//! `issuer` is the configured string exactly: clients compare it byte for byte with the
//! resource metadata's `authorization_servers` and with the RFC 9207 `iss` parameter.
//! Optional members are left out rather than sent as `null`.
//! `client_id_metadata_document_supported` (draft-ietf-oauth-client-id-metadata-document §5,
//! MCP 2025-11-25) says whether `https` URL client ids are accepted ([`cimd`](super::cimd)).

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use super::AuthorizationServer;

/// The metadata document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthorizationServerMetadata {
    /// RFC 8414 §2 `issuer`.
    pub issuer: String,
    /// `{issuer}/authorize`.
    pub authorization_endpoint: String,
    /// `{issuer}/token`.
    pub token_endpoint: String,
    /// `{issuer}/register` (RFC 7591); left out when Dynamic Client Registration is off
    /// ([`AuthorizationServer::dynamic_client_registration`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    /// `{issuer}/revoke` (RFC 7009).
    pub revocation_endpoint: String,
    /// `{issuer}/introspect` (RFC 7662).
    pub introspection_endpoint: String,
    /// `{issuer}/jwks.json`.
    pub jwks_uri: String,
    /// `["code"]`.
    pub response_types_supported: Vec<&'static str>,
    /// `["query"]`: the code comes back in the redirect's query (absent, RFC 8414 §2 would
    /// mean `fragment` too).
    pub response_modes_supported: Vec<&'static str>,
    /// `["authorization_code", "refresh_token"]`.
    pub grant_types_supported: Vec<&'static str>,
    /// `["public"]` (OpenID Connect Discovery §3): a user's `sub` is the same for every client.
    pub subject_types_supported: Vec<&'static str>,
    /// `["ES256"]` (OpenID Connect Discovery §3): the algorithm of the signing keys at
    /// `jwks_uri`.
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    /// `["S256"]` (OAuth 2.1: `plain` refused).
    pub code_challenge_methods_supported: Vec<&'static str>,
    /// `none`, `client_secret_basic`, `client_secret_post`.
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    /// Same methods as the token endpoint (RFC 8414 §2).
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    /// Confidential methods only: introspection is for resource servers with a secret.
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    /// The configured scopes; left out when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// RFC 9207: every authorization response carries `iss`.
    pub authorization_response_iss_parameter_supported: bool,
    /// Client ID Metadata Documents: URL client ids are fetched (unless turned off).
    pub client_id_metadata_document_supported: bool,
}

const AUTH_METHODS: [&str; 3] = ["none", "client_secret_basic", "client_secret_post"];

impl AuthorizationServerMetadata {
    /// The document for `server`.
    pub fn for_server(server: &AuthorizationServer) -> Self {
        Self {
            issuer: server.issuer.clone(),
            authorization_endpoint: server.endpoint("authorize"),
            token_endpoint: server.endpoint("token"),
            registration_endpoint: server
                .dynamic_client_registration
                .then(|| server.endpoint("register")),
            revocation_endpoint: server.endpoint("revoke"),
            introspection_endpoint: server.endpoint("introspect"),
            jwks_uri: server.endpoint("jwks.json"),
            response_types_supported: vec!["code"],
            response_modes_supported: vec!["query"],
            grant_types_supported: vec!["authorization_code", "refresh_token"],
            subject_types_supported: vec!["public"],
            id_token_signing_alg_values_supported: vec!["ES256"],
            code_challenge_methods_supported: vec!["S256"],
            token_endpoint_auth_methods_supported: AUTH_METHODS.to_vec(),
            revocation_endpoint_auth_methods_supported: AUTH_METHODS.to_vec(),
            introspection_endpoint_auth_methods_supported: AUTH_METHODS[1..].to_vec(),
            scopes_supported: server.scopes_supported.clone(),
            authorization_response_iss_parameter_supported: true,
            client_id_metadata_document_supported: server.client_metadata.config().enabled,
        }
    }
}

/// `GET /.well-known/oauth-authorization-server` and `/.well-known/openid-configuration`.
pub async fn metadata(State(server): State<AuthorizationServer>) -> Response {
    let mut response = Json(AuthorizationServerMetadata::for_server(&server)).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}
