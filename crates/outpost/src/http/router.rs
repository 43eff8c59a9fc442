//! Assembles the axum `Router`: which path goes to which service, behind which layers.
//!
//! ```text
//! /mcp              Streamable HTTP (all revisions)      ┐ transport guard
//!                   (stateless fast path, else rmcp)     │
//! /sse, /message    legacy HTTP+SSE (2024-11-05)          ┘ (Host / Origin)
//! /health           liveness
//! ```

use axum::{Router, middleware, routing::get};
use rmcp::ServerHandler;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;

use crate::{
    HandlerFactory,
    config::ServerConfig,
    http::{security_headers::SecurityHeadersLayer, transport_guard::TransportGuard},
    mcp::{
        fast_path::FastPath,
        jsonrpc_body::reject_malformed_jsonrpc,
        session_delete::end_session,
        streamable::{session_manager, streamable_service},
    },
    ops::health::health,
};

/// Builds the complete router for the handlers `factory` makes under `config`. `shutdown` ends open streams and
/// sessions when cancelled.
pub fn build_router<H>(
    factory: HandlerFactory<H>,
    config: &ServerConfig,
    shutdown: CancellationToken,
) -> Router
where
    H: ServerHandler + Send + Sync + 'static,
{
    let guard = TransportGuard::new(config.allowed_hosts(), &config.allowed_origins());
    // The fast path answers the stateless calls it can; the rest reach the JSON-RPC body
    // check, the session DELETE answers and rmcp's service behind them.
    let sessions = session_manager(config);
    let rmcp = ServiceBuilder::new()
        .layer(middleware::from_fn_with_state(
            config.max_request_body_bytes,
            reject_malformed_jsonrpc,
        ))
        .layer(middleware::from_fn_with_state(
            sessions.clone(),
            end_session,
        ))
        .service(streamable_service(
            factory.clone(),
            sessions,
            config,
            shutdown.clone(),
        ));
    let streamable = FastPath::new(factory.clone(), config).in_front_of(rmcp);
    let mcp = Router::new()
        .merge(crate::mcp::legacy_sse::routes(
            factory.clone(),
            config,
            shutdown.clone(),
        ))
        .merge(Router::new().route_service("/mcp", streamable))
        .layer(guard);
    Router::new()
        .merge(mcp)
        .route("/health", get(health))
        .layer(SecurityHeadersLayer)
}
