//! Assembles the axum `Router`: which path goes to which service, behind which layers.
//!
//! ```text
//! /mcp              Streamable HTTP (all revisions)      ┐ transport guard
//!                   (stateless fast path, else rmcp)     │
//! /sse, /message    legacy HTTP+SSE (2024-11-05)          ┘ (Host / Origin)
//! /health, /ready   liveness, readiness (ops::health)
//! /                 the landing page (ops::landing_page; ServerConfig::landing_page)
//! /.well-known/oauth-authorization-server, /.well-known/openid-configuration,
//! /jwks.json, /register, /token, /revoke, /introspect,
//! /authorize, /login, /consent
//!                   the embedded authorization server, when one is given (browser and
//!                   OAuth routes: outside the transport guard, with the security headers)
//! ```
//!
//! Without MCP ([`authorization_router`], `Outpost::without_mcp`): the authorization server's
//! routes, `/health` and `/ready` only; every other path is `404`.
//!
//! Every route passes the request log first ([`RequestLogLayer`]: `x-request-id`, one line
//! per request). Every MCP route passes, in this order: the request log, the security headers
//! (on `/mcp`, then the 2025-03-26 batch layer, `mcp::batch`), the transport guard, the
//! request classification ([`ClassifyLayer`]), CORS (so browser clients can call them;
//! preflights are answered before any token check) and, with [`AuthMode::Bearer`], the resource
//! server (bearer token, session owner, per-tool scope); the RFC 9728 protected resource
//! metadata is then served at `/.well-known/oauth-protected-resource[/mcp]`.
//!
//! Streamable HTTP sessions are parked by default: rmcp's service runs on Outpost's own
//! session manager ([`OutpostSessionManager`]), sessions are records in the given
//! [`McpSessionStore`] (in memory without one), rmcp keeps no `session_store`, the DELETE
//! answers end the record and the session-owner layer reads the owner from it. With
//! [`SessionSetup::in_memory`] they live in rmcp's `LocalSessionManager` instead, on this
//! instance only, their owners in the session-owner layer's map.

use std::{sync::Arc, time::Duration};

use axum::{Extension, Router, middleware, routing::get};
use http::{HeaderName, Method};
use rmcp::ServerHandler;
use tokio_util::sync::CancellationToken;
use tower::{ServiceBuilder, util::Either};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

use crate::{
    HandlerFactory,
    auth::resource::session_owner::StoredOwners,
    auth::resource::{ResourceServerLayer, metadata},
    config::{AuthMode, ServerConfig},
    http::{
        browser_cors::BrowserCorsLayer, panic_guard::PanicGuardLayer,
        security_headers::SecurityHeadersLayer, transport_guard::TransportGuard,
    },
    mcp::{
        batch::BatchLayer,
        classify::ClassifyLayer,
        fast_path::FastPath,
        jsonrpc_body::reject_malformed_jsonrpc,
        legacy_sse::directory::LegacyDirectory,
        priming::{Unprimed, route_unprimed},
        relay::Relay,
        request_state::RequestStateKeys,
        session_delete::{EndableSessions, end_session},
        session_limits::{RecentRefusals, answer_refusals},
        sessions::{OutpostSessionManager, SessionEvents, SessionRecords, StandaloneStreamTask},
        streamable::{parked_service, session_manager, streamable_service},
        unawaited_answers::answer_unawaited,
    },
    ops::{
        health::{health, ready},
        landing_page::{self, LandingPage},
        metrics::RequestMetrics,
        readiness::Readiness,
        request_log::RequestLogLayer,
    },
    store::{EventStore, McpSessionStore, Store, StoreHealth},
};

/// Where Streamable HTTP sessions are kept, and by which session manager.
#[derive(Clone)]
pub struct SessionSetup {
    /// The store parked sessions are kept in (in memory without one).
    pub store: Option<Arc<dyn McpSessionStore>>,
    /// rmcp's `LocalSessionManager`, sessions in this process's memory, instead of Outpost's
    /// own session manager ([`OutpostSessionManager`]).
    pub in_memory: bool,
    /// What runs beside a parked session's GET stream ([`StandaloneStreamTask`]).
    pub stream_task: Option<StandaloneStreamTask>,
    /// Where parked sessions' GET streams are kept (their events, for `Last-Event-ID`) and
    /// the bus that brings what any instance emits to the one holding the stream.
    pub events: Arc<dyn EventStore>,
}

/// Builds the complete router for the handlers `factory` makes under `config`, with the
/// `authorization_routes` (an embedded authorization server's, outside the transport guard),
/// Streamable HTTP sessions kept as `sessions` says, and
/// `request_state_keys` in every MCP request's extensions (for handlers:
/// [`RequestStateKeys::from_context`]). `shutdown` ends open streams and in-memory sessions
/// when cancelled (stored sessions stay, to be resumed). `/ready` and `/health` report
/// `store_health`. Serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()` (as [`crate::http::listener::serve`]
/// does) so the authorization server's throttles see the client's address.
pub fn build_router<H>(
    factory: HandlerFactory<H>,
    config: &ServerConfig,
    authorization_routes: Option<Router>,
    sessions: SessionSetup,
    store_health: Option<Arc<dyn StoreHealth>>,
    request_state_keys: RequestStateKeys,
    shutdown: CancellationToken,
) -> Router
where
    H: ServerHandler + Send + Sync + 'static,
{
    // The fast path answers the stateless calls it can; the rest reach the JSON-RPC body
    // check, the session DELETE answers and rmcp's service behind them.
    let body_check =
        middleware::from_fn_with_state(config.max_request_body_bytes, reject_malformed_jsonrpc);
    let SessionSetup {
        store,
        in_memory,
        stream_task,
        events,
    } = sessions;
    let relay = Relay::new(events.clone(), shutdown.clone());
    // 2024-11-05 sessions are shared between instances only where the bus reaches them
    // (Redis); with memory or SQLite a session stays known to its instance alone.
    let legacy = match &store {
        Some(store) if events.wakes_other_processes() => {
            Some(Arc::new(LegacyDirectory::new(store.clone(), relay.clone())))
        }
        _ => None,
    };
    let mut fast_path = FastPath::new(factory.clone(), config, shutdown.clone());
    let (rmcp, stored_owners) = if in_memory {
        let sessions = session_manager(config);
        crate::ops::metrics::count_sessions_of(sessions.clone());
        let rmcp = ServiceBuilder::new()
            .layer(body_check)
            .layer(middleware::from_fn_with_state(
                EndableSessions::InMemory(sessions.clone()),
                end_session,
            ))
            .service(streamable_service(
                factory.clone(),
                sessions,
                config,
                shutdown.clone(),
            ));
        (Either::Right(rmcp), StoredOwners::Memory)
    } else {
        let store = store.unwrap_or_else(|| Store::memory().mcp_sessions);
        let manager = Arc::new(
            OutpostSessionManager::new(
                factory.clone(),
                store,
                SessionEvents::new(events.clone(), config.session_event_retention),
                relay.clone(),
                config.session_idle_timeout,
                config.session_limits,
                shutdown.clone(),
            )
            .with_stream_task(stream_task),
        );
        crate::ops::metrics::count_sessions_of(manager.clone());
        fast_path = fast_path.with_sessions(manager.clone());
        let records: Arc<dyn SessionRecords> = manager.clone();
        let rmcp = ServiceBuilder::new()
            .layer(body_check)
            .layer(middleware::from_fn_with_state(
                RecentRefusals::new(config.max_request_body_bytes),
                answer_refusals,
            ))
            .layer(middleware::from_fn_with_state(
                EndableSessions::Parked(records.clone()),
                end_session,
            ))
            .layer(middleware::from_fn(answer_unawaited))
            .layer(middleware::from_fn_with_state(
                Unprimed::new(
                    parked_service(
                        factory.clone(),
                        manager.clone(),
                        config,
                        shutdown.clone(),
                        false,
                    ),
                    config.max_request_body_bytes,
                ),
                route_unprimed,
            ))
            .service(parked_service(
                factory.clone(),
                manager,
                config,
                shutdown.clone(),
                true,
            ));
        (Either::Left(rmcp), StoredOwners::Parked(records))
    };
    let streamable = fast_path.in_front_of(rmcp);

    let mut router = Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready));
    if config.landing_page {
        let page = LandingPage::new(&factory().get_info().server_info, config);
        router = router.route("/", landing_page::route(Arc::new(page)));
    }
    let mut router = router.with_state(Arc::new(Readiness::new(store_health)));
    let resource_server = match &config.auth {
        AuthMode::Disabled => None,
        AuthMode::Bearer(resource) => {
            let base_url = config.base_url();
            router = router.merge(metadata::routes(&base_url, resource));
            Some(ResourceServerLayer::new(
                resource,
                config,
                stored_owners,
                legacy.clone(),
            ))
        }
    };
    if let Some(routes) = authorization_routes {
        router = router.merge(routes);
    }
    // Every MCP route passes one stack, composed once: axum boxes a route's service and clones
    // it per request, so layers added route by route (`Router::layer`) would each add a box,
    // a clone and a boxed future to every request on the hot path.
    let request_log = RequestLogLayer::new(Arc::new(RequestMetrics::default()));
    let mcp_checks = ServiceBuilder::new()
        .layer(TransportGuard::new(
            config.allowed_hosts(),
            &config.allowed_origins(),
        ))
        .layer(ClassifyLayer)
        // Without authentication too: a browser client on an allowed origin (a loopback
        // inspector, an `--allow-origin`) needs its preflight answered either way.
        .layer(BrowserCorsLayer::new(cors()))
        .option_layer(resource_server)
        .layer(Extension(request_state_keys));
    // `route_layer`: `layer` would also wrap this router's fallback, which the merge below
    // makes every unknown path's, answering them 401 instead of 404.
    let security_headers = SecurityHeadersLayer::for_base_url(&config.base_url());
    let http_sse = crate::mcp::legacy_sse::routes(factory, config, legacy, shutdown).route_layer(
        ServiceBuilder::new()
            .layer(request_log.clone())
            .layer(security_headers)
            .layer(mcp_checks.clone()),
    );
    // A 2025-03-26 batch is taken apart before the checks, so that each of its messages
    // passes them as it would alone.
    let mcp = ServiceBuilder::new()
        .layer(request_log.clone())
        .layer(security_headers)
        .layer(BatchLayer::new(
            config.max_request_body_bytes,
            config.sse_keep_alive,
            matches!(config.auth, AuthMode::Bearer(_)),
        ))
        .layer(mcp_checks)
        .layer(PanicGuardLayer)
        .service(streamable);
    // An explicit 404, so that the layers below wrap it: the merges after them keep a
    // router's own fallback over a default one.
    router
        .fallback(|| async { http::StatusCode::NOT_FOUND })
        .layer(
            ServiceBuilder::new()
                .layer(request_log)
                .layer(security_headers),
        )
        .route_service("/mcp", mcp)
        .merge(http_sse)
}

/// The router of a server that serves no MCP: `authorization_routes` (the embedded
/// authorization server's), `/health` and `/ready` (reporting `store_health`), `404` for
/// every other path — `/mcp` and the protected resource metadata included —, each behind the
/// request log and the security headers of a server at `base_url`.
pub fn authorization_router(
    authorization_routes: Option<Router>,
    store_health: Option<Arc<dyn StoreHealth>>,
    base_url: &str,
) -> Router {
    let mut router = Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .with_state(Arc::new(Readiness::new(store_health)));
    if let Some(routes) = authorization_routes {
        router = router.merge(routes);
    }
    router
        .fallback(|| async { http::StatusCode::NOT_FOUND })
        .layer(
            ServiceBuilder::new()
                .layer(RequestLogLayer::new(Arc::new(RequestMetrics::default())))
                .layer(SecurityHeadersLayer::for_base_url(base_url)),
        )
}

/// CORS for browser clients (requests with `Origin`; [`BrowserCorsLayer`]). It sits inside
/// the transport guard, which has already refused any origin not allowed, so the request's
/// origin is mirrored; requested headers are mirrored too, which covers `Authorization`,
/// `Content-Type`, `Mcp-Session-Id`, `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`,
/// `Last-Event-ID` and SEP-2243's `Mcp-Param-*`. Clients may read `Mcp-Session-Id` and
/// `WWW-Authenticate`.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([
            HeaderName::from_static("mcp-session-id"),
            http::header::WWW_AUTHENTICATE,
        ])
        .max_age(Duration::from_secs(600))
}
