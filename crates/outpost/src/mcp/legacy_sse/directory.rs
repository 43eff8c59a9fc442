//! The 2024-11-05 sessions of every instance, so that `POST /message` works on any of them.
//!
//! A legacy session lives on the instance holding its `/sse` stream. With a store whose bus
//! reaches other processes (Redis), that instance records the session in the store's
//! [`McpSessionStore`] under `legacy-sse:{id}`: which instance holds the stream (its relay
//! id) and the owner (the subject that opened it, for the session-owner check on every
//! instance). The record is a lease: written before the `endpoint` event leaves, pushed every
//! [`RENEW_EVERY`] while the stream is open (every [`RETRY_EVERY`] while the store does not take
//! it, and written again if the store lost it), deleted when it closes, and — when the instance
//! dies — gone [`LEASE`] after its last push. An instance receiving a POST for a session it does
//! not hold reads the record and relays the messages to the holder (`mcp::relay`).
//!
//! The record shares the table of Streamable HTTP sessions (and its expiry and purge); its
//! key cannot name one of those (their ids are UUIDs) and a Streamable HTTP request naming it
//! finds no session.

use std::{
    sync::{Arc, Weak},
    time::Duration,
};

use rmcp::model::ClientJsonRpcMessage;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::session::log_id;
use crate::{
    auth::resource::Identity,
    clock::unix_now,
    mcp::relay::{Destination, Outcome, Recipient, Relay},
    ops::degraded::bounded,
    store::{McpSessionStore, StoreError},
};

/// How long a legacy session's record outlives its last push.
pub(crate) const LEASE: Duration = Duration::from_secs(30);
/// How often the holder pushes a legacy session's record while its stream is open.
pub(crate) const RENEW_EVERY: Duration = Duration::from_secs(10);
/// How soon the holder tries again when the store did not take a push.
pub(crate) const RETRY_EVERY: Duration = Duration::from_secs(1);
/// The prefix of legacy sessions' keys in the session store.
pub(crate) const KEY_PREFIX: &str = "legacy-sse:";

/// What the record's `state` says.
#[derive(Debug, Serialize, Deserialize)]
struct HeldBy {
    /// The relay id of the instance holding the `/sse` stream.
    instance: String,
}

/// Where a legacy session lives, as its record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Holder {
    /// The relay id of the instance holding the `/sse` stream.
    pub(crate) instance: String,
    /// The subject that opened the session; `None` without authentication.
    pub(crate) owner: Option<String>,
}

/// Legacy sessions recorded in the store, and the relay to the instances holding them.
pub(crate) struct LegacyDirectory {
    store: Arc<dyn McpSessionStore>,
    relay: Arc<Relay>,
}

impl std::fmt::Debug for LegacyDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LegacyDirectory")
            .field("relay", &self.relay)
            .finish_non_exhaustive()
    }
}

fn key(session: &str) -> String {
    format!("{KEY_PREFIX}{session}")
}

impl LegacyDirectory {
    /// Sessions recorded in `store`, reached through `relay`.
    pub(crate) fn new(store: Arc<dyn McpSessionStore>, relay: Arc<Relay>) -> Self {
        Self { store, relay }
    }

    /// Makes `recipient` take the messages other instances relay to `destination` here.
    pub(crate) fn register(&self, destination: Destination, recipient: Weak<dyn Recipient>) {
        self.relay.register(destination, recipient);
    }

    /// Records `session` as held here for `owner`, and keeps the record while `open` is not
    /// cancelled; deletes it then. The relay listens before the record is written, so a
    /// message relayed as soon as the record is seen is not missed.
    pub(crate) async fn hold(
        self: &Arc<Self>,
        session: &str,
        owner: Option<&str>,
        open: CancellationToken,
    ) -> Result<(), StoreError> {
        self.relay.listen().await?;
        let key = key(session);
        self.write(&key, owner).await?;
        let directory = self.clone();
        let owner = owner.map(str::to_owned);
        tokio::spawn(async move { directory.keep(&key, owner.as_deref(), open).await });
        Ok(())
    }

    /// Writes `key`'s record: held here, for `owner`, for a [`LEASE`] from now.
    async fn write(&self, key: &str, owner: Option<&str>) -> Result<(), StoreError> {
        let state = serde_json::to_string(&HeldBy {
            instance: self.relay.instance().to_owned(),
        })
        .map_err(|error| StoreError::Backend(error.to_string()))?;
        let now = unix_now();
        bounded(self.store.save_state(key, &state, now, expires_at(now))).await?;
        if let Some(owner) = owner {
            bounded(self.store.record_owner(key, owner, now, expires_at(now))).await?;
        }
        Ok(())
    }

    /// Pushes `key`'s lease until `open` is cancelled, then deletes it. A push the store
    /// cannot take is tried again every [`RETRY_EVERY`]; a record the store lost meanwhile
    /// (an outage longer than the lease, a store restarted empty) is written again, whole,
    /// until a write succeeds (the stream being open: other instances would otherwise take
    /// the session for ended, or, without its owner, for someone else's).
    async fn keep(&self, key: &str, owner: Option<&str>, open: CancellationToken) {
        let session = log_id(key.strip_prefix(KEY_PREFIX).unwrap_or(key));
        let mut wait = RENEW_EVERY;
        let mut failing = false;
        let mut rewrite = false;
        loop {
            tokio::select! {
                () = open.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
            }
            let pushed = if rewrite {
                self.write(key, owner).await
            } else {
                match bounded(self.store.touch(key, expires_at(unix_now()))).await {
                    Err(StoreError::NotFound(_)) => {
                        rewrite = true;
                        self.write(key, owner).await
                    }
                    pushed => pushed,
                }
            };
            match pushed {
                Ok(()) => {
                    if failing {
                        tracing::info!(session, "a legacy SSE session's record is renewed");
                    }
                    (wait, failing, rewrite) = (RENEW_EVERY, false, false);
                }
                Err(error) => {
                    if !failing {
                        tracing::warn!(session, %error, "cannot renew a legacy SSE session's record: trying again every second");
                    }
                    (wait, failing) = (RETRY_EVERY, true);
                }
            }
        }
        if let Err(error) = bounded(self.store.delete(key)).await {
            tracing::debug!(%error, "cannot delete a legacy SSE session's record");
        }
    }

    /// Where `session` lives: `None` for no live session (never opened, closed, or its
    /// instance gone for a [`LEASE`]).
    pub(crate) async fn holder(&self, session: &str) -> Result<Option<Holder>, StoreError> {
        let Some(record) = bounded(self.store.get(&key(session), unix_now())).await? else {
            return Ok(None);
        };
        let Some(held) = record
            .state
            .as_deref()
            .and_then(|state| serde_json::from_str::<HeldBy>(state).ok())
        else {
            return Ok(None);
        };
        Ok(Some(Holder {
            instance: held.instance,
            owner: record.owner,
        }))
    }

    /// Whether `holder` is this instance (then a session missing here has ended).
    pub(crate) fn is_here(&self, holder: &Holder) -> bool {
        holder.instance == self.relay.instance()
    }

    /// Relays `messages` of `session` from `caller` to `holder`, waiting for its receipt.
    pub(crate) async fn relay(
        &self,
        holder: &Holder,
        session: &str,
        messages: Vec<ClientJsonRpcMessage>,
        caller: Option<&Identity>,
    ) -> Result<Outcome, StoreError> {
        // Bounded inside: each store call, then the receipt's wait.
        self.relay
            .deliver_to(
                &holder.instance,
                Destination::LegacySessions,
                session,
                messages,
                caller,
            )
            .await
    }
}

fn expires_at(now: i64) -> i64 {
    now.saturating_add(LEASE.as_secs() as i64)
}
