//! The suite's checks of [`EventStore`](crate::EventStore): ids ordered and unique, replay of
//! exactly the events after an id, retention by count and age, purge, and listeners woken by
//! appends.

use std::time::Duration;

use super::NOW;
use crate::{EventId, EventRetention, Store};

const ROOMY: EventRetention = EventRetention {
    max_count: 100,
    max_age: Duration::from_secs(600),
};

async fn append(
    store: &Store,
    stream: &str,
    data: &str,
    now: i64,
    keep: EventRetention,
) -> EventId {
    store
        .events
        .append(stream, data, now, keep)
        .await
        .expect("append")
}

async fn data_after(store: &Store, stream: &str, after: Option<EventId>) -> Vec<String> {
    store
        .events
        .read_after(stream, after, 1000)
        .await
        .expect("read")
        .into_iter()
        .map(|event| event.data)
        .collect()
}

/// Ids grow within a stream and are never shared; a read after an id gives exactly the
/// events after it — not that one again —, oldest first, from that stream only, as many as
/// asked; an id survives being shown and parsed (it is what clients send back).
pub async fn events_replay_exactly_after_the_id_given(store: Store) {
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(append(&store, "session-a", &format!("a{n}"), NOW, ROOMY).await);
        append(&store, "session-b", &format!("b{n}"), NOW, ROOMY).await;
    }
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
    assert_eq!(
        data_after(&store, "session-a", None).await,
        ["a0", "a1", "a2", "a3", "a4"]
    );
    assert_eq!(
        data_after(&store, "session-a", Some(ids[1])).await,
        ["a2", "a3", "a4"]
    );
    assert!(
        data_after(&store, "session-a", Some(ids[4]))
            .await
            .is_empty()
    );
    let two = store
        .events
        .read_after("session-a", Some(ids[0]), 2)
        .await
        .expect("read");
    assert_eq!(
        two.iter().map(|event| event.id).collect::<Vec<_>>(),
        ids[1..3]
    );
    assert_eq!(
        store.events.last_event_id("session-a").await.expect("last"),
        Some(ids[4])
    );
    assert_eq!(
        store.events.last_event_id("none").await.expect("last"),
        None
    );
    assert!(data_after(&store, "none", None).await.is_empty());
    let shown = ids[2].to_string();
    assert_eq!(shown.parse::<EventId>().expect("parse"), ids[2]);
    assert!("0".parse::<EventId>().is_err());
    assert!("1-x".parse::<EventId>().is_err());

    store
        .events
        .delete_stream("session-a")
        .await
        .expect("delete");
    assert!(data_after(&store, "session-a", None).await.is_empty());
    assert_eq!(data_after(&store, "session-b", None).await.len(), 5);
    let next = append(&store, "session-a", "again", NOW, ROOMY).await;
    assert!(next > ids[4], "ids are never reused");
}

/// A stream keeps its newest `max_count` events and none older than `max_age`; the purge
/// removes old events from every stream and counts them.
pub async fn event_retention_bounds_count_and_age(store: Store) {
    let three = EventRetention {
        max_count: 3,
        max_age: Duration::from_secs(60),
    };
    for n in 0..5 {
        append(&store, "counted", &format!("{n}"), NOW, three).await;
    }
    assert_eq!(data_after(&store, "counted", None).await, ["2", "3", "4"]);

    append(&store, "aged", "old", NOW, three).await;
    append(&store, "aged", "newer", NOW + 30, three).await;
    append(&store, "aged", "newest", NOW + 70, three).await;
    assert_eq!(
        data_after(&store, "aged", None).await,
        ["newer", "newest"],
        "an append drops its stream's events older than max_age"
    );

    let purged = store
        .events
        .purge_events(NOW + 95, Duration::from_secs(60))
        .await
        .expect("purge");
    assert_eq!(purged, 4, "three counted events and \"newer\"");
    assert!(data_after(&store, "counted", None).await.is_empty());
    assert_eq!(data_after(&store, "aged", None).await, ["newest"]);
}

/// A listener of a stream wakes when an event is appended to it.
pub async fn appended_events_wake_listeners(store: Store) {
    let listener = store.events.listen("watched");
    // Listening may take a moment to reach the backend (a Redis subscription); appends are
    // repeated until one wakes the listener.
    let woken = async {
        for n in 0.. {
            append(&store, "watched", &format!("{n}"), NOW, ROOMY).await;
            if tokio::time::timeout(Duration::from_millis(200), listener.appended())
                .await
                .is_ok()
            {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), woken)
        .await
        .expect("an append wakes the stream's listener");
}
