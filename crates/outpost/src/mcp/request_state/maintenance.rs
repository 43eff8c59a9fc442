//! The reload of shared request-state keys every [`RELOAD_INTERVAL`], which also stores the
//! rotations and purges that fall due; started by `Outpost::router`.

use tokio_util::sync::CancellationToken;

use super::{RELOAD_INTERVAL, RequestStateKeys};
use outpost_store::failure_streak::FailureStreak;

use crate::clock::unix_now;

/// Reloads `keys` every [`RELOAD_INTERVAL`], the first time at once, until `shutdown` is
/// cancelled. A failure (the store out of reach) is retried at the next tick and logged once
/// per outage; the keys loaded last stay in use meanwhile, so values sealed before the outage
/// still open and new ones are sealed with the last known key.
pub(crate) async fn run(keys: RequestStateKeys, shutdown: CancellationToken) {
    let mut reloads = tokio::time::interval(RELOAD_INTERVAL);
    reloads.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut streak = FailureStreak::new("request-state key reload");
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = reloads.tick() => reload(&keys, &mut streak).await,
        }
    }
}

/// One reload, its outcome noted in `streak`.
pub(super) async fn reload(keys: &RequestStateKeys, streak: &mut FailureStreak) {
    match keys.refresh_at(unix_now()).await {
        Ok(changed) => {
            streak.succeeded();
            if changed {
                let kid = keys.sealing_kid();
                tracing::info!(%kid, "requestState is now sealed with a newer key");
            }
        }
        Err(error) => streak.failed(&error),
    }
}
