//! # Outpost
//!
//! A production remote MCP server on [`rmcp`]. Write your tools with rmcp's `#[tool]` macros on
//! your own handler, hand the handler to [`Outpost`], and get one HTTP server that speaks every
//! MCP revision on one endpoint:
//!
//! - 2026-07-28, stateless, on `POST /mcp`;
//! - 2025-11-25, 2025-06-18 and 2025-03-26 sessions on `/mcp` (`Mcp-Session-Id`, GET stream,
//!   DELETE, `Last-Event-ID` resumption, idle expiry);
//! - 2024-11-05 HTTP+SSE on `/sse` + `/message`;
//!
//! plus `/health` and `/ready`, degraded answers (`503`, `Retry-After`) while the store does not
//! answer, `Host`/`Origin` validation, body limits, `TCP_NODELAY` and graceful shutdown,
//! and, for tools that answer `input_required` (MRTR), the codec that seals their
//! `requestState` with keys shared by every instance on a store ([`StateCodec`],
//! [`RequestStateKeys`]).
//!
//! With authentication — the embedded OAuth 2.1 authorization server over the store
//! `sqlite://./outpost.db`, on `127.0.0.1:8000`, as `outpost serve` runs — it is the
//! [`OutpostBuilder`]:
//!
//! ```no_run
//! # use rmcp::{ServerHandler, model::ServerInfo};
//! # #[derive(Clone)] struct MyTools;
//! # impl ServerHandler for MyTools { fn get_info(&self) -> ServerInfo { ServerInfo::default() } }
//! # async fn run() -> Result<(), outpost::OutpostError> {
//! outpost::Outpost::builder(MyTools)
//!     .demo_users() // alice / password123, bob / password456
//!     .serve(outpost::shutdown_signal())
//!     .await
//! # }
//! ```
//!
//! Without authentication (loopback only; `default-features = false` compiles no SQLite,
//! argon2, rustls, ring or askama):
//!
//! ```no_run
//! # use rmcp::{ServerHandler, model::ServerInfo};
//! # #[derive(Clone)] struct MyTools;
//! # impl ServerHandler for MyTools { fn get_info(&self) -> ServerInfo { ServerInfo::default() } }
//! # async fn run() -> Result<(), outpost::OutpostError> {
//! outpost::Outpost::new(MyTools)
//!     .serve(outpost::shutdown_signal())
//!     .await
//! # }
//! ```
//!
//! See `ARCHITECTURE.md` at the repository root for the map of modules and the request flow.

#![deny(missing_docs)]

pub mod auth;
pub mod builder;
mod clock;
pub mod config;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod mcp;
mod ops;
pub mod store;

use std::{
    future::Future,
    sync::{Arc, Once},
};

use axum::Router;
use rmcp::ServerHandler;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use builder::{BuildError, OutpostBuilder};
pub use config::{AuthMode, ConfigError, ConnectionLimits, ServerConfig, SessionLimits};
pub use http::listener::ServeError;
pub use mcp::request_state::{RequestStateKeyError, RequestStateKeys, StateCodec};
pub use mcp::session_notifier::SessionNotifier;
pub use mcp::sessions::{SessionData, SessionDataError, SessionStream, StandaloneStreamTask};
#[cfg(feature = "json-lines")]
pub use ops::json_lines;
#[cfg(feature = "log-writer")]
pub use ops::log_writer;
/// The request metrics' names ([`ops::metrics`](crate::metrics)), and Prometheus' exporter.
pub use ops::metrics;
/// OpenTelemetry export of request spans (feature `opentelemetry`).
#[cfg(feature = "opentelemetry")]
pub use ops::otel;
#[cfg(feature = "prometheus")]
pub use ops::prometheus;

/// Why a server could not start or stopped with an error.
///
/// Its `Debug` is its message and those of its causes it does not quote already, so that
/// `main` returning `Result<(), OutpostError>` prints what to fix rather than the variants'
/// names.
#[derive(thiserror::Error)]
pub enum OutpostError {
    /// The configuration is invalid or unsafe.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Binding or serving failed.
    #[error(transparent)]
    Serve(#[from] ServeError),
    /// The builder could not make the server.
    #[error(transparent)]
    Build(#[from] BuildError),
}

impl std::fmt::Debug for OutpostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&message_with_causes(self))
    }
}

/// `error`'s message followed by its causes' (those it does not quote already), `: `-joined:
/// what an error's `Debug` shows, so that `main` returning it through `?` prints a sentence
/// rather than variant names.
pub(crate) fn message_with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        // A message often quotes its cause already.
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Makes the handler instance for one session or one stateless request.
pub type HandlerFactory<H> = Arc<dyn Fn() -> H + Send + Sync>;

/// An MCP server for one handler: build the router, or serve it.
pub struct Outpost<H> {
    factory: HandlerFactory<H>,
    config: ServerConfig,
    #[cfg(feature = "authorization-server")]
    authorization_server: Option<auth::server::AuthorizationServer>,
    session_store: Option<Arc<dyn store::McpSessionStore>>,
    store_health: Option<Arc<dyn store::StoreHealth>>,
    request_state_keys: RequestStateKeys,
    in_memory_sessions: bool,
    mcp: bool,
    stream_task: Option<StandaloneStreamTask>,
    /// The listener [`OutpostBuilder::build`] bound or was given, served by [`Outpost::serve`].
    listener: Option<TcpListener>,
    events: Arc<dyn store::EventStore>,
    shutdown: CancellationToken,
    maintenance: Once,
}

impl<H> Outpost<H>
where
    H: ServerHandler + Send + Sync + 'static,
{
    /// A server whose handler instances come from `factory`: called once per request of a
    /// (parked) session and per stateless request, once more per parked session while it is
    /// in use on an instance (its hot peer's serve loop), once for all of an instance's
    /// 2026-07-28 listen streams, once per 2024-11-05 session (at SSE connect) and per
    /// in-memory session ([`Outpost::with_in_memory_sessions`]). A handler keeps what a parked
    /// session needs between requests in [`SessionData`].
    pub fn with_factory(factory: impl Fn() -> H + Send + Sync + 'static) -> Self {
        Self::from_factory(Arc::new(factory))
    }

    /// A builder for a server whose handler instances come from `factory` (see
    /// [`Outpost::with_factory`]), with authentication, a store and the rest of
    /// [`OutpostBuilder`]'s settings.
    pub fn builder_with_factory(
        factory: impl Fn() -> H + Send + Sync + 'static,
    ) -> OutpostBuilder<H> {
        OutpostBuilder::new(Arc::new(factory))
    }

    fn from_factory(factory: HandlerFactory<H>) -> Self {
        Self {
            factory,
            config: ServerConfig::default(),
            #[cfg(feature = "authorization-server")]
            authorization_server: None,
            session_store: None,
            store_health: None,
            request_state_keys: RequestStateKeys::process_local(),
            in_memory_sessions: false,
            mcp: true,
            stream_task: None,
            listener: None,
            events: store::Store::memory().events,
            shutdown: CancellationToken::new(),
            maintenance: Once::new(),
        }
    }

    /// Replaces the configuration.
    pub fn with_config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// Embeds `server`, Outpost's own OAuth 2.1 authorization server: its discovery documents,
    /// `/jwks.json`, `/register`, `/token`, `/revoke`, `/introspect` and the browser routes
    /// `/authorize`, `/login`, `/consent` are served next to the MCP endpoints (outside the
    /// transport guard, with the security headers). Pair it with [`AuthMode::Bearer`] whose
    /// issuer is the same string as `server.issuer`, normally [`ServerConfig::base_url`].
    #[cfg(feature = "authorization-server")]
    pub fn with_authorization_server(mut self, server: auth::server::AuthorizationServer) -> Self {
        self.authorization_server = Some(server);
        self
    }

    /// Serves no MCP endpoint — no `/mcp`, `/sse`, `/message`, protected resource metadata or
    /// landing page (`404`) —, only the embedded authorization server
    /// ([`Outpost::with_authorization_server`]) with `/health` and `/ready`: the authorization
    /// server of MCP servers that run elsewhere and verify its tokens with its JWK Set
    /// (`outpost serve --role auth`). [`ServerConfig::auth`] and the session settings are
    /// then unused, and a non-loopback bind needs no [`AuthMode::Bearer`].
    pub fn without_mcp(mut self) -> Self {
        self.mcp = false;
        self
    }

    /// Keeps Streamable HTTP sessions (2025-03-26 … 2025-11-25) in `store`, so that they
    /// survive a restart and every instance sharing the store serves them. By default a
    /// session is parked: Outpost's own session manager keeps an idle session as a record in
    /// this store (in memory without one) — no task, channel or handler — and any instance
    /// sharing the store serves its next request without replaying `initialize`; with
    /// [`AuthMode::Bearer`] the record names its owner, so it answers only its creator on every
    /// instance. Each request gets a fresh handler from the factory; its notifications, log
    /// messages and server→client requests ride its own SSE stream. What a handler keeps per
    /// session (a log level, resource subscriptions) goes in the record through
    /// [`SessionData`], in every request's context. A session's GET stream follows its events
    /// in the event store ([`Outpost::with_event_store`]): what any instance sends it
    /// ([`Outpost::session_notifier`]) arrives, and `Last-Event-ID` resumes it on any
    /// instance. Sessions expire after [`ServerConfig::session_idle_timeout`] without
    /// requests (plus a quarter of it); a `DELETE` removes them; a shutdown keeps them.
    /// `outpost serve` passes its store (`Store::mcp_sessions`).
    pub fn with_session_store(mut self, store: Arc<dyn store::McpSessionStore>) -> Self {
        self.session_store = Some(store);
        self
    }

    /// Serves Streamable HTTP sessions with rmcp's `LocalSessionManager` instead of parked
    /// sessions: each session keeps its handler instance, tasks and channels in this process's
    /// memory (about 50 KiB per idle session) until it is deleted or idles out, and is known
    /// to this instance only — not to another instance, nor after a restart, even with a
    /// session store. Log messages about a request then ride the session's GET stream, as rmcp
    /// routes them. For a handler that must keep live per-session state in itself rather
    /// than in [`SessionData`], and for comparing the two managers.
    pub fn with_in_memory_sessions(mut self) -> Self {
        self.in_memory_sessions = true;
        self
    }

    /// With parked sessions (the default), runs `task` on the instance
    /// holding a session's GET stream for as long as it is open: the place for what a
    /// session's handler would do between requests, such as sending
    /// `notifications/resources/updated` for the subscriptions in its [`SessionData`]
    /// ([`SessionStream`]). In-memory sessions ([`Outpost::with_in_memory_sessions`]) keep
    /// their handler, which does it itself.
    pub fn with_standalone_stream_task(mut self, task: StandaloneStreamTask) -> Self {
        self.stream_task = Some(task);
        self
    }

    /// Keeps parked sessions' GET-stream events in `events` ([`store::Store::events`]), kept
    /// as [`ServerConfig::session_event_retention`] says: instances sharing the store resume
    /// each other's streams with `Last-Event-ID`, and its bus (in-process for memory and
    /// SQLite, Redis pub/sub for Redis) brings what one instance emits to the one holding
    /// the stream. In memory, for this process only, without this call.
    pub fn with_event_store(mut self, events: Arc<dyn store::EventStore>) -> Self {
        self.events = events;
        self
    }

    /// Sends notifications to parked sessions' GET streams from outside a request (a timer,
    /// a background job), whichever instance holds the stream.
    pub fn session_notifier(&self) -> SessionNotifier {
        SessionNotifier::new(mcp::sessions::SessionEvents::new(
            self.events.clone(),
            self.config.session_event_retention,
        ))
    }

    /// Reports `store`'s health on `GET /ready` (`503` while it does not answer, which takes
    /// this instance out of a load balancer's rotation) and `GET /health` (`"degraded"`). With
    /// an embedded authorization server its store is the default; without either, `/ready`
    /// has no dependency to wait for. Pass the store the session store and the request-state
    /// keys come from (`Store::health`).
    pub fn with_store_health(mut self, store: Arc<dyn store::StoreHealth>) -> Self {
        self.store_health = Some(store);
        self
    }

    /// Seals MRTR `requestState` with `keys`: with keys loaded from a store
    /// ([`RequestStateKeys::load`]), a value one instance hands out opens on every instance
    /// sharing the store, and the keys are reloaded and rotated in the background (see
    /// [`Outpost::router`]). Handlers get them from each request ([`StateCodec`],
    /// [`RequestStateKeys::from_context`]). Without this call the key is random per process.
    pub fn with_request_state_keys(mut self, keys: RequestStateKeys) -> Self {
        self.request_state_keys = keys;
        self
    }

    /// The configuration this server runs with.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// A token that, when cancelled, ends every open stream and session and stops the
    /// background maintenance. Cancelled by [`Outpost::serve`] when its shutdown signal fires.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// The axum router with every Outpost route, for embedding in a larger application.
    ///
    /// The first call also starts, on the current Tokio runtime, the background maintenance
    /// the routes rely on, until [`Outpost::shutdown_token`] is cancelled: the embedded
    /// authorization server's purge of expired codes and grants (every 10 minutes) and its
    /// signing-key reload (every minute), the reload and rotation of shared request-state
    /// keys (every minute), and without an embedded authorization server the purge of the
    /// resource server's expired throttle attempts (every 10 minutes). Later calls start
    /// nothing more.
    ///
    /// What [`Outpost::serve`] does besides is then the application's: serve with the peer's
    /// address (the per-address sign-in limits need it), cancel [`Outpost::shutdown_token`]
    /// when shutting down (open event streams end only then), and set its own connection
    /// limits and timeouts. The URLs the server advertises are `public_url`'s. Nothing here
    /// checks the address the router is served on: without authentication it answers every
    /// caller.
    ///
    /// The router has `/mcp`, `/sse`, `/message`, `/health`, `/ready`, `/` (the landing page,
    /// unless [`ServerConfig::landing_page`] is off), the embedded authorization server's
    /// routes and a `404` fallback: an application with its own `/health`, `/ready` or
    /// fallback merges this router and sets its fallback after the merge (axum refuses two
    /// fallbacks, or two handlers for one path).
    ///
    /// ```no_run
    /// # use rmcp::{ServerHandler, model::ServerInfo};
    /// # #[derive(Clone)] struct MyTools;
    /// # impl ServerHandler for MyTools { fn get_info(&self) -> ServerInfo { ServerInfo::default() } }
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let outpost = outpost::Outpost::builder(MyTools)
    ///     .public_url("https://mcp.example.com".parse()?)
    ///     .build()
    ///     .await?;
    /// let shutdown = outpost.shutdown_token();
    /// let app = axum::Router::new()
    ///     .route("/app", axum::routing::get(|| async { "my app" }))
    ///     .merge(outpost.router());
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
    /// axum::serve(
    ///     listener,
    ///     app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    /// )
    /// .with_graceful_shutdown(async move {
    ///     outpost::shutdown_signal().await;
    ///     shutdown.cancel();
    /// })
    /// .await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// When called outside a Tokio runtime.
    pub fn router(&self) -> Router {
        self.maintenance.call_once(|| {
            ops::maintenance::spawn(
                ops::maintenance::Maintained {
                    #[cfg(feature = "authorization-server")]
                    authorization_server: self.authorization_server.clone(),
                    request_state_keys: self.request_state_keys.clone(),
                    throttles: self.throttles_to_purge(),
                },
                &self.shutdown,
            );
        });
        if !self.mcp {
            return http::router::authorization_router(
                self.authorization_routes(),
                self.store_health(),
                &self.config.base_url(),
            );
        }
        http::router::build_router(
            self.factory.clone(),
            &self.config,
            self.authorization_routes(),
            http::router::SessionSetup {
                store: self.session_store.clone(),
                in_memory: self.in_memory_sessions,
                stream_task: self.stream_task.clone(),
                events: self.events.clone(),
            },
            self.store_health(),
            self.request_state_keys.clone(),
            self.shutdown.clone(),
        )
    }

    /// The store `/ready` asks: the one given, else the embedded authorization server's.
    fn store_health(&self) -> Option<Arc<dyn store::StoreHealth>> {
        #[cfg(feature = "authorization-server")]
        if self.store_health.is_none() {
            return self
                .authorization_server
                .as_ref()
                .map(|server| server.store.health.clone());
        }
        self.store_health.clone()
    }

    /// The throttle stores the resource server counts attempts in (request limits, refused
    /// introspections), each once; none with an embedded authorization server, whose own
    /// maintenance purges the store's throttles.
    fn throttles_to_purge(&self) -> Vec<Arc<dyn outpost_store::ThrottleStore>> {
        #[cfg(feature = "authorization-server")]
        if self.authorization_server.is_some() {
            return Vec::new();
        }
        let AuthMode::Bearer(resource) = &self.config.auth else {
            return Vec::new();
        };
        let mut stores: Vec<Arc<dyn outpost_store::ThrottleStore>> = Vec::new();
        let limits = resource
            .request_limits
            .as_ref()
            .map(|limits| limits.store.clone());
        #[cfg(feature = "external-issuer")]
        let refusals = match &resource.tokens {
            auth::resource::TokenAuthority::External(tokens) => tokens.introspection_refusals(),
            auth::resource::TokenAuthority::Embedded { .. } => None,
        };
        #[cfg(not(feature = "external-issuer"))]
        let refusals = None;
        for store in limits.into_iter().chain(refusals) {
            if !stores.iter().any(|known| Arc::ptr_eq(known, &store)) {
                stores.push(store);
            }
        }
        stores
    }

    /// The embedded authorization server's routes, if there is one, trusting the proxies of
    /// [`ServerConfig::trusted_proxies`] besides its own.
    fn authorization_routes(&self) -> Option<Router> {
        #[cfg(feature = "authorization-server")]
        return self.authorization_server.clone().map(|server| {
            let proxies = server
                .trusted_proxies
                .ranges()
                .iter()
                .chain(self.config.trusted_proxies.ranges())
                .copied();
            let proxies = auth::server::forwarded::TrustedProxies::new(proxies);
            auth::server::routes(server.with_trusted_proxies(proxies)).route_layer(
                axum::middleware::from_fn(http::body_read::read_before_handler),
            )
        });
        #[cfg(not(feature = "authorization-server"))]
        return None;
    }

    /// The connection timeouts and caps of [`ServerConfig::connection_limits`]; peers in
    /// [`ServerConfig::trusted_proxies`] are exempt from the per-source cap.
    fn connections(&self) -> http::listener::Connections {
        let limits = self.config.connection_limits;
        let proxies = self.config.trusted_proxies.clone();
        let exempt: http::connection::caps::Exempt = Arc::new(move |peer| proxies.contains(peer));
        http::listener::Connections::new(limits, exempt)
    }

    /// Validates the configuration, binds [`ServerConfig::bind`] (unless the builder already
    /// bound it) and serves until `shutdown_signal` resolves. The process's open-file soft
    /// limit is raised first, towards what the connection cap needs
    /// ([`http::open_files::raise_for`]).
    pub async fn serve(
        mut self,
        shutdown_signal: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), OutpostError> {
        self.validate()?;
        let listener = match self.listener.take() {
            Some(listener) => listener,
            None => http::listener::bind(self.config.bind).await?,
        };
        self.serve_on(listener, shutdown_signal).await
    }

    /// The configuration's checks; without MCP, those of the listener alone.
    fn validate(&self) -> Result<(), ConfigError> {
        if self.mcp {
            self.config.validate()
        } else {
            self.config.validate_listener()
        }
    }

    /// Like [`Outpost::serve`], on a listener the caller bound (tests bind port 0).
    pub async fn serve_on(
        self,
        listener: TcpListener,
        shutdown_signal: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), OutpostError> {
        self.validate()?;
        // Every connection is a file descriptor: room for the connection cap, as far as the
        // hard limit allows (logged either way).
        http::open_files::raise_for(self.config.connection_limits.max_connections);
        let router = self.router();
        if let Ok(addr) = listener.local_addr() {
            let serving = if self.mcp {
                "serving MCP at /mcp, legacy SSE at /sse"
            } else {
                "serving the authorization server only (no MCP endpoint)"
            };
            tracing::info!(%addr, base_url = %self.config.base_url(), "{serving}");
        }
        http::listener::serve(
            listener,
            router,
            self.connections(),
            shutdown_signal,
            self.shutdown,
            self.config.shutdown_grace,
        )
        .await?;
        Ok(())
    }
}

impl<H> Outpost<H>
where
    H: ServerHandler + Clone + Send + Sync + 'static,
{
    /// A server for `handler` with the default [`ServerConfig`] (loopback, port 8000). Each
    /// session and each stateless request gets a clone of `handler`, so keep routers
    /// and shared state behind `Arc`s.
    pub fn new(handler: H) -> Self {
        Self::with_factory(move || handler.clone())
    }

    /// A builder for a server for `handler` (each session and stateless request gets a
    /// clone): authentication on with the embedded authorization server, the store
    /// `sqlite://./outpost.db`, `127.0.0.1:8000` — `outpost serve`'s defaults — changed by
    /// [`OutpostBuilder`]'s settings.
    pub fn builder(handler: H) -> OutpostBuilder<H> {
        Self::builder_with_factory(move || handler.clone())
    }
}

/// Resolves on SIGINT (Ctrl-C), SIGTERM or SIGHUP (the terminal that started the server
/// went away): each starts the graceful shutdown, where the default action of the last two
/// would end the process at once.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = unix_signal(tokio::signal::unix::SignalKind::terminate(), "SIGTERM");
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    #[cfg(unix)]
    let hangup = unix_signal(tokio::signal::unix::SignalKind::hangup(), "SIGHUP");
    #[cfg(not(unix))]
    let hangup = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
        () = hangup => {},
    }
}

/// Resolves on the first `kind` signal (`name` in the log if it cannot be listened for).
#[cfg(unix)]
async fn unix_signal(kind: tokio::signal::unix::SignalKind, name: &str) {
    match tokio::signal::unix::signal(kind) {
        Ok(mut signal) => {
            signal.recv().await;
        }
        Err(error) => {
            tracing::error!(%error, "cannot listen for {name}");
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_main_prints_the_message_not_the_variant() {
        let error = OutpostError::Build(BuildError::NoAuthentication);
        let printed = format!("{error:?}");
        assert!(printed.starts_with("authentication is on"), "{printed}");
        assert!(printed.contains("no_auth()"), "{printed}");
        assert!(!printed.contains("Build("), "{printed}");
    }
}
