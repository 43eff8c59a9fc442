//! The table of live legacy SSE sessions, keyed by unguessable ids.
//!
//! A `POST /message?sessionId=…` finds its session here. The id is the only thing that ties a
//! POST to an SSE stream, so it is 128 bits from the OS random source (a UUID v4), never a
//! counter. An entry lives exactly as long as its SSE response: the [`SessionGuard`] travels
//! inside the response's event stream, and dropping it (client gone, stream ended, shutdown)
//! removes the entry and cancels the session.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use rmcp::model::ClientJsonRpcMessage;
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio_util::sync::CancellationToken;

use super::{MESSAGE_PATH, message::with_parts};
use crate::{
    auth::resource::Identity,
    mcp::relay::{Outcome, Recipient},
    ops::metrics::Open,
};

/// Live sessions: id → the sender feeding that session's transport.
#[derive(Debug, Clone, Default)]
pub(crate) struct SessionStore {
    sessions: Arc<Mutex<HashMap<String, mpsc::Sender<ClientJsonRpcMessage>>>>,
}

impl SessionStore {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, mpsc::Sender<ClientJsonRpcMessage>>> {
        // The map is consistent after every statement: a panic elsewhere cannot corrupt it.
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a session; the returned guard removes it and cancels `ct` when dropped.
    pub(crate) fn insert(
        &self,
        id: String,
        to_server: mpsc::Sender<ClientJsonRpcMessage>,
        ct: CancellationToken,
    ) -> SessionGuard {
        self.lock().insert(id.clone(), to_server);
        SessionGuard {
            store: self.clone(),
            id,
            ct,
            _counted: Open::http_sse_session(),
        }
    }

    /// The sender of session `id`, if it is live.
    pub(crate) fn get(&self, id: &str) -> Option<mpsc::Sender<ClientJsonRpcMessage>> {
        self.lock().get(id).cloned()
    }

    /// Forgets session `id` (no-op if it is already gone).
    pub(crate) fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Number of live sessions.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

impl Recipient for SessionStore {
    /// Messages POSTed to another instance for a session whose stream is held here: queued
    /// as a POST here would queue them (all or none), without waiting for room. The handler
    /// sees the caller the other instance authenticated, on a `POST /message` without its
    /// headers (the bearer token is never relayed).
    fn deliver(
        &self,
        session: &str,
        messages: Vec<ClientJsonRpcMessage>,
        caller: Option<Arc<Identity>>,
    ) -> Outcome {
        let Some(inbox) = self.get(session) else {
            return Outcome::NoRecipient;
        };
        let (mut parts, ()) = http::Request::post(MESSAGE_PATH)
            .body(())
            .unwrap_or_default()
            .into_parts();
        if let Some(caller) = caller {
            parts.extensions.insert(caller);
        }
        let messages = with_parts(messages, &parts);
        match inbox.try_reserve_many(messages.len()) {
            Ok(permits) => {
                for (permit, message) in permits.zip(messages) {
                    permit.send(message);
                }
                Outcome::Delivered
            }
            Err(TrySendError::Full(())) => Outcome::Busy,
            Err(TrySendError::Closed(())) => Outcome::NoRecipient,
        }
    }
}

/// Ends a session when dropped: removes it from the store and cancels its token.
#[derive(Debug)]
pub(crate) struct SessionGuard {
    store: SessionStore,
    id: String,
    ct: CancellationToken,
    /// Counts the session in the open-sessions gauge while it lives.
    _counted: Open,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.ct.cancel();
        self.store.remove(&self.id);
        tracing::debug!(session = log_id(&self.id), "legacy SSE session closed");
    }
}

/// A fresh session id: 128 random bits (UUID v4 from the OS CSPRNG), as 32 hex digits.
pub(crate) fn new_session_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The first 8 characters of a session id, for logs: enough to correlate lines, too little to
/// hijack the session (the full id is its only credential).
pub(crate) fn log_id(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_hex_and_distinct() {
        let a = new_session_id();
        let b = new_session_id();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn dropping_the_guard_removes_the_session_and_cancels_it() {
        let store = SessionStore::default();
        let (tx, _rx) = mpsc::channel(1);
        let ct = CancellationToken::new();
        let guard = store.insert("abc".into(), tx, ct.clone());
        assert!(store.get("abc").is_some());
        assert!(store.get("abd").is_none());
        drop(guard);
        assert!(store.get("abc").is_none());
        assert_eq!(store.len(), 0);
        assert!(ct.is_cancelled());
    }
}
