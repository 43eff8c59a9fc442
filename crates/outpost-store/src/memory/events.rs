//! [`EventStore`] in memory: each stream a queue behind one lock, events numbered by one
//! counter, listeners woken in-process.

use std::{
    collections::{HashMap, VecDeque},
    time::Duration,
};

use async_trait::async_trait;

use super::{MemoryStore, lock};
use crate::{
    StoreError,
    event_listeners::EventListener,
    traits::{EventId, EventRetention, EventStore, StoredEvent},
};

/// One kept event and when it was appended.
struct Kept {
    event: StoredEvent,
    at: i64,
}

/// Every stream's events, oldest first, and the last event number given.
#[derive(Default)]
pub(super) struct Events {
    streams: HashMap<String, VecDeque<Kept>>,
    last: u64,
}

/// Drops from `events` what is older than `oldest` (an append time); returns how many.
fn drop_older(events: &mut VecDeque<Kept>, oldest: i64) -> u64 {
    let before = events.len();
    while events.front().is_some_and(|kept| kept.at < oldest) {
        events.pop_front();
    }
    (before - events.len()) as u64
}

#[async_trait]
impl EventStore for MemoryStore {
    async fn append(
        &self,
        stream: &str,
        data: &str,
        now: i64,
        retention: EventRetention,
    ) -> Result<EventId, StoreError> {
        let id = {
            let mut events = lock(&self.events);
            events.last += 1;
            let id = EventId::new(events.last, 0);
            let queue = events.streams.entry(stream.to_owned()).or_default();
            queue.push_back(Kept {
                event: StoredEvent {
                    id,
                    data: data.to_owned(),
                },
                at: now,
            });
            while queue.len() > retention.max_count() as usize {
                queue.pop_front();
            }
            drop_older(queue, now.saturating_sub(retention.max_age_seconds()));
            id
        };
        self.event_listeners.wake(stream);
        Ok(id)
    }

    async fn read_after(
        &self,
        stream: &str,
        after: Option<EventId>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let events = lock(&self.events);
        Ok(events
            .streams
            .get(stream)
            .into_iter()
            .flatten()
            .filter(|kept| after.is_none_or(|after| kept.event.id > after))
            .take(limit)
            .map(|kept| kept.event.clone())
            .collect())
    }

    async fn last_event_id(&self, stream: &str) -> Result<Option<EventId>, StoreError> {
        Ok(lock(&self.events)
            .streams
            .get(stream)
            .and_then(|queue| queue.back())
            .map(|kept| kept.event.id))
    }

    async fn delete_stream(&self, stream: &str) -> Result<(), StoreError> {
        lock(&self.events).streams.remove(stream);
        Ok(())
    }

    async fn purge_events(&self, now: i64, max_age: Duration) -> Result<u64, StoreError> {
        let oldest = now.saturating_sub(i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX));
        let mut events = lock(&self.events);
        let mut removed = 0;
        events.streams.retain(|_, queue| {
            removed += drop_older(queue, oldest);
            !queue.is_empty()
        });
        Ok(removed)
    }

    fn listen(&self, stream: &str) -> EventListener {
        self.event_listeners.listen(stream)
    }
}
