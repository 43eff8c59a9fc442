//! [`OutpostBuilder`]: a server assembled from the feature list — the handler, the store,
//! who issues tokens, the scopes, the users, the address — with `outpost serve`'s defaults.
//! `outpost serve` is built with it.
//!
//! The defaults (nothing set): `127.0.0.1:8000`, the store `sqlite://./outpost.db` (created
//! `0600` and migrated on first start), authentication on with the embedded authorization
//! server over that store, the baseline scope `mcp`, and the scopes the handler's tools
//! declare ([`requires_scope`](crate::auth::resource::requires_scope)) advertised and
//! enforced. [`OutpostBuilder::build`] opens the store, migrates it, loads (or, on a first
//! start, creates) the signing and `requestState` keys, and returns an [`Outpost`] to
//! [`serve`](Outpost::serve) or take the [`router`](Outpost::router) of.
//!
//! ```no_run
//! # use rmcp::{ServerHandler, model::ServerInfo};
//! # #[derive(Clone)] struct MyTools;
//! # impl ServerHandler for MyTools { fn get_info(&self) -> ServerInfo { ServerInfo::default() } }
//! # async fn run() -> Result<(), outpost::OutpostError> {
//! outpost::Outpost::builder(MyTools)
//!     .public_url("https://mcp.example.com".parse().unwrap())
//!     .bind("0.0.0.0:8000".parse().unwrap())
//!     .store("sqlite:///var/lib/my-server/outpost.db")
//!     .serve(outpost::shutdown_signal())
//!     .await
//! # }
//! ```

#[cfg(feature = "authorization-server")]
mod demo_users;
mod env;
mod error;

use std::{future::Future, net::SocketAddr};

use rmcp::ServerHandler;
use tokio::net::TcpListener;
use url::Url;

#[cfg(any(feature = "authorization-server", feature = "external-issuer"))]
use crate::auth::scope::Scope;
use crate::{
    AuthMode, HandlerFactory, Outpost, OutpostError, RequestStateKeys, ServeError, ServerConfig,
    auth::resource::{RequiredScopes, ResourceServerConfig},
    store::{KeyEncryptionKeys, Store, StoreOptions, encrypt_keys_at_rest, redact_url},
};

#[cfg(feature = "authorization-server")]
pub use demo_users::DEMO_USERS;
pub use env::{BIND_ENV, PUBLIC_URL_ENV, STORE_ENV};
pub use error::{BoxError, BuildError};

/// The store when none is named and authentication is on (`outpost serve`'s default). A build
/// without the `sqlite` feature has no default for the embedded authorization server (its
/// users and grants need a store that lasts: [`OutpostBuilder::store`] names one); an
/// external issuer's resource server, which keeps only sessions, `requestState` keys and
/// throttle attempts, then keeps them in memory.
pub const DEFAULT_STORE_URL: &str = "sqlite://./outpost.db";
/// The scope every request needs unless [`OutpostBuilder::baseline_scope`] says otherwise.
pub const DEFAULT_BASELINE_SCOPE: &str = "mcp";

/// Where the store comes from.
enum StoreSetting {
    /// [`DEFAULT_STORE_URL`] when authentication is on; none without.
    Default,
    /// A URL to open.
    Url(String),
    /// A store the caller opened, and how logs show it.
    Opened(Box<Store>, String),
}

/// Who issues the tokens `/mcp` accepts.
enum Authentication {
    /// The embedded authorization server, over the store.
    Embedded,
    /// An identity provider of the user's own.
    #[cfg(feature = "external-issuer")]
    External(Box<crate::auth::external::ExternalIssuerConfig>),
    /// Nobody: no authentication (loopback only).
    Disabled,
}

/// A change to the resource server's settings, run by [`OutpostBuilder::build`].
type ResourceAdjustment = Box<dyn FnOnce(&mut ResourceServerConfig) + Send>;

/// A change to the embedded authorization server, run by [`OutpostBuilder::build`].
#[cfg(feature = "authorization-server")]
type ServerAdjustment = Box<
    dyn FnOnce(
            crate::auth::server::AuthorizationServer,
        ) -> std::pin::Pin<
            Box<
                dyn Future<Output = Result<crate::auth::server::AuthorizationServer, BoxError>>
                    + Send,
            >,
        > + Send,
>;

/// Builds an [`Outpost`] from the features it should have; see the [module docs](self) for
/// the defaults. Made by [`Outpost::builder`] or [`Outpost::builder_with_factory`].
///
/// A minimal authenticated server, with the demo users for a first try:
///
/// ```no_run
/// # use rmcp::{ServerHandler, model::ServerInfo};
/// # #[derive(Clone)] struct MyTools;
/// # impl ServerHandler for MyTools { fn get_info(&self) -> ServerInfo { ServerInfo::default() } }
/// # async fn run() -> Result<(), outpost::OutpostError> {
/// outpost::Outpost::builder(MyTools)
///     .demo_users() // alice / password123, bob / password456
///     .serve(outpost::shutdown_signal())
///     .await
/// # }
/// ```
///
/// Settings are checked by [`build`](Self::build), which names the one at fault
/// ([`BuildError`]).
pub struct OutpostBuilder<H> {
    factory: HandlerFactory<H>,
    config: ServerConfig,
    listener: Option<TcpListener>,
    store: StoreSetting,
    store_options: StoreOptions,
    key_encryption: Option<KeyEncryptionKeys>,
    authentication: Authentication,
    baseline_scope: String,
    scopes_supported: Vec<String>,
    required_scopes: Option<RequiredScopes>,
    resource_adjustments: Vec<ResourceAdjustment>,
    #[cfg(feature = "authorization-server")]
    demo_users: bool,
    #[cfg(feature = "authorization-server")]
    demo_users_on_public_bind: bool,
    #[cfg(feature = "authorization-server")]
    user_directory: Option<std::sync::Arc<dyn crate::auth::server::users::UserDirectory>>,
    #[cfg(feature = "authorization-server")]
    server_adjustments: Vec<ServerAdjustment>,
    in_memory_sessions: bool,
    deferred_error: Option<BuildError>,
}

impl<H> OutpostBuilder<H>
where
    H: ServerHandler + Send + Sync + 'static,
{
    pub(crate) fn new(factory: HandlerFactory<H>) -> Self {
        Self {
            factory,
            config: ServerConfig::default(),
            listener: None,
            store: StoreSetting::Default,
            store_options: StoreOptions::default(),
            key_encryption: None,
            authentication: Authentication::Embedded,
            baseline_scope: DEFAULT_BASELINE_SCOPE.to_owned(),
            scopes_supported: Vec::new(),
            required_scopes: None,
            resource_adjustments: Vec::new(),
            #[cfg(feature = "authorization-server")]
            demo_users: false,
            #[cfg(feature = "authorization-server")]
            demo_users_on_public_bind: false,
            #[cfg(feature = "authorization-server")]
            user_directory: None,
            #[cfg(feature = "authorization-server")]
            server_adjustments: Vec::new(),
            in_memory_sessions: false,
            deferred_error: None,
        }
    }

    /// The address to listen on (default `127.0.0.1:8000`). Port 0 picks a free port when
    /// [`build`](Self::build) runs, so that the issuer and resource URLs carry the real one.
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.config.bind = addr;
        self
    }

    /// Serves on `listener`, which the caller bound; [`bind`](Self::bind) is its address.
    pub fn listener(mut self, listener: TcpListener) -> Self {
        self.listener = Some(listener);
        self
    }

    /// The externally visible base URL (e.g. `https://mcp.example.com`): the issuer of the
    /// embedded authorization server, the MCP resource `{url}/mcp`, and the `Host` and `Origin`
    /// accepted. Default `http://{bind}`.
    pub fn public_url(mut self, url: Url) -> Self {
        self.config.public_url = Some(url);
        self
    }

    /// Replaces the server settings (address, public URL, limits, timeouts, …): see
    /// [`ServerConfig`]. Its `auth` is set by [`build`](Self::build) from the authentication
    /// settings of this builder.
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// Changes the server settings in place, e.g. one limit.
    pub fn configure(mut self, change: impl FnOnce(&mut ServerConfig)) -> Self {
        change(&mut self.config);
        self
    }

    /// Reads the settings `outpost serve` takes from the environment, where set:
    /// [`BIND_ENV`] (`OUTPOST_BIND`), [`PUBLIC_URL_ENV`] (`OUTPOST_PUBLIC_URL`) and
    /// [`STORE_ENV`] (`OUTPOST_STORE`). They replace what was set before this call; calls
    /// after it replace them. A malformed variable fails [`build`](Self::build), naming it.
    pub fn settings_from_env(mut self) -> Self {
        match env::EnvSettings::read() {
            Ok(settings) => {
                if let Some(bind) = settings.bind {
                    self.config.bind = bind;
                }
                if let Some(url) = settings.public_url {
                    self.config.public_url = Some(url);
                }
                if let Some(url) = settings.store {
                    self.store = StoreSetting::Url(url);
                }
            }
            Err(error) => {
                self.deferred_error.get_or_insert(error);
            }
        }
        self
    }

    /// The store, by URL: `memory://` (gone at exit), `sqlite://PATH` (feature `sqlite`),
    /// `redis://…` / `rediss://…` (feature `redis`; one store for several instances). It keeps
    /// the users, clients, grants and keys of the embedded authorization server, the MCP
    /// sessions (resumed after a restart, by any instance on the store) and the
    /// `requestState` keys. Default `sqlite://./outpost.db`, or none without authentication.
    pub fn store(mut self, url: impl Into<String>) -> Self {
        self.store = StoreSetting::Url(url.into());
        self
    }

    /// What the store URL needs besides itself: a Redis prefix, password and timeouts, a
    /// SQLite file others may read.
    pub fn store_options(mut self, options: StoreOptions) -> Self {
        self.store_options = options;
        self
    }

    /// A store the caller opened instead of a URL (e.g. a backend of their own,
    /// [`Store::from_backend`]); `name` is how logs show it (a URL's password is redacted).
    pub fn opened_store(mut self, store: Store, name: impl Into<String>) -> Self {
        self.store = StoreSetting::Opened(Box::new(store), redact_url(&name.into()));
        self
    }

    /// Seals the signing and `requestState` keys in the store with `keys` (XChaCha20-Poly1305;
    /// clear keys are sealed at start, keys sealed with a previous key sealed again). Without
    /// it they are stored in the clear, and a store whose keys are sealed is refused.
    pub fn key_encryption(mut self, keys: KeyEncryptionKeys) -> Self {
        self.key_encryption = Some(keys);
        self
    }

    /// Serves without authentication: no authorization server, no store unless
    /// [`store`](Self::store) names one (it then keeps the sessions and `requestState` keys).
    /// Development only: [`build`](Self::build) refuses it on a non-loopback address.
    pub fn no_auth(mut self) -> Self {
        self.authentication = Authentication::Disabled;
        self
    }

    /// Trusts tokens from an identity provider of your own instead of running the embedded
    /// authorization server: JWTs verified with the keys its discovery document names, or
    /// opaque tokens introspected. The store keeps only sessions and `requestState` keys.
    #[cfg(feature = "external-issuer")]
    pub fn external_issuer(mut self, issuer: crate::auth::external::ExternalIssuerConfig) -> Self {
        self.authentication = Authentication::External(Box::new(issuer));
        self
    }

    /// The scope every request needs and a `401` asks clients for (default `mcp`); every user
    /// may be granted it.
    pub fn baseline_scope(mut self, scope: impl Into<String>) -> Self {
        self.baseline_scope = scope.into();
        self
    }

    /// Scopes advertised besides the baseline and those the tools require (e.g. scopes a
    /// handler checks itself).
    pub fn scopes_supported<S: Into<String>>(
        mut self,
        scopes: impl IntoIterator<Item = S>,
    ) -> Self {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The scope each tool requires, instead of the scopes the handler's tools declare
    /// ([`requires_scope`](crate::auth::resource::requires_scope); collected from its
    /// `tools/list` by default).
    pub fn required_scopes(mut self, scopes: RequiredScopes) -> Self {
        self.required_scopes = Some(scopes);
        self
    }

    /// Changes the resource server's settings after the builder made them (e.g. the
    /// revocation cache's lifetime).
    pub fn configure_resource_server(
        mut self,
        change: impl FnOnce(&mut ResourceServerConfig) + Send + 'static,
    ) -> Self {
        self.resource_adjustments.push(Box::new(change));
        self
    }

    /// Ensures the demo users exist in the store ([`DEMO_USERS`]): `alice` / `password123`,
    /// who may be granted every supported scope, and `bob` / `password456`, the baseline
    /// only. Refused on a non-loopback address unless
    /// [`allow_demo_users_on_public_bind`](Self::allow_demo_users_on_public_bind).
    #[cfg(feature = "authorization-server")]
    pub fn demo_users(mut self) -> Self {
        self.demo_users = true;
        self
    }

    /// Allows [`demo_users`](Self::demo_users) on a non-loopback address: anyone who reaches
    /// the server can log in as them.
    #[cfg(feature = "authorization-server")]
    pub fn allow_demo_users_on_public_bind(mut self) -> Self {
        self.demo_users_on_public_bind = true;
        self
    }

    /// Signs users in against `directory` — your own database or directory — instead of the
    /// store's users (see [`UserDirectory`](crate::auth::server::users::UserDirectory)).
    #[cfg(feature = "authorization-server")]
    pub fn user_directory(
        mut self,
        directory: impl crate::auth::server::users::UserDirectory + 'static,
    ) -> Self {
        self.user_directory = Some(std::sync::Arc::new(directory));
        self
    }

    /// Changes the embedded authorization server after the builder made it (lifetimes,
    /// client policies, pre-registered clients, …); runs in [`build`](Self::build), in the
    /// order given. Its error, which should name what it was setting, fails the build.
    #[cfg(feature = "authorization-server")]
    pub fn configure_authorization_server<F, Fut, E>(mut self, change: F) -> Self
    where
        F: FnOnce(crate::auth::server::AuthorizationServer) -> Fut + Send + 'static,
        Fut: Future<Output = Result<crate::auth::server::AuthorizationServer, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.server_adjustments.push(Box::new(move |server| {
            let changed = change(server);
            Box::pin(async move { changed.await.map_err(Into::into) })
        }));
        self
    }

    /// Serves 2025-xx sessions with rmcp's in-memory session manager instead of parked
    /// sessions ([`Outpost::with_in_memory_sessions`]).
    pub fn in_memory_sessions(mut self) -> Self {
        self.in_memory_sessions = true;
        self
    }

    /// [`build`](Self::build)s the server and [`serve`](Outpost::serve)s it until
    /// `shutdown_signal` resolves.
    pub async fn serve(
        self,
        shutdown_signal: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), OutpostError> {
        self.build().await?.serve(shutdown_signal).await
    }

    /// Binds port 0 if asked for it, checks the settings, opens and migrates the store, loads
    /// (or creates) its keys, ensures the demo users, and assembles the server.
    pub async fn build(mut self) -> Result<Outpost<H>, BuildError> {
        if let Some(error) = self.deferred_error.take() {
            return Err(error);
        }
        self.resolve_address().await?;
        self.check_settings()?;
        let auth_on = !matches!(self.authentication, Authentication::Disabled);
        let (store, store_url) = self.open_store(auth_on).await?;
        let request_state_keys = match &store {
            Some(store) => {
                let keys = RequestStateKeys::load(store.request_state_keys.clone()).await?;
                tracing::info!(kid = %keys.sealing_kid(), "request-state keys loaded");
                keys
            }
            None => RequestStateKeys::process_local(),
        };
        let mut outpost =
            Outpost::from_factory(self.factory.clone()).with_request_state_keys(request_state_keys);
        if self.in_memory_sessions {
            outpost = outpost.with_in_memory_sessions();
        }
        if let Some(store) = &store {
            outpost = outpost
                .with_session_store(store.mcp_sessions.clone())
                .with_event_store(store.events.clone())
                .with_store_health(store.health.clone());
        }
        let authentication = std::mem::replace(&mut self.authentication, Authentication::Disabled);
        self.config.auth = match (authentication, store) {
            (Authentication::Disabled, store) => {
                if store.is_some() {
                    tracing::info!(store = %store_url, "sessions kept in the store, without authentication");
                }
                if !public_url_is_loopback(&self.config.base_url()) {
                    tracing::warn!(
                        url = %self.config.base_url(),
                        "serving WITHOUT AUTHENTICATION behind a public URL that is not \
                         loopback: whoever reaches that URL (a proxy forwarding to this \
                         loopback listener) calls every tool as nobody in particular"
                    );
                }
                AuthMode::Disabled
            }
            #[cfg(feature = "authorization-server")]
            (Authentication::Embedded, Some(store)) => {
                let (server, resource) = self.embedded(store, &store_url).await?;
                outpost = outpost.with_authorization_server(server);
                AuthMode::Bearer(resource)
            }
            #[cfg(feature = "external-issuer")]
            (Authentication::External(mut issuer), Some(store)) => {
                issuer
                    .introspection_refusals
                    .get_or_insert_with(|| store.throttles.clone());
                AuthMode::Bearer(self.external(*issuer, &store_url).await?)
            }
            // Without the feature `check_settings` refused it; with it, a store was opened.
            (_, _) => return Err(BuildError::NoAuthentication),
        };
        outpost.listener = self.listener.take();
        Ok(outpost.with_config(self.config))
    }

    /// Refuses settings that cannot work, before the store is opened.
    fn check_settings(&self) -> Result<(), BuildError> {
        #[cfg(feature = "authorization-server")]
        let conflict = |setting, other| Err(BuildError::Conflict { setting, other });
        match &self.authentication {
            Authentication::Disabled => {
                self.config.validate()?;
                #[cfg(feature = "authorization-server")]
                if self.demo_users {
                    return conflict("demo_users", "no_auth");
                }
                #[cfg(feature = "authorization-server")]
                if self.user_directory.is_some() {
                    return conflict("user_directory", "no_auth");
                }
            }
            #[cfg(feature = "external-issuer")]
            Authentication::External(_) => {
                #[cfg(feature = "authorization-server")]
                if self.demo_users {
                    return conflict("demo_users", "external_issuer");
                }
                #[cfg(feature = "authorization-server")]
                if self.user_directory.is_some() {
                    return conflict("user_directory", "external_issuer");
                }
            }
            Authentication::Embedded => {
                #[cfg(not(feature = "authorization-server"))]
                return Err(BuildError::NoAuthentication);
            }
        }
        if !matches!(self.authentication, Authentication::Disabled) {
            // All but the unauthenticated-bind check: an authenticated server may listen
            // anywhere.
            self.config.validate_listener()?;
        }
        #[cfg(feature = "authorization-server")]
        {
            if self.demo_users && self.user_directory.is_some() {
                return conflict("demo_users", "user_directory");
            }
            if self.demo_users
                && !self.demo_users_on_public_bind
                && !self.config.bind.ip().is_loopback()
            {
                return Err(BuildError::DemoUsersOnPublicBind(self.config.bind));
            }
        }
        Ok(())
    }

    /// Takes the address from the listener given, or binds port 0 now, so that the URLs
    /// built from it carry the real port.
    async fn resolve_address(&mut self) -> Result<(), BuildError> {
        if self.listener.is_none() && self.config.bind.port() == 0 {
            self.listener = Some(crate::http::listener::bind(self.config.bind).await?);
        }
        if let Some(listener) = &self.listener {
            self.config.bind = listener.local_addr().map_err(ServeError::Io)?;
        }
        Ok(())
    }

    /// The store to use and its URL as logs show it: the one given, else the default one when
    /// authentication is on; its keys sealed with [`key_encryption`](Self::key_encryption).
    async fn open_store(&mut self, auth_on: bool) -> Result<(Option<Store>, String), BuildError> {
        let setting = std::mem::replace(&mut self.store, StoreSetting::Default);
        let (store, shown) = match setting {
            StoreSetting::Opened(store, name) => {
                let store = *store;
                let store = match self.key_encryption.take() {
                    Some(keys) => encrypt_keys_at_rest(store, Some(keys))
                        .await
                        .map_err(BuildError::KeyEncryption)?,
                    None => store,
                };
                return Ok((Some(store), name));
            }
            StoreSetting::Default if !auth_on => return Ok((None, String::new())),
            StoreSetting::Default => {
                let url = self.default_store_url()?;
                (self.open_url(url).await?, url.to_owned())
            }
            StoreSetting::Url(url) => (self.open_url(&url).await?, redact_url(&url)),
        };
        let unencrypted = self.key_encryption.is_none() && shown != "memory://";
        // Without a key, a store whose keys are encrypted is refused here.
        let store = encrypt_keys_at_rest(store, self.key_encryption.take())
            .await
            .map_err(BuildError::KeyEncryption)?;
        if unencrypted {
            tracing::warn!(
                store = %shown,
                "signing and request-state keys are stored unencrypted: give a key-encryption \
                 key to encrypt them at rest"
            );
        }
        Ok((Some(store), shown))
    }

    /// The store to open when none is named and authentication is on: see
    /// [`DEFAULT_STORE_URL`].
    fn default_store_url(&self) -> Result<&'static str, BuildError> {
        if cfg!(feature = "sqlite") {
            return Ok(DEFAULT_STORE_URL);
        }
        #[cfg(feature = "external-issuer")]
        if matches!(self.authentication, Authentication::External(_)) {
            return Ok("memory://");
        }
        Err(BuildError::NoDefaultStore)
    }

    async fn open_url(&self, url: &str) -> Result<Store, BuildError> {
        crate::store::open_with(url, &self.store_options)
            .await
            .map_err(|source| BuildError::Store {
                url: redact_url(url),
                source,
            })
    }

    #[cfg(any(feature = "authorization-server", feature = "external-issuer"))]
    /// The baseline, every supported scope, and what each tool requires.
    async fn scopes(&mut self) -> Result<(Scope, Scope, RequiredScopes), BuildError> {
        let parse = |setting, value: &str| {
            Scope::parse(value).map_err(|source| BuildError::Scope { setting, source })
        };
        let baseline = parse("baseline_scope", &self.baseline_scope)?;
        let extra = parse("scopes_supported", &self.scopes_supported.join(" "))?;
        let required = match self.required_scopes.take() {
            Some(required) => required,
            None => RequiredScopes::from_factory(&self.factory).await?,
        };
        let supported = baseline.union(&extra).union(required.all());
        Ok((baseline, supported, required))
    }

    #[cfg(any(feature = "authorization-server", feature = "external-issuer"))]
    /// The resource server's settings around `tokens`, with the scopes and the caller's
    /// adjustments.
    fn resource_server(
        &mut self,
        mut resource: ResourceServerConfig,
        baseline: Scope,
        supported: Scope,
        required: RequiredScopes,
    ) -> ResourceServerConfig {
        resource.scopes_supported = supported;
        resource.baseline_scope = baseline;
        resource.required_scopes = required;
        for change in self.resource_adjustments.drain(..) {
            change(&mut resource);
        }
        warn_if_plain_http(&self.config.base_url());
        resource
    }

    /// The embedded authorization server over `store`, and the resource server trusting it.
    #[cfg(feature = "authorization-server")]
    async fn embedded(
        &mut self,
        store: Store,
        store_url: &str,
    ) -> Result<
        (
            crate::auth::server::AuthorizationServer,
            ResourceServerConfig,
        ),
        BuildError,
    > {
        use crate::auth::{
            resource::{canonical_resource, http_sse_resource},
            server::{AuthorizationServer, Clock, DEFAULT_ACCESS_TOKEN_LIFETIME, SystemClock},
        };
        let (baseline, supported, required) = self.scopes().await?;
        let base_url = self.config.base_url();
        let keyring = AuthorizationServer::load_keyring(
            &store,
            DEFAULT_ACCESS_TOKEN_LIFETIME,
            SystemClock.now(),
        )
        .await?;
        let mut server = AuthorizationServer::new(
            &base_url,
            canonical_resource(&base_url),
            store,
            keyring,
            supported.iter().map(str::to_owned).collect(),
        );
        server.resource_aliases = vec![http_sse_resource(&base_url)];
        server.default_scope = baseline.clone();
        if let Some(directory) = self.user_directory.take() {
            server = server.with_user_directory(directory);
        }
        for change in self.server_adjustments.drain(..) {
            server = change(server)
                .await
                .map_err(BuildError::AuthorizationServer)?;
        }
        if self.demo_users {
            let beyond_baseline = Scope::parse(
                &supported
                    .iter()
                    .filter(|scope| !baseline.contains(scope))
                    .collect::<Vec<_>>()
                    .join(" "),
            )
            .unwrap_or_default();
            demo_users::ensure(&server, &beyond_baseline).await?;
            if !public_url_is_loopback(&base_url) {
                tracing::warn!(
                    url = %base_url,
                    "the demo users alice and bob, whose passwords are public, sign in at a \
                     public URL that is not loopback: whoever reaches it can sign in as them"
                );
            }
        } else if server.user_directory.is_none() && server.upstream.is_none() {
            // A store an earlier `--demo` start filled keeps its users: on an address others
            // reach, their public passwords must not work.
            let public = demo_users::still_public(&server).await?;
            if !public.is_empty() {
                if !self.demo_users_on_public_bind && !self.config.bind.ip().is_loopback() {
                    return Err(BuildError::DemoPasswordsOnPublicBind {
                        address: self.config.bind,
                        users: public.join(", "),
                    });
                }
                tracing::warn!(
                    users = %public.join(", "),
                    "the store still holds demo users with their public passwords (an earlier \
                     --demo start made them): change them (`outpost users passwd NAME`) or \
                     remove them (`outpost users remove NAME`) before anyone else can reach \
                     this server"
                );
            }
            let users = server.store.users.list().await;
            if users.is_ok_and(|users| users.is_empty()) {
                if store_url == "memory://" {
                    tracing::warn!(
                        "the memory store has no user, so nobody can log in: no command can \
                         add one to it; use a store that outlives the process (sqlite://, \
                         redis://), or start with the demo users",
                    );
                } else {
                    tracing::warn!(
                        store = %store_url,
                        "the store has no user, so nobody can log in: create one (`outpost \
                         users add NAME --store {store_url}`), or start with the demo users",
                    );
                }
            }
        }
        let grants: std::sync::Arc<dyn crate::store::GrantStore> = server.store.grants.clone();
        let resource = ResourceServerConfig::new(
            server.issuer.clone(),
            server.keyring.clone(),
            std::sync::Arc::new(grants),
        );
        let resource = self.resource_server(resource, baseline, supported, required);
        tracing::info!(
            issuer = %server.issuer,
            resource = %server.default_resource,
            kid = %server.keyring().signing_key(server.now()).kid(),
            store = %store_url,
            "authorization server enabled"
        );
        Ok((server, resource))
    }

    /// The resource server trusting the external issuer `issuer`.
    #[cfg(feature = "external-issuer")]
    async fn external(
        &mut self,
        mut issuer: crate::auth::external::ExternalIssuerConfig,
        store_url: &str,
    ) -> Result<ResourceServerConfig, BuildError> {
        use crate::auth::resource::{canonical_resource, http_sse_resource};
        let (baseline, supported, required) = self.scopes().await?;
        // A client of `/sse` asks for a token for that URL: the same resource.
        let base_url = self.config.base_url();
        if issuer.audience == canonical_resource(&base_url) {
            issuer.audience_aliases.push(http_sse_resource(&base_url));
        }
        let tokens = crate::auth::external::ExternalTokens::connect(issuer).await?;
        tracing::info!(
            issuer = %tokens.issuer(),
            audience = %tokens.audience(),
            tokens = if tokens.introspects() { "introspected" } else { "JWT, verified with the issuer's keys" },
            store = %store_url,
            "resource server only: tokens from an external issuer"
        );
        let resource = ResourceServerConfig::external(tokens);
        Ok(self.resource_server(resource, baseline, supported, required))
    }
}

/// Whether the public URL names a loopback host (where only this machine reaches it).
fn public_url_is_loopback(base_url: &str) -> bool {
    url::Url::parse(base_url).is_ok_and(|url| outpost_oauth::loopback::is_loopback_host(url.host()))
}

/// Warns when `base_url` — where clients send their bearer tokens, and where the embedded
/// authorization server takes passwords and hands out codes — is plain `http` on a host other
/// than loopback. OAuth 2.1 §1.5 and MCP's authorization spec want TLS there; it still serves
/// (a private test network), but everything crosses the network readable.
#[cfg(any(feature = "authorization-server", feature = "external-issuer"))]
fn warn_if_plain_http(base_url: &str) {
    let Ok(url) = url::Url::parse(base_url) else {
        return;
    };
    if url.scheme() == "http" && !outpost_oauth::loopback::is_loopback_host(url.host()) {
        tracing::warn!(
            url = %base_url,
            "the public URL is plain http on a host other than loopback: bearer tokens (and \
             the sign-in pages' passwords and codes) cross the network readable; serve https \
             (a TLS-terminating proxy, with --public-url https://…)"
        );
    }
}
