//! `POST /register`: Dynamic Client Registration (RFC 7591).
//!
//! What MCP clients send (the Python SDK, MCP Inspector): `application_type: "native"`,
//! `token_endpoint_auth_method: "none"` and loopback `http` redirect URIs on any port.
//! Rules:
//!
//! - `redirect_uris` is required (only redirect-based grants exist here) and each URI is
//!   validated by [`RedirectUri::parse`] for the `application_type` (default `web`, per OpenID
//!   Connect Dynamic Registration §2); a refusal is `invalid_redirect_uri` (RFC 7591 §3.2.2).
//! - `grant_types` ⊆ {`authorization_code`, `refresh_token`} (default both), `response_types`
//!   ⊆ {`code`} (default `code`), `token_endpoint_auth_method` one of `none`,
//!   `client_secret_basic` (the RFC 7591 §2 default), `client_secret_post`; anything else is
//!   `invalid_client_metadata`.
//! - `scope` is cut down to the supported scopes (RFC 7591 §3.2.1 lets the server replace
//!   requested values; the response says what was registered).
//! - A confidential client gets a `client_secret`, returned once and stored as an argon2id
//!   hash, with `client_secret_expires_at: 0` (never).
//!
//! The answer is 201 with the registered metadata (RFC 7591 §3.2.1); members without a value
//! are left out, never `null`. Unknown request members are ignored (RFC 7591 §2).
//!
//! Registrations are throttled per source address (RFC 7591 §5 leaves abuse control to the
//! server): past the limit, 429 with `Retry-After` ([`throttle`](super::throttle)).

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};
use serde::{Deserialize, Serialize};

use super::{
    AuthorizationServer, client_name,
    errors::{OAuthError, no_store_json},
    form::declares,
    throttle::{ClientIp, REGISTRATIONS_PER_SOURCE, reserve_all},
};
use outpost_oauth::{
    redirect_uri::{self, RedirectUri},
    scope::Scope,
    secret::Secret,
};
use outpost_store::{ApplicationType, ClientId, ClientRecord, TokenEndpointAuthMethod};

const MAX_REDIRECT_URIS: usize = 20;
const MAX_URI_LEN: usize = 2048;
const MAX_NAME_LEN: usize = 200;
const GRANT_TYPES: [&str; 2] = ["authorization_code", "refresh_token"];

/// The registration request members Outpost reads (RFC 7591 §2).
#[derive(Debug, Default, Deserialize)]
pub struct RegistrationRequest {
    /// Redirect URIs.
    #[serde(default)]
    pub redirect_uris: Option<Vec<String>>,
    /// Display name.
    #[serde(default)]
    pub client_name: Option<String>,
    /// Grant types.
    #[serde(default)]
    pub grant_types: Option<Vec<String>>,
    /// Response types.
    #[serde(default)]
    pub response_types: Option<Vec<String>>,
    /// Token endpoint authentication method.
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    /// Space-delimited scopes.
    #[serde(default)]
    pub scope: Option<String>,
    /// `web` or `native`.
    #[serde(default)]
    pub application_type: Option<String>,
}

/// The registration response (RFC 7591 §3.2.1).
#[derive(Debug, Serialize)]
pub struct RegistrationResponse {
    /// The new client's id.
    pub client_id: String,
    /// The secret, for a confidential client; shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// When the id was issued (Unix seconds).
    pub client_id_issued_at: i64,
    /// `0`: the secret does not expire. Present only with a secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<i64>,
    /// The registered redirect URIs.
    pub redirect_uris: Vec<String>,
    /// The display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// The registered grant types.
    pub grant_types: Vec<String>,
    /// The registered response types.
    pub response_types: Vec<String>,
    /// The registered authentication method.
    pub token_endpoint_auth_method: &'static str,
    /// The registered scopes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// `web` or `native`.
    pub application_type: &'static str,
}

/// `POST /register`.
pub async fn register(
    State(server): State<AuthorizationServer>,
    ip: ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    // RFC 7591 §3.1: the metadata is sent as `application/json`. Checked before the budget:
    // another site's form (`text/plain`, no preflight) spends none of the browser's
    // registrations.
    if !declares(&headers, "application/json") {
        return Err(OAuthError::InvalidClientMetadata(
            "the body must be sent as application/json".into(),
        ));
    }
    // Every registration counts (even a refused one), so the attempt is given back only when
    // the server was too busy to hash its secret.
    let key = format!("register:source:{}", ip.key());
    let attempts = reserve_all(
        &*server.store.throttles,
        &[(&key, REGISTRATIONS_PER_SOURCE)],
        server.now(),
    )
    .await
    .map_err(|error| error.into_oauth("registrations from this address"))?;
    let request: RegistrationRequest = serde_json::from_slice(&body).map_err(|error| {
        OAuthError::InvalidClientMetadata(format!("the body is not valid metadata JSON: {error}"))
    })?;
    let client_id =
        ClientId::parse(&uuid::Uuid::new_v4().to_string()).map_err(OAuthError::internal)?;
    let mut record = validate_metadata(&server, request, client_id)?;
    let secret = if record.token_endpoint_auth_method == TokenEndpointAuthMethod::None {
        None
    } else {
        let secret = Secret::generate().map_err(OAuthError::internal)?;
        let hash = match server.argon2.hash(secret.expose().to_owned()).await {
            Ok(hash) => hash,
            Err(error) => {
                // Nothing was registered (the server was busy): the attempt does not count.
                attempts.give_back(&*server.store.throttles).await;
                return Err(error.into());
            }
        };
        record.client_secret_hash = Some(hash);
        Some(secret)
    };
    server.store.clients.insert(record.clone()).await?;
    let response = RegistrationResponse {
        client_id: record.client_id.to_string(),
        client_secret_expires_at: secret.as_ref().map(|_| 0),
        client_secret: secret.map(|s| s.expose().to_owned()),
        client_id_issued_at: record.created_at,
        redirect_uris: record.redirect_uris,
        client_name: record.client_name,
        grant_types: record.grant_types,
        response_types: record.response_types,
        token_endpoint_auth_method: record.token_endpoint_auth_method.as_str(),
        scope: record.scope,
        application_type: record.application_type.as_str(),
    };
    Ok(no_store_json(StatusCode::CREATED, &response))
}

/// Checks client metadata by the rules above and turns it into the record of `client_id`
/// (without a secret yet). Registration, metadata documents ([`cimd`](super::cimd)) and
/// pre-registered clients ([`preregistered`](super::preregistered)) share it.
pub fn validate_metadata(
    server: &AuthorizationServer,
    request: RegistrationRequest,
    client_id: ClientId,
) -> Result<ClientRecord, OAuthError> {
    let metadata = OAuthError::InvalidClientMetadata;
    let application_type = match request.application_type.as_deref() {
        None => ApplicationType::Web,
        Some(text) => ApplicationType::parse(text).map_err(|e| metadata(e.to_string()))?,
    };
    let redirect_uris = validate_redirect_uris(request.redirect_uris, application_type)?;

    let grant_types = request
        .grant_types
        .unwrap_or_else(|| GRANT_TYPES.map(str::to_owned).to_vec());
    if grant_types.is_empty()
        || grant_types
            .iter()
            .any(|g| !GRANT_TYPES.contains(&g.as_str()))
    {
        return Err(metadata(
            "grant_types may hold only authorization_code and refresh_token".into(),
        ));
    }
    let response_types = request
        .response_types
        .unwrap_or_else(|| vec!["code".to_owned()]);
    if response_types.is_empty() || response_types.iter().any(|r| r != "code") {
        return Err(metadata("response_types must be [\"code\"]".into()));
    }
    // RFC 7591 §2.1: response type `code` goes with the authorization_code grant.
    if !grant_types.iter().any(|g| g == "authorization_code") {
        return Err(metadata(
            "grant_types must include authorization_code".into(),
        ));
    }
    let method = match request.token_endpoint_auth_method.as_deref() {
        None => TokenEndpointAuthMethod::ClientSecretBasic,
        Some(text) => TokenEndpointAuthMethod::parse(text).map_err(|_| {
            metadata(format!(
                "unsupported token_endpoint_auth_method {text:?}: use none, \
                 client_secret_basic or client_secret_post"
            ))
        })?,
    };
    if request
        .client_name
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NAME_LEN)
    {
        return Err(metadata(format!(
            "client_name is longer than {MAX_NAME_LEN} characters"
        )));
    }
    if request
        .client_name
        .as_ref()
        .is_some_and(|n| n.chars().any(client_name::is_deceptive))
    {
        return Err(metadata(
            "client_name must not contain control or invisible formatting characters \
             (such as bidirectional overrides)"
                .into(),
        ));
    }
    Ok(ClientRecord {
        client_id,
        client_secret_hash: None,
        client_name: request.client_name.filter(|n| !n.is_empty()),
        redirect_uris,
        grant_types,
        response_types,
        token_endpoint_auth_method: method,
        application_type,
        scope: supported_scope(server, request.scope.as_deref())?,
        created_at: server.now(),
    })
}

fn validate_redirect_uris(
    uris: Option<Vec<String>>,
    application_type: ApplicationType,
) -> Result<Vec<String>, OAuthError> {
    let invalid = OAuthError::InvalidRedirectUri;
    let uris = uris.unwrap_or_default();
    if uris.is_empty() {
        return Err(invalid("redirect_uris is required".into()));
    }
    if uris.len() > MAX_REDIRECT_URIS {
        return Err(invalid(format!(
            "at most {MAX_REDIRECT_URIS} redirect URIs may be registered"
        )));
    }
    let kind = match application_type {
        ApplicationType::Web => redirect_uri::ApplicationType::Web,
        ApplicationType::Native => redirect_uri::ApplicationType::Native,
    };
    for uri in &uris {
        if uri.len() > MAX_URI_LEN {
            return Err(invalid(format!(
                "redirect URIs are limited to {MAX_URI_LEN} bytes"
            )));
        }
        RedirectUri::parse(uri, kind).map_err(|e| invalid(e.to_string()))?;
    }
    Ok(uris)
}

/// The requested scopes that this server supports, space-delimited; `None` when none remain.
fn supported_scope(
    server: &AuthorizationServer,
    requested: Option<&str>,
) -> Result<Option<String>, OAuthError> {
    let Some(requested) = requested else {
        return Ok(None);
    };
    let requested = Scope::parse(requested)
        .map_err(|e| OAuthError::InvalidClientMetadata(format!("invalid scope: {e}")))?;
    let supported = Scope::parse(&server.scopes_supported.join(" ")).unwrap_or_default();
    let kept = requested.intersection(&supported);
    Ok((!kept.is_empty()).then(|| kept.to_string()))
}
