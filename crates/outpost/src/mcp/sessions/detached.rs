//! Session requests whose client went away, run on within bounds.
//!
//! MCP 2025-03-26 … 2025-11-25 say a disconnection SHOULD NOT be taken for a cancellation, so
//! a session request whose response stream is dropped runs on (`inline`, `ResponseStream`).
//! While its client was there, the connection caps bounded how many ran; once it left, nothing
//! would — a client could start slow calls and hang up, again and again, and a handler that
//! never ends would hold its session's hot peer and keep the session's record alive for ever.
//! So an instance runs on at most [`MOST_DETACHED`] such requests at once, each for at most
//! [`DETACHED_LIFETIME`] after its client left; past either, the request is cancelled, as a
//! disconnection did before.

use std::{future::Future, sync::Arc, time::Duration};

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// The most requests an instance runs on after their clients went away.
pub(crate) const MOST_DETACHED: usize = 256;

/// How long a request runs on after its client went away, at most.
pub(crate) const DETACHED_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// This instance's requests whose clients went away.
pub(crate) struct Detached(Arc<Semaphore>);

impl Default for Detached {
    fn default() -> Self {
        Self(Arc::new(Semaphore::new(MOST_DETACHED)))
    }
}

impl Detached {
    /// Lets the rest of a request whose client went away — `rest`, which ends with it — run
    /// on in a task of its own, if there is room, for at most [`DETACHED_LIFETIME`];
    /// otherwise, or when that time is up, `stop` cancels it.
    pub(crate) fn run_on(
        &self,
        rest: impl Future<Output = ()> + Send + 'static,
        stop: CancellationToken,
    ) {
        let Ok(room) = self.0.clone().try_acquire_owned() else {
            tracing::debug!(
                "{MOST_DETACHED} requests whose clients went away run already: this one is cancelled"
            );
            stop.cancel();
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            stop.cancel();
            return;
        };
        runtime.spawn(async move {
            tokio::select! {
                () = rest => {}
                () = tokio::time::sleep(DETACHED_LIFETIME) => stop.cancel(),
            }
            drop(room);
        });
    }
}

/// A request running in a task of its own, and what lets it run on within [`Detached`]'s
/// bounds once its client goes away.
pub(crate) struct RunOn {
    detached: Arc<Detached>,
    /// Cancels the request.
    stop: CancellationToken,
    /// Cancelled once the request ended.
    ended: CancellationToken,
}

impl RunOn {
    /// Runs `request`, which `stop` cancels, in a task of its own; it may run on in
    /// `detached`.
    pub(crate) fn spawn(
        detached: Arc<Detached>,
        stop: CancellationToken,
        request: impl Future<Output = ()> + Send + 'static,
    ) -> Self {
        let ended = CancellationToken::new();
        let tell_ended = ended.clone();
        tokio::spawn(async move {
            request.await;
            tell_ended.cancel();
        });
        Self {
            detached,
            stop,
            ended,
        }
    }

    /// The request's client went away: unless it ended already, it runs on within
    /// [`Detached`]'s bounds.
    pub(crate) fn client_left(self) {
        if !self.ended.is_cancelled() {
            self.detached
                .run_on(self.ended.cancelled_owned(), self.stop);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn requests_run_on_within_the_cap_and_the_lifetime() {
        let detached = Detached::default();
        let stops: Vec<CancellationToken> = (0..=MOST_DETACHED)
            .map(|_| CancellationToken::new())
            .collect();
        for stop in &stops {
            detached.run_on(std::future::pending(), stop.clone());
        }
        assert!(stops[..MOST_DETACHED].iter().all(|s| !s.is_cancelled()));
        assert!(
            stops[MOST_DETACHED].is_cancelled(),
            "past the cap: cancelled"
        );

        tokio::time::sleep(DETACHED_LIFETIME + Duration::from_secs(1)).await;
        assert!(
            stops.iter().all(CancellationToken::is_cancelled),
            "lifetime over"
        );

        // Their room is back.
        let stop = CancellationToken::new();
        detached.run_on(async {}, stop.clone());
        tokio::task::yield_now().await;
        assert!(!stop.is_cancelled());
    }
}
