//! Checks of what several instances sharing one store rely on: the first signing key and the
//! first request-state key are stored once however many instances start at the same moment,
//! a request-state key rotation happens once per due time, and superseded request-state keys
//! are purged while the newest active one stays.

use super::{NOW, key};
use crate::{RequestStateKeyRecord, RequestStateSecret, SecretAtRest, Store, StoreError};

/// How many callers race in the concurrent checks.
const RACERS: usize = 8;

pub(super) fn state_key(kid: &str, created_at: i64, activates_at: i64) -> RequestStateKeyRecord {
    RequestStateKeyRecord {
        kid: kid.into(),
        secret: SecretAtRest::Clear(
            RequestStateSecret::from_bytes(kid.bytes().cycle().take(32).collect())
                .expect("32 bytes"),
        ),
        created_at,
        activates_at,
    }
}

/// How many of `RACERS` concurrent calls of `insert` (given a racer's number) answered `true`.
async fn winners<F, Fut>(insert: F) -> usize
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<bool, StoreError>> + Send + 'static,
{
    let racers: Vec<_> = (0..RACERS).map(|n| tokio::spawn(insert(n))).collect();
    let mut won = 0;
    for racer in racers {
        if racer.await.expect("racer").expect("insert") {
            won += 1;
        }
    }
    won
}

/// Of concurrent first signing keys exactly one is stored; none while a key is active; a
/// new one once every key is retired.
pub async fn first_signing_key_is_inserted_once(store: Store) {
    let won = winners(|n| {
        let store = store.clone();
        async move {
            let first = key(&format!("k{n}"), NOW);
            store.keys.insert_if_no_active(first).await
        }
    })
    .await;
    assert_eq!(won, 1);
    let keys = store.keys.list().await.expect("list");
    assert_eq!(keys.len(), 1, "{keys:?}");

    store
        .keys
        .retire(&keys[0].kid, NOW + 10)
        .await
        .expect("retire");
    let again = store.keys.insert_if_no_active(key("fresh", NOW + 10)).await;
    assert!(again.expect("insert after retirement"));
    let later = store.keys.insert_if_no_active(key("later", NOW + 20)).await;
    assert!(!later.expect("insert while one is active"));
    assert_eq!(store.keys.list().await.expect("list").len(), 2);
}

/// Of concurrent first request-state keys exactly one is stored, secret intact; none once the
/// store holds a key.
pub async fn first_request_state_key_is_inserted_once(store: Store) {
    let won = winners(|n| {
        let store = store.clone();
        async move {
            let first = state_key(&format!("racer-{n}"), NOW, NOW);
            store.request_state_keys.insert_first(first).await
        }
    })
    .await;
    assert_eq!(won, 1);
    let keys = store.request_state_keys.list().await.expect("list");
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(
        keys[0],
        state_key(&keys[0].kid, NOW, NOW),
        "secret round-trips"
    );
    let late = state_key("late", NOW + 1, NOW + 1);
    let late = store.request_state_keys.insert_first(late).await;
    assert!(!late.expect("insert on a store with a key"));
}

/// Request-state keys are listed by activation time, then kid, whatever their publication order.
pub async fn request_state_keys_are_listed_by_activation(store: Store) {
    let keys = &store.request_state_keys;
    let first = state_key("b", NOW, NOW + 10);
    assert!(keys.insert_first(first.clone()).await.expect("first"));
    let earlier = state_key("a", NOW + 1, NOW);
    assert!(keys.rotate(earlier.clone(), NOW).await.expect("rotate"));
    let tied = state_key("c", NOW + 2, NOW + 10);
    assert!(keys.rotate(tied.clone(), NOW + 1).await.expect("rotate"));
    assert_eq!(keys.list().await.expect("list"), [earlier, first, tied]);
}

/// A rotation publishes only when no key was published after the given time: of concurrent
/// rotations for one due time, one wins; a taken kid is a conflict.
pub async fn request_state_key_rotates_once_per_due_time(store: Store) {
    let keys = store.request_state_keys.clone();
    let first = state_key("k1", NOW, NOW);
    assert!(keys.insert_first(first).await.expect("first"));
    let won = winners(|n| {
        let keys = keys.clone();
        async move {
            let next = state_key(&format!("k2-{n}"), NOW + 100, NOW + 220);
            keys.rotate(next, NOW).await
        }
    })
    .await;
    assert_eq!(won, 1);
    assert_eq!(keys.list().await.expect("list").len(), 2);

    let taken = keys
        .rotate(state_key("k1", NOW + 200, NOW + 320), NOW + 100)
        .await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
    let next = keys
        .rotate(state_key("k3", NOW + 200, NOW + 320), NOW + 100)
        .await;
    assert!(next.expect("rotate when due"));
}

/// A key goes once a later key has activated at or before the cutoff; the newest active key
/// always stays.
pub async fn superseded_request_state_keys_are_purged(store: Store) {
    let keys = &store.request_state_keys;
    assert!(
        keys.insert_first(state_key("k1", NOW, NOW))
            .await
            .expect("k1")
    );
    let k2 = state_key("k2", NOW + 1, NOW + 100);
    assert!(keys.rotate(k2, NOW).await.expect("k2"));
    let k3 = state_key("k3", NOW + 2, NOW + 200);
    assert!(keys.rotate(k3, NOW + 1).await.expect("k3"));
    let kids = || async {
        let listed = keys.list().await.expect("list");
        listed.into_iter().map(|k| k.kid).collect::<Vec<_>>()
    };

    assert_eq!(keys.purge_superseded(NOW + 99).await.expect("purge"), 0);
    assert_eq!(keys.purge_superseded(NOW + 100).await.expect("purge"), 1);
    assert_eq!(kids().await, ["k2", "k3"]);
    assert_eq!(keys.purge_superseded(NOW + 150).await.expect("purge"), 0);
    assert_eq!(keys.purge_superseded(NOW + 10_000).await.expect("purge"), 1);
    assert_eq!(kids().await, ["k3"]);
}
