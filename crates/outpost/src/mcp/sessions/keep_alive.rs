//! The idle clock runs from the end of a session's last use, not from its start.
//!
//! A use pushes the record's expiry when it begins (at most once per slack), so a request that
//! runs longer than the idle timeout — a long tool call — or a GET stream held open for longer
//! outlived its session: the client's next request got `404`. While a session has a request
//! running or its GET stream open on this instance, [`KeepAlive`] pushes its expiry once per
//! slack, so at any moment the record has at least the idle timeout left. The loop runs only
//! while some session is in use here and stops by itself after.

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures::{StreamExt, stream};
use rmcp::transport::streamable_http_server::SessionId;
use tokio_util::sync::CancellationToken;

use super::{events::OpenGetStreams, request::InFlight};
use crate::{
    clock::unix_now,
    ops::degraded::bounded,
    store::{McpSessionStore, StoreError},
};

/// The most records touched at the same time.
const TOUCHED_AT_ONCE: usize = 32;

/// The sessions in use on this instance: a request running or the GET stream open here.
#[derive(Clone)]
pub(super) struct InUse {
    pub(super) in_flight: Arc<InFlight>,
    pub(super) get_streams: Arc<OpenGetStreams>,
}

impl InUse {
    /// Their ids, now.
    pub(super) fn sessions(&self) -> HashSet<SessionId> {
        let mut sessions = HashSet::new();
        self.in_flight.sessions_into(&mut sessions);
        self.get_streams.sessions_into(&mut sessions);
        sessions
    }
}

/// Pushes the expiry of the sessions in use here once per `every`, to `lifetime` from then.
pub(super) struct KeepAlive {
    in_use: InUse,
    store: Arc<dyn McpSessionStore>,
    every: Duration,
    lifetime: i64,
    running: Arc<AtomicBool>,
    shutdown: CancellationToken,
}

impl KeepAlive {
    /// Not running yet; it pushes `store`'s records of `in_use` sessions, every `every`, to
    /// `lifetime` seconds ahead, until `shutdown`.
    pub(super) fn new(
        in_use: InUse,
        store: Arc<dyn McpSessionStore>,
        every: Duration,
        lifetime: i64,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            in_use,
            store,
            every,
            lifetime,
            running: Arc::default(),
            shutdown,
        }
    }

    /// The sessions in use here now.
    pub(super) fn sessions_in_use(&self) -> HashSet<SessionId> {
        self.in_use.sessions()
    }

    /// A session was just registered as in use (a request running, a GET stream open): starts
    /// the loop unless it runs. Called after the registration, so a loop that stops for want of
    /// sessions either saw this one or leaves the start to this call.
    pub(super) fn in_use(&self) {
        if self.running.load(Ordering::Acquire)
            || self.shutdown.is_cancelled()
            || self.running.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let (in_use, store, running, shutdown) = (
            self.in_use.clone(),
            self.store.clone(),
            self.running.clone(),
            self.shutdown.clone(),
        );
        let (every, lifetime) = (self.every, self.lifetime);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(every) => {}
                }
                let mut sessions = in_use.sessions();
                if sessions.is_empty() {
                    running.store(false, Ordering::Release);
                    // A use registered meanwhile whose `in_use` saw the loop running is seen
                    // by this second look; one registered after it starts a loop of its own.
                    sessions = in_use.sessions();
                    if sessions.is_empty() || running.swap(true, Ordering::AcqRel) {
                        return;
                    }
                }
                let expires_at = unix_now().saturating_add(lifetime);
                // At once, so a slow store does not stretch the period past the slack.
                stream::iter(sessions)
                    .for_each_concurrent(TOUCHED_AT_ONCE, |id| {
                        let store = store.clone();
                        async move { extended(bounded(store.touch(&id, expires_at)).await) }
                    })
                    .await;
            }
            running.store(false, Ordering::Release);
        });
    }
}

/// Logs what pushing a session record's expiry came to, when it failed: a record deleted or
/// purged meanwhile has nothing left to keep alive.
pub(super) fn extended(pushed: Result<(), StoreError>) {
    match pushed {
        Ok(()) | Err(StoreError::NotFound(_)) => {}
        Err(error) => tracing::warn!(%error, "cannot extend an MCP session"),
    }
}
