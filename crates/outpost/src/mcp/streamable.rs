//! The Streamable HTTP endpoint (`/mcp`): rmcp's `StreamableHttpService`, configured.
//!
//! One endpoint serves every revision: requests that negotiate 2026-07-28 are stateless
//! (rmcp answers them without a session), older clients `initialize` a session. By default
//! the session is parked: a record in the store served by Outpost's own session manager on
//! any instance ([`parked_service`]). With in-memory sessions (an opt-out) it lives in rmcp's
//! `LocalSessionManager` on one instance until it is deleted or idles out
//! ([`streamable_service`]). rmcp's own `session_store` is never set: nothing replays a
//! session's `initialize`.

use std::{sync::Arc, time::Duration};

use rmcp::{
    ServerHandler,
    transport::{
        StreamableHttpServerConfig, StreamableHttpService,
        streamable_http_server::session::local::{LocalSessionManager, SessionConfig},
    },
};
use tokio_util::sync::CancellationToken;

use super::sessions::OutpostSessionManager;
use crate::{HandlerFactory, config::ServerConfig};

/// The `/mcp` service type with in-memory sessions (rmcp's `LocalSessionManager`).
pub type McpService<H> = StreamableHttpService<H, LocalSessionManager>;

/// The `/mcp` service type with parked sessions (the default).
pub type ParkedMcpService<H> = StreamableHttpService<H, OutpostSessionManager<H>>;

/// The Streamable HTTP sessions of one server, closed after `session_idle_timeout` without traffic.
pub fn session_manager(config: &ServerConfig) -> Arc<LocalSessionManager> {
    let mut session_config = SessionConfig::default();
    session_config.keep_alive = Some(config.session_idle_timeout);
    let mut sessions = LocalSessionManager::default();
    sessions.session_config = session_config;
    Arc::new(sessions)
}

/// Builds the `/mcp` service over rmcp's in-memory `sessions`; `factory` makes one handler per
/// session and per stateless request.
pub fn streamable_service<H>(
    factory: HandlerFactory<H>,
    sessions: Arc<LocalSessionManager>,
    config: &ServerConfig,
    shutdown: CancellationToken,
) -> McpService<H>
where
    H: ServerHandler + Send + Sync + 'static,
{
    StreamableHttpService::new(
        move || Ok(factory()),
        sessions,
        rmcp_config(config, shutdown),
    )
}

/// Builds the `/mcp` service over Outpost's own session manager: no `session_store` (the
/// manager keeps sessions as records and never replays `initialize`). With `priming` off,
/// it sends no SSE priming event (for clients before 2025-11-25: `mcp::priming`).
pub fn parked_service<H>(
    factory: HandlerFactory<H>,
    sessions: Arc<OutpostSessionManager<H>>,
    config: &ServerConfig,
    shutdown: CancellationToken,
    priming: bool,
) -> ParkedMcpService<H>
where
    H: ServerHandler + Send + Sync + 'static,
{
    let mut rmcp_config = rmcp_config(config, after_last_words(shutdown));
    if !priming {
        rmcp_config = rmcp_config.with_sse_retry(None);
    }
    StreamableHttpService::new(move || Ok(factory()), sessions, rmcp_config)
}

/// How long after the server's shutdown reaches the parked sessions rmcp ends the SSE bodies
/// it frames: time for a session request that shutdown ended to send its last message
/// (`sessions::shutting_down`), which rmcp's body would otherwise drop at once.
const LAST_WORDS: Duration = Duration::from_millis(200);

/// A token cancelled [`LAST_WORDS`] after `shutdown` (`shutdown` itself outside a runtime).
fn after_last_words(shutdown: CancellationToken) -> CancellationToken {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return shutdown;
    };
    let later = CancellationToken::new();
    let cancel = later.clone();
    runtime.spawn(async move {
        shutdown.cancelled().await;
        tokio::time::sleep(LAST_WORDS).await;
        cancel.cancel();
    });
    later
}

/// rmcp's settings from `config`.
fn rmcp_config(config: &ServerConfig, shutdown: CancellationToken) -> StreamableHttpServerConfig {
    StreamableHttpServerConfig::default()
        .with_allowed_hosts(config.allowed_hosts())
        .with_allowed_origins(config.allowed_origins())
        .enforce_origin_validation()
        .with_sse_keep_alive(Some(config.sse_keep_alive))
        .with_max_request_body_bytes(config.max_request_body_bytes)
        .with_json_response(true)
        .with_cancellation_token(shutdown)
}
