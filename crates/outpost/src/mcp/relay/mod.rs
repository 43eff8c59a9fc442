//! The relay: client messages POSTed to one instance for something that runs on another —
//! a parked session's request (its cancellation, an answer to its server→client request) or a
//! 2024-11-05 session whose `/sse` stream another instance holds — travel over the store's
//! event store and its bus.
//!
//! Each instance has a random id ([`Relay::instance`]) and, once [`Relay::listen`] has run,
//! follows two streams of the event store: its own inbox (`mcp-relay:{instance}`) and the
//! broadcast stream every instance follows (`mcp-relay:all`).
//!
//! - A message for a known instance ([`Relay::deliver_to`]) goes to its inbox with a ticket;
//!   that instance hands it to its [`Recipient`] and puts a receipt ([`Outcome`]) in the
//!   sender's inbox. The sender waits for the receipt at most [`RECEIPT_WAIT`]: a receipt
//!   that does not come means the instance is gone (killed, or cut off from the store), and
//!   the client gets an error at once rather than a message that silently vanishes.
//! - A cancellation of a parked session's request ([`Relay::broadcast_cancel`]) goes to every
//!   instance: no instance knows where another's requests run. Cancellation is advisory
//!   (the request may end first), so it has no receipt.
//! - The opening of a parked session's GET stream ([`Relay::announce_get_stream`]) goes to
//!   every instance too: each ends its GET stream of the session if that was announced
//!   earlier ([`GetStreams`]), so the latest GET wins and a session has one GET stream across
//!   instances. The announcement's id in the broadcast stream orders two GETs opened at once.
//! - The end of a parked session (`DELETE`, [`Relay::announce_session_ended`]) goes to every
//!   instance too: each ends its GET stream of the session at once, rather than at its next
//!   look at the store, and forgets the record it had read (which it would otherwise serve
//!   while the store does not answer).
//!
//! Nothing here costs a request that stays on one instance: the streams are followed by one
//! task per instance, and only relayed messages are written. The relay streams keep their
//! events briefly ([`RELAY_RETENTION`]); an instance that stops leaves its inbox to that
//! retention.

mod envelope;

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, PoisonError, Weak,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use rmcp::model::ClientJsonRpcMessage;
use tokio::sync::{OnceCell, oneshot};
use tokio_util::sync::CancellationToken;

pub(crate) use envelope::{Destination, Outcome};
use envelope::{Envelope, RelayedCaller};

use crate::{
    auth::resource::Identity,
    clock::unix_now,
    mcp::sessions::events::{RECHECK_EVERY, tail},
    ops::degraded::bounded,
    store::{EventId, EventRetention, EventStore, StoreError, StoredEvent},
};

/// How long a sender waits for the receipt of a relayed message before it tells the client
/// that nothing took it.
pub(crate) const RECEIPT_WAIT: Duration = Duration::from_secs(2);

/// How often the relay's streams are read without a wake-up when the store wakes no other
/// process (two processes on one SQLite file): a relayed message and its receipt then each
/// wait for a read, and at [`RECHECK_EVERY`] the sender would give up on a live instance
/// ([`RECEIPT_WAIT`]). Two small reads four times a second, on the relay's two streams only.
const RELAY_RECHECK_WITHOUT_WAKE_UPS: Duration = Duration::from_millis(250);

/// How often the relay's streams are read without a wake-up from `store`.
fn relay_recheck(store: &dyn EventStore) -> Duration {
    if store.wakes_other_processes() {
        RECHECK_EVERY
    } else {
        RELAY_RECHECK_WITHOUT_WAKE_UPS
    }
}
/// What the relay streams keep: messages are read within moments, so little and briefly.
pub(crate) const RELAY_RETENTION: EventRetention = EventRetention {
    max_count: 1024,
    max_age: Duration::from_secs(60),
};
/// The length of an instance id (hex digits).
pub(crate) const INSTANCE_ID_LEN: usize = 12;
/// The stream every instance follows.
const BROADCAST: &str = "mcp-relay:all";

/// What takes relayed messages on this instance.
pub(crate) trait Recipient: Send + Sync {
    /// Hands `messages` of `session`, sent by `caller`, to what runs here, without waiting.
    fn deliver(
        &self,
        session: &str,
        messages: Vec<ClientJsonRpcMessage>,
        caller: Option<Arc<Identity>>,
    ) -> Outcome;
}

/// What holds parked sessions' GET streams on this instance.
pub(crate) trait GetStreams: Send + Sync {
    /// A GET stream of `session` was opened, announced as `at`: one here announced before
    /// ends.
    fn opened(&self, session: &str, at: EventId);
    /// `session` was ended: its GET stream here ends, and what was read of it is forgotten.
    fn ended(&self, session: &str);
}

/// This instance's end of the relay.
pub(crate) struct Relay {
    store: Arc<dyn EventStore>,
    instance: String,
    listening: OnceCell<()>,
    receipts: Mutex<HashMap<u64, oneshot::Sender<Outcome>>>,
    next_ticket: AtomicU64,
    recipients: Mutex<HashMap<Destination, Weak<dyn Recipient>>>,
    get_streams: Mutex<Option<Weak<dyn GetStreams>>>,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

/// The inbox stream of `instance`.
fn inbox(instance: &str) -> String {
    format!("mcp-relay:{instance}")
}

impl Relay {
    /// A relay over `store` with a fresh random instance id; it stops following its streams
    /// when `shutdown` is cancelled.
    pub(crate) fn new(store: Arc<dyn EventStore>, shutdown: CancellationToken) -> Arc<Self> {
        let mut instance = uuid::Uuid::new_v4().simple().to_string();
        instance.truncate(INSTANCE_ID_LEN);
        Arc::new(Self {
            store,
            instance,
            listening: OnceCell::new(),
            receipts: Mutex::default(),
            next_ticket: AtomicU64::new(0),
            recipients: Mutex::default(),
            get_streams: Mutex::default(),
            shutdown,
        })
    }

    /// This instance's id: [`INSTANCE_ID_LEN`] hex digits, random at each start.
    pub(crate) fn instance(&self) -> &str {
        &self.instance
    }

    /// Makes `recipient` take the messages relayed to `destination` here (while it lives).
    pub(crate) fn register(&self, destination: Destination, recipient: Weak<dyn Recipient>) {
        lock(&self.recipients).insert(destination, recipient);
    }

    /// Makes `streams` hear of the GET streams opened on every instance (while it lives).
    pub(crate) fn register_get_streams(&self, streams: Weak<dyn GetStreams>) {
        *lock(&self.get_streams) = Some(streams);
    }

    /// Starts following this instance's streams, once; resolves when following (a message
    /// relayed after is not missed). An error when the store cannot answer in time (tried
    /// again at the next call).
    pub(crate) async fn listen(self: &Arc<Self>) -> Result<(), StoreError> {
        // Every session request asks: once listening, no timer, no store.
        if self.listening.initialized() {
            return Ok(());
        }
        let started = self.listening.get_or_try_init(|| async {
            let stop = self.shutdown.child_token();
            let inbox = inbox(&self.instance);
            let recheck = relay_recheck(&*self.store);
            let (own, _) = tail(self.store.clone(), inbox, None, recheck, stop.clone()).await?;
            // Dropping `own` on an error here ends its tail: a retry starts afresh.
            let (all, _) = tail(
                self.store.clone(),
                BROADCAST.to_owned(),
                None,
                recheck,
                stop,
            )
            .await?;
            for events in [own, all] {
                tokio::spawn(dispatch(Arc::downgrade(self), events));
            }
            Ok(())
        });
        bounded(started).await.map(|_| ())
    }

    /// Tells every instance that the client cancelled a request of `session` (`message` is
    /// the `notifications/cancelled`).
    pub(crate) async fn broadcast_cancel(
        &self,
        session: &str,
        message: ClientJsonRpcMessage,
    ) -> Result<(), StoreError> {
        let envelope = Envelope::Cancel {
            session: session.to_owned(),
            message,
        };
        self.append(BROADCAST, &envelope).await.map(|_| ())
    }

    /// Tells every instance (this one too) that a GET stream of `session` opens here; the
    /// announcement's id, which orders it among the others.
    pub(crate) async fn announce_get_stream(&self, session: &str) -> Result<EventId, StoreError> {
        let envelope = Envelope::GetStreamOpened {
            session: session.to_owned(),
        };
        self.append(BROADCAST, &envelope).await
    }

    /// Tells every instance (this one too) that `session` was ended.
    pub(crate) async fn announce_session_ended(
        &self,
        session: &str,
    ) -> Result<EventId, StoreError> {
        let envelope = Envelope::SessionEnded {
            session: session.to_owned(),
        };
        self.append(BROADCAST, &envelope).await
    }

    /// Hands `messages` of `session` from `caller` to `destination` on `instance` and waits
    /// for the receipt, at most [`RECEIPT_WAIT`] ([`Outcome::Unanswered`] after).
    pub(crate) async fn deliver_to(
        self: &Arc<Self>,
        instance: &str,
        destination: Destination,
        session: &str,
        messages: Vec<ClientJsonRpcMessage>,
        caller: Option<&Identity>,
    ) -> Result<Outcome, StoreError> {
        self.listen().await?;
        let ticket = self.next_ticket.fetch_add(1, Ordering::Relaxed);
        let (sender, receipt) = oneshot::channel();
        lock(&self.receipts).insert(ticket, sender);
        let envelope = Envelope::Deliver {
            to: destination,
            session: session.to_owned(),
            messages,
            caller: caller.map(RelayedCaller::from),
            reply_to: self.instance.clone(),
            ticket,
        };
        if let Err(error) = bounded(self.append(&inbox(instance), &envelope)).await {
            lock(&self.receipts).remove(&ticket);
            return Err(error);
        }
        let outcome = tokio::time::timeout(RECEIPT_WAIT, receipt).await;
        lock(&self.receipts).remove(&ticket);
        Ok(match outcome {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) | Err(_) => Outcome::Unanswered,
        })
    }

    async fn append(&self, stream: &str, envelope: &Envelope) -> Result<EventId, StoreError> {
        let data = serde_json::to_string(envelope)
            .map_err(|error| StoreError::Backend(format!("a relayed message as JSON: {error}")))?;
        self.store
            .append(stream, &data, unix_now(), RELAY_RETENTION)
            .await
    }

    /// What takes the GET stream announcements here, while it lives.
    fn get_streams(&self) -> Option<Arc<dyn GetStreams>> {
        lock(&self.get_streams).as_ref().and_then(Weak::upgrade)
    }

    /// Acts on one envelope, `id` in this instance's streams.
    fn receive(self: &Arc<Self>, envelope: Envelope, id: EventId) {
        match envelope {
            Envelope::GetStreamOpened { session } => {
                if let Some(streams) = self.get_streams() {
                    streams.opened(&session, id);
                }
            }
            Envelope::SessionEnded { session } => {
                if let Some(streams) = self.get_streams() {
                    streams.ended(&session);
                }
            }
            Envelope::Cancel { session, message } => {
                if let Some(recipient) = self.recipient(Destination::ParkedRequests) {
                    recipient.deliver(&session, vec![message], None);
                }
            }
            Envelope::Deliver {
                to,
                session,
                messages,
                caller,
                reply_to,
                ticket,
            } => {
                let outcome = match self.recipient(to) {
                    Some(recipient) => {
                        recipient.deliver(&session, messages, caller.map(Into::into))
                    }
                    None => Outcome::NoRecipient,
                };
                let relay = self.clone();
                tokio::spawn(async move {
                    let receipt = Envelope::Receipt { ticket, outcome };
                    if let Err(error) = relay.append(&inbox(&reply_to), &receipt).await {
                        tracing::warn!(%error, "cannot send a relay receipt");
                    }
                });
            }
            Envelope::Receipt { ticket, outcome } => {
                if let Some(waiting) = lock(&self.receipts).remove(&ticket) {
                    let _ = waiting.send(outcome);
                }
            }
        }
    }

    fn recipient(&self, destination: Destination) -> Option<Arc<dyn Recipient>> {
        lock(&self.recipients)
            .get(&destination)
            .and_then(Weak::upgrade)
    }
}

/// Reads `events` (one of the relay's streams) until it ends or the relay is gone.
async fn dispatch(relay: Weak<Relay>, mut events: tokio::sync::mpsc::Receiver<StoredEvent>) {
    while let Some(event) = events.recv().await {
        let Some(relay) = relay.upgrade() else {
            return;
        };
        match serde_json::from_str::<Envelope>(&event.data) {
            Ok(envelope) => relay.receive(envelope, event.id),
            Err(error) => tracing::warn!(%error, "skipping a relayed message that is not ours"),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
