//! State the reference server keeps: server-wide ([`SharedState`]) and per session — in the
//! handler instance of a session of rmcp's manager ([`SessionScope`]), or, with parked
//! sessions, in the session's record ([`outpost::SessionData`], under [`LOG_LEVEL`] and
//! [`SUBSCRIPTIONS`]), where [`resource_updates`] reads the subscriptions from.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use outpost::{SessionDataError, SessionStream, StandaloneStreamTask};
use rmcp::{
    Peer, RoleServer,
    model::{
        LoggingLevel, ResourceUpdatedNotification, ResourceUpdatedNotificationParam,
        ServerNotification,
    },
    service::SubscriptionSink,
};
use tokio_util::sync::{CancellationToken, DropGuard};

/// How often a subscribed resource reports an update (the seed server's cadence).
pub const RESOURCE_UPDATE_INTERVAL: Duration = Duration::from_secs(10);
/// The log level a session starts with, until `logging/setLevel`.
pub const DEFAULT_LOG_LEVEL: LoggingLevel = LoggingLevel::Debug;
/// The name of a parked session's log level in its [`outpost::SessionData`].
pub const LOG_LEVEL: &str = "logLevel";
/// The name of a parked session's subscribed resource URIs in its [`outpost::SessionData`].
pub const SUBSCRIPTIONS: &str = "resourceSubscriptions";

/// State every session and request of one server shares.
pub struct SharedState {
    /// Open 2026-07-28 `subscriptions/listen` streams.
    pub listeners: ListenerRegistry,
    /// Interval between `notifications/resources/updated` for a subscribed resource.
    pub update_interval: Duration,
    /// When the server started (`serverStatus` reports the uptime).
    pub started_at: std::time::Instant,
}

impl SharedState {
    /// Fresh state.
    pub fn new() -> Self {
        Self {
            listeners: ListenerRegistry::default(),
            update_interval: RESOURCE_UPDATE_INTERVAL,
            started_at: std::time::Instant::now(),
        }
    }
}

impl Default for SharedState {
    fn default() -> Self {
        Self::new()
    }
}

/// The open `subscriptions/listen` streams, to fan list-changed notifications out to.
#[derive(Default)]
pub struct ListenerRegistry {
    sinks: Arc<Mutex<HashMap<u64, SubscriptionSink>>>,
    next_id: AtomicU64,
}

/// Keeps one listener registered until dropped.
pub struct ListenerRegistration {
    sinks: Arc<Mutex<HashMap<u64, SubscriptionSink>>>,
    id: u64,
}

impl ListenerRegistry {
    /// Registers `sink` until the returned guard is dropped.
    pub fn register(&self, sink: SubscriptionSink) -> ListenerRegistration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        lock(&self.sinks).insert(id, sink);
        ListenerRegistration {
            sinks: self.sinks.clone(),
            id,
        }
    }

    /// A snapshot of the open streams (the sinks filter by what each one accepted).
    pub fn sinks(&self) -> Vec<SubscriptionSink> {
        lock(&self.sinks).values().cloned().collect()
    }
}

impl Drop for ListenerRegistration {
    fn drop(&mut self) {
        lock(&self.sinks).remove(&self.id);
    }
}

/// Per-session state of a session: its log level and resource subscriptions.
pub struct SessionScope {
    log_level: Mutex<LoggingLevel>,
    subscriptions: Mutex<HashMap<String, DropGuard>>,
}

impl Default for SessionScope {
    fn default() -> Self {
        Self {
            log_level: Mutex::new(DEFAULT_LOG_LEVEL),
            subscriptions: Mutex::new(HashMap::new()),
        }
    }
}

impl SessionScope {
    /// The minimum level of `notifications/message` this session receives.
    pub fn log_level(&self) -> LoggingLevel {
        *lock(&self.log_level)
    }

    /// Sets the minimum log level (`logging/setLevel`).
    pub fn set_log_level(&self, level: LoggingLevel) {
        *lock(&self.log_level) = level;
    }

    /// Sends `notifications/resources/updated` for `uri` to `peer` at once and then every
    /// `interval`, until unsubscribed or the session ends. Subscribing twice keeps one timer.
    pub fn subscribe(&self, uri: String, peer: Peer<RoleServer>, interval: Duration) {
        let mut subscriptions = lock(&self.subscriptions);
        if subscriptions.contains_key(&uri) {
            return;
        }
        let stop = CancellationToken::new();
        let task_stop = stop.clone();
        let task_uri = uri.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            loop {
                tokio::select! {
                    () = task_stop.cancelled() => break,
                    _ = ticks.tick() => {
                        let param = ResourceUpdatedNotificationParam::new(task_uri.clone());
                        if peer.notify_resource_updated(param).await.is_err() {
                            break;
                        }
                    }
                }
            }
        });
        subscriptions.insert(uri, stop.drop_guard());
    }

    /// Stops updates for `uri`.
    pub fn unsubscribe(&self, uri: &str) {
        lock(&self.subscriptions).remove(uri);
    }
}

/// One run of [`resource_updates`] beside one GET stream.
type UpdatesRun = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// What runs beside a parked session's GET stream: every `interval` (the first at once),
/// `notifications/resources/updated` for each resource the session subscribed to, as its
/// record says now — whichever instance took the `resources/subscribe`.
pub fn resource_updates(interval: Duration) -> StandaloneStreamTask {
    Arc::new(move |stream: SessionStream| -> UpdatesRun {
        Box::pin(async move {
            let mut ticks = tokio::time::interval(interval);
            loop {
                tokio::select! {
                    () = stream.closed() => return,
                    _ = ticks.tick() => {}
                }
                let uris = match stream.data().await {
                    Ok(data) => data.get::<Vec<String>>(SUBSCRIPTIONS),
                    Err(SessionDataError::Ended) => return,
                    Err(error) => {
                        tracing::warn!(%error, "cannot read a session's subscriptions");
                        continue;
                    }
                };
                let uris = uris.unwrap_or_else(|error| {
                    tracing::warn!(%error, "a session's subscriptions are not a list of URIs");
                    None
                });
                for uri in uris.unwrap_or_default() {
                    let updated = ServerNotification::ResourceUpdatedNotification(
                        ResourceUpdatedNotification::new(ResourceUpdatedNotificationParam::new(
                            uri,
                        )),
                    );
                    if !stream.notify(updated).await {
                        return;
                    }
                }
            }
        })
    })
}

/// Locks a mutex whose data stays consistent even if a holder panicked.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
