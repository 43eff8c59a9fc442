//! The bus: this instance's subscription, on a connection of its own, to the two pub/sub
//! channels every instance on the same Redis and prefix publishes to.
//!
//! - `P events`: the name of an event stream, published at each append (`event_append.lua`),
//!   turned into wake-ups of this instance's [`EventListeners`];
//! - `P sessions`: the id of an MCP session whose record changed (a new state or owner,
//!   replaced data, a delete; `*` for a purge), published by the scripts that change it,
//!   counted in [`SessionChanges`], in all and per group of session ids.
//!
//! A subscription lost with its connection is renewed by the connection manager. What was
//! published in between never arrives, so the disconnection wakes every listener (they re-read
//! their streams after their last id) and the session count stops vouching for anything until
//! the subscription is back ([`SessionChanges::count`] is `None` meanwhile), then moves.
//!
//! A notice arrives after the change it tells of: an instance can serve a session as it read
//! it for as long as Redis takes to deliver (well under a millisecond on a healthy network).
//! Releases before this one change sessions without publishing; while one shares the store
//! in a rolling deploy, its changes are seen when a session's record is read again (Outpost
//! reads it at least once a second while in use).

use std::{
    hash::Hasher,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use redis::{
    PushInfo, PushKind, Value,
    aio::{ConnectionManager, ConnectionManagerConfig},
};

use outpost_store::{EventListeners, StoreError};

use crate::{RedisOptions, connection};

/// The longest wait between two attempts to renew the bus' subscription.
const BUS_MAX_RETRY_DELAY: Duration = Duration::from_secs(2);

/// This instance's subscription to the bus, who waits for which event stream, and the
/// session changes heard.
pub(crate) struct Bus {
    pub(crate) listeners: EventListeners,
    pub(crate) session_changes: Arc<SessionChanges>,
    /// Kept so the subscription lives as long as the store.
    _subscription: ConnectionManager,
}

impl Bus {
    /// Subscribes to `P events` and `P sessions` on a connection of its own.
    pub(crate) async fn subscribe(options: &RedisOptions) -> Result<Self, StoreError> {
        let listeners = EventListeners::new();
        let session_changes = Arc::new(SessionChanges::default());
        let events_channel = format!("{}events", options.prefix);
        let sessions_channel = format!("{}sessions", options.prefix);
        let on_push = {
            let (woken, changes) = (listeners.clone(), session_changes.clone());
            let (events_channel, sessions_channel) =
                (events_channel.clone(), sessions_channel.clone());
            move |push: PushInfo| -> Result<(), std::convert::Infallible> {
                let channel = match push.data.first() {
                    Some(Value::BulkString(channel)) => channel.as_slice(),
                    _ => &[],
                };
                let on_sessions = channel == sessions_channel.as_bytes();
                match push.kind {
                    PushKind::Message if on_sessions => {
                        if let Some(Value::BulkString(notice)) = push.data.get(1) {
                            changes.heard(notice);
                        }
                    }
                    PushKind::Message if channel == events_channel.as_bytes() => {
                        if let Some(Value::BulkString(stream)) = push.data.get(1)
                            && let Ok(stream) = std::str::from_utf8(stream)
                        {
                            woken.wake(stream);
                        }
                    }
                    PushKind::Subscribe if on_sessions => changes.subscribed(),
                    PushKind::Subscribe => woken.wake_all(),
                    PushKind::Disconnection => {
                        changes.lost();
                        woken.wake_all();
                    }
                    _ => {}
                }
                Ok(())
            }
        };
        let (client, password) = connection::client(options)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connect_timeout))
            .set_response_timeout(Some(options.response_timeout))
            .set_max_delay(BUS_MAX_RETRY_DELAY)
            .set_number_of_retries(usize::MAX)
            .set_push_sender(on_push)
            .set_automatic_resubscription();
        let what = "subscribing to the bus";
        let mut subscription = tokio::time::timeout(
            options.connect_timeout,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| StoreError::Unavailable(format!("{what}: no connection in time")))?
        .map_err(|e| connection::Scrub(password.clone()).error(&e, what))?;
        tokio::time::timeout(
            options.response_timeout,
            subscription.subscribe(&[events_channel, sessions_channel]),
        )
        .await
        .map_err(|_| StoreError::Unavailable(format!("{what}: no answer in time")))?
        .map_err(|e| connection::Scrub(password).error(&e, what))?;
        session_changes.subscribed();
        Ok(Self {
            listeners,
            session_changes,
            _subscription: subscription,
        })
    }
}

/// Groups of session ids counted apart, so a change to one session makes others read again
/// only when they share its group (32 KiB of counts).
const GROUPS: usize = 4096;

/// Counts that move with the changes to MCP sessions' records, made here or heard from
/// another instance over `P sessions` — the Redis side of `McpSessionStore::changes_here`
/// (every change) and `changes_to` (the changes to a group of session ids, and those that
/// may concern any session: a purge, a lost or renewed subscription).
#[derive(Debug)]
pub(crate) struct SessionChanges {
    /// Moves with every change.
    all: AtomicU64,
    /// Moves with what may concern any session.
    any: AtomicU64,
    /// Moves with the changes to the sessions of each group.
    groups: Box<[AtomicU64]>,
    /// Whether `P sessions` is heard now: only then do the counts vouch for anything.
    subscribed: AtomicBool,
}

impl Default for SessionChanges {
    fn default() -> Self {
        Self {
            all: AtomicU64::new(0),
            any: AtomicU64::new(0),
            groups: (0..GROUPS).map(|_| AtomicU64::new(0)).collect(),
            subscribed: AtomicBool::new(false),
        }
    }
}

impl SessionChanges {
    /// The count of every change, or `None` while changes made elsewhere may go unheard.
    pub(crate) fn count(&self) -> Option<u64> {
        // The flag before the count: a loss moves the count after clearing the flag, so a
        // reader that sees the flag set and then an old count is told of the loss by the
        // next look.
        self.subscribed
            .load(Ordering::Acquire)
            .then(|| self.all.load(Ordering::Acquire))
    }

    /// The count of the changes that may concern `session`, or `None` while changes made
    /// elsewhere may go unheard. The sum of two counts that only grow: it moves when either
    /// does.
    pub(crate) fn count_for(&self, session: &str) -> Option<u64> {
        self.subscribed.load(Ordering::Acquire).then(|| {
            let group = &self.groups[group_of(session.as_bytes())];
            self.any
                .load(Ordering::Acquire)
                .wrapping_add(group.load(Ordering::Acquire))
        })
    }

    /// A change to `session` made through this process: counted at once, before its notice
    /// comes back.
    pub(crate) fn made_here(&self, session: &str) {
        self.changed(session.as_bytes());
    }

    /// A change that may concern any session (a purge) made through this process.
    pub(crate) fn made_here_to_any(&self) {
        self.changed_any();
    }

    /// A notice heard on `P sessions`: a session's id, or `*` for any.
    fn heard(&self, notice: &[u8]) {
        if notice == b"*" {
            self.changed_any();
        } else {
            self.changed(notice);
        }
    }

    fn changed(&self, session: &[u8]) {
        self.groups[group_of(session)].fetch_add(1, Ordering::AcqRel);
        self.all.fetch_add(1, Ordering::AcqRel);
    }

    fn changed_any(&self) {
        self.any.fetch_add(1, Ordering::AcqRel);
        self.all.fetch_add(1, Ordering::AcqRel);
    }

    /// Subscribed (again): changes made while unsubscribed went unheard, so the counts move.
    fn subscribed(&self) {
        if !self.subscribed.swap(true, Ordering::AcqRel) {
            self.changed_any();
        }
    }

    /// The subscription is lost: nothing is vouched for until it is back.
    fn lost(&self) {
        self.subscribed.store(false, Ordering::Release);
        self.changed_any();
    }
}

/// The group of a session id: its hash (std's, the same in every run) folded to [`GROUPS`].
/// Ids are random; an id chosen to collide only costs its group a read.
fn group_of(session: &[u8]) -> usize {
    let mut hasher = std::hash::DefaultHasher::new();
    hasher.write(session);
    (hasher.finish() % GROUPS as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counts_vouch_only_while_subscribed_and_move_with_every_change() {
        let changes = SessionChanges::default();
        assert_eq!(changes.count(), None, "not subscribed yet");
        assert_eq!(changes.count_for("s1"), None);
        changes.subscribed();
        let (start, s1) = (
            changes.count().expect("subscribed"),
            changes.count_for("s1"),
        );
        changes.subscribed();
        assert_eq!(
            changes.count(),
            Some(start),
            "a repeated confirmation changes nothing"
        );
        changes.made_here("s1");
        let made = changes.count().expect("subscribed");
        assert_ne!(made, start);
        assert_ne!(changes.count_for("s1"), s1, "s1's group moved");
        let s1 = changes.count_for("s1");
        changes.heard(b"s1");
        let heard = changes.count().expect("subscribed");
        assert_ne!(heard, made);
        assert_ne!(changes.count_for("s1"), s1);
        let s1 = changes.count_for("s1");
        changes.heard(b"*");
        assert_ne!(
            changes.count_for("s1"),
            s1,
            "a purge may concern any session"
        );
        let s1 = changes.count_for("s1");
        changes.lost();
        assert_eq!(changes.count(), None, "lost");
        assert_eq!(changes.count_for("s1"), None, "lost");
        changes.subscribed();
        assert!(
            changes.count().is_some_and(|count| count != heard),
            "back, and moved: what was published meanwhile went unheard"
        );
        assert!(
            changes
                .count_for("s1")
                .is_some_and(|count| Some(count) != s1)
        );
    }

    #[test]
    fn a_change_to_one_session_leaves_most_others_where_they_were() {
        let changes = SessionChanges::default();
        changes.subscribed();
        let others: Vec<String> = (0..20).map(|n| format!("session-{n}")).collect();
        let before: Vec<_> = others.iter().map(|id| changes.count_for(id)).collect();
        changes.made_here("changed");
        let moved = others
            .iter()
            .zip(&before)
            .filter(|(id, before)| changes.count_for(id) != **before)
            .count();
        assert!(moved <= 1, "{moved} of 20 other sessions moved");
    }
}
