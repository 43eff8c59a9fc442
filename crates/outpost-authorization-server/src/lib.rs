//! Outpost's own OAuth 2.1 authorization server, as an axum [`Router`] over a [`Store`]. It
//! knows nothing of MCP: the `outpost` crate embeds it next to the MCP endpoints.
//!
//! One file per endpoint, each citing the RFC it implements:
//!
//! - `metadata` — RFC 8414 authorization-server metadata, also at the OpenID discovery path.
//! - `jwks` — the JWK Set (RFC 7517 §5) the resource server verifies access tokens with.
//! - `register` — RFC 7591 Dynamic Client Registration.
//! - [`cimd`] — Client ID Metadata Documents: `https` URL client ids, fetched with SSRF
//!   protection and cached; `clients` resolves every `client_id` (a URL through [`cimd`],
//!   otherwise the store).
//! - [`preregistered`] — clients with fixed ids from a JSON file, checked by the registration
//!   rules and upserted at start.
//! - `token` — RFC 6749 §4.1.3 / §6 token endpoint: `authorization_code` with PKCE (RFC 7636)
//!   and resource indicators (RFC 8707), `refresh_token` with rotation and reuse detection
//!   (OAuth 2.1 §4.3.1); `issuance` mints what it returns.
//! - `revoke` — RFC 7009 revocation; `introspect` — RFC 7662 introspection; both look
//!   tokens up through `inspection`.
//! - `client_auth` — client authentication (RFC 6749 §2.3): public, `client_secret_basic`,
//!   `client_secret_post`; `form` — the form-encoded request bodies; `errors` — the RFC 6749
//!   §5.2 error responses.
//!
//! The browser side, RFC 6749 §4.1.1–§4.1.2 with RFC 9207 `iss`:
//!
//! - `authorize` — `GET /authorize`: validates the request, keeps it server-side
//!   ([`pending`]) and shows the login page.
//! - `browser` — the cookie that binds a pending request to the browser that opened it.
//! - `login` — `POST /login`: CSRF check (`csrf`), password, the failed-login policy
//!   ([`throttle::lockout`]).
//! - `consent` — the consent page and `POST /consent`: remembers consent, issues the code.
//! - [`pages`] — the login, consent and error pages: drawn by a [`PageRenderer`](pages::PageRenderer)
//!   (the built-in askama templates with the product's [`branding`], a directory of
//!   templates with the `page-templates` feature, or the library user's own), and the security
//!   headers of every browser response.
//!
//! [`users`] is where users come from: the [`UserDirectory`](users::UserDirectory) trait a
//! library user implements over their own database or directory, the built-in
//! [`StoreDirectory`](users::StoreDirectory) over the store's users, and the per-user scope
//! policy (the baseline scope for everyone, more only for users allowed it).
//!
//! [`upstream`] signs users in at an upstream OpenID provider instead of the password page
//! (`/authorize` sends the browser there, `GET /oauth/upstream/callback` brings it back):
//! this server stays the clients' authorization server and issues its own tokens.
//!
//! [`forwarded`] finds the client's address behind trusted reverse proxies, for the per-source
//! budgets of [`throttle`].
//!
//! [`maintenance`] purges expired codes, tokens, dead grants, pending requests, throttle
//! attempts and cached documents in the background. [`password`] hashes and verifies passwords
//! and client secrets (argon2id), a bounded number at once ([`password::limit`]).
//!
//! [`routes`] gives the endpoints as an axum [`Router`] over an [`AuthorizationServer`], which
//! holds the configuration, the [`Store`], the [`Keyring`] and a [`Clock`];
//! `Outpost::with_authorization_server` merges them into `http::router`. Everything a request
//! leaves behind for the next one — pending requests ([`pending`]), throttle attempts
//! ([`throttle`]), fetched metadata documents ([`cimd`]) — is in the store, so instances that
//! share a store serve any step of a flow, under one set of budgets.

#![deny(missing_docs)]

mod authorize;
pub mod branding;
mod browser;
pub mod cimd;
mod client_auth;
mod client_name;
mod clients;
mod consent;
mod counters;
mod csrf;
pub mod device;
mod errors;
mod form;
pub use outpost_oauth::forwarded;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod inspection;
mod introspect;
mod issuance;
mod jwks;
mod login;
pub mod maintenance;
mod metadata;
mod navigation;
pub mod pages;
pub mod password;
pub mod pending;
pub mod preregistered;
mod register;
mod revoke;
mod secret_cookie;
pub mod throttle;
mod token;
pub mod upstream;
pub mod users;

use std::{
    collections::BTreeSet,
    sync::{Arc, PoisonError, RwLock, RwLockReadGuard},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{
    Router,
    extract::DefaultBodyLimit,
    middleware,
    routing::{get, post},
};
use http::{HeaderName, Method, header};
use tower_http::cors::{Any, CorsLayer};

use outpost_oauth::{
    keyring::{Keyring, KeyringEntry, KeyringError},
    scope::Scope,
    signing_key::SigningKeyError,
};
use outpost_store::{
    ClientId, KeyEncryptionError, PrivateKeyPem, SecretAtRest, SigningKeyRecord, Store, StoreError,
};

/// Default access-token lifetime: one hour.
pub const DEFAULT_ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// Default refresh-token lifetime: 30 days (each rotation starts a new one).
pub const DEFAULT_REFRESH_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
/// Default authorization-code lifetime: 60 s (RFC 6749 §4.1.2 recommends at most 10 minutes).
pub const DEFAULT_CODE_LIFETIME: Duration = Duration::from_secs(60);
/// Largest request body any endpoint here reads (registration JSON, token forms).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Where the authorization server reads the time: Unix seconds. Tests move it by hand.
pub trait Clock: Send + Sync {
    /// The current time, Unix seconds.
    fn now(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// Why the keyring could not be loaded or rotated.
#[derive(Debug, thiserror::Error)]
pub enum KeyManagementError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored keys do not form a keyring, or a key could not be generated.
    #[error(transparent)]
    Keyring(#[from] KeyringError),
    /// A key could not be read or written as PEM.
    #[error(transparent)]
    Key(#[from] SigningKeyError),
}

/// The authorization server's state: configuration, persistence, keys and clock. Cloning is
/// cheap (`Arc`s and short strings), as axum state needs.
#[derive(Clone)]
pub struct AuthorizationServer {
    /// The issuer identifier, exactly as in the metadata and every token's `iss` (RFC 8414 §2;
    /// clients compare it byte for byte, so it is never normalised).
    pub issuer: String,
    /// The resource (RFC 8707) tokens are bound to when the authorization request named none:
    /// the MCP endpoint's URL.
    pub default_resource: String,
    /// Other identifiers of `default_resource`: further URLs of the same endpoint that a
    /// client may have been given (Outpost's 2024-11-05 HTTP+SSE endpoint, `/sse`, beside
    /// `/mcp`). A request naming one is taken as naming `default_resource`, whose URL its
    /// tokens carry as their audience. None by default.
    pub resource_aliases: Vec<String>,
    /// Users, clients, codes, grants, keys, and the state between requests: pending
    /// authorization requests, throttle attempts, cached metadata documents.
    pub store: Store,
    /// The signing keys. Shared with the resource server when embedded.
    pub keyring: Arc<RwLock<Keyring>>,
    /// How long access tokens live.
    pub access_token_lifetime: Duration,
    /// How long a refresh token lives (from its issue; rotation issues a fresh one).
    pub refresh_token_lifetime: Duration,
    /// How long an authorization code lives.
    pub code_lifetime: Duration,
    /// How long after a refresh token's first rotation presenting it again counts as a
    /// request that raced the rotation — answered with a successor of its own — rather than
    /// as a replay, which revokes the grant (OAuth 2.1 §4.3.1). Zero, the default, is the
    /// RFC's rule: every reuse revokes. A deployment whose clients refresh from several
    /// requests at once may allow a few seconds; a token stolen and replayed within them is
    /// not detected.
    pub refresh_race_window: Duration,
    /// The scopes advertised in the metadata and accepted at registration.
    pub scopes_supported: Vec<String>,
    /// The scope granted when a request names none, and the baseline every user may be
    /// granted: scopes beyond it only to users allowed them ([`users`]). By default every
    /// supported scope (so the per-user policy limits nothing until it is set narrower).
    pub default_scope: Scope,
    /// The time source.
    pub clock: Arc<dyn Clock>,
    /// Client ID Metadata Documents: settings and fetching client.
    pub client_metadata: Arc<cimd::ClientMetadataDocuments>,
    /// The permits every argon2 call (password, client secret, registration) shares.
    pub argon2: password::limit::Argon2Pool,
    /// The reverse proxies whose `Forwarded` / `X-Forwarded-For` name the client, for
    /// per-source throttling ([`forwarded`]); none by default.
    pub trusted_proxies: forwarded::TrustedProxies,
    /// The clients that may introspect any token (RFC 7662 §2.1): resource servers (a clients
    /// file's `"resource_server": true`). Any other client may introspect only the tokens
    /// issued to it. None by default.
    pub resource_servers: Arc<BTreeSet<ClientId>>,
    /// The clients an operator registered (a clients file): their registered `scope` is a
    /// ceiling at `/authorize`. A client that registered itself (DCR, a metadata document)
    /// chose its own `scope` and could register again with any other, so for it the registered
    /// scope limits nothing, and enforcing it would break the official SDKs' step-up (they
    /// register with the first challenge's scope, then ask for more with the same client).
    pub preregistered: Arc<BTreeSet<ClientId>>,
    /// Where users sign in and which scopes each may be granted ([`users`]); `None`: the
    /// store's users ([`users::StoreDirectory`], under [`AuthorizationServer::argon2`]).
    pub user_directory: Option<Arc<dyn users::UserDirectory>>,
    /// Upstream OpenID login ([`upstream`]): when set, users sign in at that provider instead
    /// of the password page (`/login` is not served). `None` by default.
    pub upstream: Option<Arc<upstream::UpstreamOidc>>,
    /// What draws the login, consent and error pages: by default the built-in pages with
    /// Outpost's branding ([`with_branding`](Self::with_branding),
    /// [`with_page_renderer`](Self::with_page_renderer)).
    pub pages: Arc<dyn pages::PageRenderer>,
    /// Whether clients may register themselves (RFC 7591 Dynamic Client Registration at
    /// `/register`); on by default. Off, `/register` is not served (`404`) and the metadata
    /// has no `registration_endpoint`: only Client ID Metadata Documents and pre-registered
    /// clients can authorize.
    pub dynamic_client_registration: bool,
}

impl std::fmt::Debug for AuthorizationServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationServer")
            .field("issuer", &self.issuer)
            .field("default_resource", &self.default_resource)
            .finish_non_exhaustive()
    }
}

impl AuthorizationServer {
    /// A server for `issuer` whose tokens default to `default_resource`, with the default
    /// lifetimes, the system clock, and `scopes_supported` (the first is no default: set
    /// [`AuthorizationServer::default_scope`] to choose one; it is all of them otherwise).
    pub fn new(
        issuer: impl Into<String>,
        default_resource: impl Into<String>,
        store: Store,
        keyring: Keyring,
        scopes_supported: Vec<String>,
    ) -> Self {
        let default_scope = Scope::parse(&scopes_supported.join(" ")).unwrap_or_default();
        Self {
            issuer: issuer.into(),
            default_resource: default_resource.into(),
            resource_aliases: Vec::new(),
            store,
            keyring: Arc::new(RwLock::new(keyring)),
            access_token_lifetime: DEFAULT_ACCESS_TOKEN_LIFETIME,
            refresh_token_lifetime: DEFAULT_REFRESH_TOKEN_LIFETIME,
            code_lifetime: DEFAULT_CODE_LIFETIME,
            refresh_race_window: Duration::ZERO,
            scopes_supported,
            default_scope,
            clock: Arc::new(SystemClock),
            client_metadata: Arc::default(),
            argon2: password::limit::Argon2Pool::default(),
            trusted_proxies: forwarded::TrustedProxies::default(),
            resource_servers: Arc::default(),
            preregistered: Arc::default(),
            user_directory: None,
            upstream: None,
            pages: Arc::new(pages::BuiltInPages::default()),
            dynamic_client_registration: true,
        }
    }

    /// The same server drawing the built-in pages with `branding`: the product's name, logo
    /// and colours.
    pub fn with_branding(mut self, branding: &branding::Branding) -> Self {
        self.pages = Arc::new(pages::BuiltInPages::new(branding));
        self
    }

    /// The same server drawing the login, consent and error pages with `renderer` (replacing
    /// them wholesale, e.g. `pages::TemplateDirectory` with the `page-templates` feature).
    /// CSRF, the security headers and every check of the posted forms stay the server's.
    pub fn with_page_renderer(mut self, renderer: Arc<dyn pages::PageRenderer>) -> Self {
        self.pages = renderer;
        self
    }

    /// The same server without Dynamic Client Registration
    /// ([`AuthorizationServer::dynamic_client_registration`]).
    pub fn without_dynamic_client_registration(mut self) -> Self {
        self.dynamic_client_registration = false;
        self
    }

    /// The same server signing users in against `directory` instead of the store's users
    /// ([`users::UserDirectory`]). The login throttles apply to it as to the built-in one.
    pub fn with_user_directory(mut self, directory: Arc<dyn users::UserDirectory>) -> Self {
        self.user_directory = Some(directory);
        self
    }

    /// The same server signing users in at an upstream OpenID provider ([`upstream`]) instead
    /// of the password page; its users are the store's, created on first sign-in.
    pub fn with_upstream_oidc(mut self, upstream: upstream::UpstreamOidc) -> Self {
        self.upstream = Some(Arc::new(upstream));
        self
    }

    /// The user directory in use: the one given to
    /// [`with_user_directory`](Self::with_user_directory), else the store's users checked
    /// under this server's argon2 permits.
    pub fn users(&self) -> Arc<dyn users::UserDirectory> {
        match &self.user_directory {
            Some(directory) => directory.clone(),
            None => Arc::new(users::StoreDirectory::new(
                self.store.users.clone(),
                self.argon2.clone(),
            )),
        }
    }

    /// The same server treating `clients` as registered by the operator
    /// ([`AuthorizationServer::preregistered`]).
    pub fn with_preregistered(mut self, clients: impl IntoIterator<Item = ClientId>) -> Self {
        self.preregistered = Arc::new(clients.into_iter().collect());
        self
    }

    /// The same server letting the clients `clients` introspect every token, as resource
    /// servers do ([`AuthorizationServer::resource_servers`]).
    pub fn with_resource_servers(mut self, clients: impl IntoIterator<Item = ClientId>) -> Self {
        self.resource_servers = Arc::new(clients.into_iter().collect());
        self
    }

    /// The same server fetching Client ID Metadata Documents per `config`.
    pub fn with_client_metadata_documents(mut self, config: cimd::CimdConfig) -> Self {
        self.client_metadata = Arc::new(cimd::ClientMetadataDocuments::new(config));
        self
    }

    /// The same server running argon2 within `limits` (by default one call per CPU at once,
    /// waiting at most 5 s for a turn).
    pub fn with_argon2_limits(mut self, limits: password::limit::Argon2Limits) -> Self {
        self.argon2 = password::limit::Argon2Pool::new(limits);
        self
    }

    /// The same server believing the forwarding headers of the proxies in `proxies`.
    pub fn with_trusted_proxies(mut self, proxies: forwarded::TrustedProxies) -> Self {
        self.trusted_proxies = proxies;
        self
    }

    /// The same server reading time from `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The resource a request naming `named` (RFC 8707 `resource`) gets tokens for:
    /// [`default_resource`](Self::default_resource) when `named` is it or one of its
    /// [aliases](Self::resource_aliases); `None` when this server protects no such resource.
    pub fn resource_named(&self, named: &str) -> Option<&str> {
        (named == self.default_resource || self.resource_aliases.iter().any(|alias| alias == named))
            .then_some(self.default_resource.as_str())
    }

    /// The current time, Unix seconds.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Whether the issuer is an `https` URL (then cookies are `Secure`).
    pub fn issuer_is_https(&self) -> bool {
        self.issuer.starts_with("https://")
    }

    /// `{issuer}/{path}`: endpoint URLs, without doubling a trailing slash of the issuer.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}/{path}", self.issuer.trim_end_matches('/'))
    }

    /// Read access to the keyring. Nothing panics while holding the lock, so a poisoned lock
    /// still holds a consistent keyring.
    pub fn keyring(&self) -> RwLockReadGuard<'_, Keyring> {
        self.keyring.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Builds the keyring from the stored signing keys; when none is active (a first start),
    /// generates one and stores it unless another instance starting at the same moment stored
    /// its own first (`SigningKeyStore::insert_if_no_active`), then builds it from what the
    /// store holds, so that every instance signs with the same key. `max_token_lifetime` is
    /// the access-token lifetime in use: it decides how long retired keys keep verifying.
    pub async fn load_keyring(
        store: &Store,
        max_token_lifetime: Duration,
        now: i64,
    ) -> Result<Keyring, KeyManagementError> {
        let entries = stored_entries(store).await?;
        match Keyring::from_entries(entries, max_token_lifetime, now) {
            Ok(keyring) => Ok(keyring),
            Err(KeyringError::NoActiveKey) => {
                let fresh = Keyring::generate(now, max_token_lifetime)?;
                for entry in fresh.entries() {
                    store.keys.insert_if_no_active(record_of(entry)?).await?;
                }
                let entries = stored_entries(store).await?;
                Ok(Keyring::from_entries(entries, max_token_lifetime, now)?)
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Rebuilds the keyring from the stored keys at `now`, so that a key rotated elsewhere
    /// (`outpost keys rotate`, another instance on the same store) verifies here too, and signs
    /// here from the same second as everywhere else, and swaps it in. Returns whether the set
    /// of keys changed. A store without an active key leaves the keyring as it is.
    ///
    /// A store that holds none of this keyring's keys was emptied or replaced (as a Redis
    /// restarted without persistence is): it gets them back first, those that still verify
    /// tokens or sign them, as they were, and that is logged as an error. Tokens signed since
    /// then keep verifying on every instance, and every instance ends up signing with one key
    /// again. A store that still holds some of them is followed as it is: a key deleted from it
    /// stays deleted. Retirements the keyring infers (of an older key while a newer one signs,
    /// as after such a repair) are written to the store, so that no instance takes the older
    /// key for active later.
    pub async fn reload_keyring(&self, now: i64) -> Result<bool, KeyManagementError> {
        let mut stored = stored_entries(&self.store).await?;
        match self.republish_lost_keys(&stored, now).await {
            Ok(false) => {}
            Ok(true) => stored = stored_entries(&self.store).await?,
            Err(error) => {
                tracing::warn!(%error, "cannot store again the signing keys the store lost");
            }
        }
        let fresh =
            match Keyring::from_entries(stored.iter().cloned(), self.access_token_lifetime, now) {
                Ok(keyring) => keyring,
                Err(KeyringError::NoActiveKey) => return Ok(false),
                Err(other) => return Err(other.into()),
            };
        self.record_inferred_retirements(&stored, &fresh).await;
        let mut keyring = self.keyring.write().unwrap_or_else(PoisonError::into_inner);
        let kids = |keyring: &Keyring| -> Vec<String> {
            keyring.entries().map(|e| e.key.kid().to_owned()).collect()
        };
        let changed = kids(&keyring) != kids(&fresh);
        *keyring = fresh;
        Ok(changed)
    }

    /// Stores again this keyring's keys that still verify or sign at `now` when the `stored`
    /// keys include none of this keyring's (see [`reload_keyring`](Self::reload_keyring));
    /// returns whether it did.
    async fn republish_lost_keys(
        &self,
        stored: &[KeyringEntry],
        now: i64,
    ) -> Result<bool, KeyManagementError> {
        let lost: Vec<KeyringEntry> = {
            let keyring = self.keyring();
            let is_stored =
                |entry: &KeyringEntry| stored.iter().any(|s| s.key.kid() == entry.key.kid());
            if keyring.entries().any(is_stored) {
                return Ok(false);
            }
            let signing = keyring.signing_key(now).kid().to_owned();
            keyring
                .entries()
                .filter(|entry| {
                    let kid = entry.key.kid();
                    kid == signing || keyring.verification_key(kid, now).is_some()
                })
                .cloned()
                .collect()
        };
        let kids: Vec<&str> = lost.iter().map(|e| e.key.kid()).collect();
        tracing::error!(
            ?kids,
            "the store holds none of this instance's signing keys: it was emptied or replaced \
             (a Redis restarted without persistence also lost its users, clients, grants and \
             sessions). Storing the keys again, so that every instance verifies the tokens \
             they sign"
        );
        for entry in &lost {
            match self.store.keys.insert(record_of(entry)?).await {
                // Another instance holding the same key stored it first.
                Ok(()) | Err(StoreError::Conflict(_)) => {}
                Err(error) => return Err(error.into()),
            }
        }
        Ok(true)
    }

    /// Writes to the store the retirements `keyring` inferred from the `stored` keys (a key
    /// stored unretired that the keyring retired); a failure is logged, and tried again at the
    /// next reload.
    async fn record_inferred_retirements(&self, stored: &[KeyringEntry], keyring: &Keyring) {
        for entry in keyring.entries() {
            let Some(at) = entry.retired_at else { continue };
            let kid = entry.key.kid();
            let unretired_in_store = stored
                .iter()
                .any(|s| s.key.kid() == kid && s.retired_at.is_none());
            if unretired_in_store && let Err(error) = self.store.keys.retire(kid, at).await {
                tracing::warn!(%error, kid, "cannot record a signing key's retirement");
            }
        }
    }

    /// The keyring the stored keys make at `now`, without generating any; `None` when no stored
    /// key is active.
    pub async fn stored_keyring(
        store: &Store,
        max_token_lifetime: Duration,
        now: i64,
    ) -> Result<Option<Keyring>, KeyManagementError> {
        let entries = stored_entries(store).await?;
        match Keyring::from_entries(entries, max_token_lifetime, now) {
            Ok(keyring) => Ok(Some(keyring)),
            Err(KeyringError::NoActiveKey) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }

    /// Rotates the signing key at `now`: stores a new key, published at once and signing from
    /// `now + PUBLICATION_LEAD` ([`outpost_oauth::keyring`]), and the old key's retirement at
    /// that same second (it keeps verifying until its tokens have expired), then swaps the
    /// keyring in. Every instance sharing the store loads the new key before it signs anywhere.
    /// Returns the new `kid`.
    pub async fn rotate_keys(&self, now: i64) -> Result<String, KeyManagementError> {
        let mut next = self.keyring().clone();
        let rotation = next.rotate(now)?;
        let record = record_of(&rotation.successor)?;
        let kid = record.kid.clone();
        self.store.keys.insert(record).await?;
        for (retired, at) in &rotation.retirements {
            self.store.keys.retire(retired, *at).await?;
        }
        *self.keyring.write().unwrap_or_else(PoisonError::into_inner) = next;
        Ok(kid)
    }
}

/// Every stored signing key as a keyring entry.
async fn stored_entries(store: &Store) -> Result<Vec<KeyringEntry>, KeyManagementError> {
    let records = store.keys.list().await?;
    records
        .iter()
        .map(|r| {
            let pem = match &r.private_key {
                SecretAtRest::Clear(pem) => pem,
                // Sealed keys are opened by the store `encrypt_keys_at_rest` gives; this one
                // was not, so it was opened without the key-encryption key.
                SecretAtRest::Sealed(sealed) => {
                    return Err(StoreError::from(KeyEncryptionError::NotGiven {
                        record: format!("signing key {}", r.kid),
                        key_id: sealed.key_id().clone(),
                    })
                    .into());
                }
            };
            Ok(KeyringEntry::from_stored(
                &r.kid,
                &r.algorithm,
                pem.expose(),
                r.created_at,
                r.retired_at,
            )?)
        })
        .collect()
}

fn record_of(entry: &KeyringEntry) -> Result<SigningKeyRecord, SigningKeyError> {
    Ok(SigningKeyRecord {
        kid: entry.key.kid().to_owned(),
        algorithm: entry.key.algorithm().to_owned(),
        private_key: SecretAtRest::Clear(PrivateKeyPem::new(entry.key.to_pem()?)),
        created_at: entry.created_at,
        retired_at: entry.retired_at,
    })
}

/// The authorization server's endpoints, to be merged into the outer router at the root
/// of the issuer: the two discovery documents, `/jwks.json`, `/register` (unless
/// [`AuthorizationServer::dynamic_client_registration`] is off), `/token`, `/revoke`,
/// `/introspect`, and the browser routes `/authorize`, `/login`, `/consent` (their pages drawn
/// by [`AuthorizationServer::pages`], with `pages::BROWSER_HEADERS`) — with upstream login,
/// `/oauth/upstream/callback` instead of `/login`. Bodies are limited to [`MAX_BODY_BYTES`].
/// Per-source throttling
/// needs the connection's address: serve with
/// `into_make_service_with_connect_info::<SocketAddr>()` (see [`throttle`]).
pub fn routes(state: AuthorizationServer) -> Router {
    let sign_in = if state.upstream.is_some() {
        Router::new().route(upstream::CALLBACK_PATH, get(upstream::callback::callback))
    } else {
        Router::new().route("/login", post(login::login))
    };
    let browser = pages::with_browser_headers(
        Router::new()
            .route("/authorize", get(authorize::authorize))
            .route("/consent", post(consent::consent))
            .merge(sign_in)
            .layer(middleware::map_response_with_state(
                state.clone(),
                pages::render_pages,
            )),
    );
    // Browser-based clients (MCP Inspector in direct mode) call discovery, registration, token
    // and revocation from a web page: allow any origin, without credentials (these endpoints
    // authenticate clients by their parameters, never by cookies). The pages stay same-origin.
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static("mcp-protocol-version"),
        ])
        .expose_headers([header::WWW_AUTHENTICATE]);
    let mut endpoints = Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            get(metadata::metadata),
        )
        .route("/.well-known/openid-configuration", get(metadata::metadata))
        .route("/jwks.json", get(jwks::jwks));
    if state.dynamic_client_registration {
        endpoints = endpoints.route("/register", post(register::register));
    }
    let endpoints = endpoints
        .route("/token", post(token::token))
        .route("/revoke", post(revoke::revoke))
        .route("/introspect", post(introspect::introspect))
        .layer(cors);
    Router::new()
        .merge(browser)
        .merge(endpoints)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}
