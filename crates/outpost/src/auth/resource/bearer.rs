//! The bearer-token check of the resource server (RFC 6750 §2.1, RFC 9068 §4).
//!
//! Each request must carry `Authorization: Bearer <access token>`. The token is verified
//! locally — ES256 signature against the shared keyring, `iss` equal to the configured issuer,
//! `aud` equal to this server's canonical MCP URL (RFC 8707 §2: a token minted for any other
//! resource is refused, never passed through), `exp` — and it must name a grant (`gid`) that
//! is not revoked. Every token the embedded authorization server issues names its grant, so a
//! token without one — signed with a stolen key, say — is refused, never accepted beyond the
//! reach of revocation. The outcome is the caller's [`Identity`] or a [`Challenge`]: `401`
//! with the `resource_metadata` URL, `400` for a token in the query string (RFC 6750 §2.3 is
//! forbidden by the MCP spec). [`super::service`] runs it first, for every request.
//!
//! A revocation status the store cannot give (an error, or no answer within
//! [`STORE_ANSWER_TIMEOUT`]) is neither cached nor a `401`: the service answers `503`.
//!
//! Cost on the hot path: a SHA-256 of the token and two map lookups (validation cache,
//! revocation cache), no allocation beyond an `Arc` clone; the ECDSA verification runs once
//! per token and the store is asked once per grant per revocation TTL.

use std::{
    sync::{Arc, PoisonError},
    time::Instant,
};

use axum::{extract::Request, response::Response};
use http::{HeaderMap, header};

use super::{
    ResourceServerConfig, RevocationCheck, RevocationStatus, SharedKeyring,
    cache::{RevocationCache, ValidationCache, digest},
    challenge::Challenge,
    identity::Identity,
};
use crate::{
    auth::{access_token, scope::Scope},
    clock::unix_now,
    ops::degraded::STORE_ANSWER_TIMEOUT,
    store::GrantId,
};

/// Most verified tokens kept in the validation cache.
const VALIDATION_CACHE_CAPACITY: usize = 100_000;
/// Most grants kept in the revocation cache.
const REVOCATION_CACHE_CAPACITY: usize = 100_000;

/// Verifies bearer tokens, with the caches that keep it off the hot path.
pub(crate) struct TokenCheck {
    keyring: SharedKeyring,
    issuer: String,
    audience: String,
    resource_metadata: String,
    baseline_scope: Scope,
    revocation: Arc<dyn RevocationCheck>,
    validated: ValidationCache,
    revoked: RevocationCache,
}

impl TokenCheck {
    /// Accepts tokens from `config.issuer` for `audience` (the canonical MCP URL); refusals
    /// name `resource_metadata`.
    pub(crate) fn new(
        config: &ResourceServerConfig,
        audience: String,
        resource_metadata: String,
    ) -> Self {
        Self {
            keyring: config.keyring.clone(),
            issuer: config.issuer.clone(),
            audience,
            resource_metadata,
            baseline_scope: config.baseline_scope.clone(),
            revocation: config.revocation.clone(),
            validated: ValidationCache::new(VALIDATION_CACHE_CAPACITY),
            revoked: RevocationCache::new(config.revocation_cache_ttl, REVOCATION_CACHE_CAPACITY),
        }
    }
}

/// The outcome of the synchronous part of the check.
pub(crate) enum Verdict {
    Refuse(Challenge),
    Accept(Arc<Identity>),
    /// Valid token; the grant's revocation status must be fetched.
    AskRevocation(Arc<Identity>, GrantId),
}

impl TokenCheck {
    /// The answer to a request refused with `challenge`.
    pub(crate) fn refusal(&self, challenge: Challenge) -> Response {
        challenge.into_response(&self.resource_metadata, &self.baseline_scope)
    }

    /// Checks the request's token as far as the caches allow.
    pub(crate) fn check(&self, request: &Request) -> Verdict {
        let token = match bearer_token(request.headers(), request.uri().query()) {
            Ok(Some(token)) => token,
            Ok(None) => return Verdict::Refuse(Challenge::MissingToken),
            Err(challenge) => return Verdict::Refuse(challenge),
        };
        let now = unix_now();
        let key = digest(token);
        let identity = match self.validated.get(&key, now) {
            Some(identity) => identity,
            None => {
                let keyring = self.keyring.read().unwrap_or_else(PoisonError::into_inner);
                let verified =
                    access_token::verify(&keyring, token, &self.issuer, &self.audience, now);
                drop(keyring);
                let claims = match verified {
                    Ok(claims) => claims,
                    Err(error) => {
                        return Verdict::Refuse(Challenge::InvalidToken(error.to_string()));
                    }
                };
                let exp = claims.exp;
                let identity = Arc::new(Identity::from_claims(claims));
                self.validated.insert(key, identity.clone(), exp, now);
                identity
            }
        };
        if !identity.scopes.contains_all(&self.baseline_scope) {
            return Verdict::Refuse(Challenge::InsufficientScope(
                identity.scopes.union(&self.baseline_scope),
            ));
        }
        let Some(grant) = identity.grant_id.as_deref() else {
            return Verdict::Refuse(Challenge::InvalidToken(
                "the access token names no grant".into(),
            ));
        };
        let Ok(grant) = GrantId::parse(grant) else {
            return Verdict::Refuse(Challenge::InvalidToken(
                "the access token names a malformed grant".into(),
            ));
        };
        match self.revoked.get(grant, Instant::now()) {
            Some(true) => Verdict::Refuse(revoked_challenge()),
            Some(false) => Verdict::Accept(identity),
            None => Verdict::AskRevocation(identity, grant),
        }
    }
}

/// Why a token whose revocation status was asked is not accepted.
pub(crate) enum RevocationRefusal {
    /// Its grant was revoked: the `401`.
    Revoked(Response),
    /// The check could not tell (why, for the log): the request gets the `503` of
    /// [`crate::ops::degraded`].
    Unknown(String),
}

impl TokenCheck {
    /// Asks whether `grant` was revoked, within [`STORE_ANSWER_TIMEOUT`], remembering a
    /// definite answer (not an unknown one, so the next request asks again).
    pub(crate) async fn ask_revocation(&self, grant: GrantId) -> Result<(), RevocationRefusal> {
        let status = tokio::time::timeout(STORE_ANSWER_TIMEOUT, self.revocation.status(grant))
            .await
            .unwrap_or_else(|_| {
                RevocationStatus::Unknown(format!(
                    "no revocation answer within {} s",
                    STORE_ANSWER_TIMEOUT.as_secs()
                ))
            });
        let revoked = match status {
            RevocationStatus::Revoked => true,
            RevocationStatus::NotRevoked => false,
            RevocationStatus::Unknown(why) => return Err(RevocationRefusal::Unknown(why)),
        };
        self.revoked.insert(grant, revoked, Instant::now());
        if revoked {
            return Err(RevocationRefusal::Revoked(
                self.refusal(revoked_challenge()),
            ));
        }
        Ok(())
    }
}

fn revoked_challenge() -> Challenge {
    Challenge::InvalidToken("the access token's grant has been revoked".into())
}

/// The bearer token of a request: `Ok(None)` when none is presented in the `Authorization`
/// header (RFC 6750 §2.1; the scheme is case-insensitive), an error when the request is
/// malformed — several `Authorization` headers, an empty token, or an `access_token` in the
/// query string (RFC 6750 §2.3, which the MCP spec forbids).
pub fn bearer_token<'a>(
    headers: &'a HeaderMap,
    query: Option<&str>,
) -> Result<Option<&'a str>, Challenge> {
    if query.is_some_and(|query| {
        query
            .split('&')
            .any(|pair| pair.starts_with("access_token="))
    }) {
        return Err(Challenge::InvalidRequest(
            "access tokens are accepted only in the Authorization header",
        ));
    }
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Challenge::InvalidRequest(
            "more than one Authorization header",
        ));
    }
    let Some((scheme, token)) = value.to_str().ok().and_then(|v| v.split_once(' ')) else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(Challenge::InvalidRequest("the bearer token is empty"));
    }
    Ok(Some(token))
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn the_token_comes_from_the_authorization_header_only() {
        assert_eq!(
            bearer_token(&headers(&["Bearer abc"]), None),
            Ok(Some("abc"))
        );
        assert_eq!(
            bearer_token(&headers(&["bearer  abc "]), None),
            Ok(Some("abc"))
        );
        assert_eq!(bearer_token(&headers(&[]), None), Ok(None));
        assert_eq!(bearer_token(&headers(&["Basic dXNlcjpw"]), None), Ok(None));
        assert!(bearer_token(&headers(&["Bearer  "]), None).is_err());
        assert!(bearer_token(&headers(&["Bearer a", "Bearer b"]), None).is_err());
        assert!(matches!(
            bearer_token(&headers(&[]), Some("x=1&access_token=abc")),
            Err(Challenge::InvalidRequest(_))
        ));
        assert_eq!(
            bearer_token(&headers(&["Bearer abc"]), Some("sessionId=1")),
            Ok(Some("abc"))
        );
    }
}
