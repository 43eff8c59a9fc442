//! Tokens from an identity provider of your own (feature `external-issuer`): Outpost as a
//! resource server only, trusting an external OAuth 2.0 / OpenID Connect issuer — Auth0, Okta,
//! Keycloak, Entra ID, Google, or Outpost's own authorization server run elsewhere.
//!
//! Two ways to check a token, chosen by [`ExternalIssuerConfig::introspection`]:
//!
//! - **JWT access tokens** (the default): verified locally with the keys the issuer publishes
//!   at the `jwks_uri` of its discovery document (RFC 8414 `oauth-authorization-server`, else
//!   OpenID `openid-configuration`) — `jwt` the checks, `jwk` the keys and algorithms,
//!   `key_cache` the refreshes.
//! - **Opaque tokens**: RFC 7662 introspection at the issuer, answers cached for seconds
//!   ([`introspection`]).
//!
//! [`ExternalTokens::connect`] checks the settings and reaches the issuer at start: an issuer
//! that cannot be reached, a discovery document naming another issuer or without `jwks_uri`
//! are errors that name the setting and the cause. The result goes into
//! [`ResourceServerConfig::external`](crate::auth::resource::ResourceServerConfig::external).

pub mod introspection;
mod jwt;
mod key_cache;

use std::{sync::Arc, time::Duration};

use serde::Deserialize;
use url::Url;

pub use introspection::IntrospectionSettings;
pub use key_cache::{REFRESH_INTERVAL, UNKNOWN_KID_REFETCH_INTERVAL};
pub use outpost_oauth::{issuer_client::FetchError, jwk};

use self::{introspection::Introspector, jwt::JwtRefusal, key_cache::KeyCache};
use crate::auth::resource::{Identity, RevocationCheck, cache::TokenDigest};
use outpost_oauth::{
    forwarded::Source,
    issuer_client::{IssuerClient, is_https_or_loopback},
};
use outpost_store::ThrottleStore;

/// The default clock leeway for `exp` and `nbf`.
pub const DEFAULT_CLOCK_LEEWAY: Duration = Duration::from_secs(30);

/// Settings of the external issuer.
#[derive(Clone)]
pub struct ExternalIssuerConfig {
    /// The issuer identifier, exactly as in its metadata and its tokens' `iss` (a trailing
    /// slash matters: Auth0's has one). https, or http on a loopback host.
    pub issuer: String,
    /// The audience tokens must carry (one of `aud`): usually the canonical MCP URL
    /// (`{public-url}/mcp`).
    pub audience: String,
    /// Audiences a token may carry instead: other URLs of the same endpoint. An issuer that
    /// binds tokens to the RFC 8707 `resource` a client asked for gives a client of the
    /// 2024-11-05 transport a token for `{public-url}/sse`, the URL it connected to; the
    /// builder adds that URL when `audience` is the canonical MCP URL. None by default.
    pub audience_aliases: Vec<String>,
    /// Accept only RFC 9068 access tokens (`typ: at+jwt`); otherwise `JWT` or no `typ` pass too.
    pub require_at_jwt: bool,
    /// How far `exp` and `nbf` may be off, for clock skew with the issuer.
    pub clock_leeway: Duration,
    /// Introspect every token (RFC 7662) instead of verifying JWTs.
    pub introspection: Option<IntrospectionSettings>,
    /// For tokens of Outpost's own authorization server run elsewhere (`outpost serve --role
    /// mcp` given the auth role's store): each JWT must name its grant in the private `gid`
    /// claim, and the grant's revocation is checked here as the embedded mode checks it
    /// (answers reused for [`ResourceServerConfig::revocation_cache_ttl`]; a check that cannot
    /// answer is a `503`). A token without `gid` is refused. Only with JWT access tokens: an
    /// introspection answer is itself the revocation check.
    ///
    /// [`ResourceServerConfig::revocation_cache_ttl`]: crate::auth::resource::ResourceServerConfig::revocation_cache_ttl
    pub grant_revocation: Option<Arc<dyn RevocationCheck>>,
    /// Where introspections that refuse the token are counted per source
    /// ([`introspection::REFUSALS_PER_SOURCE`]): the store every instance shares. The builder
    /// sets its store's. `None` (the default of [`new`](Self::new)): not counted.
    pub introspection_refusals: Option<Arc<dyn ThrottleStore>>,
}

impl std::fmt::Debug for ExternalIssuerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalIssuerConfig")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("audience_aliases", &self.audience_aliases)
            .field("require_at_jwt", &self.require_at_jwt)
            .field("clock_leeway", &self.clock_leeway)
            .field("introspection", &self.introspection)
            .field("grant_revocation", &self.grant_revocation.is_some())
            .field(
                "introspection_refusals",
                &self.introspection_refusals.is_some(),
            )
            .finish()
    }
}

impl ExternalIssuerConfig {
    /// JWT access tokens from `issuer` for `audience`, [`DEFAULT_CLOCK_LEEWAY`].
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            audience_aliases: Vec::new(),
            require_at_jwt: false,
            clock_leeway: DEFAULT_CLOCK_LEEWAY,
            introspection: None,
            grant_revocation: None,
            introspection_refusals: None,
        }
    }
}

/// Why the external issuer cannot be used; each names the setting and the cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExternalIssuerError {
    /// A URL setting is not a plain https URL.
    #[error(
        "{setting} {url:?} must be an https URL (http only on a loopback host) without a \
         fragment"
    )]
    InsecureUrl {
        /// The setting.
        setting: &'static str,
        /// Its value.
        url: String,
    },
    /// The discovery document could not be fetched.
    #[error(
        "cannot read the discovery document of the issuer {issuer:?} (--issuer) at {url}: {cause}"
    )]
    Discovery {
        /// The configured issuer.
        issuer: String,
        /// The URL tried.
        url: String,
        /// What went wrong.
        cause: String,
    },
    /// Neither discovery URL has a document.
    #[error(
        "the issuer {issuer:?} (--issuer) publishes no discovery document: tried {tried}; is \
         --issuer exactly its issuer identifier?"
    )]
    NoDiscovery {
        /// The configured issuer.
        issuer: String,
        /// The URLs tried.
        tried: String,
    },
    /// The discovery document names another issuer (RFC 8414 §3.3).
    #[error(
        "the discovery document at {url} names the issuer {found:?}, not {issuer:?}: --issuer \
         must be exactly the issuer identifier (trailing slash included)"
    )]
    IssuerMismatch {
        /// The configured issuer.
        issuer: String,
        /// The document's URL.
        url: String,
        /// The issuer it names.
        found: String,
    },
    /// The discovery document names no key set.
    #[error(
        "the discovery document at {url} has no jwks_uri, so the issuer publishes no keys to \
         verify JWT access tokens; for opaque tokens use --introspection-endpoint"
    )]
    NoJwksUri {
        /// The document's URL.
        url: String,
    },
    /// The key set could not be loaded.
    #[error("cannot load the issuer's keys from {jwks_uri} (jwks_uri): {cause}")]
    Jwks {
        /// The key set's URL.
        jwks_uri: String,
        /// What went wrong.
        cause: String,
    },
    /// TLS could not be set up.
    #[error("cannot set up TLS for the issuer client: {0}")]
    Tls(String),
    /// Grants checked in a store while tokens are introspected: introspection already tells
    /// whether a token was revoked, and its answers name no grant.
    #[error(
        "tokens are introspected (--introspection-endpoint), which already checks revocation: \
         a grant revocation check (the auth role's --store) applies to JWT access tokens only"
    )]
    GrantsWithIntrospection,
}

/// What a token must satisfy.
#[derive(Debug, Clone)]
pub(crate) struct Expectations {
    pub(crate) issuer: String,
    pub(crate) audience: String,
    pub(crate) audience_aliases: Vec<String>,
    pub(crate) require_at_jwt: bool,
    pub(crate) leeway_seconds: i64,
    /// Whether the identity carries the token's `gid` (its grant is checked for revocation).
    pub(crate) names_grants: bool,
}

/// Why a token was not accepted after asking the issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExternalRefusal {
    /// The token is not good: `401 invalid_token`.
    Invalid(String),
    /// The issuer could not answer: `503`, the client retries.
    Unavailable(String),
    /// The request's source has had too many tokens refused by introspection lately
    /// ([`introspection::REFUSALS_PER_SOURCE`]): `429`, the client retries after
    /// `retry_after` seconds.
    Throttled {
        /// Seconds until the source's budget has room again.
        retry_after: u64,
    },
}

/// What the synchronous part of a check decided.
pub(crate) enum Quick {
    /// Known good (a cached introspection answer).
    Known(Arc<Identity>),
    /// A JWT verified now, valid until `exp` + leeway (for the verified-token cache).
    Verified(Arc<Identity>, i64),
    /// Refused.
    Refused(String),
    /// The issuer must be asked: an unknown `kid`, or an introspection not cached.
    Ask,
}

enum Mode {
    Jwks(Arc<KeyCache>),
    Introspection(Box<Introspector>),
}

/// The external issuer, ready to check tokens.
pub struct ExternalTokens {
    expect: Expectations,
    mode: Mode,
    grant_revocation: Option<Arc<dyn RevocationCheck>>,
}

impl std::fmt::Debug for ExternalTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalTokens")
            .field("issuer", &self.expect.issuer)
            .field("audience", &self.expect.audience)
            .field(
                "mode",
                &match self.mode {
                    Mode::Jwks(_) => "jwks",
                    Mode::Introspection(_) => "introspection",
                },
            )
            .finish()
    }
}

impl ExternalTokens {
    /// Checks `config` and, for JWT access tokens, discovers the issuer's `jwks_uri` and loads
    /// its keys (refreshed in the background from then on, on the current Tokio runtime).
    pub async fn connect(config: ExternalIssuerConfig) -> Result<Arc<Self>, ExternalIssuerError> {
        let issuer_url = checked_url("--issuer", &config.issuer)?;
        if config.introspection.is_some() && config.grant_revocation.is_some() {
            return Err(ExternalIssuerError::GrantsWithIntrospection);
        }
        let client = IssuerClient::new().map_err(|e| ExternalIssuerError::Tls(e.to_string()))?;
        let expect = Expectations {
            issuer: config.issuer.clone(),
            audience: config.audience,
            audience_aliases: config.audience_aliases,
            require_at_jwt: config.require_at_jwt,
            leeway_seconds: i64::try_from(config.clock_leeway.as_secs()).unwrap_or(i64::MAX),
            names_grants: config.grant_revocation.is_some(),
        };
        let mode = match config.introspection {
            Some(settings) => {
                checked_url("--introspection-endpoint", settings.endpoint.as_str())?;
                Mode::Introspection(Box::new(Introspector::new(
                    settings,
                    client,
                    config.introspection_refusals,
                )))
            }
            None => {
                let jwks_uri = discover_jwks_uri(&client, &config.issuer, &issuer_url).await?;
                Mode::Jwks(KeyCache::load(jwks_uri, client).await?)
            }
        };
        Ok(Arc::new(Self {
            expect,
            mode,
            grant_revocation: config.grant_revocation,
        }))
    }

    /// The issuer identifier.
    pub fn issuer(&self) -> &str {
        &self.expect.issuer
    }

    /// The audience tokens must carry.
    pub fn audience(&self) -> &str {
        &self.expect.audience
    }

    /// Where refused introspections are counted per source, if they are.
    pub(crate) fn introspection_refusals(&self) -> Option<Arc<dyn ThrottleStore>> {
        match &self.mode {
            Mode::Introspection(introspector) => introspector.refusals(),
            Mode::Jwks(_) => None,
        }
    }

    /// Whether tokens are introspected (else verified as JWTs).
    pub fn introspects(&self) -> bool {
        matches!(self.mode, Mode::Introspection(_))
    }

    /// Whether each token's grant (`gid`) is checked for revocation
    /// ([`ExternalIssuerConfig::grant_revocation`]).
    pub fn checks_grants(&self) -> bool {
        self.grant_revocation.is_some()
    }

    /// The grant revocation check, if tokens name their grants.
    pub(crate) fn grant_revocation(&self) -> Option<&Arc<dyn RevocationCheck>> {
        self.grant_revocation.as_ref()
    }

    /// Changes whenever a key the issuer dropped stops verifying: tokens verified before are
    /// to be verified again.
    pub(crate) fn key_epoch(&self) -> u64 {
        match &self.mode {
            Mode::Jwks(keys) => keys.epoch(),
            Mode::Introspection(_) => 0,
        }
    }

    /// The clock leeway, seconds.
    pub(crate) fn leeway_seconds(&self) -> i64 {
        self.expect.leeway_seconds
    }

    /// Checks `token` (digest `key`) with what is in memory.
    pub(crate) fn check(&self, token: &str, key: &TokenDigest, now: i64) -> Quick {
        match &self.mode {
            Mode::Jwks(keys) => match jwt::verify(token, &keys.keys(), &self.expect, now) {
                Ok(verified) => Quick::Verified(Arc::new(verified.identity), verified.exp),
                Err(JwtRefusal::UnknownKey(_)) => Quick::Ask,
                Err(JwtRefusal::Invalid(why)) => Quick::Refused(why),
            },
            Mode::Introspection(introspector) => match introspector.cached(key) {
                Some(Ok(identity)) => Quick::Known(identity),
                Some(Err(why)) => Quick::Refused(why),
                None => Quick::Ask,
            },
        }
    }

    /// Checks `token` (digest `key`) of a request from `source`, asking the issuer: the key
    /// set again (rate-limited), or the introspection endpoint (within the source's budget of
    /// refusals). A verified JWT comes with its `exp`.
    pub(crate) async fn ask(
        &self,
        token: &str,
        key: TokenDigest,
        now: i64,
        source: Option<Source>,
    ) -> Result<(Arc<Identity>, Option<i64>), ExternalRefusal> {
        match &self.mode {
            Mode::Jwks(keys) => {
                keys.refetch_for_unknown_kid().await;
                let (current, last_fetch_failed) = keys.current();
                match jwt::verify(token, &current, &self.expect, now) {
                    Ok(verified) => Ok((Arc::new(verified.identity), Some(verified.exp))),
                    // The key may be one the issuer published while its key set could not
                    // be fetched: a token its claims do not already refuse cannot be judged
                    // now.
                    Err(JwtRefusal::UnknownKey(_)) if last_fetch_failed => {
                        jwt::check_unverified_claims(token, &self.expect, now)
                            .map_err(|refusal| ExternalRefusal::Invalid(refusal.reason()))?;
                        Err(ExternalRefusal::Unavailable(
                            "the access token names a key (kid) the issuer's key set did not \
                             hold when last fetched, and fetching it again failed"
                                .to_owned(),
                        ))
                    }
                    Err(refusal) => Err(ExternalRefusal::Invalid(refusal.reason())),
                }
            }
            Mode::Introspection(introspector) => introspector
                .introspect(token, key, &self.expect, now, source)
                .await
                .map(|identity| (identity, None)),
        }
    }
}

/// `value` as a URL: https, or http on a loopback host; no fragment.
fn checked_url(setting: &'static str, value: &str) -> Result<Url, ExternalIssuerError> {
    let refused = || ExternalIssuerError::InsecureUrl {
        setting,
        url: value.to_owned(),
    };
    let url = Url::parse(value).map_err(|_| refused())?;
    if !is_https_or_loopback(&url) {
        return Err(refused());
    }
    Ok(url)
}

#[derive(Deserialize)]
struct DiscoveryDocument {
    issuer: String,
    jwks_uri: Option<String>,
}

/// The discovery URLs of `issuer`, in the order the MCP authorization spec tries them:
/// RFC 8414 (well-known inserted before the path), then OpenID Connect (appended).
fn discovery_urls(issuer: &str, issuer_url: &Url) -> Vec<String> {
    let path = issuer_url.path().trim_end_matches('/');
    let origin = issuer_url.origin().ascii_serialization();
    let mut urls = vec![format!(
        "{origin}/.well-known/oauth-authorization-server{path}"
    )];
    if !path.is_empty() {
        urls.push(format!("{origin}/.well-known/openid-configuration{path}"));
    }
    urls.push(format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    ));
    urls
}

async fn discover_jwks_uri(
    client: &IssuerClient,
    issuer: &str,
    issuer_url: &Url,
) -> Result<Url, ExternalIssuerError> {
    let urls = discovery_urls(issuer, issuer_url);
    for url in &urls {
        let parsed = Url::parse(url).map_err(|_| ExternalIssuerError::InsecureUrl {
            setting: "--issuer",
            url: issuer.to_owned(),
        })?;
        let document: DiscoveryDocument = match client.get_json(&parsed).await {
            Ok(document) => document,
            Err(FetchError::Status(_) | FetchError::Refused(_) | FetchError::Json(_)) => continue,
            Err(cause) => {
                return Err(ExternalIssuerError::Discovery {
                    issuer: issuer.to_owned(),
                    url: url.clone(),
                    cause: cause.to_string(),
                });
            }
        };
        if document.issuer != issuer {
            return Err(ExternalIssuerError::IssuerMismatch {
                issuer: issuer.to_owned(),
                url: url.clone(),
                found: document.issuer,
            });
        }
        let jwks_uri = document
            .jwks_uri
            .ok_or_else(|| ExternalIssuerError::NoJwksUri { url: url.clone() })?;
        return checked_url("the discovery document's jwks_uri", &jwks_uri);
    }
    Err(ExternalIssuerError::NoDiscovery {
        issuer: issuer.to_owned(),
        tried: urls.join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_https_or_loopback_http() {
        assert!(checked_url("--issuer", "https://idp.example/realms/a").is_ok());
        assert!(checked_url("--issuer", "http://127.0.0.1:8080").is_ok());
        assert!(checked_url("--issuer", "http://localhost:8080/").is_ok());
        assert!(checked_url("--issuer", "http://[::1]:8080/").is_ok());
        let error = checked_url("--issuer", "http://idp.example").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("--issuer \"http://idp.example\" must be")
        );
        assert!(checked_url("--issuer", "https://idp.example/#x").is_err());
        assert!(checked_url("--issuer", "idp.example").is_err());
    }

    #[test]
    fn discovery_tries_rfc8414_then_openid() {
        let issuer = "https://kc.example/realms/acme";
        assert_eq!(
            discovery_urls(issuer, &Url::parse(issuer).unwrap()),
            [
                "https://kc.example/.well-known/oauth-authorization-server/realms/acme",
                "https://kc.example/.well-known/openid-configuration/realms/acme",
                "https://kc.example/realms/acme/.well-known/openid-configuration",
            ]
        );
        let auth0 = "https://tenant.eu.auth0.com/";
        assert_eq!(
            discovery_urls(auth0, &Url::parse(auth0).unwrap()),
            [
                "https://tenant.eu.auth0.com/.well-known/oauth-authorization-server",
                "https://tenant.eu.auth0.com/.well-known/openid-configuration",
            ]
        );
    }
}
