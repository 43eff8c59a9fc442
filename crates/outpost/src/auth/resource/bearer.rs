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
//! Cost on the hot path: a SHA-256 of the token's signature
//! ([`TokenKey`](super::cache::TokenKey)) and two map lookups (validation cache, revocation
//! cache), no allocation beyond an `Arc` clone; the ECDSA verification runs once per token and
//! the store is asked once per grant per revocation TTL.
//!
//! With an external issuer ([`TokenAuthority::External`], feature `external-issuer`) the
//! token is checked by [`crate::auth::external`] instead — a JWT verified with the issuer's
//! keys (then cached here until `exp` + leeway, forgotten when the issuer drops a key), or an
//! opaque token introspected (cached there). Such tokens name no grant, so there is no
//! revocation check here — unless the issuer is Outpost's own authorization server run as a
//! separate role whose store this server shares
//! ([`ExternalIssuerConfig::grant_revocation`](crate::auth::external::ExternalIssuerConfig::grant_revocation)):
//! then each token's `gid` is checked exactly as in the embedded mode. An unknown `kid` or an
//! introspection not cached is [`Verdict::AskIssuer`]; an issuer that cannot answer an
//! introspection gets the request a `503`.

use std::{
    sync::{Arc, PoisonError},
    time::Instant,
};

use axum::{extract::Request, response::Response};
use http::{HeaderMap, header};

#[cfg(feature = "external-issuer")]
use super::cache::TokenDigest;
use super::{
    ResourceServerConfig, RevocationCheck, RevocationStatus, SharedKeyring, TokenAuthority,
    cache::{RevocationCache, TokenKey, ValidationCache},
    challenge::Challenge,
    identity::Identity,
    metadata::MetadataUrls,
};
use crate::{
    auth::{access_token, scope::Scope},
    clock::unix_now,
    mcp::classify::Era,
    ops::degraded::STORE_ANSWER_TIMEOUT,
    store::GrantId,
};

/// Most verified tokens kept in the validation cache.
const VALIDATION_CACHE_CAPACITY: usize = 100_000;
/// Most grants kept in the revocation cache.
const REVOCATION_CACHE_CAPACITY: usize = 100_000;

/// Verifies bearer tokens, with the caches that keep it off the hot path.
pub(crate) struct TokenCheck {
    authority: Authority,
    /// The revocation check of the grants tokens name: always with the embedded authorization
    /// server, with an external issuer only when its grants are checked.
    grants: Option<Grants>,
    resource_metadata: MetadataUrls,
    baseline_scope: Scope,
    validated: ValidationCache,
}

/// Asks whether a token's grant was revoked, remembering the answers for seconds.
struct Grants {
    revocation: Arc<dyn RevocationCheck>,
    revoked: RevocationCache,
}

/// Where tokens are checked.
enum Authority {
    Embedded {
        keyring: SharedKeyring,
        issuer: String,
        audience: String,
    },
    #[cfg(feature = "external-issuer")]
    External {
        tokens: Arc<crate::auth::external::ExternalTokens>,
        /// The key epoch the validation cache was filled under.
        epoch: std::sync::atomic::AtomicU64,
    },
}

impl TokenCheck {
    /// Accepts tokens from `config.issuer` for `audience` (the canonical MCP URL); refusals
    /// name the document of `resource_metadata` for the request's endpoint.
    pub(crate) fn new(
        config: &ResourceServerConfig,
        audience: String,
        resource_metadata: MetadataUrls,
    ) -> Self {
        let grants = |revocation: &Arc<dyn RevocationCheck>| Grants {
            revocation: revocation.clone(),
            revoked: RevocationCache::new(config.revocation_cache_ttl, REVOCATION_CACHE_CAPACITY),
        };
        let (authority, grants) = match &config.tokens {
            TokenAuthority::Embedded {
                keyring,
                revocation,
            } => (
                Authority::Embedded {
                    keyring: keyring.clone(),
                    issuer: config.issuer.clone(),
                    audience,
                },
                Some(grants(revocation)),
            ),
            #[cfg(feature = "external-issuer")]
            TokenAuthority::External(tokens) => (
                Authority::External {
                    epoch: std::sync::atomic::AtomicU64::new(tokens.key_epoch()),
                    tokens: tokens.clone(),
                },
                tokens.grant_revocation().map(grants),
            ),
        };
        Self {
            authority,
            grants,
            resource_metadata,
            baseline_scope: config.baseline_scope.clone(),
            validated: ValidationCache::new(VALIDATION_CACHE_CAPACITY),
        }
    }
}

/// The outcome of the synchronous part of the check.
pub(crate) enum Verdict {
    Refuse(Challenge),
    Accept(Arc<Identity>),
    /// Valid token; the grant's revocation status must be fetched.
    AskRevocation(Arc<Identity>, GrantId),
    /// The external issuer must be asked about the token.
    #[cfg(feature = "external-issuer")]
    AskIssuer(String, TokenDigest),
}

impl TokenCheck {
    /// The answer to a request of `era` refused with `challenge`.
    pub(crate) fn refusal(&self, challenge: Challenge, era: Era) -> Response {
        challenge.into_response(self.resource_metadata.for_era(era), &self.baseline_scope)
    }

    /// Checks the request's token as far as the caches allow.
    pub(crate) fn check(&self, request: &Request) -> Verdict {
        let token = match bearer_token(request.headers(), request.uri().query()) {
            Ok(Some(token)) => token,
            Ok(None) => return Verdict::Refuse(Challenge::MissingToken),
            Err(challenge) => return Verdict::Refuse(challenge),
        };
        let now = unix_now();
        let key = TokenKey::of(token);
        let (keyring, issuer, audience) = match &self.authority {
            Authority::Embedded {
                keyring,
                issuer,
                audience,
            } => (keyring, issuer, audience),
            #[cfg(feature = "external-issuer")]
            Authority::External { tokens, epoch } => {
                return self.check_external(tokens, epoch, token, key, now);
            }
        };
        let identity = match self.validated.get(&key, now) {
            Some(identity) => identity,
            None => {
                let keyring = keyring.read().unwrap_or_else(PoisonError::into_inner);
                let verified = access_token::verify(&keyring, token, issuer, audience, now);
                drop(keyring);
                let claims = match verified {
                    Ok(claims) => claims,
                    Err(error) => {
                        return Verdict::Refuse(Challenge::InvalidToken(error.to_string()));
                    }
                };
                let exp = claims.exp;
                let identity = Arc::new(Identity::from_claims(claims));
                self.validated.insert(&key, identity.clone(), exp, now);
                identity
            }
        };
        self.admit(identity)
    }

    /// The verdict on a verified token's `identity`: the baseline scope, then — when grants
    /// are checked — its grant's revocation as far as the cache knows it.
    fn admit(&self, identity: Arc<Identity>) -> Verdict {
        match self.grant_to_ask(&identity) {
            Ok(None) => Verdict::Accept(identity),
            Ok(Some(grant)) => Verdict::AskRevocation(identity, grant),
            Err(challenge) => Verdict::Refuse(challenge),
        }
    }

    /// `Ok(None)` when `identity` passes on what is known, the grant whose revocation status
    /// must be fetched, or the refusal.
    fn grant_to_ask(&self, identity: &Identity) -> Result<Option<GrantId>, Challenge> {
        self.within_baseline(identity)?;
        let Some(Grants { revoked, .. }) = &self.grants else {
            return Ok(None);
        };
        let Some(grant) = identity.grant_id.as_deref() else {
            return Err(Challenge::InvalidToken(
                "the access token names no grant".into(),
            ));
        };
        let Ok(grant) = GrantId::parse(grant) else {
            return Err(Challenge::InvalidToken(
                "the access token names a malformed grant".into(),
            ));
        };
        match revoked.get(grant, Instant::now()) {
            Some(true) => Err(revoked_challenge()),
            Some(false) => Ok(None),
            None => Ok(Some(grant)),
        }
    }

    /// `403 insufficient_scope` for a token without the baseline scope.
    fn within_baseline(&self, identity: &Identity) -> Result<(), Challenge> {
        if identity.scopes.contains_all(&self.baseline_scope) {
            return Ok(());
        }
        Err(Challenge::InsufficientScope(
            identity.scopes.union(&self.baseline_scope),
        ))
    }
}

#[cfg(feature = "external-issuer")]
mod external {
    use std::sync::{Arc, atomic::AtomicU64, atomic::Ordering};

    use outpost_oauth::forwarded::Source;

    use super::{Authority, TokenCheck, Verdict};
    use crate::{
        auth::{
            external::{ExternalRefusal, ExternalTokens, Quick},
            resource::{
                cache::{TokenDigest, TokenKey, digest},
                challenge::Challenge,
                identity::Identity,
            },
        },
        store::GrantId,
    };

    /// Why a token the external issuer was asked about is not accepted.
    pub(crate) enum IssuerRefusal {
        /// Refused: the `401` (or `403` below the baseline scope).
        Refused(Challenge),
        /// The issuer could not answer (why, for the log): `503`.
        Unavailable(String),
        /// The request's source is past its budget of refused introspections: `429`, retry
        /// after this many seconds.
        Throttled(u64),
    }

    impl TokenCheck {
        pub(super) fn check_external(
            &self,
            tokens: &ExternalTokens,
            epoch: &AtomicU64,
            token: &str,
            key: TokenKey<'_>,
            now: i64,
        ) -> Verdict {
            let current = tokens.key_epoch();
            if epoch.swap(current, Ordering::AcqRel) != current {
                self.validated.clear();
            }
            let identity = match self.validated.get(&key, now) {
                Some(identity) => identity,
                None => {
                    let digest = digest(token);
                    match tokens.check(token, &digest, now) {
                        Quick::Known(identity) => identity,
                        Quick::Verified(identity, exp) => {
                            let until = exp.saturating_add(tokens.leeway_seconds());
                            self.validated
                                .insert_until(&key, identity.clone(), until, now);
                            identity
                        }
                        Quick::Refused(why) => {
                            return Verdict::Refuse(Challenge::InvalidToken(why));
                        }
                        Quick::Ask => return Verdict::AskIssuer(token.to_owned(), digest),
                    }
                }
            };
            self.admit(identity)
        }

        /// Asks the external issuer about `token` (digest `key`) of a request from `source`:
        /// the caller, with the grant whose revocation status must still be fetched when
        /// grants are checked.
        pub(crate) async fn ask_issuer(
            &self,
            token: &str,
            key: TokenDigest,
            source: Option<Source>,
        ) -> Result<(Arc<Identity>, Option<GrantId>), IssuerRefusal> {
            let Authority::External { tokens, .. } = &self.authority else {
                return Err(IssuerRefusal::Unavailable(
                    "no external issuer is configured".into(),
                ));
            };
            let now = crate::clock::unix_now();
            let identity = match tokens.ask(token, key, now, source).await {
                Ok((identity, exp)) => {
                    if let Some(exp) = exp {
                        let until = exp.saturating_add(tokens.leeway_seconds());
                        self.validated.insert_until(
                            &TokenKey::of(token),
                            identity.clone(),
                            until,
                            now,
                        );
                    }
                    identity
                }
                Err(ExternalRefusal::Invalid(why)) => {
                    return Err(IssuerRefusal::Refused(Challenge::InvalidToken(why)));
                }
                Err(ExternalRefusal::Unavailable(why)) => {
                    return Err(IssuerRefusal::Unavailable(why));
                }
                Err(ExternalRefusal::Throttled { retry_after }) => {
                    return Err(IssuerRefusal::Throttled(retry_after));
                }
            };
            let grant = self
                .grant_to_ask(&identity)
                .map_err(IssuerRefusal::Refused)?;
            Ok((identity, grant))
        }
    }
}
#[cfg(feature = "external-issuer")]
pub(crate) use external::IssuerRefusal;

/// Why a token whose revocation status was asked is not accepted.
pub(crate) enum RevocationRefusal {
    /// Its grant was revoked: the `401` with this challenge.
    Revoked(Challenge),
    /// The check could not tell (why, for the log): the request gets the `503` of
    /// [`crate::ops::degraded`].
    Unknown(String),
}

impl TokenCheck {
    /// Asks whether `grant` was revoked, within [`STORE_ANSWER_TIMEOUT`], remembering a
    /// definite answer (not an unknown one, so the next request asks again).
    pub(crate) async fn ask_revocation(&self, grant: GrantId) -> Result<(), RevocationRefusal> {
        let Some(Grants {
            revocation,
            revoked: cache,
        }) = &self.grants
        else {
            return Ok(());
        };
        let status = tokio::time::timeout(STORE_ANSWER_TIMEOUT, revocation.status(grant))
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
        cache.insert(grant, revoked, Instant::now());
        if revoked {
            return Err(RevocationRefusal::Revoked(revoked_challenge()));
        }
        Ok(())
    }
}

impl TokenCheck {
    /// Whether `identity`'s grant is one whose revocation is checked (Outpost's own tokens).
    pub(crate) fn watches_grant_of(&self, identity: &Identity) -> bool {
        self.grants.is_some() && identity.grant_id.is_some()
    }

    /// Whether `identity`'s grant still stands: the revocation cache, else the store. An
    /// answer the store cannot give counts as standing (an outage is not a revocation).
    pub(crate) async fn still_granted(&self, identity: &Identity) -> bool {
        match self.grant_to_ask(identity) {
            Ok(None) => true,
            Ok(Some(grant)) => !matches!(
                self.ask_revocation(grant).await,
                Err(RevocationRefusal::Revoked(_))
            ),
            Err(_) => false,
        }
    }
}

fn revoked_challenge() -> Challenge {
    Challenge::InvalidToken("the access token's grant has been revoked or is gone".into())
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
