//! The reload of shared request-state keys every [`RELOAD_INTERVAL`], which also stores the
//! rotations and purges that fall due; started by `Outpost::router`.

use tokio_util::sync::CancellationToken;

use super::{RELOAD_INTERVAL, RequestStateKeys};
use crate::clock::unix_now;

/// Reloads `keys` every [`RELOAD_INTERVAL`], the first time at once, until `shutdown` is
/// cancelled. A failure is logged and retried at the next tick; the keys loaded last stay in
/// use meanwhile.
pub(crate) async fn run(keys: RequestStateKeys, shutdown: CancellationToken) {
    let mut reloads = tokio::time::interval(RELOAD_INTERVAL);
    reloads.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = reloads.tick() => reload(&keys).await,
        }
    }
}

async fn reload(keys: &RequestStateKeys) {
    match keys.refresh_at(unix_now()).await {
        Ok(true) => {
            let kid = keys.sealing_kid();
            tracing::info!(%kid, "requestState is now sealed with a newer key");
        }
        Ok(false) => {}
        Err(error) => tracing::warn!(%error, "cannot reload the request-state keys"),
    }
}
