//! `POST /token`: the token endpoint (RFC 6749 §3.2).
//!
//! - `authorization_code` (RFC 6749 §4.1.3): the code is spent in the store once, atomically;
//!   a replay gets `invalid_grant` and revokes the grant the first use started (§4.1.2). The
//!   code must have been issued to this client; a `redirect_uri` sent must be the one the code
//!   was sent to, and must be sent if the authorization request named one (§4.1.3; a client
//!   with one registered URI may leave it out of both). The PKCE `code_verifier` must hash to
//!   the code's S256 challenge (RFC 7636 §4.6): a verifier that cannot (not 43–128 unreserved
//!   characters) is a wrong one, `invalid_grant`, and spends the code like any other. A
//!   `resource` (RFC 8707 §2.2), if sent, must be the one the code is bound to
//!   (`invalid_target` otherwise). Success starts a grant — a refresh-token family.
//! - `refresh_token` (RFC 6749 §6): the token must belong to this client; it is rotated on
//!   every use (OAuth 2.1 §4.3.1), and presenting a rotated one revokes the whole family —
//!   unless the server allows a race window ([`AuthorizationServer::refresh_race_window`],
//!   none by default) and it comes within it of the first rotation: a client that refreshes
//!   from two places at once (parallel requests meeting one expired access token) then gets a
//!   second successor in the same family instead of losing both. A `scope` may narrow the
//!   grant's scope, never widen it (`invalid_scope`); the `resource` must stay the grant's.
//!   A rotation whose answer the store lost (a timeout) is asked after rather than answered
//!   `503`: a client told to retry would present a rotated token and lose the grant.
//!   The user is looked up again in the server's user directory ([`crate::users`]): a user
//!   who is gone gets `invalid_grant`, and the scope is narrowed to what the user may be
//!   granted now (their allowed scopes may have shrunk since).
//!
//! Errors are 400 with an RFC 6749 §5.2 body (`invalid_grant` for every bad code or refresh
//! token), except `invalid_client`, 401. Answers carry `Cache-Control: no-store` (§5.1).
//! Repeated `invalid_client` failures (wrong client secrets) from one source are throttled
//! ([`throttle`]): the attempt is reserved before the client secret is verified, and given
//! back unless the request failed that way. Wrong codes and refresh tokens are not counted.

use std::time::Duration;

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};

use super::{
    AuthorizationServer,
    client_auth::{AuthenticatedClient, authenticate},
    counters,
    errors::{OAuthError, no_store_json},
    form::FormParams,
    issuance::{
        self, MintedRefreshToken, TokenResponse, grant_resource, grant_user, scope_for_user,
    },
    throttle::{self, ClientIp},
};
use outpost_oauth::{
    pkce::{self, CodeChallenge, CodeVerifier},
    scope::Scope,
};
use outpost_store::{
    GrantId, GrantRecord, NewRefreshToken, Redemption, RefreshTokenRecord, Rotation, StoreError,
    TokenHash, token_hash,
};

/// `POST /token`. Past the failure limits of [`throttle`], 429 with
/// `Retry-After` before anything is checked (when the peer address is known).
pub async fn token(
    State(server): State<AuthorizationServer>,
    source: ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let form = FormParams::parse(&headers, &body)?;
    let attempts = throttle::reserve_client_attempt(&server, source, &headers, &form).await?;
    let outcome = exchange(&server, &headers, &form).await;
    throttle::settle(&server, attempts, &outcome).await;
    Ok(no_store_json(StatusCode::OK, &outcome?))
}

/// Authenticates the client and runs its grant.
async fn exchange(
    server: &AuthorizationServer,
    headers: &HeaderMap,
    form: &FormParams,
) -> Result<TokenResponse, OAuthError> {
    let grant_type = form.require("grant_type")?;
    if !matches!(grant_type, "authorization_code" | "refresh_token") {
        return Err(OAuthError::UnsupportedGrantType(format!(
            "grant_type {grant_type:?} is not supported: use authorization_code or refresh_token"
        )));
    }
    let client = authenticate(server, headers, form).await?;
    if !client.record.grant_types.iter().any(|g| g == grant_type) {
        return Err(OAuthError::UnauthorizedClient(format!(
            "this client did not register the {grant_type} grant"
        )));
    }
    if grant_type == "authorization_code" {
        let issued = authorization_code(server, &client, form).await?;
        counters::token_issued();
        Ok(issued)
    } else {
        let refreshed = refresh_token(server, &client, form).await?;
        counters::token_refreshed();
        Ok(refreshed)
    }
}

async fn authorization_code(
    server: &AuthorizationServer,
    client: &AuthenticatedClient,
    form: &FormParams,
) -> Result<TokenResponse, OAuthError> {
    let code = form.require("code")?;
    let redirect_uri = form.get("redirect_uri");
    let verifier = form.require("code_verifier")?;
    let now = server.now();

    // Spent before any check: whatever follows, this code is used up (RFC 6749 §4.1.2).
    let spent = || OAuthError::InvalidGrant("the code is invalid, expired or already used".into());
    let grant_id = GrantId::random();
    let record = match server
        .store
        .codes
        .redeem(&token_hash(code), grant_id, now)
        .await?
    {
        Redemption::Redeemed(record) => record,
        Redemption::Replayed { grant_id: issued } => {
            // RFC 6749 §4.1.2: a code used twice may have been stolen; what its first use
            // obtained is revoked (a grant that was never created is simply not found).
            match server.store.grants.revoke_grant(issued, now).await {
                Ok(()) => {
                    tracing::warn!(grant = %issued, "authorization code replayed: grant revoked")
                }
                Err(StoreError::NotFound(_)) => {}
                Err(other) => return Err(other.into()),
            }
            return Err(spent());
        }
        Redemption::Invalid => return Err(spent()),
    };
    if record.client_id != client.record.client_id {
        return Err(OAuthError::InvalidGrant(
            "the code was issued to another client".into(),
        ));
    }
    // RFC 6749 §4.1.3: identical to the authorization request's redirect_uri, and required
    // when that request had one.
    match redirect_uri {
        Some(sent) if sent != record.redirect_uri => {
            return Err(OAuthError::InvalidGrant(
                "redirect_uri differs from the authorization request's".into(),
            ));
        }
        None if record.redirect_uri_sent => {
            return Err(OAuthError::InvalidRequest(
                "redirect_uri is required: the authorization request had one".into(),
            ));
        }
        _ => {}
    }
    let challenge =
        CodeChallenge::parse(Some(&record.code_challenge)).map_err(OAuthError::internal)?;
    let mismatch =
        || OAuthError::InvalidGrant("code_verifier does not match the code_challenge".into());
    let verifier = CodeVerifier::parse(verifier).map_err(|_| mismatch())?;
    pkce::verify(&challenge, &verifier).map_err(|_| mismatch())?;
    let resource = record
        .resource
        .clone()
        .unwrap_or_else(|| server.default_resource.clone());
    check_resource(server, form, &resource)?;
    let scope = Scope::parse(&record.scope).map_err(OAuthError::internal)?;

    let grant = GrantRecord {
        grant_id,
        user_id: record.user_id,
        client_id: record.client_id,
        scope: record.scope,
        resource: Some(resource),
        created_at: now,
        revoked_at: None,
    };
    // The user's scopes may have shrunk since the consent page.
    let user = grant_user(server, &grant).await?;
    let scope = scope_for_user(server, &scope, &user, false)?;
    server.store.grants.create_grant(grant.clone()).await?;
    let access_token = issuance::access_token(server, &grant, &user, &scope, now)?;
    let refresh = if client
        .record
        .grant_types
        .iter()
        .any(|g| g == "refresh_token")
    {
        let minted = MintedRefreshToken::generate(server, now)?;
        server
            .store
            .grants
            .insert_refresh_token(RefreshTokenRecord {
                token_hash: minted.hash.clone(),
                grant_id: grant.grant_id,
                expires_at: minted.expires_at,
                rotated_at: None,
            })
            .await?;
        Some(minted)
    } else {
        None
    };
    Ok(issuance::response(server, access_token, refresh, &scope))
}

async fn refresh_token(
    server: &AuthorizationServer,
    client: &AuthenticatedClient,
    form: &FormParams,
) -> Result<TokenResponse, OAuthError> {
    let presented = token_hash(form.require("refresh_token")?);
    let invalid = || OAuthError::InvalidGrant("the refresh token is invalid".into());
    let record = server
        .store
        .grants
        .get_refresh_token(&presented)
        .await?
        .ok_or_else(invalid)?;
    let grant = server
        .store
        .grants
        .get_grant(record.grant_id)
        .await?
        .ok_or_else(invalid)?;
    // RFC 6749 §6: the token must have been issued to the authenticated client. Checked
    // before rotating, so another client cannot burn (or revoke) someone else's family.
    if grant.client_id != client.record.client_id {
        return Err(invalid());
    }
    let granted = Scope::parse(&grant.scope).map_err(OAuthError::internal)?;
    let now = server.now();
    // No window: every token rotated before is a replay, even one rotated this second.
    let concurrent_since = match server.refresh_race_window.as_secs() {
        0 => i64::MAX,
        window => now.saturating_sub(i64::try_from(window).unwrap_or(i64::MAX)),
    };
    let usable = record
        .rotated_at
        .is_none_or(|rotated| rotated >= concurrent_since);
    // A usable token's request is checked before it is spent; a replayed one goes straight to
    // `rotate`, which detects the reuse and revokes the family.
    // The user is looked up before the token is spent: a user who is gone, or who may no
    // longer have any of the scope, is refused with the token left as it was.
    let (scope, user) = if usable && grant.revoked_at.is_none() {
        check_resource(server, form, grant_resource(server, &grant))?;
        let requested = narrowed_scope(form, &granted)?;
        let user = grant_user(server, &grant).await?;
        let scope = scope_for_user(server, &requested, &user, form.get("scope").is_some())?;
        (scope, Some(user))
    } else {
        (granted, None)
    };

    let minted = MintedRefreshToken::generate(server, now)?;
    let successor = NewRefreshToken {
        token_hash: minted.hash.clone(),
        expires_at: minted.expires_at,
    };
    match rotation(server, &presented, successor, now, concurrent_since).await? {
        Rotation::Rotated { grant, .. } => {
            let user = match user {
                Some(user) => user,
                None => grant_user(server, &grant).await?,
            };
            let access_token = issuance::access_token(server, &grant, &user, &scope, now)?;
            Ok(issuance::response(
                server,
                access_token,
                Some(minted),
                &scope,
            ))
        }
        Rotation::Reused { grant_id } => {
            tracing::warn!(%grant_id, "refresh token reused: grant revoked");
            Err(OAuthError::InvalidGrant(
                "the refresh token was already used; the grant is revoked".into(),
            ))
        }
        Rotation::Revoked { .. } => Err(OAuthError::InvalidGrant(
            "the grant of this refresh token is revoked".into(),
        )),
        Rotation::Expired => Err(OAuthError::InvalidGrant(
            "the refresh token has expired".into(),
        )),
        Rotation::Unknown => Err(invalid()),
    }
}

/// How long a refresh whose rotation the store may have made without its answer arriving (a
/// timeout) keeps asking the store which it was, before answering `503`.
const UNTOLD_ROTATION_DEADLINE: Duration = Duration::from_secs(3);

/// The rotation of `presented` for `successor` ([`GrantStore::rotate`]), told even when the
/// store's answer is lost. A store that times out may still have rotated the token; the
/// client, told to retry, would then present a rotated token — a replay, which revokes the
/// grant and signs the user out for a slow reply. So when the store is unavailable, this
/// asks it again (for up to [`UNTOLD_ROTATION_DEADLINE`]) whether `successor` was stored —
/// the rotation happened: the client gets it — and otherwise rotates now.
///
/// [`GrantStore::rotate`]: outpost_store::GrantStore::rotate
async fn rotation(
    server: &AuthorizationServer,
    presented: &TokenHash,
    successor: NewRefreshToken,
    now: i64,
    concurrent_since: i64,
) -> Result<Rotation, StoreError> {
    let grants = &server.store.grants;
    let first = grants
        .rotate(presented, successor.clone(), now, concurrent_since)
        .await;
    let Err(StoreError::Unavailable(why)) = first else {
        return first;
    };
    // Debug: during an outage every refresh comes here, and the 503 is logged where answered.
    tracing::debug!(%why, "a refresh token's rotation went untold: asking the store how it went");
    let deadline = tokio::time::Instant::now() + UNTOLD_ROTATION_DEADLINE;
    let mut pause = Duration::from_millis(100);
    loop {
        let told = match grants.get_refresh_token(&successor.token_hash).await {
            Ok(Some(stored)) => rotated_already(server, stored).await,
            Ok(None) => {
                grants
                    .rotate(presented, successor.clone(), now, concurrent_since)
                    .await
            }
            Err(error) => Err(error),
        };
        match told {
            Err(StoreError::Unavailable(_)) if tokio::time::Instant::now() + pause < deadline => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            told => return told,
        }
    }
}

/// The rotation that stored `successor`, as the store would have told it (its grant revoked
/// since: [`Rotation::Revoked`]).
async fn rotated_already(
    server: &AuthorizationServer,
    successor: RefreshTokenRecord,
) -> Result<Rotation, StoreError> {
    let grant_id = successor.grant_id;
    match server.store.grants.get_grant(grant_id).await? {
        Some(grant) if grant.revoked_at.is_none() => Ok(Rotation::Rotated { grant, successor }),
        Some(_) => Ok(Rotation::Revoked { grant_id }),
        None => Ok(Rotation::Unknown),
    }
}

/// RFC 8707 §2.2: a `resource` on the token request must be the grant's (or, when the grant's
/// is the default resource, one of its aliases).
fn check_resource(
    server: &AuthorizationServer,
    form: &FormParams,
    bound: &str,
) -> Result<(), OAuthError> {
    if form.resources_differ() {
        return Err(OAuthError::InvalidTarget(format!(
            "one resource per request: this grant is bound to the resource {bound}"
        )));
    }
    match form.get("resource") {
        Some(resource) if resource != bound && server.resource_named(resource) != Some(bound) => {
            Err(OAuthError::InvalidTarget(format!(
                "this grant is bound to the resource {bound}"
            )))
        }
        _ => Ok(()),
    }
}

/// RFC 6749 §6: a requested scope must not exceed the granted one; absent means all of it.
fn narrowed_scope(form: &FormParams, granted: &Scope) -> Result<Scope, OAuthError> {
    let Some(requested) = form.get("scope") else {
        return Ok(granted.clone());
    };
    let requested = Scope::parse(requested).map_err(|e| OAuthError::InvalidScope(e.to_string()))?;
    if !granted.contains_all(&requested) {
        return Err(OAuthError::InvalidScope(format!(
            "the requested scope exceeds the granted scope \"{granted}\""
        )));
    }
    Ok(requested)
}
