//! A parked session's GET stream, kept in the store's [`EventStore`]: whatever any instance
//! emits for the session is appended there (and wakes the instance holding the stream, the
//! store's bus); the stream follows it from where the client is, so `Last-Event-ID` on any
//! instance replays exactly the events after that id, none twice.
//!
//! The same store carries the client's messages relayed between instances
//! (`mcp::relay`, which follows its streams with [`tail`]).
//!
//! Only the GET stream is kept. A request's own SSE stream is not: its events are the
//! request's progress and answer, and keeping them would cost a store write per message on
//! the hot path of every session request; a client that loses a request's stream retries
//! the request.

use std::{
    collections::{HashMap, HashSet},
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
    task::{Context, Poll},
    time::Duration,
};

use futures::Stream;
use rmcp::{
    model::ServerJsonRpcMessage,
    transport::streamable_http_server::{SessionId, session::ServerSseMessage},
};
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::{
    clock::unix_now,
    ops::log_limit::OncePerMinute,
    store::{EventId, EventRetention, EventStore, StoreError, StoredEvent},
};

/// Events read from the store at once.
const BATCH: usize = 64;
/// Room for events read but not yet taken by the SSE stream.
const CAPACITY: usize = 16;
/// How often an open GET stream looks at the store without a wake-up: wake-ups from another
/// process can be lost with a connection (Redis), or never come (two processes on one SQLite
/// file).
pub(crate) const RECHECK_EVERY: Duration = Duration::from_secs(10);
/// The pause before reading again after the store failed.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// The position of a stream with no event yet: every id the store gives is greater.
const BEFORE_EVERY_EVENT: EventId = EventId::new(0, 0);
/// The id of the priming event rmcp sends first on a session's `initialize` answer (it knows
/// no store), which a client may also resume the GET stream with.
pub(crate) const RMCP_PRIMING_ID: &str = "0";
/// The reconnection delay (`retry`) the GET stream's priming event gives: rmcp's default for
/// its own priming events.
const RECONNECT_AFTER: Duration = Duration::from_secs(3);

/// The events of parked sessions' GET streams, in the store, kept as `retention` says.
#[derive(Clone)]
pub(crate) struct SessionEvents {
    store: Arc<dyn EventStore>,
    retention: EventRetention,
}

impl std::fmt::Debug for SessionEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionEvents")
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

/// The store key of `session`'s GET stream.
fn get_stream(session: &str) -> String {
    format!("mcp-session:{session}:get")
}

impl SessionEvents {
    /// Events in `store`, kept as `retention` says.
    pub(crate) fn new(store: Arc<dyn EventStore>, retention: EventRetention) -> Self {
        Self { store, retention }
    }

    /// Appends `message` to `session`'s GET stream, for whichever instance holds it now or
    /// the client resuming it later.
    pub(crate) async fn emit(
        &self,
        session: &str,
        message: &ServerJsonRpcMessage,
    ) -> Result<EventId, StoreError> {
        let data = serde_json::to_string(message)
            .map_err(|error| StoreError::Backend(format!("an MCP message as JSON: {error}")))?;
        self.store
            .append(&get_stream(session), &data, unix_now(), self.retention)
            .await
    }

    /// Forgets `session`'s events (it ended).
    pub(crate) async fn forget(&self, session: &str) -> Result<(), StoreError> {
        self.store.delete_stream(&get_stream(session)).await
    }

    /// Drops every event older than the retention's age (maintenance).
    pub(crate) async fn purge(&self) -> Result<u64, StoreError> {
        self.store
            .purge_events(unix_now(), self.retention.max_age)
            .await
    }

    /// `session`'s GET stream from after `after` (a client's `Last-Event-ID`), or from now
    /// with `None`, when it first tells the client where now is if it knows `priming`
    /// events (`mcp::priming`); it ends when `stop` is cancelled or the client goes.
    pub(crate) async fn follow(
        &self,
        session: &SessionId,
        after: Option<EventId>,
        priming: bool,
        stop: CancellationToken,
    ) -> Result<EventFeed, StoreError> {
        let (receiver, from) = tail(
            self.store.clone(),
            get_stream(session),
            after,
            RECHECK_EVERY,
            stop,
        )
        .await?;
        Ok(EventFeed {
            position: (priming && after.is_none()).then(|| from.unwrap_or(BEFORE_EVERY_EVENT)),
            receiver,
        })
    }
}

/// The events of `stream` in `store` after `after` (from now with `None`) as they come, read
/// by a task until `stop` is cancelled or the receiver dropped — at a wake-up, or at the
/// latest every `recheck` —; and the id they follow (`None`: every event of the stream).
pub(crate) async fn tail(
    store: Arc<dyn EventStore>,
    stream: String,
    after: Option<EventId>,
    recheck: Duration,
    stop: CancellationToken,
) -> Result<(mpsc::Receiver<StoredEvent>, Option<EventId>), StoreError> {
    // Listening before the tail is read: nothing appended in between is missed.
    let listener = store.listen(&stream);
    let last = store.last_event_id(&stream).await?;
    let after = match after {
        // An id past the stream's last (another server's, or made up) would skip every event
        // until the stream's ids overtake it: such a stream follows from now.
        Some(id) if last.is_some_and(|last| id <= last) => Some(id),
        _ => last,
    };
    let (sender, receiver) = mpsc::channel(CAPACITY);
    tokio::spawn(async move {
        let mut cursor = after;
        loop {
            match store.read_after(&stream, cursor, BATCH).await {
                Ok(events) => {
                    let full = events.len() == BATCH;
                    for event in events {
                        cursor = Some(event.id);
                        if sender.send(event).await.is_err() {
                            return;
                        }
                    }
                    if full {
                        continue;
                    }
                    tokio::select! {
                        _ = listener.appended() => {}
                        _ = tokio::time::sleep(recheck) => {}
                        _ = sender.closed() => return,
                        _ = stop.cancelled() => return,
                    }
                }
                Err(error) => {
                    static LOGGED: OncePerMinute = OncePerMinute::new();
                    if LOGGED.due(unix_now()) {
                        tracing::warn!(%error, stream, "cannot read a session's events (again within a minute, for any session: not logged)");
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(RETRY_AFTER) => {}
                        _ = sender.closed() => return,
                        _ = stop.cancelled() => return,
                    }
                }
            }
        }
    });
    Ok((receiver, after))
}

/// The events of one open GET stream, as SSE messages with their ids.
pub(crate) struct EventFeed {
    /// For a stream opened without `Last-Event-ID`: the id it follows, sent first as an event
    /// without data (SEP-1699's priming event, with the reconnection delay), so that a client
    /// that loses the stream before any event resumes from where it opened. rmcp's own
    /// priming event, which would say `0` again, is not sent on GET streams.
    position: Option<EventId>,
    receiver: mpsc::Receiver<StoredEvent>,
}

impl Stream for EventFeed {
    type Item = ServerSseMessage;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(position) = self.position.take() {
            // The stream's priming event: rmcp sends none on a GET stream here (`mcp::priming`),
            // so this one carries the reconnection delay.
            let event = ServerSseMessage::priming(position.to_string(), RECONNECT_AFTER);
            return Poll::Ready(Some(event));
        }
        loop {
            let Some(event) = std::task::ready!(self.receiver.poll_recv(cx)) else {
                return Poll::Ready(None);
            };
            match serde_json::from_str::<ServerJsonRpcMessage>(&event.data) {
                Ok(message) => {
                    return Poll::Ready(Some(ServerSseMessage::new(event.id.to_string(), message)));
                }
                Err(error) => {
                    tracing::warn!(%error, id = %event.id, "skipping a stored event that is not an MCP message");
                }
            }
        }
    }
}

/// One GET stream open here.
struct OpenGet {
    /// Its number on this instance.
    number: u64,
    /// The id of the relay's announcement of its opening (`None` when the store could not
    /// take it: any later GET of the session elsewhere replaces it).
    announced: Option<EventId>,
    /// Dropped, stops the stream.
    _stop: DropGuard,
}

/// The GET streams open on this instance. A session has one GET stream across instances: a
/// second GET of a session here replaces the first, one opened on another instance replaces
/// it too ([`OpenGetStreams::opened`], told by the relay), and `DELETE` ends it: dropping the
/// entry stops the stream.
#[derive(Default)]
pub(crate) struct OpenGetStreams {
    streams: Mutex<HashMap<SessionId, OpenGet>>,
    next: std::sync::atomic::AtomicU64,
}

impl OpenGetStreams {
    /// Registers a new GET stream of `session`, whose opening the relay announced as
    /// `announced`, stopping the one open before; the stream stops when the returned token
    /// is cancelled.
    pub(crate) fn open(
        self: &Arc<Self>,
        session: &SessionId,
        announced: Option<EventId>,
        parent: &CancellationToken,
    ) -> (CancellationToken, GetRegistration) {
        let stop = parent.child_token();
        let number = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let open = OpenGet {
            number,
            announced,
            _stop: stop.clone().drop_guard(),
        };
        self.lock().insert(session.clone(), open);
        let registration = GetRegistration {
            streams: self.clone(),
            session: session.clone(),
            number,
        };
        (stop, registration)
    }

    /// Adds the sessions with a GET stream open here to `sessions`.
    pub(crate) fn sessions_into(&self, sessions: &mut HashSet<SessionId>) {
        sessions.extend(self.lock().keys().cloned());
    }

    /// Stops `session`'s GET stream here, if one is open.
    pub(crate) fn close(&self, session: &SessionId) {
        self.lock().remove(session);
    }

    /// A GET stream of `session` was opened (on any instance) with the announcement `at`:
    /// the one here ends if it was announced before (the latest GET wins everywhere).
    pub(crate) fn opened(&self, session: &str, at: EventId) {
        let mut streams = self.lock();
        let session = SessionId::from(session);
        if streams
            .get(&session)
            .is_some_and(|open| open.announced.is_none_or(|announced| announced < at))
        {
            streams.remove(&session);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, OpenGet>> {
        self.streams.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Keeps a GET stream registered while it is open.
pub(crate) struct GetRegistration {
    streams: Arc<OpenGetStreams>,
    session: SessionId,
    number: u64,
}

impl Drop for GetRegistration {
    fn drop(&mut self) {
        let mut streams = self.streams.lock();
        if streams
            .get(&self.session)
            .is_some_and(|open| open.number == self.number)
        {
            streams.remove(&self.session);
        }
    }
}

/// A session's GET stream on this instance.
pub(crate) struct GetStream {
    pub(crate) feed: EventFeed,
    pub(crate) _registration: GetRegistration,
}

impl Stream for GetStream {
    type Item = ServerSseMessage;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.feed).poll_next(cx)
    }
}
