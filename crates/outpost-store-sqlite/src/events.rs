//! [`EventStore`] on SQLite: one row per event, numbered by `AUTOINCREMENT`; an append and its
//! stream's trim are one transaction. The bus is in-process: SQLite is one instance's store,
//! so listeners are woken here (another process on the same file finds the events when it
//! reads, as its listeners re-check now and then).

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::params;

use super::{Failure, SqliteStore};
use outpost_store::{EventId, EventListener, EventRetention, EventStore, StoreError, StoredEvent};

/// An event id as stored: the row number.
fn row_id(id: EventId) -> i64 {
    i64::try_from(id.major()).unwrap_or(i64::MAX)
}

fn event_id(row: i64) -> EventId {
    EventId::new(u64::try_from(row).unwrap_or(0), 0)
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn append(
        &self,
        stream: &str,
        data: &str,
        now: i64,
        retention: EventRetention,
    ) -> Result<EventId, StoreError> {
        let (stream_key, data) = (stream.to_owned(), data.to_owned());
        let oldest = now.saturating_sub(retention.max_age_seconds());
        let keep = i64::from(retention.max_count());
        let id = self
            .call(move |c| {
                let transaction = c.transaction()?;
                transaction.execute(
                    "INSERT INTO mcp_events (stream, appended_at, data) VALUES (?1, ?2, ?3)",
                    params![stream_key, now, data],
                )?;
                let id = transaction.last_insert_rowid();
                transaction.execute(
                    "DELETE FROM mcp_events WHERE stream = ?1 AND (appended_at < ?2 OR id <= \
                     (SELECT id FROM mcp_events WHERE stream = ?1 \
                      ORDER BY id DESC LIMIT 1 OFFSET ?3))",
                    params![stream_key, oldest, keep],
                )?;
                transaction.commit()?;
                Ok::<_, Failure>(id)
            })
            .await?;
        self.event_listeners.wake(stream);
        Ok(event_id(id))
    }

    async fn read_after(
        &self,
        stream: &str,
        after: Option<EventId>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let stream = stream.to_owned();
        let after = after.map_or(0, row_id);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.call(move |c| {
            let mut statement = c.prepare(
                "SELECT id, data FROM mcp_events WHERE stream = ?1 AND id > ?2 \
                 ORDER BY id LIMIT ?3",
            )?;
            let events = statement
                .query_map(params![stream, after, limit], |row| {
                    Ok(StoredEvent {
                        id: event_id(row.get(0)?),
                        data: row.get(1)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(events)
        })
        .await
    }

    async fn last_event_id(&self, stream: &str) -> Result<Option<EventId>, StoreError> {
        let stream = stream.to_owned();
        self.call(move |c| {
            let last: Option<i64> = c.query_row(
                "SELECT max(id) FROM mcp_events WHERE stream = ?1",
                params![stream],
                |row| row.get(0),
            )?;
            Ok(last.map(event_id))
        })
        .await
    }

    async fn delete_stream(&self, stream: &str) -> Result<(), StoreError> {
        let stream = stream.to_owned();
        self.call(move |c| {
            c.execute("DELETE FROM mcp_events WHERE stream = ?1", params![stream])?;
            Ok(())
        })
        .await
    }

    async fn purge_events(&self, now: i64, max_age: Duration) -> Result<u64, StoreError> {
        let oldest = now.saturating_sub(i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX));
        self.call(move |c| {
            let removed = c.execute(
                "DELETE FROM mcp_events WHERE appended_at < ?1",
                params![oldest],
            )?;
            Ok(removed as u64)
        })
        .await
    }

    fn listen(&self, stream: &str) -> EventListener {
        self.event_listeners.listen(stream)
    }
}
