//! Store latency and errors, through the [`metrics`] facade, for any backend.
//!
//! [`metered`] wraps every concern of a [`Store`] (memory, SQLite, Redis, a third party's):
//! each call is timed into [`OPERATION_DURATION_SECONDS`] and each failure of the backend
//! counted in [`ERRORS_TOTAL`], labelled by operation — `concern.method`, e.g.
//! `grants.rotate`, one per method of the store traits. The store still knows no HTTP and no exporter:
//! whatever recorder the application installed receives the numbers.
//!
//! Cost per call: one more boxed future (the traits are `async_trait`s), a clock read before
//! and after, and an atomic update on a histogram handle resolved once per operation for the
//! process (handles are resolved on first use, so the recorder is installed before the store
//! is used). Error counters are created on the first error, so a healthy store shows none.

use std::{
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use metrics::{Counter, Histogram};

use crate::{
    AuthorizationCodeRecord, ClientDocumentRecord, ClientDocumentStore, ClientId, ClientRecord,
    ConsentRecord, GrantId, GrantRecord, McpSessionRecord, PasswordHash,
    PendingAuthorizationRecord, PendingAuthorizationStore, RefreshTokenRecord,
    RequestStateKeyRecord, RequestStateKeyStore, Reservation, ScopeSet, SessionAdmission,
    SessionCaps, SigningKeyRecord, Store, StoreError, StoreHealth, ThrottleStore, TokenHash,
    UserId, UserRecord, Username,
    concerns::for_each_concern,
    sealed::{KeyEncryptionKeyId, SealedSecret},
    traits::{
        Admission, Allowance, AuthorizationCodeStore, Budget, ClientStore, ConsentStore,
        GrantStore, McpSessionStore, NewRefreshToken, Redemption, Rotation, SigningKeyStore,
        UserStore,
    },
};

/// Time a store operation took, by `operation` (a histogram, in seconds).
pub const OPERATION_DURATION_SECONDS: &str = "outpost_store_operation_duration_seconds";
/// Store operations that failed in the backend, by `operation` and `kind`: `unavailable`
/// (unreachable or too slow: [`StoreError::Unavailable`]) or `backend` (any other failure of
/// the backend or of what it holds). Answers such as "not found" or "already exists" are not
/// failures.
pub const ERRORS_TOTAL: &str = "outpost_store_errors_total";

/// `store` with every call timed and every failure counted.
pub fn metered(store: Store) -> Store {
    Store {
        users: Arc::new(Metered(store.users)),
        clients: Arc::new(Metered(store.clients)),
        codes: Arc::new(Metered(store.codes)),
        grants: Arc::new(Metered(store.grants)),
        keys: Arc::new(Metered(store.keys)),
        consents: Arc::new(Metered(store.consents)),
        mcp_sessions: Arc::new(Metered(store.mcp_sessions)),
        pending_authorizations: Arc::new(Metered(store.pending_authorizations)),
        throttles: Arc::new(Metered(store.throttles)),
        client_documents: Arc::new(Metered(store.client_documents)),
        request_state_keys: Arc::new(Metered(store.request_state_keys)),
        // Not timed: a GET stream's reads and its listener's wake-ups are not one call each.
        events: store.events,
        health: Arc::new(Metered(store.health)),
    }
}

/// One concern of the wrapped store, metered.
struct Metered<T: ?Sized>(Arc<T>);

/// The metric handles of one operation, resolved on first use.
struct Operation {
    name: &'static str,
    duration: OnceLock<Histogram>,
    unavailable: OnceLock<Counter>,
    backend: OnceLock<Counter>,
}

impl Operation {
    const fn new(name: &'static str) -> Self {
        Self {
            name,
            duration: OnceLock::new(),
            unavailable: OnceLock::new(),
            backend: OnceLock::new(),
        }
    }

    /// Records one call that took `elapsed` and ended in `error`, if any.
    fn observe(&self, elapsed: Duration, error: Option<&StoreError>) {
        self.duration
            .get_or_init(
                || metrics::histogram!(OPERATION_DURATION_SECONDS, "operation" => self.name),
            )
            .record(elapsed.as_secs_f64());
        let (slot, kind) = match error {
            None | Some(StoreError::NotFound(_) | StoreError::Conflict(_)) => return,
            Some(StoreError::Unavailable(_)) => (&self.unavailable, "unavailable"),
            Some(_) => (&self.backend, "backend"),
        };
        slot.get_or_init(
            || metrics::counter!(ERRORS_TOTAL, "operation" => self.name, "kind" => kind),
        )
        .increment(1);
    }
}

/// Implements `$trait` for `Metered<dyn $trait>`: each method delegates, timed.
macro_rules! metered_concern {
    ($field:ident: $trait:ident { $( fn $name:ident(&self $(, $arg:ident : $ty:ty)*) -> $ret:ty; )* }) => {
        #[async_trait]
        impl $trait for Metered<dyn $trait> {
            $(
                async fn $name(&self $(, $arg: $ty)*) -> Result<$ret, StoreError> {
                    static OPERATION: Operation =
                        Operation::new(concat!(stringify!($field), ".", stringify!($name)));
                    let started = Instant::now();
                    let outcome = self.0.$name($($arg),*).await;
                    OPERATION.observe(started.elapsed(), outcome.as_ref().err());
                    outcome
                }
            )*
        }
    };
}

for_each_concern!(metered_concern);

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_metered_store_is_the_same_store() {
        let store = metered(Store::memory());
        let username = Username::parse("alice").unwrap();
        assert!(
            store
                .users
                .get_by_username(&username)
                .await
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            store.users.delete(&username).await,
            Err(StoreError::NotFound(_))
        ));
        store.health.check().await.unwrap();
    }
}
