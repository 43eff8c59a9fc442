//! A store that can be switched off, for tests of what callers do while their backend is out of
//! reach (feature `test-util`).
//!
//! [`switchable`] wraps any [`Store`] (memory, SQLite, a third party's): while its
//! [`OutageSwitch`] is [`refusing`](OutageSwitch::refuse), every call answers
//! [`StoreError::Unavailable`] at once, as a backend whose connection is refused does; while it
//! is [`stalling`](OutageSwitch::stall), every call waits forever, as a backend behind a
//! black-holed network does without a timeout of its own; [`restore`](OutageSwitch::restore)
//! and the same store answers again with everything it held;
//! [`lose_next_answer_of`](OutageSwitch::lose_next_answer_of) carries a call out and loses its
//! answer, as a backend that replies after the caller's timeout. It exercises the callers'
//! mapping of an outage, not a backend: a real backend's outage is its own crate's test.

use std::{
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU8, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;

use crate::{
    AuthorizationCodeRecord, ClientDocumentRecord, ClientDocumentStore, ClientId, ClientRecord,
    ConsentRecord, EventId, EventListener, EventRetention, EventStore, GrantId, GrantRecord,
    McpSessionRecord, PasswordHash, PendingAuthorizationRecord, PendingAuthorizationStore,
    RefreshTokenRecord, RequestStateKeyRecord, RequestStateKeyStore, Reservation, ScopeSet,
    SessionAdmission, SessionCaps, SigningKeyRecord, Store, StoreError, StoreHealth, StoredEvent,
    ThrottleStore, TokenHash, UserId, UserRecord, Username,
    concerns::for_each_concern,
    sealed::{KeyEncryptionKeyId, SealedSecret},
    traits::{
        Admission, Allowance, AuthorizationCodeStore, Budget, ClientStore, ConsentStore,
        GrantStore, McpSessionStore, NewRefreshToken, Redemption, Rotation, SigningKeyStore,
        UserStore,
    },
};

const UP: u8 = 0;
const REFUSING: u8 = 1;
const STALLING: u8 = 2;

/// Turns the outage of a [`switchable`] store on and off; clones share the switch.
#[derive(Debug, Clone, Default)]
pub struct OutageSwitch(Arc<SwitchState>);

#[derive(Debug, Default)]
struct SwitchState {
    mode: AtomicU8,
    /// The method whose next answer is lost ([`OutageSwitch::lose_next_answer_of`]).
    lose_answer_of: Mutex<Option<&'static str>>,
}

impl OutageSwitch {
    /// Every call answers [`StoreError::Unavailable`] at once (connection refused).
    pub fn refuse(&self) {
        self.0.mode.store(REFUSING, Ordering::SeqCst);
    }

    /// Every call waits forever (a network that drops packets), until the caller gives up.
    pub fn stall(&self) {
        self.0.mode.store(STALLING, Ordering::SeqCst);
    }

    /// The store answers again, with everything it held.
    pub fn restore(&self) {
        self.0.mode.store(UP, Ordering::SeqCst);
    }

    /// The next call of the trait method `method` (e.g. `"rotate"`) is carried out, then
    /// answers [`StoreError::Unavailable`]: a backend whose reply came after the caller's
    /// timeout. Only grants, users, clients and the other concerns with one call per method
    /// ([`GrantStore`] and its kind), not events.
    pub fn lose_next_answer_of(&self, method: &'static str) {
        *self.lost_answer() = Some(method);
    }

    fn lost_answer(&self) -> std::sync::MutexGuard<'_, Option<&'static str>> {
        self.0
            .lose_answer_of
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Passes when the store is up; otherwise refuses or never returns.
    async fn pass(&self) -> Result<(), StoreError> {
        match self.0.mode.load(Ordering::SeqCst) {
            UP => Ok(()),
            REFUSING => Err(StoreError::Unavailable(
                "connection refused (simulated outage)".into(),
            )),
            _ => std::future::pending().await,
        }
    }

    /// `answer` of a call of `method`, or its loss ([`OutageSwitch::lose_next_answer_of`]).
    fn deliver<T>(
        &self,
        method: &'static str,
        answer: Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut lost = self.lost_answer();
        if *lost == Some(method) {
            *lost = None;
            return Err(StoreError::Unavailable(format!(
                "no answer in time to {method} (simulated timeout; it was carried out)"
            )));
        }
        answer
    }
}

/// `store` behind an [`OutageSwitch`], which starts up.
pub fn switchable(store: Store) -> (Store, OutageSwitch) {
    let switch = OutageSwitch::default();
    let store = Store {
        users: Arc::new(Gated(store.users, switch.clone())),
        clients: Arc::new(Gated(store.clients, switch.clone())),
        codes: Arc::new(Gated(store.codes, switch.clone())),
        grants: Arc::new(Gated(store.grants, switch.clone())),
        keys: Arc::new(Gated(store.keys, switch.clone())),
        consents: Arc::new(Gated(store.consents, switch.clone())),
        mcp_sessions: Arc::new(Gated(store.mcp_sessions, switch.clone())),
        pending_authorizations: Arc::new(Gated(store.pending_authorizations, switch.clone())),
        throttles: Arc::new(Gated(store.throttles, switch.clone())),
        client_documents: Arc::new(Gated(store.client_documents, switch.clone())),
        request_state_keys: Arc::new(Gated(store.request_state_keys, switch.clone())),
        events: Arc::new(Gated(store.events, switch.clone())),
        health: Arc::new(Gated(store.health, switch.clone())),
    };
    (store, switch)
}

/// One concern of the wrapped store, behind the switch.
struct Gated<T: ?Sized>(Arc<T>, OutageSwitch);

/// Implements `$trait` for `Gated<dyn $trait>`: each method passes the switch, then delegates.
macro_rules! gated {
    ($field:ident: $trait:ident { $( fn $name:ident(&self $(, $arg:ident : $ty:ty)*) -> $ret:ty; )* }) => {
        #[async_trait]
        impl $trait for Gated<dyn $trait> {
            $(
                async fn $name(&self $(, $arg: $ty)*) -> Result<$ret, StoreError> {
                    self.1.pass().await?;
                    let answer = self.0.$name($($arg),*).await;
                    self.1.deliver(stringify!($name), answer)
                }
            )*
        }
    };
}

for_each_concern!(gated);

#[async_trait]
impl EventStore for Gated<dyn EventStore> {
    async fn append(
        &self,
        stream: &str,
        data: &str,
        now: i64,
        retention: EventRetention,
    ) -> Result<EventId, StoreError> {
        self.1.pass().await?;
        self.0.append(stream, data, now, retention).await
    }

    async fn read_after(
        &self,
        stream: &str,
        after: Option<EventId>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.1.pass().await?;
        self.0.read_after(stream, after, limit).await
    }

    async fn last_event_id(&self, stream: &str) -> Result<Option<EventId>, StoreError> {
        self.1.pass().await?;
        self.0.last_event_id(stream).await
    }

    async fn delete_stream(&self, stream: &str) -> Result<(), StoreError> {
        self.1.pass().await?;
        self.0.delete_stream(stream).await
    }

    async fn purge_events(&self, now: i64, max_age: Duration) -> Result<u64, StoreError> {
        self.1.pass().await?;
        self.0.purge_events(now, max_age).await
    }

    /// Listening needs no answer from the store; what wakes it is the wrapped store's.
    fn listen(&self, stream: &str) -> EventListener {
        self.0.listen(stream)
    }

    fn wakes_other_processes(&self) -> bool {
        self.0.wakes_other_processes()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn the_switch_refuses_stalls_and_restores_the_same_store() {
        let (store, switch) = switchable(Store::memory());
        let username = Username::parse("alice").unwrap();
        assert!(
            store
                .users
                .get_by_username(&username)
                .await
                .unwrap()
                .is_none()
        );
        store.health.check().await.unwrap();

        switch.refuse();
        assert!(matches!(
            store.health.check().await,
            Err(StoreError::Unavailable(_))
        ));
        assert!(matches!(
            store.users.list().await,
            Err(StoreError::Unavailable(_))
        ));

        switch.stall();
        let stalled = tokio::time::timeout(Duration::from_millis(50), store.users.list()).await;
        assert!(stalled.is_err(), "a stalled store never answers");

        switch.restore();
        assert!(store.users.list().await.unwrap().is_empty());
    }
}
