//! Upstream OpenID login: users sign in at an OpenID provider (Auth0, Okta, Keycloak, Google,
//! …) instead of the password page, while this server stays the MCP clients' authorization
//! server — their registration, their consent, its own tokens for its own resource.
//!
//! The flow, one leg inside the other:
//!
//! 1. `GET /authorize` validates the client's request and keeps it pending, as without
//!    upstream login ([`pending`](crate::pending)); then, instead of the login page, it sends
//!    the browser to the provider's authorization endpoint (`start.rs`): authorization code with
//!    PKCE S256, `state`, `nonce`, `scope=openid email profile`, and the redirect URI
//!    `{issuer}/oauth/upstream/callback`.
//! 2. The provider signs the user in and sends the browser back to
//!    `GET /oauth/upstream/callback` (`callback.rs`): the pending request is found by `state`
//!    and the browser's binding cookie, the RFC 9207 `iss` is checked, the code redeemed at the
//!    provider's token endpoint with the client secret and the PKCE verifier, and the ID token
//!    validated ([`id_token`]: signature by the provider's published keys, `iss`, `aud`, `azp`,
//!    `exp`, `iat`, `nonce`).
//! 3. The provider's user becomes a user of this server (`account.rs`): keyed by (issuer,
//!    `sub`), created on first sign-in, optionally limited to verified emails of some domains;
//!    from there it is the password flow's: the per-user scope policy, the consent page, the
//!    code.
//!
//! Nothing of the upstream leg is kept in memory between requests: `state` is the pending
//! request's id, and the `nonce` and the PKCE verifier are derived from that id and the
//! browser's binding (`leg.rs`), so the pending request in the store is the leg's whole state
//! and the callback can land on any instance. The provider's tokens are used once, to read the
//! ID token, and never stored or passed on: MCP clients only ever see this server's tokens.
//!
//! The provider is looked up at start ([`UpstreamOidc::connect`]: an unreachable issuer or a
//! discovery document without what the flow needs is an error naming the setting), then again
//! at every sign-in (`provider.rs`): a provider that is down gets the user a 503 page instead
//! of a browser sent nowhere, and one that comes back works without a restart. Its keys are
//! refetched when an ID token names a key not seen yet, at most every
//! [`KEY_REFETCH_INTERVAL`].

pub(crate) mod account;
pub(crate) mod callback;
pub mod id_token;
pub(crate) mod leg;
mod provider;
pub(crate) mod start;

use std::time::Duration;

use url::Url;

pub use provider::{ClientAuthentication, KEY_REFETCH_INTERVAL, ProviderMetadata};

use outpost_oauth::issuer_client::{FetchError, IssuerClient, is_https_or_loopback};

/// The path of the callback the provider redirects to, under the issuer.
pub const CALLBACK_PATH: &str = "/oauth/upstream/callback";
/// The scopes asked of the provider: an ID token, and the claims that name the user.
pub const UPSTREAM_SCOPE: &str = "openid email profile";
/// The default clock leeway for the ID token's `exp` and `iat`.
pub const DEFAULT_CLOCK_LEEWAY: Duration = Duration::from_secs(30);

/// The settings of upstream login (`--upstream-oidc` and its companions).
#[derive(Clone)]
pub struct UpstreamSettings {
    /// The provider's issuer identifier, exactly as in its discovery document and ID tokens.
    pub issuer: String,
    /// This server's client id at the provider.
    pub client_id: String,
    /// This server's client secret at the provider.
    pub client_secret: String,
    /// When not empty, only users whose verified email is in one of these domains (compared
    /// case-insensitively, subdomains not included) may sign in.
    pub allowed_domains: Vec<String>,
    /// How far the ID token's `exp` and `iat` may be off, for clock skew with the provider.
    pub clock_leeway: Duration,
}

impl std::fmt::Debug for UpstreamSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("allowed_domains", &self.allowed_domains)
            .field("clock_leeway", &self.clock_leeway)
            .finish()
    }
}

impl UpstreamSettings {
    /// Settings for `issuer` with this server's `client_id` and `client_secret` there, no
    /// domain limit, [`DEFAULT_CLOCK_LEEWAY`].
    pub fn new(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            allowed_domains: Vec::new(),
            clock_leeway: DEFAULT_CLOCK_LEEWAY,
        }
    }
}

/// Why upstream login cannot start. Each names the setting and the cause.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// A URL setting is not https (or http on a loopback host).
    #[error(
        "{setting} {url:?} must be an https URL (http only on a loopback host), without a fragment"
    )]
    InsecureUrl {
        /// The setting or document member.
        setting: &'static str,
        /// The value given.
        url: String,
    },
    /// A required setting is empty.
    #[error("{0} must not be empty")]
    Empty(&'static str),
    /// An allowed domain is not a domain name.
    #[error("--upstream-allowed-domains: {0:?} is not a domain name (e.g. example.com)")]
    Domain(String),
    /// No TLS client could be built.
    #[error("cannot set up TLS for the upstream provider: {0}")]
    Tls(String),
    /// The discovery document could not be fetched.
    #[error("the upstream provider {issuer:?} (--upstream-oidc) cannot be reached: {url}: {cause}")]
    Unreachable {
        /// The issuer.
        issuer: String,
        /// The discovery document's URL.
        url: String,
        /// What failed.
        cause: FetchError,
    },
    /// The discovery document names another issuer.
    #[error(
        "the discovery document at {url} names the issuer {found:?}, not {issuer:?} \
         (--upstream-oidc must be the issuer exactly, trailing slash included)"
    )]
    IssuerMismatch {
        /// The issuer configured.
        issuer: String,
        /// The discovery document's URL.
        url: String,
        /// The issuer it names.
        found: String,
    },
    /// The discovery document lacks something the flow needs.
    #[error("the discovery document at {url} (--upstream-oidc) is not usable: {problem}")]
    Unusable {
        /// The discovery document's URL.
        url: String,
        /// What is missing or wrong.
        problem: String,
    },
    /// The provider's key set could not be fetched or has no usable key.
    #[error("the upstream provider's keys at {jwks_uri} (its jwks_uri): {cause}")]
    Keys {
        /// The key set's URL.
        jwks_uri: String,
        /// What failed.
        cause: String,
    },
}

/// Upstream login, connected: the settings, the https client and what the provider published
/// (its discovery document and keys, refreshed as `provider.rs` says). Shared by the server's
/// clones.
pub struct UpstreamOidc {
    settings: UpstreamSettings,
    redirect_uri: String,
    provider: provider::Provider,
}

impl std::fmt::Debug for UpstreamOidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamOidc")
            .field("settings", &self.settings)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

impl UpstreamOidc {
    /// Checks `settings`, fetches the provider's discovery document and keys, and returns the
    /// connected login for a server whose issuer is `server_issuer` (the callback is
    /// `{server_issuer}/oauth/upstream/callback`, to be registered at the provider).
    pub async fn connect(
        settings: UpstreamSettings,
        server_issuer: &str,
    ) -> Result<Self, UpstreamError> {
        let issuer_url = Url::parse(&settings.issuer).ok();
        if !issuer_url.as_ref().is_some_and(is_https_or_loopback) {
            return Err(UpstreamError::InsecureUrl {
                setting: "--upstream-oidc",
                url: settings.issuer.clone(),
            });
        }
        if settings.client_id.is_empty() {
            return Err(UpstreamError::Empty("--upstream-client-id"));
        }
        if settings.client_secret.is_empty() {
            return Err(UpstreamError::Empty("--upstream-client-secret"));
        }
        let mut settings = settings;
        settings.allowed_domains = account::parse_domains(&settings.allowed_domains)?;
        let client = IssuerClient::new().map_err(|e| UpstreamError::Tls(e.to_string()))?;
        let provider = provider::Provider::connect(&settings.issuer, client).await?;
        Ok(Self {
            redirect_uri: format!("{}{CALLBACK_PATH}", server_issuer.trim_end_matches('/')),
            settings,
            provider,
        })
    }

    /// The settings in use.
    pub fn settings(&self) -> &UpstreamSettings {
        &self.settings
    }

    /// The redirect URI to register at the provider.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }
}
