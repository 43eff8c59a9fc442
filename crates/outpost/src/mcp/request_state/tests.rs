//! Several instances (handles) on one store, with the time passed in: they agree on the first
//! key, rotate once, switch to the successor only once everyone has it, and keep opening old
//! values for the retention.

use std::sync::Arc;

use rmcp::model::RequestStateError;

use super::{ACTIVATION_DELAY, RETENTION, ROTATION_PERIOD, RequestStateKeys};
use crate::store::{RequestStateKeyStore, Store};

const T: i64 = 1_800_000_000;

fn secs(duration: std::time::Duration) -> i64 {
    duration.as_secs() as i64
}

async fn instance(store: &Store, now: i64) -> RequestStateKeys {
    RequestStateKeys::load_at(store.request_state_keys.clone(), now)
        .await
        .expect("load")
}

fn opens(keys: &RequestStateKeys, sealed: &str) -> Result<Vec<u8>, RequestStateError> {
    keys.codec().open(sealed)
}

async fn stored(store: &Arc<dyn RequestStateKeyStore>) -> usize {
    store.list().await.expect("list").len()
}

#[tokio::test]
async fn instances_on_one_store_open_each_others_values_across_a_rotation() {
    let store = Store::memory();
    let (a, b) = (instance(&store, T).await, instance(&store, T + 5).await);
    assert_eq!(a.sealing_kid(), b.sealing_kid());
    let first_kid = a.sealing_kid();
    let old = a.codec().seal(b"sealed by a");
    assert_eq!(opens(&b, &old).expect("b opens a's value"), b"sealed by a");

    let due = T + secs(ROTATION_PERIOD);
    assert!(
        !a.refresh_at(due).await.expect("a rotates"),
        "not sealing with it yet"
    );
    assert!(!b.refresh_at(due + 1).await.expect("b reloads"));
    assert_eq!(stored(&store.request_state_keys).await, 2, "one rotation");
    assert_eq!(b.sealing_kid(), first_kid);

    let takeover = due + secs(ACTIVATION_DELAY);
    assert!(a.refresh_at(takeover).await.expect("a reloads"));
    assert!(b.refresh_at(takeover).await.expect("b reloads"));
    assert_eq!(a.sealing_kid(), b.sealing_kid());
    assert_ne!(a.sealing_kid(), first_kid);
    let new = b.codec().seal(b"sealed by b");
    assert_eq!(opens(&a, &new).expect("a opens b's value"), b"sealed by b");
    assert!(
        opens(&a, &old).is_ok() && opens(&b, &old).is_ok(),
        "old key kept"
    );

    let expired = takeover + secs(RETENTION);
    a.refresh_at(expired).await.expect("a purges");
    b.refresh_at(expired).await.expect("b reloads");
    let kept = store.request_state_keys.list().await.expect("list");
    assert!(
        kept.iter().all(|key| key.kid != first_kid),
        "old key purged"
    );
    for keys in [&a, &b] {
        assert!(matches!(
            opens(keys, &old),
            Err(RequestStateError::UnknownKeyId)
        ));
        assert!(opens(keys, &new).is_ok());
    }
}

#[tokio::test]
async fn instances_loading_an_empty_store_at_once_share_one_first_key() {
    let store = Store::memory();
    let loads: Vec<_> = (0..8)
        .map(|_| {
            let keys = store.request_state_keys.clone();
            tokio::spawn(RequestStateKeys::load_at(keys, T))
        })
        .collect();
    let mut kids = Vec::new();
    for load in loads {
        kids.push(load.await.expect("task").expect("load").sealing_kid());
    }
    kids.dedup();
    assert_eq!(kids.len(), 1, "{kids:?}");
    assert_eq!(stored(&store.request_state_keys).await, 1);
}

#[tokio::test]
async fn process_local_keys_open_only_their_own_values_and_never_rotate() {
    let (one, other) = (
        RequestStateKeys::process_local(),
        RequestStateKeys::process_local(),
    );
    let sealed = one.codec().seal(b"state");
    assert_eq!(opens(&one, &sealed).expect("own value"), b"state");
    assert!(opens(&other, &sealed).is_err());
    let kid = one.sealing_kid();
    let far = T + secs(ROTATION_PERIOD) * 10;
    assert!(!one.refresh_at(far).await.expect("no store, nothing to do"));
    assert_eq!(one.sealing_kid(), kid);
}
