//! A store that can be switched off, for tests of what callers do while their backend is out of
//! reach (feature `test-util`).
//!
//! [`switchable`] wraps any [`Store`] (memory, SQLite, a third party's): while its
//! [`OutageSwitch`] is [`refusing`](OutageSwitch::refuse), every call answers
//! [`StoreError::Unavailable`] at once, as a backend whose connection is refused does; while it
//! is [`stalling`](OutageSwitch::stall), every call waits forever, as a backend behind a
//! black-holed network does without a timeout of its own; [`restore`](OutageSwitch::restore)
//! and the same store answers again with everything it held. It exercises the callers'
//! mapping of an outage, not a backend: a real backend's outage is its own crate's test.

use std::sync::{
    Arc,
    atomic::{AtomicU8, Ordering},
};

use async_trait::async_trait;

use crate::{
    AuthorizationCodeRecord, ClientDocumentRecord, ClientDocumentStore, ClientId, ClientRecord,
    ConsentRecord, GrantId, GrantRecord, McpSessionRecord, PasswordHash,
    PendingAuthorizationRecord, PendingAuthorizationStore, RefreshTokenRecord,
    RequestStateKeyRecord, RequestStateKeyStore, Reservation, ScopeSet, SigningKeyRecord, Store,
    StoreError, StoreHealth, ThrottleStore, TokenHash, UserId, UserRecord, Username,
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
pub struct OutageSwitch(Arc<AtomicU8>);

impl OutageSwitch {
    /// Every call answers [`StoreError::Unavailable`] at once (connection refused).
    pub fn refuse(&self) {
        self.0.store(REFUSING, Ordering::SeqCst);
    }

    /// Every call waits forever (a network that drops packets), until the caller gives up.
    pub fn stall(&self) {
        self.0.store(STALLING, Ordering::SeqCst);
    }

    /// The store answers again, with everything it held.
    pub fn restore(&self) {
        self.0.store(UP, Ordering::SeqCst);
    }

    /// Passes when the store is up; otherwise refuses or never returns.
    async fn pass(&self) -> Result<(), StoreError> {
        match self.0.load(Ordering::SeqCst) {
            UP => Ok(()),
            REFUSING => Err(StoreError::Unavailable(
                "connection refused (simulated outage)".into(),
            )),
            _ => std::future::pending().await,
        }
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
        health: Arc::new(Gated(store.health, switch.clone())),
    };
    (store, switch)
}

/// One concern of the wrapped store, behind the switch.
struct Gated<T: ?Sized>(Arc<T>, OutageSwitch);

/// Implements `$trait` for `Gated<dyn $trait>`: each method passes the switch, then delegates.
macro_rules! gated {
    ($trait:ident { $( fn $name:ident(&self $(, $arg:ident : $ty:ty)*) -> $ret:ty; )* }) => {
        #[async_trait]
        impl $trait for Gated<dyn $trait> {
            $(
                async fn $name(&self $(, $arg: $ty)*) -> Result<$ret, StoreError> {
                    self.1.pass().await?;
                    self.0.$name($($arg),*).await
                }
            )*
        }
    };
}

gated!(UserStore {
    fn create(&self, user: UserRecord) -> ();
    fn get_by_username(&self, username: &Username) -> Option<UserRecord>;
    fn get(&self, id: UserId) -> Option<UserRecord>;
    fn list(&self) -> Vec<UserRecord>;
    fn delete(&self, username: &Username) -> ();
    fn set_password_hash(&self, id: UserId, hash: PasswordHash) -> ();
    fn set_allowed_scopes(&self, id: UserId, scopes: ScopeSet) -> ();
});

gated!(ClientStore {
    fn insert(&self, client: ClientRecord) -> ();
    fn upsert(&self, client: ClientRecord) -> ();
    fn get(&self, client_id: &ClientId) -> Option<ClientRecord>;
    fn delete(&self, client_id: &ClientId) -> ();
    fn purge_unused_documents(&self, before: i64) -> Vec<ClientId>;
});

gated!(AuthorizationCodeStore {
    fn insert(&self, code: AuthorizationCodeRecord) -> ();
    fn redeem(&self, code_hash: &TokenHash, grant_id: GrantId, now: i64) -> Redemption;
    fn purge_expired(&self, before: i64) -> u64;
});

gated!(GrantStore {
    fn create_grant(&self, grant: GrantRecord) -> ();
    fn get_grant(&self, grant_id: GrantId) -> Option<GrantRecord>;
    fn insert_refresh_token(&self, token: RefreshTokenRecord) -> ();
    fn get_refresh_token(&self, token_hash: &TokenHash) -> Option<RefreshTokenRecord>;
    fn rotate(&self, presented: &TokenHash, successor: NewRefreshToken, now: i64) -> Rotation;
    fn revoke_grant(&self, grant_id: GrantId, now: i64) -> ();
    fn is_revoked(&self, grant_id: GrantId) -> bool;
    fn purge_expired(&self, now: i64, idle_grants_before: i64) -> u64;
});

gated!(SigningKeyStore {
    fn insert(&self, key: SigningKeyRecord) -> ();
    fn insert_if_no_active(&self, key: SigningKeyRecord) -> bool;
    fn list(&self) -> Vec<SigningKeyRecord>;
    fn retire(&self, kid: &str, at: i64) -> ();
    fn reseal(&self, kid: &str, from: Option<&KeyEncryptionKeyId>, sealed: SealedSecret) -> bool;
});

gated!(ConsentStore {
    fn remember(&self, consent: ConsentRecord) -> ();
    fn get(&self, user_id: UserId, client_id: &ClientId) -> Option<ConsentRecord>;
});

gated!(McpSessionStore {
    fn save_state(&self, session_id: &str, state: &str, now: i64, expires_at: i64) -> ();
    fn record_owner(&self, session_id: &str, owner: &str, now: i64, expires_at: i64) -> ();
    fn get(&self, session_id: &str, now: i64) -> Option<McpSessionRecord>;
    fn touch(&self, session_id: &str, expires_at: i64) -> ();
    fn delete(&self, session_id: &str) -> ();
    fn purge_expired(&self, now: i64) -> u64;
});

gated!(PendingAuthorizationStore {
    fn insert(&self, record: PendingAuthorizationRecord, now: i64, max_live: usize) -> ();
    fn get(&self, id_hash: &TokenHash, now: i64) -> Option<PendingAuthorizationRecord>;
    fn sign_in(&self, id_hash: &TokenHash, user_id: UserId, now: i64)
        -> Option<PendingAuthorizationRecord>;
    fn take_signed_in(&self, id_hash: &TokenHash, now: i64) -> Option<PendingAuthorizationRecord>;
    fn purge_expired(&self, now: i64) -> u64;
});

gated!(ThrottleStore {
    fn reserve(&self, key: &str, budget: Budget, now: i64) -> Admission;
    fn reserve_many(&self, key: &str, budget: Budget, count: u32, now: i64) -> Allowance;
    fn release(&self, reservation: &Reservation) -> ();
    fn purge_expired(&self, now: i64) -> u64;
});

gated!(ClientDocumentStore {
    fn get(&self, client_id: &ClientId, now: i64) -> Option<ClientDocumentRecord>;
    fn put(&self, record: ClientDocumentRecord, now: i64, max_entries: usize) -> ();
    fn purge_expired(&self, now: i64) -> u64;
});

gated!(RequestStateKeyStore {
    fn list(&self) -> Vec<RequestStateKeyRecord>;
    fn insert_first(&self, key: RequestStateKeyRecord) -> bool;
    fn rotate(&self, next: RequestStateKeyRecord, published_after: i64) -> bool;
    fn purge_superseded(&self, before: i64) -> u64;
    fn reseal(&self, kid: &str, from: Option<&KeyEncryptionKeyId>, sealed: SealedSecret) -> bool;
});

gated!(StoreHealth {
    fn check(&self) -> ();
});

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
