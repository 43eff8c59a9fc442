//! Outpost's own session manager for the Streamable HTTP sessions of 2025-03-26 … 2025-11-25:
//! an idle session is a record in the store, not tasks and channels in memory, and a request
//! brings it to life on whichever instance receives it.
//!
//! [`OutpostSessionManager`] implements rmcp's public `SessionManager` trait, so rmcp's
//! `StreamableHttpService` still owns the HTTP side (headers, validation, errors):
//!
//! - `initialize`: rmcp runs the handler's handshake on a `handshake` transport; the
//!   manager writes the negotiated peer info and the owner (the caller's [`Identity`]) to the
//!   store's [`McpSessionStore`] (`record`) and the handshake's serve loop ends — no task
//!   stays behind. The record is created only within the session caps, counted in the store
//!   across instances (`McpSessionStore::create_counted`; a refusal is answered by
//!   `mcp::session_limits`);
//! - every later request: the record is read from the store — on any instance, once per
//!   request (the edge asks [`OutpostSessionManager::contains`] first; the request's later
//!   steps reuse that read for [`REVALIDATE_AFTER`]) — and the request is served by
//!   a fresh handler through `serve_directly` with the session's peer info (`request`), its
//!   progress, logs and server→client requests riding its own SSE stream; the handler's
//!   `initialize` is never replayed;
//! - the common request — a call that asks for no progress, one at a time per session — is
//!   served by the fast path in the connection's task instead (`OutpostSessionManager::inline`,
//!   `inline`), with the session's hot peer (`hot`): one serve loop per session in use here,
//!   lent to one request at a time; it skips the store read while the store vouches that
//!   nothing changed that may concern the session ([`McpSessionStore::changes_to`]);
//! - the client's `notifications/cancelled` reaches the running request it concerns, and its
//!   answers to server→client requests reach the request that asked, on any instance (relayed
//!   over the event store's bus by `mcp::relay`); an answer no request awaits any
//!   more — its request ended, or the instance running it is gone — is refused at once
//!   ([`UnawaitedAnswer`]);
//! - the GET stream follows the session's stream in the store's event store (`events`):
//!   whatever any instance emits for the session ([`SessionNotifier`]) reaches it, and
//!   `Last-Event-ID` on any instance replays exactly the events after that id; a session
//!   has one GET stream across instances: the latest GET wins, ending the one open before
//!   here or on another instance (announced through `mcp::relay`);
//! - a server's [`StandaloneStreamTask`] runs beside an open GET stream (resource updates:
//!   [`stream_task`]), sending through the same events;
//! - what the handler keeps per session (a log level, subscriptions) is [`SessionData`] in
//!   the record, given to every request's handler ([`data`]);
//! - idle expiry is the record's: each use pushes it at most once per slack (a quarter of the
//!   idle timeout), and so does `keep_alive` while a request runs or the GET stream is open
//!   here (the idle clock starts when the use ends); expired records are never loaded and are
//!   purged as sessions are created;
//! - the client's other notifications (`notifications/roots/list_changed`, …) reach the
//!   session's handler on the instance they arrive at, through its hot peer; what the handler
//!   sends outside a request goes to the session's GET stream;
//! - `DELETE` is [`OutpostSessionManager::end`], called by `mcp::session_delete`.
//!
//! [`SessionNotifier`]: crate::mcp::session_notifier::SessionNotifier
//!
//! [`Identity`]: crate::auth::resource::Identity

mod absent;
pub mod data;
mod detached;
pub(crate) mod events;
mod handshake;
mod hot;
mod inline;
mod keep_alive;
mod record;
mod relayed;
mod request;
pub mod stream_task;

use std::{
    collections::HashMap,
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use futures::Stream;
use rmcp::{
    ServerHandler,
    model::{
        ClientJsonRpcMessage, ClientNotification, ClientRequest, ErrorData, Extensions,
        GetExtensions, RequestId, ServerJsonRpcMessage, ServerResult,
    },
    service::serve_directly_with_ct,
    transport::streamable_http_server::{SessionId, SessionManager, session::ServerSseMessage},
};
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

pub use data::{MAX_SESSION_DATA_BYTES, SessionData, SessionDataError};
use detached::{Detached, RunOn};
pub(crate) use events::SessionEvents;
use events::{GetStream, OpenGetStreams};
pub use handshake::HandshakeTransport;
use handshake::{Handshake, handshake};
use hot::HotPeers;
pub(crate) use inline::{InlineOutcome, InlineSession};
use keep_alive::{InUse, KeepAlive};
use record::ParkedSession;
use relayed::{RelayedSessionNews, SessionCache};
use request::{InFlight, RequestTransport};
pub use stream_task::{SessionStream, StandaloneStreamTask};

use crate::{
    HandlerFactory,
    auth::resource::Identity,
    clock::unix_now,
    config::SessionLimits,
    mcp::{
        legacy_sse,
        priming::knows_priming,
        relay::{Destination, GetStreams, Outcome, Recipient, Relay},
        session_limits::{NotCreated, RefusalSlot, Refused, store_caps},
        session_notifier::{SessionBinding, SessionNotifier},
        unawaited_answers::refused_at_the_edge,
    },
    ops::{degraded::bounded, metrics::CountedSessions},
    store::{EventId, McpSessionStore, SessionAdmission, StoreError},
};

/// How long a session read from the store is reused here without asking again: by the later
/// steps of the request that read it (rmcp's session check, the request's stream) and by the
/// session-owner check (an owner never changes). A request's first step,
/// [`OutpostSessionManager::contains`], always asks the store, so a session ended or changed
/// on another instance is seen by the next request at once.
pub const REVALIDATE_AFTER: Duration = Duration::from_secs(1);
/// The shortest slack between two expiry pushes, so a tiny idle timeout does not mean a
/// write per request.
const MIN_SLACK: Duration = Duration::from_secs(1);

/// Why the session manager could not do what rmcp asked (rmcp answers `500`; the answers
/// clients act on — `404`, `503` — are given before, by `mcp::session_delete`).
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// No live session has this id.
    #[error("session not found: {0}")]
    NotFound(SessionId),
    /// The store failed or did not answer.
    #[error("the session store failed: {0}")]
    Store(#[from] StoreError),
    /// A stored session's record could not be read or written.
    #[error("a session record is not valid JSON: {0}")]
    Record(#[from] serde_json::Error),
    /// The handler's `initialize` handshake did not produce an answer.
    #[error("the initialize handshake of session {0} did not complete")]
    Handshake(SessionId),
    /// Only a JSON-RPC request opens a response stream.
    #[error("only a request opens a response stream")]
    NotARequest,
    /// The client answered a server→client request no request awaits: answered at once by
    /// `mcp::unawaited_answers` (`400`, `409` or `503`), or by rmcp's `500` with this text
    /// where that middleware is not in front of rmcp.
    #[error("{0}")]
    UnawaitedAnswer(UnawaitedAnswer),
    /// No session was created: a session cap is reached, the owner's
    /// ([`SessionAdmission::OwnerAtCap`]) or the total ([`SessionAdmission::StoreAtCap`])
    /// (answered `429` or `503` by `mcp::session_limits::answer_refusals`).
    #[error("no session created: a session cap is reached ({0:?})")]
    AtCapacity(SessionAdmission),
}

/// Why nothing takes a client's answer to a server→client request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UnawaitedAnswer {
    /// The id is not one this server gives its server→client requests.
    #[error("no request of this session asked for this answer (unknown id)")]
    UnknownId,
    /// The request that asked has ended (answered, cancelled or timed out).
    #[error("the request that asked for this answer has ended")]
    Ended,
    /// The instance running the request that asked did not confirm within
    /// `RECEIPT_WAIT` (2 s): it has stopped, and the request with it; retry the request.
    #[error(
        "the server instance running the request that asked for this answer is gone; retry the request"
    )]
    InstanceGone,
}

impl SessionError {
    /// The store's error, for the `503` of a store that cannot answer; other failures as a
    /// backend error.
    pub(crate) fn into_store_error(self) -> StoreError {
        match self {
            SessionError::Store(error) => error,
            other => StoreError::Backend(other.to_string()),
        }
    }
}

/// What the HTTP edge asks of parked sessions, whatever the handler type: the session-owner
/// check and the `DELETE` answers.
#[async_trait::async_trait]
pub(crate) trait SessionRecords: Send + Sync {
    /// Whether `id` names a live session.
    async fn contains(&self, id: &str) -> Result<bool, SessionError>;
    /// The owner of `id`: `None` for no live session, `Some(None)` for one without owner.
    async fn owner(&self, id: &str) -> Result<Option<Option<String>>, SessionError>;
    /// Ends `id`; `false` when there was no such session.
    async fn end(&self, id: &str) -> Result<bool, SessionError>;
}

#[async_trait::async_trait]
impl<H> SessionRecords for OutpostSessionManager<H>
where
    H: ServerHandler + Send + Sync + 'static,
{
    async fn contains(&self, id: &str) -> Result<bool, SessionError> {
        OutpostSessionManager::contains(self, id).await
    }

    async fn owner(&self, id: &str) -> Result<Option<Option<String>>, SessionError> {
        OutpostSessionManager::owner(self, id).await
    }

    async fn end(&self, id: &str) -> Result<bool, SessionError> {
        OutpostSessionManager::end(self, id).await
    }
}

/// Open here: a session with a request running or its GET stream open on this instance.
impl<H> CountedSessions for OutpostSessionManager<H>
where
    H: ServerHandler + Send + Sync + 'static,
{
    fn open_sessions(&self) -> Option<u64> {
        Some(self.keep_alive.sessions_in_use().len() as u64)
    }
}

pub(super) struct Cached {
    session: Arc<ParkedSession>,
    checked: Instant,
    touched: Instant,
    /// The store's [`McpSessionStore::changes_to`] this session just before it was read.
    changes: Option<u64>,
}

/// Sessions kept as store records and served by whichever instance a request reaches.
pub struct OutpostSessionManager<H> {
    factory: HandlerFactory<H>,
    store: Arc<dyn McpSessionStore>,
    idle_timeout: Duration,
    slack: Duration,
    /// A record's life past its last expiry push, in seconds: the idle timeout and a slack.
    lifetime: i64,
    limits: SessionLimits,
    handshakes: Mutex<HashMap<SessionId, Handshake>>,
    cache: Arc<SessionCache>,
    /// What the relay tells of sessions, kept alive here (the relay holds it weakly).
    _relayed: Arc<RelayedSessionNews>,
    /// Ids the store just said it does not hold, for the later looks of the same request.
    absent: absent::AbsentIds,
    in_flight: Arc<InFlight>,
    hot: HotPeers<H>,
    relay: Arc<Relay>,
    events: SessionEvents,
    get_streams: Arc<OpenGetStreams>,
    keep_alive: Arc<KeepAlive>,
    /// Requests whose clients went away, running on.
    detached: Arc<Detached>,
    shutdown: CancellationToken,
    housekeeping: Mutex<Option<Instant>>,
    stream_task: Option<StandaloneStreamTask>,
}

impl<H> std::fmt::Debug for OutpostSessionManager<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutpostSessionManager")
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

impl<H> OutpostSessionManager<H>
where
    H: ServerHandler + Send + Sync + 'static,
{
    /// Sessions recorded in `store` whose requests are served by handlers from `factory`;
    /// a session expires `idle_timeout` (plus a quarter of it) after its last request, its
    /// GET stream follows `events`, client messages for requests running elsewhere go
    /// through `relay`, and requests in flight end when `shutdown` is cancelled. New
    /// sessions are created within `limits`, counted in `store`.
    pub(crate) fn new(
        factory: HandlerFactory<H>,
        store: Arc<dyn McpSessionStore>,
        events: SessionEvents,
        relay: Arc<Relay>,
        idle_timeout: Duration,
        limits: SessionLimits,
        shutdown: CancellationToken,
    ) -> Self {
        let in_flight = Arc::new(InFlight::new(relay.instance()));
        let recipient: Arc<dyn Recipient> = in_flight.clone();
        relay.register(Destination::ParkedRequests, Arc::downgrade(&recipient));
        let get_streams = Arc::new(OpenGetStreams::default());
        let cache = Arc::new(SessionCache::default());
        let relayed = Arc::new(RelayedSessionNews {
            get_streams: get_streams.clone(),
            cache: cache.clone(),
            in_flight: in_flight.clone(),
        });
        let holder: Arc<dyn GetStreams> = relayed.clone();
        relay.register_get_streams(Arc::downgrade(&holder));
        let slack = (idle_timeout / 4).max(MIN_SLACK);
        let lifetime = (idle_timeout + slack).as_secs_f64().ceil() as i64;
        let in_use = InUse {
            in_flight: in_flight.clone(),
            get_streams: get_streams.clone(),
        };
        let keep_alive = Arc::new(KeepAlive::new(
            in_use,
            store.clone(),
            slack,
            lifetime,
            shutdown.clone(),
        ));
        Self {
            hot: HotPeers::new(
                factory.clone(),
                in_flight.clone(),
                events.clone(),
                shutdown.clone(),
            ),
            factory,
            store,
            idle_timeout,
            slack,
            lifetime,
            limits,
            handshakes: Mutex::new(HashMap::new()),
            cache,
            _relayed: relayed,
            absent: absent::AbsentIds::default(),
            in_flight,
            relay,
            events,
            get_streams,
            keep_alive,
            detached: Arc::default(),
            shutdown,
            housekeeping: Mutex::new(None),
            stream_task: None,
        }
    }

    /// Runs `task` on this instance while a session's GET stream is open here.
    pub fn with_stream_task(mut self, task: Option<StandaloneStreamTask>) -> Self {
        self.stream_task = task;
        self
    }

    /// Whether `id` names a live session, as the store says now (a `DELETE` or a change of
    /// the session's data on another instance is seen at once; an id the store did not hold
    /// a moment ago is taken as still absent); an error when the store cannot tell. The edge asks this first for every request naming a session; the request's
    /// later steps reuse what it read.
    pub async fn contains(&self, id: &str) -> Result<bool, SessionError> {
        let id = SessionId::from(id);
        Ok(self
            .load_within(&id, Duration::ZERO, Duration::ZERO)
            .await?
            .is_some())
    }

    /// The owner of session `id`: `None` when there is no such live session, `Some(None)`
    /// for a session created without authentication.
    pub async fn owner(&self, id: &str) -> Result<Option<Option<String>>, SessionError> {
        Ok(self
            .load(&SessionId::from(id))
            .await?
            .map(|session| session.owner.clone()))
    }

    /// Ends session `id` everywhere (`DELETE`): its record and its events go; its GET stream
    /// closes and its running requests are cancelled, here at once, on another instance when
    /// the relay's announcement arrives (a GET stream there also at its next look at the
    /// store, within 10 s, if the announcement is lost). `false` when there was no such
    /// session.
    pub async fn end(&self, id: &str) -> Result<bool, SessionError> {
        let id = SessionId::from(id);
        lock(&self.cache).remove(&id);
        self.hot.forget(&id);
        self.get_streams.close(&id);
        self.in_flight.cancel_session(&id);
        if let Err(error) = bounded(self.events.forget(&id)).await {
            tracing::warn!(%error, "cannot forget an ended session's events");
        }
        match bounded(self.store.delete(&id)).await {
            Ok(()) => {
                if let Err(error) = bounded(self.relay.announce_session_ended(&id)).await {
                    tracing::warn!(%error, "a GET stream of the ended session open elsewhere ends at its next look");
                }
                Ok(true)
            }
            Err(StoreError::NotFound(_)) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// Session `id` ready to serve one request in the caller's task (`inline`), its handler's
    /// `extensions` given the session's data and notifier. `None` leaves the request to the
    /// per-request path (which answers what this does not: an unknown session, a store that
    /// fails): no live session, or another request of the session holds its hot peer.
    pub(crate) async fn inline(
        &self,
        id: &SessionId,
        extensions: &mut Extensions,
    ) -> Option<InlineSession> {
        // From the cache when read within a second and the store reports no change since that
        // may concern it (memory and SQLite: any session's change made through this process;
        // Redis: a change to a session of its group of ids, made by any instance, as soon as
        // its notice arrives); else from the store. No live session, or a store that fails:
        // the per-request path answers those.
        let session = self
            .load_within(id, Duration::ZERO, REVALIDATE_AFTER)
            .await
            .ok()??;
        self.follow_relay().await;
        let lease = self.hot.lend(id, &session.peer)?;
        self.bind(id, &session, extensions);
        Some(InlineSession {
            id: id.clone(),
            lease,
            in_flight: self.in_flight.clone(),
            keep_alive: self.keep_alive.clone(),
            detached: self.detached.clone(),
            shutdown: self.shutdown.clone(),
        })
    }

    /// Cancellations and answers POSTed to other instances reach a request running here through
    /// the relay, which follows its streams from the first request on.
    async fn follow_relay(&self) {
        if let Err(error) = self.relay.listen().await {
            tracing::warn!(%error, "messages POSTed to other instances will not reach this request");
        }
    }

    /// Gives a request of session `id` what its handler finds in its extensions: the
    /// session's data and its notifier.
    fn bind(&self, id: &SessionId, session: &ParkedSession, extensions: &mut Extensions) {
        extensions.insert(SessionData::new(
            id,
            session.data.clone(),
            self.store.clone(),
        ));
        extensions.insert(SessionBinding {
            notifier: SessionNotifier::new(self.events.clone()),
            session_id: id.to_string(),
        });
    }

    /// A cached session used again at `now`; pushes its expiry when a slack has passed since
    /// the last push.
    fn reuse(&self, id: &SessionId, cached: &mut Cached, now: Instant) -> Arc<ParkedSession> {
        if now.saturating_duration_since(cached.touched) >= self.slack {
            cached.touched = now;
            self.push_expiry(id);
        }
        cached.session.clone()
    }

    /// The live session `id`, from the cache when read within [`REVALIDATE_AFTER`], else
    /// from the store.
    async fn load(&self, id: &SessionId) -> Result<Option<Arc<ParkedSession>>, SessionError> {
        self.load_within(id, REVALIDATE_AFTER, Duration::ZERO).await
    }

    /// The live session `id`, from the cache when read from the store within `trusted`, or
    /// within `while_unchanged` if the store reports no change that may concern it since that
    /// read ([`McpSessionStore::changes_to`]), else from the store; pushes its expiry when a
    /// slack has passed since the last push. `None` without a read when the store said within
    /// a second that it holds no session `id` ([`absent`]: an absent id does not appear).
    async fn load_within(
        &self,
        id: &SessionId,
        trusted: Duration,
        while_unchanged: Duration,
    ) -> Result<Option<Arc<ParkedSession>>, SessionError> {
        // A 2024-11-05 session's record shares the store's table; it is no session here.
        if id.starts_with(legacy_sse::directory::KEY_PREFIX) {
            return Ok(None);
        }
        let now = Instant::now();
        let mut touched = None;
        let mut known = None;
        let mut read_unchanged = None;
        if let Some(cached) = lock(&self.cache).get_mut(id) {
            let age = now.saturating_duration_since(cached.checked);
            if age < trusted {
                return Ok(Some(self.reuse(id, cached, now)));
            }
            touched = Some(cached.touched);
            if age < self.idle_timeout {
                known = Some(cached.session.clone());
            }
            if age < while_unchanged {
                read_unchanged = cached.changes;
            }
        }
        // Asked before the read: a change made between the two is seen by the next look.
        let changes = self.store.changes_to(id).await.ok().flatten();
        if read_unchanged.is_some()
            && read_unchanged == changes
            && let Some(cached) = lock(&self.cache).get_mut(id)
        {
            return Ok(Some(self.reuse(id, cached, now)));
        }
        // Asked only before a read: a session in the cache was never absent.
        if self.absent.recently(id, now) {
            return Ok(None);
        }
        let record = match bounded(self.store.get(id, unix_now())).await {
            Ok(record) => record,
            // The store does not answer: a session this instance read within an idle timeout
            // goes on as it was (no DELETE reaches the store meanwhile either); one it does
            // not know waits for the store (503).
            Err(StoreError::Unavailable(reason)) => match known {
                Some(session) => {
                    tracing::debug!(session = %id, %reason, "store unavailable: serving the session as last read");
                    return Ok(Some(session));
                }
                None => return Err(StoreError::Unavailable(reason).into()),
            },
            Err(error) => return Err(error.into()),
        };
        let Some(session) = record
            .map(ParkedSession::from_record)
            .transpose()?
            .flatten()
        else {
            lock(&self.cache).remove(id);
            self.absent.remember(id, now);
            return Ok(None);
        };
        let session = Arc::new(session);
        // A session first loaded here is being used: it gets a full idle period from now.
        let touched = match touched {
            Some(at) if now.saturating_duration_since(at) < self.slack => at,
            _ => {
                self.push_expiry(id);
                now
            }
        };
        self.housekeeping(now);
        // A cached session must hear of its end on another instance (`RelayedSessionNews`).
        self.follow_relay().await;
        lock(&self.cache).insert(
            id.clone(),
            Cached {
                session: session.clone(),
                checked: now,
                touched,
                changes,
            },
        );
        Ok(Some(session))
    }

    /// Writes a new session's record, within the session caps, and caches it.
    async fn park(&self, id: &SessionId, session: ParkedSession) -> Result<(), SessionError> {
        let now = unix_now();
        let admission = bounded(self.store.create_counted(
            id,
            &session.state_json()?,
            session.owner.as_deref(),
            now,
            self.expires_at(now),
            store_caps(self.limits),
        ))
        .await?;
        if admission != SessionAdmission::Created {
            return Err(SessionError::AtCapacity(admission));
        }
        let at = Instant::now();
        self.housekeeping(at);
        self.follow_relay().await;
        lock(&self.cache).insert(
            id.clone(),
            Cached {
                session: Arc::new(session),
                checked: at,
                touched: at,
                // Unknown: the first inline request reads the record.
                changes: None,
            },
        );
        Ok(())
    }

    /// The expiry of a session used at `now` (unix seconds).
    fn expires_at(&self, now: i64) -> i64 {
        now.saturating_add(self.lifetime)
    }

    fn push_expiry(&self, id: &SessionId) {
        let (store, id) = (self.store.clone(), id.clone());
        let expires_at = self.expires_at(unix_now());
        tokio::spawn(async move { keep_alive::extended(store.touch(&id, expires_at).await) });
    }

    /// At most once per slack: drops cache entries not used for an idle timeout and purges
    /// expired records from the store, off the request's path.
    fn housekeeping(&self, now: Instant) {
        {
            let mut last = lock(&self.housekeeping);
            if last.is_some_and(|at| now.saturating_duration_since(at) < self.slack) {
                return;
            }
            *last = Some(now);
        }
        let idle = self.idle_timeout;
        lock(&self.cache).retain(|_, cached| now.saturating_duration_since(cached.checked) < idle);
        let (store, events) = (self.store.clone(), self.events.clone());
        tokio::spawn(async move {
            match store.purge_expired(unix_now()).await {
                Ok(0) => {}
                Ok(removed) => tracing::debug!(removed, "purged expired MCP sessions"),
                Err(error) => tracing::warn!(%error, "cannot purge expired MCP sessions"),
            }
            match events.purge().await {
                Ok(0) => {}
                Ok(removed) => tracing::debug!(removed, "purged old MCP session events"),
                Err(error) => tracing::warn!(%error, "cannot purge old MCP session events"),
            }
        });
    }
}

impl<H> SessionManager for OutpostSessionManager<H>
where
    H: ServerHandler + Send + Sync + 'static,
{
    type Error = SessionError;
    type Transport = HandshakeTransport;

    async fn create_session(&self) -> Result<(SessionId, HandshakeTransport), SessionError> {
        let id = SessionId::from(uuid::Uuid::new_v4().to_string());
        let (handshake, transport) = handshake();
        lock(&self.handshakes).insert(id.clone(), handshake);
        Ok((id, transport))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, SessionError> {
        let handshake = lock(&self.handshakes)
            .remove(id)
            .ok_or_else(|| SessionError::Handshake(id.clone()))?;
        let (client, owner, refusals) = match &message {
            ClientJsonRpcMessage::Request(request) => match &request.request {
                ClientRequest::InitializeRequest(initialize) => (
                    initialize.params.clone(),
                    Identity::from_extensions(request.request.extensions())
                        .map(|identity| identity.subject),
                    RefusalSlot::from_extensions(request.request.extensions()),
                ),
                _ => return Err(SessionError::Handshake(id.clone())),
            },
            _ => return Err(SessionError::Handshake(id.clone())),
        };
        handshake
            .initialize
            .send(message)
            .map_err(|_| SessionError::Handshake(id.clone()))?;
        let answer = handshake
            .answer
            .await
            .map_err(|_| SessionError::Handshake(id.clone()))?;
        if let ServerJsonRpcMessage::Response(response) = &answer
            && let ServerResult::InitializeResult(result) = &response.result
        {
            let mut peer = client;
            peer.protocol_version = result.protocol_version.clone();
            let session = ParkedSession {
                peer: Arc::new(peer),
                owner,
                data: data::DataCell::default(),
            };
            if let Err(error) = self.park(id, session).await {
                match (&error, &refusals) {
                    (SessionError::AtCapacity(admission), Some(slot)) => {
                        if let Some(refused) = Refused::from_admission(*admission, self.limits) {
                            slot.refuse(NotCreated::Refused(refused));
                        }
                    }
                    (SessionError::Store(StoreError::Unavailable(why)), Some(slot)) => {
                        slot.refuse(NotCreated::StoreUnavailable(why.clone()));
                    }
                    _ => {}
                }
                return Err(error);
            }
        }
        Ok(answer)
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, SessionError> {
        Ok(self.load(id).await?.is_some())
    }

    /// Called by rmcp when a session's handshake serve loop ends — right after the handshake,
    /// by design — and by rmcp's own `DELETE`, which Outpost answers before it gets there
    /// ([`OutpostSessionManager::end`]). Only an unfinished handshake is dropped here.
    async fn close_session(&self, id: &SessionId) -> Result<(), SessionError> {
        lock(&self.handshakes).remove(id);
        Ok(())
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        mut message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, SessionError> {
        let session = self
            .load(id)
            .await?
            .ok_or_else(|| SessionError::NotFound(id.clone()))?;
        let ClientJsonRpcMessage::Request(request) = &mut message else {
            return Err(SessionError::NotARequest);
        };
        if matches!(request.request, ClientRequest::InitializeRequest(_)) {
            return Ok(ResponseStream::refusing_reinitialize(request.id.clone()));
        }
        self.follow_relay().await;
        self.bind(id, &session, request.request.extensions_mut());
        let request_id = request.id.clone();
        let request_id_of_stream = request_id.clone();
        let (transport, receiver) =
            RequestTransport::new(id.clone(), request_id, message, self.in_flight.clone());
        // Registered as running: the keep-alive loop sees it from now on.
        self.keep_alive.in_use();
        // Ended by the answer, the client's `notifications/cancelled` or shutdown — not by
        // the client going away, within [`Detached`]'s bounds ([`ResponseStream`]).
        let stop = self.shutdown.child_token();
        let running = serve_directly_with_ct(
            (self.factory)(),
            transport,
            Some((*session.peer).clone()),
            stop.clone(),
        );
        let run_on = RunOn::spawn(self.detached.clone(), stop, async move {
            let _ = running.waiting().await;
        });
        Ok(ResponseStream::new(
            receiver,
            request_id_of_stream,
            self.shutdown.clone(),
            run_on,
        ))
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), SessionError> {
        match self.accept(id, message).await {
            // The edge answers it (`mcp::unawaited_answers`), rather than rmcp's `500`.
            Err(SessionError::UnawaitedAnswer(why)) if refused_at_the_edge(why) => Ok(()),
            accepted => accepted,
        }
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, SessionError> {
        self.follow(id, None).await
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, SessionError> {
        if last_event_id == events::RMCP_PRIMING_ID {
            // Lost before Outpost's position event: where it opened is unknown, so from now
            // (an empty stream instead would have the client ask again and again).
            return self.follow(id, None).await;
        }
        match last_event_id.parse::<EventId>() {
            Ok(after) => self.follow(id, Some(after)).await,
            // Not an id this server gives: an empty stream would have the client ask again
            // and again with it, so the stream follows from now.
            Err(error) => {
                tracing::debug!(session = %id, %error, "a Last-Event-ID no event had: following from now");
                self.follow(id, None).await
            }
        }
    }
}

impl<H> OutpostSessionManager<H>
where
    H: ServerHandler + Send + Sync + 'static,
{
    /// Hands the client's `notification` (one that concerns no running request, e.g.
    /// `notifications/roots/list_changed`) to the session's handler, through its hot peer; what
    /// the handler sends back goes to the session's GET stream. Advisory, as notifications
    /// are: a session the store cannot read now does not hear it.
    async fn notify_handler(&self, id: &SessionId, notification: ClientJsonRpcMessage) {
        match self.load(id).await {
            Ok(Some(session)) => {
                if !self.hot.notify(id, &session.peer, notification) {
                    tracing::warn!(session = %id, "the session's handler takes no more notifications now");
                }
            }
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%error, "a notification cannot reach its session's handler")
            }
        }
    }

    /// Takes a client's message for session `id` that is not a request: `initialized`, a
    /// cancellation (to the request here, or told to every instance), an answer to a
    /// server→client request (to the request here, or relayed to the instance that asked; an
    /// [`UnawaitedAnswer`] when nothing awaits it), another notification (to the session's
    /// handler).
    async fn accept(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), SessionError> {
        if let ClientJsonRpcMessage::Notification(notification) = &message
            && matches!(
                notification.notification,
                ClientNotification::InitializedNotification(_)
            )
        {
            return Ok(());
        }
        if self.in_flight.deliver(id, message.clone()) {
            return Ok(());
        }
        match message {
            // The request may run on another instance; which one, no instance knows.
            ClientJsonRpcMessage::Notification(notification)
                if matches!(
                    notification.notification,
                    ClientNotification::CancelledNotification(_)
                ) =>
            {
                let message = ClientJsonRpcMessage::Notification(notification);
                // Advisory (the request may have ended): a store that cannot take it costs
                // the cancellation, not the client's POST.
                if let Err(error) = bounded(self.relay.broadcast_cancel(id, message)).await {
                    tracing::warn!(%error, "a cancellation cannot reach other instances");
                }
                Ok(())
            }
            ClientJsonRpcMessage::Response(ref response) => {
                let asker = response.id.clone();
                self.relay_answer(id, &asker, message).await
            }
            ClientJsonRpcMessage::Error(ref error) => match error.id.clone() {
                Some(asker) => self.relay_answer(id, &asker, message).await,
                None => Err(SessionError::UnawaitedAnswer(UnawaitedAnswer::UnknownId)),
            },
            ClientJsonRpcMessage::Notification(_) => {
                self.notify_handler(id, message).await;
                Ok(())
            }
            ClientJsonRpcMessage::Request(_) => {
                tracing::debug!(session = %id, "a request where rmcp passes only other messages");
                Ok(())
            }
        }
    }

    /// Hands `answer` (to the server→client request `asker`) to the instance that issued
    /// that id, waiting for its receipt; an error at once when nothing takes it.
    async fn relay_answer(
        &self,
        id: &SessionId,
        asker: &RequestId,
        answer: ClientJsonRpcMessage,
    ) -> Result<(), SessionError> {
        let Some(instance) = InFlight::issuer(asker) else {
            return Err(SessionError::UnawaitedAnswer(UnawaitedAnswer::UnknownId));
        };
        if self.in_flight.is_this_instance(instance) {
            return Err(SessionError::UnawaitedAnswer(UnawaitedAnswer::Ended));
        }
        let outcome = self
            .relay
            .deliver_to(
                instance,
                Destination::ParkedRequests,
                id,
                vec![answer],
                None,
            )
            .await?;
        match outcome {
            Outcome::Delivered => Ok(()),
            Outcome::NoRecipient | Outcome::Busy => {
                Err(SessionError::UnawaitedAnswer(UnawaitedAnswer::Ended))
            }
            Outcome::Unanswered => {
                Err(SessionError::UnawaitedAnswer(UnawaitedAnswer::InstanceGone))
            }
        }
    }

    /// Opens `id`'s GET stream here from after `after` (from now with `None`); a GET stream
    /// of the session open before, here or on another instance, ends.
    async fn follow(
        &self,
        id: &SessionId,
        after: Option<EventId>,
    ) -> Result<GetStream, SessionError> {
        let Some(session) = self.load(id).await? else {
            return Err(SessionError::NotFound(id.clone()));
        };
        let priming = knows_priming(session.peer.protocol_version.as_str());
        // Following the broadcast stream first, so a later GET elsewhere ends this one.
        if let Err(error) = self.relay.listen().await {
            tracing::warn!(%error, "a GET stream opened elsewhere later will not end this one");
        }
        let announced = match bounded(self.relay.announce_get_stream(id)).await {
            Ok(at) => Some(at),
            Err(error) => {
                tracing::warn!(%error, "a GET stream of this session open elsewhere stays open");
                None
            }
        };
        let (stop, registration) = self.get_streams.open(id, announced, &self.shutdown);
        // Registered as open: the keep-alive loop sees it from now on.
        self.keep_alive.in_use();
        let feed = bounded(self.events.follow(id, after, priming, stop.clone())).await?;
        self.end_when_gone(id, stop.clone());
        if let Some(task) = &self.stream_task {
            let stream = SessionStream::new(
                id.clone(),
                self.events.clone(),
                self.store.clone(),
                stop.clone(),
            );
            let work = task(stream);
            tokio::spawn(async move {
                tokio::select! {
                    () = stop.cancelled() => {}
                    () = work => {}
                }
            });
        }
        Ok(GetStream {
            feed,
            _registration: registration,
        })
    }
}

impl<H> OutpostSessionManager<H> {
    /// Ends the GET stream `stop` stops once session `id` is gone from the store — ended by a
    /// `DELETE` on another instance, or expired — looking every [`events::RECHECK_EVERY`]
    /// while the stream is open (a `DELETE` here ends it at once). A store that cannot answer
    /// keeps the stream open.
    fn end_when_gone(&self, id: &SessionId, stop: CancellationToken) {
        let (store, id) = (self.store.clone(), id.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(events::RECHECK_EVERY) => {}
                }
                match bounded(store.get(&id, unix_now())).await {
                    Ok(Some(_)) => {}
                    Ok(None) => return stop.cancel(),
                    Err(error) => {
                        tracing::debug!(%error, "cannot tell whether a GET stream's session lives")
                    }
                }
            }
        });
    }
}

/// A request's SSE stream. Dropping it before the answer (the client went away) does not
/// cancel the request: MCP 2025-03-26 … 2025-11-25 say a disconnection SHOULD NOT be taken for
/// a cancellation (the client sends `notifications/cancelled` for that), and rmcp's in-memory
/// sessions let the request run on too. What the handler sends from then on goes nowhere
/// ([`RequestTransport`]).
struct ResponseStream {
    receiver: mpsc::Receiver<ServerJsonRpcMessage>,
    /// While the request is unanswered: its id, and the server's shutdown, at which it is
    /// answered with [`shutting_down`] and the stream ends — at once, as rmcp ends the SSE
    /// body soon after and its serve loop takes a while to let go of the request.
    unanswered: Option<(RequestId, Pin<Box<WaitForCancellationFutureOwned>>)>,
    /// How the request's serve loop runs on if the stream is dropped unanswered.
    run_on: Option<RunOn>,
}

impl ResponseStream {
    /// The stream of request `id`, whose serve loop sends to `receiver`.
    fn new(
        receiver: mpsc::Receiver<ServerJsonRpcMessage>,
        id: RequestId,
        shutdown: CancellationToken,
        run_on: RunOn,
    ) -> Self {
        Self {
            receiver,
            unanswered: Some((id, Box::pin(shutdown.cancelled_owned()))),
            run_on: Some(run_on),
        }
    }

    /// The answer to an `initialize` sent inside a session: `-32600` Invalid Request. The
    /// session keeps what it negotiated — initialization happens once (MCP lifecycle) — and
    /// answering success would tell the client that its new version and capabilities hold.
    /// A client that wants others starts a session: an `initialize` without `Mcp-Session-Id`.
    fn refusing_reinitialize(id: RequestId) -> Self {
        let (sender, receiver) = mpsc::channel(1);
        let refusal = ErrorData::invalid_request(
            "this session is initialized already; initialize without Mcp-Session-Id to start \
             a new session",
            None,
        );
        // A fresh channel with room for one.
        let _ = sender.try_send(ServerJsonRpcMessage::error(refusal, Some(id)));
        Self {
            receiver,
            unanswered: None,
            run_on: None,
        }
    }
}

impl Drop for ResponseStream {
    fn drop(&mut self) {
        if let (Some(_), Some(run_on)) = (&self.unanswered, self.run_on.take()) {
            run_on.client_left();
        }
    }
}

impl Stream for ResponseStream {
    type Item = ServerSseMessage;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Poll::Ready(message) = self.receiver.poll_recv(cx) {
            if let Some(ServerJsonRpcMessage::Response(_) | ServerJsonRpcMessage::Error(_)) =
                &message
            {
                self.unanswered = None;
            }
            return Poll::Ready(message.map(ServerSseMessage::from_message));
        }
        let Some((_, shutdown)) = &mut self.unanswered else {
            return Poll::Pending;
        };
        if shutdown.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let Some((id, _)) = self.unanswered.take() else {
            return Poll::Pending;
        };
        // Its last message: nothing comes after it — but an answer that came meanwhile is
        // that message, not an invitation to send a request that ran again.
        self.receiver.close();
        let mut last = ServerJsonRpcMessage::error(shutting_down(), Some(id));
        while let Ok(message) = self.receiver.try_recv() {
            if matches!(
                message,
                ServerJsonRpcMessage::Response(_) | ServerJsonRpcMessage::Error(_)
            ) {
                last = message;
            }
        }
        Poll::Ready(Some(ServerSseMessage::from_message(last)))
    }
}

/// The answer of a session request that the server's shutdown ended: the session lives on
/// (in the store) and the request can be sent again, to another instance.
pub(crate) fn shutting_down() -> ErrorData {
    ErrorData::internal_error(
        "the server is shutting down: send the request again (the session goes on)",
        Some(serde_json::json!({ "reason": "shutting_down" })),
    )
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
