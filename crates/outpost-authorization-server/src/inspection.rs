//! Looking a presented token up, for revocation (RFC 7009) and introspection (RFC 7662).
//!
//! A token is either an access token — a JWT, checked with the keyring (signature, issuer,
//! expiry) and against its grant (`gid`) — or an opaque refresh token, found by its SHA-256.
//! The `token_type_hint` only orders a search (RFC 7009 §2.1, RFC 7662 §2.1); the two shapes
//! cannot be confused (a JWT has dots, a refresh token none), so the hint is not needed.
//!
//! An access token is checked for any audience: the authorization server issued it for some
//! resource and reports which (`aud`); it is the resource server that insists on its own.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Deserialize;

use super::{AuthorizationServer, errors::OAuthError, issuance::grant_resource};
use outpost_oauth::access_token;
use outpost_store::{GrantId, token_hash};

/// Which kind of token was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A JWT access token.
    Access,
    /// An opaque refresh token.
    Refresh,
}

/// What is known of a token this server issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFacts {
    /// Access or refresh.
    pub kind: TokenKind,
    /// Whether it may be used now: unexpired, not rotated, its grant not revoked.
    pub active: bool,
    /// The grant it belongs to, if known.
    pub grant_id: Option<GrantId>,
    /// The client it was issued to.
    pub client_id: String,
    /// The user's id.
    pub sub: String,
    /// The user's login name, when known.
    pub username: Option<String>,
    /// Space-delimited scope.
    pub scope: String,
    /// The resource it is bound to.
    pub aud: String,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Issue time, Unix seconds (access tokens only).
    pub iat: Option<i64>,
}

/// Finds `token` among the tokens this server issued; `None` when it is not one of them (or
/// is malformed, forged or signed by a key no longer kept).
pub async fn inspect(
    server: &AuthorizationServer,
    token: &str,
    now: i64,
) -> Result<Option<TokenFacts>, OAuthError> {
    if token.contains('.') {
        inspect_access_token(server, token, now).await
    } else {
        inspect_refresh_token(server, token, now).await
    }
}

#[derive(Deserialize)]
struct AudienceOnly {
    aud: String,
}

/// The unverified `aud` of a JWT, to verify it against.
fn claimed_audience(token: &str) -> Option<String> {
    let payload = URL_SAFE_NO_PAD.decode(token.split('.').nth(1)?).ok()?;
    serde_json::from_slice::<AudienceOnly>(&payload)
        .ok()
        .map(|a| a.aud)
}

async fn inspect_access_token(
    server: &AuthorizationServer,
    token: &str,
    now: i64,
) -> Result<Option<TokenFacts>, OAuthError> {
    let Some(audience) = claimed_audience(token) else {
        return Ok(None);
    };
    let verified = access_token::verify(&server.keyring(), token, &server.issuer, &audience, now);
    let Ok(claims) = verified else {
        return Ok(None);
    };
    let grant_id = claims
        .grant_id
        .as_deref()
        .and_then(|id| GrantId::parse(id).ok());
    let revoked = match grant_id {
        Some(id) => server.store.grants.is_revoked(id).await?,
        None => false,
    };
    Ok(Some(TokenFacts {
        kind: TokenKind::Access,
        active: !revoked && now < claims.exp,
        grant_id,
        client_id: claims.client_id,
        sub: claims.sub,
        username: claims.username,
        scope: claims.scope.to_string(),
        aud: claims.aud,
        exp: claims.exp,
        iat: Some(claims.iat),
    }))
}

async fn inspect_refresh_token(
    server: &AuthorizationServer,
    token: &str,
    now: i64,
) -> Result<Option<TokenFacts>, OAuthError> {
    let grants = &server.store.grants;
    let Some(record) = grants.get_refresh_token(&token_hash(token)).await? else {
        return Ok(None);
    };
    let Some(grant) = grants.get_grant(record.grant_id).await? else {
        return Ok(None);
    };
    let username = server
        .users()
        .find(grant.user_id)
        .await?
        .map(|user| user.username);
    let active = record.rotated_at.is_none()
        && grant.revoked_at.is_none()
        && now < record.expires_at
        && username.is_some();
    Ok(Some(TokenFacts {
        kind: TokenKind::Refresh,
        active,
        grant_id: Some(grant.grant_id),
        client_id: grant.client_id.to_string(),
        sub: grant.user_id.to_string(),
        username,
        scope: grant.scope.clone(),
        aud: grant_resource(server, &grant).to_owned(),
        exp: record.expires_at,
        iat: None,
    }))
}
