//! [`EventStore`] on Redis: a Redis stream per event stream (`P event_stream:{name}`, Redis Streams,
//! so events are kept for replay — pub/sub alone delivers at most once), appended by
//! `event_append.lua` with ids unique across every instance. Each append publishes the
//! stream's name on `P events`, which the [bus](crate::bus) turns into wake-ups of this
//! instance's listeners.

use std::time::Duration;

use async_trait::async_trait;

use outpost_store::{EventId, EventListener, EventRetention, EventStore, StoreError, StoredEvent};

use crate::RedisStore;

/// Milliseconds of unix seconds, as stream ids count.
fn millis(seconds: i64) -> i64 {
    seconds.saturating_mul(1000)
}

fn duration_millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn parse_id(text: &str) -> Result<EventId, StoreError> {
    text.parse()
        .map_err(|_| StoreError::Backend(format!("malformed event id {text:?}")))
}

/// `XRANGE` / `XREVRANGE` entries: id, then the field-value list (`data`, the event).
fn events(entries: Vec<(String, Vec<String>)>) -> Result<Vec<StoredEvent>, StoreError> {
    entries
        .into_iter()
        .map(|(id, fields)| {
            let data = fields
                .chunks(2)
                .find(|pair| pair[0] == "data")
                .and_then(|pair| pair.get(1).cloned())
                .ok_or_else(|| StoreError::Backend(format!("event {id} without data")))?;
            Ok(StoredEvent {
                id: parse_id(&id)?,
                data,
            })
        })
        .collect()
}

impl RedisStore {
    fn event_key(&self, stream: &str) -> String {
        self.key(&format!("event_stream:{stream}"))
    }
}

#[async_trait]
impl EventStore for RedisStore {
    async fn append(
        &self,
        stream: &str,
        data: &str,
        now: i64,
        retention: EventRetention,
    ) -> Result<EventId, StoreError> {
        let args = [
            stream.to_owned(),
            data.to_owned(),
            millis(now).to_string(),
            retention.max_count().to_string(),
            millis(retention.max_age_seconds()).to_string(),
        ];
        let id: String = self
            .eval("appending an event", &self.scripts.event_append, &args)
            .await?;
        parse_id(&id)
    }

    async fn read_after(
        &self,
        stream: &str,
        after: Option<EventId>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let start = after.map_or_else(|| "-".to_owned(), |id| format!("({id}"));
        let entries: Vec<(String, Vec<String>)> = self
            .query(
                "reading events",
                redis::cmd("XRANGE")
                    .arg(self.event_key(stream))
                    .arg(start)
                    .arg("+")
                    .arg("COUNT")
                    .arg(limit)
                    .clone(),
            )
            .await?;
        events(entries)
    }

    async fn last_event_id(&self, stream: &str) -> Result<Option<EventId>, StoreError> {
        let entries: Vec<(String, Vec<String>)> = self
            .query(
                "reading the last event",
                redis::cmd("XREVRANGE")
                    .arg(self.event_key(stream))
                    .arg("+")
                    .arg("-")
                    .arg("COUNT")
                    .arg(1)
                    .clone(),
            )
            .await?;
        Ok(events(entries)?.pop().map(|event| event.id))
    }

    async fn delete_stream(&self, stream: &str) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("DEL")
            .arg(self.event_key(stream))
            .ignore()
            .cmd("ZREM")
            .arg(self.key("events:streams"))
            .arg(stream)
            .ignore();
        self.atomically::<()>("deleting an event stream", pipe)
            .await
    }

    async fn purge_events(&self, now: i64, max_age: Duration) -> Result<u64, StoreError> {
        let oldest = millis(now).saturating_sub(duration_millis(max_age));
        self.eval(
            "purging old events",
            &self.scripts.events_purge,
            &[oldest.to_string()],
        )
        .await
    }

    fn listen(&self, stream: &str) -> EventListener {
        self.bus.listeners.listen(stream)
    }

    /// Appends are published on `{prefix}events`, which every process on the Redis hears.
    fn wakes_other_processes(&self) -> bool {
        true
    }
}
