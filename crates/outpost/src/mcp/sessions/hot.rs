//! A session's peer kept while the session is in use on this instance ("hot"), lent to one
//! request at a time.
//!
//! A handler talks to its client through rmcp's `Peer`, and only rmcp's serve loop makes one:
//! serving each request through a serve loop of its own (`request`) costs a loop task, a
//! handler task and three channels per request. For the common case — one request of a session
//! at a time — a [`HotPeer`] keeps one serve loop per session (over a [`HotTransport`], with
//! the session's peer info) and lends its `Peer` to the request running now (`inline`), which
//! calls the handler in the connection's task. Whatever the handler sends through the peer —
//! progress, log messages, server→client requests — the loop hands to the transport, which
//! gives it to the request holding the [`Lease`]: exactly one, so nothing reaches another
//! request's stream. The client's answers to server→client requests go back into the loop
//! (through [`InFlight`]), where rmcp resolves the waiting call.
//!
//! A second request of the same session arriving while the peer is lent takes the per-request
//! path. A message sent with no lease out — by a handler that kept the peer after its request
//! ended, or while handling a client notification ([`HotPeers::notify`]) — belongs to no
//! request: it goes to the session's GET stream (its events), where the spec puts messages
//! unrelated to a request. Hot peers not used for [`HOT_FOR`] are dropped by a sweep, which
//! ends their loop: an idle session is only its record again.

use std::{
    borrow::Cow,
    collections::HashMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use rmcp::{
    Peer, RoleServer, ServerHandler,
    model::{ClientConfig, ClientJsonRpcMessage, ServerJsonRpcMessage},
    service::serve_directly_with_ct,
    transport::{Transport, streamable_http_server::SessionId},
};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::{
    events::SessionEvents,
    request::{INBOUND_CAPACITY, InFlight, OUTBOUND_CAPACITY, Route, after_client_left},
};
use crate::{HandlerFactory, store::StoreError};

/// How long a hot peer stays after its last request.
pub(crate) const HOT_FOR: Duration = Duration::from_secs(30);
/// The most sessions made hot for requests at once (a hot peer holds about what a per-request
/// serve loop allocates — ~45 KiB of tasks and channels, heaptrack, last session — and its
/// handler); past it, a session's requests take the per-request path until peers go cold.
pub(crate) const MOST_HOT: usize = 1024;
/// How often hot peers are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// The hot peers of this instance's sessions.
pub(crate) struct HotPeers<H> {
    factory: HandlerFactory<H>,
    in_flight: Arc<InFlight>,
    events: SessionEvents,
    peers: Arc<Mutex<HashMap<SessionId, Arc<HotPeer>>>>,
    sweeping: Arc<AtomicBool>,
    shutdown: CancellationToken,
}

impl<H> HotPeers<H>
where
    H: ServerHandler + Send + Sync + 'static,
{
    /// No hot peer yet; peers serve handlers from `factory`, answers to their server→client
    /// requests are routed by `in_flight`, what they send outside a request goes to the
    /// session's `events`, and every loop ends with `shutdown`.
    pub(crate) fn new(
        factory: HandlerFactory<H>,
        in_flight: Arc<InFlight>,
        events: SessionEvents,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            factory,
            in_flight,
            events,
            peers: Arc::default(),
            sweeping: Arc::default(),
            shutdown,
        }
    }

    /// Session `id`'s peer, lent to the caller until the [`Lease`] drops; made hot now (with
    /// `peer_info`) when it is not. `None` while another request of the session holds it.
    pub(crate) fn lend(&self, id: &SessionId, peer_info: &ClientConfig) -> Option<Lease> {
        self.hot(id, peer_info, Some(MOST_HOT))?.lend()
    }

    /// Hands the client's `notification` to session `id`'s handler (made hot now, with
    /// `peer_info`, when it is not, past [`MOST_HOT`] too: notifications are rare and have no
    /// other way in); `false` when the handler has more waiting than it takes.
    pub(crate) fn notify(
        &self,
        id: &SessionId,
        peer_info: &ClientConfig,
        notification: ClientJsonRpcMessage,
    ) -> bool {
        let Some(hot) = self.hot(id, peer_info, None) else {
            return false;
        };
        *lock(&hot.shared.last_used) = Instant::now();
        hot.shared.answers.try_send(notification).is_ok()
    }

    /// Session `id`'s hot peer, made now when there is none — unless `most` peers are hot.
    fn hot(
        &self,
        id: &SessionId,
        peer_info: &ClientConfig,
        most: Option<usize>,
    ) -> Option<Arc<HotPeer>> {
        let hot = {
            let mut peers = lock(&self.peers);
            match peers.get(id) {
                Some(hot) => hot.clone(),
                None if most.is_some_and(|most| peers.len() >= most) => return None,
                None => {
                    let hot = Arc::new(self.start(id, peer_info));
                    peers.insert(id.clone(), hot.clone());
                    hot
                }
            }
        };
        self.sweep_later();
        Some(hot)
    }

    /// Ends session `id`'s hot peer, if any (the session ended).
    pub(crate) fn forget(&self, id: &SessionId) {
        lock(&self.peers).remove(id);
    }

    fn start(&self, id: &SessionId, peer_info: &ClientConfig) -> HotPeer {
        let (answers, inbound) = mpsc::channel(INBOUND_CAPACITY);
        let shared = Arc::new(Shared {
            session: id.clone(),
            in_flight: self.in_flight.clone(),
            events: self.events.clone(),
            answers,
            current: Mutex::new(None),
            issued_unleased: Mutex::default(),
            lent: AtomicBool::new(false),
            last_used: Mutex::new(Instant::now()),
        });
        let transport = HotTransport {
            shared: shared.clone(),
            inbound,
        };
        let stop = self.shutdown.child_token();
        let running = serve_directly_with_ct(
            (self.factory)(),
            transport,
            Some(peer_info.clone()),
            stop.clone(),
        );
        let peer = running.peer().clone();
        tokio::spawn(async move {
            let _ = running.waiting().await;
        });
        HotPeer {
            peer,
            shared,
            _stop: stop.drop_guard(),
        }
    }

    /// Starts the sweep unless it runs: it stops by itself once no peer is hot.
    fn sweep_later(&self) {
        if self.sweeping.swap(true, Ordering::AcqRel) {
            return;
        }
        let (peers, sweeping, shutdown) = (
            self.peers.clone(),
            self.sweeping.clone(),
            self.shutdown.clone(),
        );
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(SWEEP_EVERY) => {}
                }
                let mut hot = lock(&peers);
                hot.retain(|_, peer| peer.in_use(HOT_FOR));
                if hot.is_empty() {
                    // Cleared under the lock: a peer inserted after this starts a new sweep.
                    sweeping.store(false, Ordering::Release);
                    return;
                }
            }
            lock(&peers).clear();
            sweeping.store(false, Ordering::Release);
        });
    }
}

/// One session's serve loop and its peer; dropping it ends the loop.
pub(crate) struct HotPeer {
    peer: Peer<RoleServer>,
    shared: Arc<Shared>,
    _stop: DropGuard,
}

impl Drop for HotPeer {
    fn drop(&mut self) {
        let issued = std::mem::take(&mut *lock(&self.shared.issued_unleased));
        self.shared
            .in_flight
            .forget_issued(&self.shared.session, issued);
    }
}

impl HotPeer {
    fn lend(&self) -> Option<Lease> {
        if self.shared.lent.swap(true, Ordering::AcqRel) {
            return None;
        }
        let outbox = Arc::new(Outbox::default());
        *lock(&self.shared.current) = Some(outbox.clone());
        *lock(&self.shared.last_used) = Instant::now();
        Some(Lease {
            peer: self.peer.clone(),
            shared: self.shared.clone(),
            outbox,
        })
    }

    /// Lent now, or used within `within`.
    fn in_use(&self, within: Duration) -> bool {
        self.shared.lent.load(Ordering::Acquire) || lock(&self.shared.last_used).elapsed() < within
    }
}

/// What a hot peer's loop and its lender share.
struct Shared {
    session: SessionId,
    in_flight: Arc<InFlight>,
    /// The session's GET stream, for what is sent outside a request.
    events: SessionEvents,
    /// Into the loop: the client's answers to server→client requests, and its notifications.
    answers: Route,
    /// The outbox of the request holding the lease.
    current: Mutex<Option<Arc<Outbox>>>,
    /// The ids given to server→client requests sent outside a request.
    issued_unleased: Mutex<Vec<String>>,
    lent: AtomicBool,
    last_used: Mutex<Instant>,
}

/// A hot peer lent to one request; dropping it returns the peer (later sends fail) and
/// forgets the server→client requests the request made.
pub(crate) struct Lease {
    peer: Peer<RoleServer>,
    shared: Arc<Shared>,
    outbox: Arc<Outbox>,
}

impl Lease {
    /// The peer to give the request's handler.
    pub(crate) fn peer(&self) -> Peer<RoleServer> {
        self.peer.clone()
    }

    /// What the handler sends while it runs.
    pub(crate) fn outbox(&self) -> &Arc<Outbox> {
        &self.outbox
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        *lock(&self.shared.current) = None;
        *lock(&self.shared.last_used) = Instant::now();
        let issued = std::mem::take(&mut lock(&self.outbox.state).issued);
        self.shared
            .in_flight
            .forget_issued(&self.shared.session, issued);
        self.shared.lent.store(false, Ordering::Release);
    }
}

/// The messages one request's handler sends through the lent peer: no channel until the
/// first one (most requests send nothing but their answer).
#[derive(Default)]
pub(crate) struct Outbox {
    state: Mutex<OutboxState>,
    opened: Notify,
}

#[derive(Default)]
struct OutboxState {
    sender: Option<mpsc::Sender<ServerJsonRpcMessage>>,
    receiver: Option<mpsc::Receiver<ServerJsonRpcMessage>>,
    /// The ids given to the server→client requests made through this outbox.
    issued: Vec<String>,
}

impl Outbox {
    /// Completes once the handler has sent something (at once if it already has).
    pub(crate) async fn opened(&self) {
        self.opened.notified().await;
    }

    /// The messages sent so far and the rest to come, once something was sent.
    pub(crate) fn take_receiver(&self) -> Option<mpsc::Receiver<ServerJsonRpcMessage>> {
        lock(&self.state).receiver.take()
    }

    /// The request's client went away: what the handler sends from now on fails at once,
    /// rather than filling a channel nobody reads.
    pub(crate) fn abandon(&self) {
        let mut state = lock(&self.state);
        if state.sender.is_none() {
            let (closed, _) = mpsc::channel(1);
            state.sender = Some(closed);
        }
        state.receiver = None;
    }

    /// A sender into the outbox, to add the answer after what the handler sent; opens the
    /// channel if nothing was sent.
    pub(crate) fn sender(&self) -> mpsc::Sender<ServerJsonRpcMessage> {
        let mut state = lock(&self.state);
        match &state.sender {
            Some(sender) => sender.clone(),
            None => {
                let (sender, receiver) = mpsc::channel(OUTBOUND_CAPACITY);
                state.sender = Some(sender.clone());
                state.receiver = Some(receiver);
                drop(state);
                self.opened.notify_one();
                sender
            }
        }
    }

    fn issued(&self, id: String) {
        lock(&self.state).issued.push(id);
    }
}

/// Why a hot peer's loop could not hand a message on.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HotSendError {
    /// The request's stream has ended (the client went away).
    #[error("the request's stream has ended")]
    StreamEnded,
    /// The session's GET stream could not take a message sent outside a request.
    #[error("the session's GET stream cannot take the message: {0}")]
    GetStream(#[from] StoreError),
}

/// A hot peer's transport: the client's answers in; the handler's messages out, to the
/// request holding the lease.
struct HotTransport {
    shared: Arc<Shared>,
    inbound: mpsc::Receiver<ClientJsonRpcMessage>,
}

impl Transport<RoleServer> for HotTransport {
    type Error = HotSendError;

    fn name() -> Cow<'static, str> {
        "outpost-hot-session".into()
    }

    fn send(
        &mut self,
        mut item: ServerJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let outbox = lock(&self.shared.current).clone();
        if let ServerJsonRpcMessage::Request(request) = &mut item {
            // The id only: the hot peer is the session's one peer, so its progress tokens
            // are unique already, and the client's progress for them is routed back to it.
            let unique = self.shared.in_flight.issue(
                &self.shared.session,
                &self.shared.answers,
                &mut request.id,
            );
            // Forgotten with the request holding the lease; outside one, when the session's
            // hot peer goes (the answer comes or not).
            match &outbox {
                Some(outbox) => outbox.issued(unique),
                None => lock(&self.shared.issued_unleased).push(unique),
            }
        }
        let to_request = outbox.map(|outbox| outbox.sender());
        let shared = self.shared.clone();
        let asks = matches!(item, ServerJsonRpcMessage::Request(_));
        async move {
            match to_request {
                Some(sender) => after_client_left(
                    sender
                        .send(item)
                        .await
                        .map_err(|_| HotSendError::StreamEnded),
                    asks,
                ),
                None => {
                    shared.events.emit(&shared.session, &item).await?;
                    Ok(())
                }
            }
        }
    }

    async fn receive(&mut self) -> Option<ClientJsonRpcMessage> {
        self.inbound.recv().await
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rmcp::ServerHandler;

    use super::*;
    use crate::store::{EventRetention, Store};

    /// A handler with nothing to say.
    #[derive(Clone)]
    struct Quiet;

    impl ServerHandler for Quiet {}

    fn peers() -> HotPeers<Quiet> {
        let retention = EventRetention {
            max_count: 16,
            max_age: Duration::from_secs(60),
        };
        HotPeers::new(
            Arc::new(|| Quiet),
            Arc::new(InFlight::new("0123456789ab")),
            SessionEvents::new(Store::memory().events, retention),
            CancellationToken::new(),
        )
    }

    #[tokio::test]
    async fn a_peer_is_lent_to_one_request_at_a_time() {
        let peers = peers();
        let (id, info) = (SessionId::from("s1"), ClientConfig::default());
        let lease = peers
            .lend(&id, &info)
            .expect("the first request gets the peer");
        assert!(
            peers.lend(&id, &info).is_none(),
            "a second request at once takes the per-request path"
        );
        assert!(
            peers.lend(&SessionId::from("s2"), &info).is_some(),
            "another session has a peer of its own"
        );
        drop(lease);
        assert!(peers.lend(&id, &info).is_some(), "returned, lent again");
    }

    #[tokio::test]
    async fn past_the_cap_no_session_is_made_hot_but_the_hot_ones_stay() {
        let peers = peers();
        let info = ClientConfig::default();
        let hot = |id: &str, most| peers.hot(&SessionId::from(id), &info, most).is_some();
        assert!(hot("s1", Some(1)));
        assert!(!hot("s2", Some(1)), "the cap is reached");
        assert!(hot("s1", Some(1)), "a hot session stays hot");
        assert!(
            hot("s2", None),
            "a notification makes a session hot past the cap"
        );
    }
}
