//! The background work a served router needs, started once per `Outpost` by
//! `Outpost::router` (so `serve`, `serve_on` and an application embedding the router all get
//! it) and stopped by its shutdown token: the embedded authorization server's purge and
//! signing-key reload, the reload (with rotation) of shared request-state keys, and, without
//! an embedded authorization server (whose purge does it), the purge of the throttle attempts
//! the resource server counts (request limits, refused introspections) every
//! [`THROTTLE_PURGE_INTERVAL`]: a SQLite store keeps an attempt past its window until purged.

use std::{sync::Arc, time::Duration};

use outpost_store::ThrottleStore;
use tokio_util::sync::CancellationToken;

use crate::mcp::request_state::{RequestStateKeys, maintenance as request_state};

/// How often the attempts whose window has ended are purged.
pub const THROTTLE_PURGE_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// What to maintain.
pub(crate) struct Maintained {
    /// The embedded authorization server, if any.
    #[cfg(feature = "authorization-server")]
    pub authorization_server: Option<crate::auth::server::AuthorizationServer>,
    /// The request-state keys (only shared ones need reloading).
    pub request_state_keys: RequestStateKeys,
    /// The throttle stores to purge (none with an embedded authorization server).
    pub throttles: Vec<Arc<dyn ThrottleStore>>,
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
    if !maintained.throttles.is_empty() {
        tokio::spawn(purge_throttles(maintained.throttles, shutdown.clone()));
    }
}

/// Purges the attempts of `throttles` whose window has ended, every
/// [`THROTTLE_PURGE_INTERVAL`], until `shutdown` is cancelled.
async fn purge_throttles(throttles: Vec<Arc<dyn ThrottleStore>>, shutdown: CancellationToken) {
    let mut purges = tokio::time::interval(THROTTLE_PURGE_INTERVAL);
    purges.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = purges.tick() => {
                for store in &throttles {
                    match store.purge_expired(crate::clock::unix_now()).await {
                        Ok(0) => {}
                        Ok(purged) => tracing::debug!(purged, "purged expired throttle attempts"),
                        Err(error) => tracing::warn!(%error, "cannot purge expired throttle attempts"),
                    }
                }
            }
        }
    }
}
