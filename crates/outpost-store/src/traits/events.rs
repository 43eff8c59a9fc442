//! [`EventStore`]: the server-sent events of MCP streams, kept so that a client reconnecting
//! with `Last-Event-ID` to any instance sharing the store gets exactly the events after that
//! one, and so that whatever any instance appends to a stream reaches the instance holding it
//! ([`EventStore::listen`]).
//!
//! A stream is named by an opaque key the caller builds (a session's GET stream, say); an
//! event is opaque text (the caller's JSON). Each append gets an [`EventId`] that is unique in
//! the backend and greater than every id the stream had before, whichever instance appends.
//! Retention is bounded by count (checked at each append) and by age (at each append and by
//! [`EventStore::purge_events`]), as the caller's [`EventRetention`] says.

use std::{fmt, str::FromStr, time::Duration};

use async_trait::async_trait;

use crate::{StoreError, event_listeners::EventListener};

/// The id of a stored event, ordered within its stream and unique in the backend: shown (and
/// sent to clients as the SSE `id`) as `{major}-{minor}`. SQLite and memory number events
/// (`{n}-0`); Redis Streams give `{milliseconds}-{sequence}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId {
    major: u64,
    minor: u64,
}

impl EventId {
    /// The id `{major}-{minor}`.
    pub const fn new(major: u64, minor: u64) -> Self {
        Self { major, minor }
    }

    /// The first part: an event number, or a Redis stream id's milliseconds.
    pub const fn major(&self) -> u64 {
        self.major
    }

    /// The second part: `0`, or a Redis stream id's sequence.
    pub const fn minor(&self) -> u64 {
        self.minor
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.major, self.minor)
    }
}

/// A text that is not an [`EventId`] (`{digits}-{digits}`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an event id (expected two numbers joined by '-'): {0:?}")]
pub struct InvalidEventId(pub String);

impl FromStr for EventId {
    type Err = InvalidEventId;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidEventId(text.chars().take(64).collect());
        let (major, minor) = text.split_once('-').ok_or_else(invalid)?;
        let number = |part: &str| {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            part.parse::<u64>().map_err(|_| invalid())
        };
        Ok(Self::new(number(major)?, number(minor)?))
    }
}

/// One stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Its id.
    pub id: EventId,
    /// What was appended.
    pub data: String,
}

/// How many events a stream keeps, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRetention {
    /// The newest events kept per stream (at least 1); older ones go at the next append.
    pub max_count: u32,
    /// How long an event is kept after it was appended.
    pub max_age: Duration,
}

impl EventRetention {
    /// The age bound in whole seconds (at least 1), as stored times are.
    pub fn max_age_seconds(&self) -> i64 {
        i64::try_from(self.max_age.as_secs())
            .unwrap_or(i64::MAX)
            .max(1)
    }

    /// The count bound, at least 1.
    pub fn max_count(&self) -> u32 {
        self.max_count.max(1)
    }
}

/// Streams of server-sent events, shared by every instance on the store.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Appends `data` to `stream` at `now`, drops what `retention` no longer allows from that
    /// stream, wakes its listeners (on every instance the backend reaches) and returns the new
    /// event's id.
    async fn append(
        &self,
        stream: &str,
        data: &str,
        now: i64,
        retention: EventRetention,
    ) -> Result<EventId, StoreError>;

    /// At most `limit` events of `stream` after `after` (from its oldest kept event with
    /// `None`), oldest first. An `after` from another stream or long gone is only a position:
    /// the events with greater ids follow.
    async fn read_after(
        &self,
        stream: &str,
        after: Option<EventId>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// The id of `stream`'s newest kept event, `None` for an empty stream.
    async fn last_event_id(&self, stream: &str) -> Result<Option<EventId>, StoreError>;

    /// Forgets `stream` and its events (its session ended).
    async fn delete_stream(&self, stream: &str) -> Result<(), StoreError>;

    /// Removes every event older than `max_age` at `now`, in every stream; returns how many.
    async fn purge_events(&self, now: i64, max_age: Duration) -> Result<u64, StoreError>;

    /// Wakes the listener returned whenever an event is appended to `stream` by any instance
    /// this backend connects (in-process for memory and SQLite; Redis pub/sub for Redis). A
    /// wake-up may be spurious or, across a lost connection, missing: readers re-read the
    /// stream after their last id and re-check now and then.
    fn listen(&self, stream: &str) -> EventListener;

    /// Whether [`EventStore::listen`] hears appends made by other processes sharing the
    /// backend (Redis), not only by this one (memory; SQLite, whose other processes are seen
    /// only when a reader looks again): whether instances in other processes can relay to
    /// each other through it. `false` unless a backend says otherwise.
    fn wakes_other_processes(&self) -> bool {
        false
    }
}
