//! What the token endpoint hands out: an access token (an RFC 9068 JWT signed with the
//! keyring's active key) and, when the client may refresh, a new opaque refresh token, in the
//! RFC 6749 §5.1 response.
//!
//! Every access token carries only what its user may be granted when it is issued
//! ([`scope_for_user`]), looked up through the server's user directory ([`grant_user`]).
//!
//! Every access token is bound to one grant: `aud` is the grant's resource (RFC 8707 §2), `sub`
//! the user's stable id, `gid` the grant id, so that revoking the grant (RFC 7009) reaches the
//! access tokens too wherever they are checked.

use std::time::Duration;

use serde::Serialize;

use super::{AuthorizationServer, errors::OAuthError, users::DirectoryUser};
use outpost_oauth::{
    access_token::{self, AccessClaims},
    scope::Scope,
    secret::Secret,
};
use outpost_store::{GrantRecord, TokenHash, token_hash};

/// The successful token response (RFC 6749 §5.1). Optional members are left out, never `null`.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    /// The JWT.
    pub access_token: String,
    /// Always `Bearer` (RFC 6750).
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The new refresh token, when the client may refresh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The scope of the access token, when not empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// A refresh token fresh from the RNG, with its stored hash and expiry.
pub struct MintedRefreshToken {
    /// The token, sent to the client once.
    pub secret: Secret,
    /// Its SHA-256, as stored.
    pub hash: TokenHash,
    /// Its expiry, Unix seconds.
    pub expires_at: i64,
}

impl MintedRefreshToken {
    /// A new refresh token issued at `now`.
    pub fn generate(server: &AuthorizationServer, now: i64) -> Result<Self, OAuthError> {
        let secret = Secret::generate().map_err(OAuthError::internal)?;
        let hash = token_hash(secret.expose());
        Ok(Self {
            secret,
            hash,
            expires_at: now.saturating_add(seconds(server.refresh_token_lifetime)),
        })
    }
}

/// The resource a grant's tokens are bound to: the one it recorded, else the default.
pub fn grant_resource<'a>(server: &'a AuthorizationServer, grant: &'a GrantRecord) -> &'a str {
    grant
        .resource
        .as_deref()
        .unwrap_or(server.default_resource.as_str())
}

/// The user `grant` was issued to, as the server's user directory knows them now;
/// `invalid_grant` when they are gone (deleted from the store or the directory).
pub async fn grant_user(
    server: &AuthorizationServer,
    grant: &GrantRecord,
) -> Result<DirectoryUser, OAuthError> {
    server
        .users()
        .find(grant.user_id)
        .await?
        .ok_or_else(|| OAuthError::InvalidGrant("the user of this grant no longer exists".into()))
}

/// What of `scope` (a grant's, or a narrower one the client asked for) `user` may be granted
/// now: the per-user scope policy ([`crate::users`]), applied on every issue, so that a user
/// whose allowed scopes shrank gets the narrowed scope on the next refresh. Nothing left:
/// `invalid_scope` when the client named the scope, else `invalid_grant` (the grant gives this
/// user nothing any more; the client must ask again).
pub fn scope_for_user(
    server: &AuthorizationServer,
    scope: &Scope,
    user: &DirectoryUser,
    client_named_it: bool,
) -> Result<Scope, OAuthError> {
    let allowed = scope.intersection(&user.grantable(&server.default_scope));
    if !allowed.is_empty() {
        return Ok(allowed);
    }
    let message = format!("this user may no longer be granted any of \"{scope}\"");
    Err(if client_named_it {
        OAuthError::InvalidScope(message)
    } else {
        OAuthError::InvalidGrant(message)
    })
}

/// Signs an access token for `grant` of `user` with `scope` (the grant's or a narrower one) at
/// `now`.
pub fn access_token(
    server: &AuthorizationServer,
    grant: &GrantRecord,
    user: &DirectoryUser,
    scope: &Scope,
    now: i64,
) -> Result<String, OAuthError> {
    let claims = AccessClaims::new(
        &server.issuer,
        &grant.user_id.to_string(),
        grant_resource(server, grant),
        grant.client_id.as_str(),
        scope.clone(),
        now,
        server.access_token_lifetime,
    )
    .map_err(OAuthError::internal)?
    .with_username(user.username.as_str())
    .with_grant_id(grant.grant_id.to_string());
    access_token::issue(&server.keyring(), &claims).map_err(OAuthError::internal)
}

/// The RFC 6749 §5.1 body for `access_token`, `refresh_token` and `scope`.
pub fn response(
    server: &AuthorizationServer,
    access_token: String,
    refresh_token: Option<MintedRefreshToken>,
    scope: &Scope,
) -> TokenResponse {
    TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: server.access_token_lifetime.as_secs(),
        refresh_token: refresh_token.map(|t| t.secret.expose().to_owned()),
        scope: (!scope.is_empty()).then(|| scope.to_string()),
    }
}

/// A duration as whole seconds in `i64`, saturating.
pub fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}
