//! The background work a served router needs, started once per `Outpost` by
//! `Outpost::router` (so `serve`, `serve_on` and an application embedding the router all get
//! it) and stopped by its shutdown token: the embedded authorization server's purge and
//! signing-key reload, and the reload (with rotation) of shared request-state keys.

use tokio_util::sync::CancellationToken;

use crate::mcp::request_state::{RequestStateKeys, maintenance as request_state};

/// What to maintain.
pub(crate) struct Maintained {
    /// The embedded authorization server, if any.
    #[cfg(feature = "authorization-server")]
    pub authorization_server: Option<crate::auth::server::AuthorizationServer>,
    /// The request-state keys (only shared ones need reloading).
    pub request_state_keys: RequestStateKeys,
}

/// Spawns the maintenance tasks on the current Tokio runtime, until `shutdown` is cancelled.
///
/// # Panics
///
/// Outside a Tokio runtime.
pub(crate) fn spawn(maintained: Maintained, shutdown: &CancellationToken) {
    #[cfg(feature = "authorization-server")]
    if let Some(server) = maintained.authorization_server {
        tokio::spawn(crate::auth::server::maintenance::run(
            server,
            shutdown.clone(),
        ));
    }
    if maintained.request_state_keys.is_shared() {
        tokio::spawn(request_state::run(
            maintained.request_state_keys,
            shutdown.clone(),
        ));
    }
}
