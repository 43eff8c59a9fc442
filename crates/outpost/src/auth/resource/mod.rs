//! The resource-server side of OAuth: what protects `/mcp` (and the legacy `/sse`,
//! `/message`) once the server runs with [`AuthMode::Bearer`](crate::config::AuthMode).
//!
//! The MCP authorization spec makes the MCP server an OAuth 2.1 resource server: it publishes
//! RFC 9728 protected resource metadata naming its authorization server, answers requests
//! without a valid token with `401` and a `WWW-Authenticate: Bearer resource_metadata="…"`
//! challenge (RFC 9728 §5.1, RFC 6750 §3), accepts only tokens whose audience is its own
//! canonical URL (RFC 8707 §2) and never reads tokens from query strings (RFC 6750 §2.3 is
//! forbidden by the MCP spec). Each concern is one file; on requests they are one tower
//! service, [`ResourceServerLayer`] (no per-request boxing on the hot path):
//!
//! - [`metadata`] — the RFC 9728 document and its two well-known routes.
//! - [`challenge`] — the `401`/`403` answers: `WWW-Authenticate` and the JSON error body.
//! - `bearer` — the bearer-token check: verify, cache, revocation.
//! - [`cache`] — the validation cache (until `exp`) and the revocation cache (seconds).
//! - [`identity`] — [`Identity`], the caller, and how tools read it ([`Caller`]).
//! - [`rate_limit`] — per-subject and per-client request limits (`429`), counted in the store.
//! - [`scope_check`] — per-tool required scopes and the `403 insufficient_scope` decision.
//! - `session_owner` — sessions bound to the subject that opened them.
//! - `service` — the three checks in order (token, session owner, scope), one
//!   [`Identity`] into the request extensions, one refusal path.
//!
//! When the store does not answer — a revocation status not cached, a session owner this
//! instance does not hold — the request is answered `503` with `Retry-After` and a JSON-RPC
//! error (`ops::degraded`), never `401` or `404`: those make clients sign in again or drop
//! their session for the server's outage. See [`RevocationCheck`] for what a token already
//! validated may do during an outage.
//!
//! The request flow behind the transport guard and the request classification
//! (`mcp::classify`): CORS → [`ResourceServerLayer`] → the MCP service.

pub(crate) mod bearer;
pub mod cache;
pub mod challenge;
pub mod identity;
pub mod metadata;
pub mod rate_limit;
pub mod scope_check;
mod service;
pub(crate) mod session_owner;
pub(crate) mod stream_revocation;

use std::{
    fmt,
    sync::{Arc, RwLock},
    time::Duration,
};

use async_trait::async_trait;

use super::{keyring::Keyring, scope::Scope};
use crate::{
    mcp::legacy_sse::SSE_PATH,
    store::{GrantId, GrantStore},
};

pub use identity::{Caller, Identity};
pub use metadata::ProtectedResourceMetadata;
pub use rate_limit::{Rate, RequestLimits};
pub use scope_check::{REQUIRED_SCOPES_META_KEY, RequiredScopes, ToolScopesError, requires_scope};
pub use service::{ResourceServer, ResourceServerLayer};

/// The path of the MCP endpoint; the canonical resource URL is `{base_url}{MCP_PATH}`.
pub const MCP_PATH: &str = "/mcp";

/// How long a revocation answer is reused by default: revoking a grant takes effect on
/// `/mcp` within this long.
pub const DEFAULT_REVOCATION_CACHE_TTL: Duration = Duration::from_secs(5);

/// How often an open stream asks by default whether its grant still stands
/// ([`ResourceServerConfig::stream_revocation_interval`]).
pub const DEFAULT_STREAM_REVOCATION_INTERVAL: Duration = Duration::from_secs(30);

/// What the revocation check learned about a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevocationStatus {
    /// Tokens of the grant must be refused (`401 invalid_token`).
    Revoked,
    /// The grant stands.
    NotRevoked,
    /// The check could not tell (the store failed or did not answer): the request is answered
    /// `503` with `Retry-After`, never `401` — the token may well be good, and a `401` would
    /// send the client to sign in again for the server's outage. The reason goes to the log.
    Unknown(String),
}

/// Whether the grant behind a token has been revoked.
///
/// The bearer layer asks once per grant per [`ResourceServerConfig::revocation_cache_ttl`]
/// and remembers [`RevocationStatus::Revoked`] and [`RevocationStatus::NotRevoked`] for that
/// long; [`RevocationStatus::Unknown`] is not remembered, so the next request asks again. An
/// answer that takes longer than a few seconds counts as `Unknown`.
///
/// During a store outage, then, a token whose answer is still cached keeps working until the
/// cache entry expires, and is answered `503` after that until the store answers again: a
/// revoked grant stops working within the TTL, outage or not.
#[async_trait]
pub trait RevocationCheck: Send + Sync {
    /// The revocation status of `grant_id`.
    async fn status(&self, grant_id: GrantId) -> RevocationStatus;
}

/// The grant store answers directly; a store error is [`RevocationStatus::Unknown`].
#[async_trait]
impl RevocationCheck for Arc<dyn GrantStore> {
    async fn status(&self, grant_id: GrantId) -> RevocationStatus {
        match GrantStore::is_revoked(self.as_ref(), grant_id).await {
            Ok(true) => RevocationStatus::Revoked,
            Ok(false) => RevocationStatus::NotRevoked,
            Err(error) => RevocationStatus::Unknown(error.to_string()),
        }
    }
}

/// The keys that verify access tokens, shared with whatever rotates them.
pub type SharedKeyring = Arc<RwLock<Keyring>>;

/// Who issues the tokens the resource server accepts, and how they are checked.
#[derive(Clone)]
pub enum TokenAuthority {
    /// Outpost's own authorization server: ES256 JWTs verified with the keyring it shares,
    /// each naming a grant whose revocation is checked.
    Embedded {
        /// The keys that verify access tokens.
        keyring: SharedKeyring,
        /// Asks whether a token's grant was revoked.
        revocation: Arc<dyn RevocationCheck>,
    },
    /// An identity provider of your own (feature `external-issuer`): JWTs verified with the
    /// keys it publishes, or opaque tokens introspected.
    #[cfg(feature = "external-issuer")]
    External(Arc<crate::auth::external::ExternalTokens>),
}

/// Settings of the resource server: who issues tokens, with which keys, which scopes exist,
/// which tools need which, and how revocation is checked.
#[derive(Clone)]
pub struct ResourceServerConfig {
    /// The authorization server's issuer identifier, exactly as in its metadata and in the
    /// tokens' `iss` (one string everywhere: a trailing slash matters). The protected
    /// resource metadata names it.
    pub issuer: String,
    /// The scopes the protected resource metadata advertises (`scopes_supported`).
    pub scopes_supported: Scope,
    /// The scope every request needs: a token without it gets `403 insufficient_scope`, and
    /// every `401` names it in `scope=`, so that clients ask for just this rather than every
    /// advertised scope (MCP authorization, scope selection). Tools may require more
    /// ([`RequiredScopes`]). Empty (the default): no baseline, no hint.
    pub baseline_scope: Scope,
    /// Who issues tokens and how they are checked.
    pub tokens: TokenAuthority,
    /// How long one revocation answer is reused, with [`TokenAuthority::Embedded`] (default
    /// [`DEFAULT_REVOCATION_CACHE_TTL`]).
    pub revocation_cache_ttl: Duration,
    /// How often an open event stream (a session's GET stream, a 2024-11-05 `/sse` stream)
    /// asks whether its token's grant still stands, ending when it does not (default
    /// [`DEFAULT_STREAM_REVOCATION_INTERVAL`]). Each check past the revocation cache's TTL asks
    /// the store, so this bounds the store's load from idle streams.
    pub stream_revocation_interval: Duration,
    /// The scope each tool requires ([`RequiredScopes`]); tools not listed need none.
    pub required_scopes: RequiredScopes,
    /// Per-subject and per-client request limits ([`RequestLimits`]); none by default.
    pub request_limits: Option<RequestLimits>,
}

impl ResourceServerConfig {
    /// Settings for tokens from `issuer`, verified with `keyring`, revocation checked by
    /// `revocation`; no scopes advertised or required yet.
    pub fn new(
        issuer: impl Into<String>,
        keyring: SharedKeyring,
        revocation: Arc<dyn RevocationCheck>,
    ) -> Self {
        Self::with_tokens(
            issuer.into(),
            TokenAuthority::Embedded {
                keyring,
                revocation,
            },
        )
    }

    /// Settings for tokens from an external issuer (`outpost serve --issuer`): the metadata
    /// names [`ExternalTokens::issuer`](crate::auth::external::ExternalTokens::issuer), and
    /// tokens are checked as `external` says; no scopes advertised or required yet.
    #[cfg(feature = "external-issuer")]
    pub fn external(external: Arc<crate::auth::external::ExternalTokens>) -> Self {
        Self::with_tokens(
            external.issuer().to_owned(),
            TokenAuthority::External(external),
        )
    }

    fn with_tokens(issuer: String, tokens: TokenAuthority) -> Self {
        Self {
            issuer,
            scopes_supported: Scope::empty(),
            baseline_scope: Scope::empty(),
            tokens,
            revocation_cache_ttl: DEFAULT_REVOCATION_CACHE_TTL,
            stream_revocation_interval: DEFAULT_STREAM_REVOCATION_INTERVAL,
            required_scopes: RequiredScopes::default(),
            request_limits: None,
        }
    }
}

impl fmt::Debug for ResourceServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceServerConfig")
            .field("issuer", &self.issuer)
            .field("scopes_supported", &self.scopes_supported)
            .field("baseline_scope", &self.baseline_scope)
            .field("revocation_cache_ttl", &self.revocation_cache_ttl)
            .field(
                "stream_revocation_interval",
                &self.stream_revocation_interval,
            )
            .field("required_scopes", &self.required_scopes)
            .field("request_limits", &self.request_limits)
            .finish_non_exhaustive()
    }
}

/// The canonical URL of the MCP endpoint for `base_url` (no trailing slash): the `resource`
/// of the metadata and the audience tokens must carry (RFC 8707 §2).
pub fn canonical_resource(base_url: &str) -> String {
    format!("{}{MCP_PATH}", base_url.trim_end_matches('/'))
}

/// The URL of the 2024-11-05 HTTP+SSE endpoint for `base_url`: another identifier of the
/// protected resource [`canonical_resource`] names, the one clients of that transport were
/// given and name in turn (RFC 8707). Tokens for it carry the canonical URL as their audience.
pub fn http_sse_resource(base_url: &str) -> String {
    format!("{}{SSE_PATH}", base_url.trim_end_matches('/'))
}

/// The URL of the protected resource metadata for the MCP endpoint (RFC 9728 §3.1: the
/// well-known prefix inserted before the resource's path).
pub fn resource_metadata_url(base_url: &str) -> String {
    metadata::url_of(base_url, MCP_PATH)
}
