//! Streamable HTTP sessions that outlive the process: rmcp's `SessionStore` over Outpost's
//! [`McpSessionStore`], so `outpost serve` can restart (or another instance take over) without
//! its 2025-03-26 … 2025-11-25 clients having to initialize again.
//!
//! What rmcp 3.11 does with it: `store` once a session's `initialize` has been answered; `load`
//! when a request names a session id its `LocalSessionManager` does not know, then it replays
//! the handshake on a fresh handler and serves the request; `delete` only on an explicit
//! `DELETE /mcp`. It never deletes on shutdown (cancelling the server's token closes the
//! in-memory sessions only) nor when a session idles out of memory — so records survive a
//! restart, and their idle expiry is kept here: a record expires `idle_timeout` plus a slack
//! of `idle_timeout / 4` after its last request. Requests naming a session push its expiry
//! through [`refresh_expiry`] at most once per slack, so a busy session costs one store write
//! per slack, not one per request. Expired records are never loaded and are purged as new
//! sessions are stored.
//!
//! What survives is what rmcp's `SessionState` holds: the client's `initialize` parameters.
//! The handler's own per-session state (a log level, subscriptions) starts afresh on the
//! restored session, and streams open at the restart have ended.
//!
//! When the store fails or does not answer, [`PersistedSessions::owner`] and
//! [`PersistedSessions::is_live`] say so (an error, not "unknown session"), and
//! `mcp::session_delete` answers a request for a session only the store could restore with
//! `503` rather than rmcp's `500` or a `404` that makes the client drop its session.
//!
//! With authentication, the session-owner check records each new session's subject here
//! ([`PersistedSessions::record_owner`]) and reads it back when a session id is not in its
//! memory ([`PersistedSessions::owner`]). rmcp's `store` and the owner's record may land in
//! either order; each fills only its own field of the record.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::Response,
};
use http::Method;
use rmcp::transport::streamable_http_server::session::store::{
    SessionState, SessionStore, SessionStoreError,
};

use super::classify::{Era, RequestClass};
use crate::{
    clock::unix_now,
    ops::degraded::bounded,
    store::{McpSessionStore, StoreError},
};

/// Most sessions whose last expiry write is remembered; beyond it, stale entries are dropped.
const CAPACITY: usize = 100_000;
/// The shortest slack, so a tiny idle timeout does not mean a write per request.
const MIN_SLACK: Duration = Duration::from_secs(1);

/// The server's persisted sessions: the store, the idle timeout, and when this instance last
/// wrote each session's expiry.
pub struct PersistedSessions {
    store: Arc<dyn McpSessionStore>,
    idle_timeout: Duration,
    slack: Duration,
    written: Mutex<HashMap<String, Instant>>,
    purged: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for PersistedSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistedSessions")
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

impl PersistedSessions {
    /// Sessions kept in `store`, expiring after `idle_timeout` (the server's
    /// `session_idle_timeout`, plus a quarter of it as slack) without requests.
    pub fn new(store: Arc<dyn McpSessionStore>, idle_timeout: Duration) -> Self {
        Self {
            store,
            idle_timeout,
            slack: (idle_timeout / 4).max(MIN_SLACK),
            written: Mutex::new(HashMap::new()),
            purged: Mutex::new(None),
        }
    }

    /// The subject that owns `session_id`, if the store has it live with an owner. An error
    /// when the store failed or did not answer within
    /// [`STORE_ANSWER_TIMEOUT`](crate::ops::degraded::STORE_ANSWER_TIMEOUT): the caller
    /// cannot tell, which is not "no owner".
    pub async fn owner(&self, session_id: &str) -> Result<Option<String>, StoreError> {
        let record = bounded(self.store.get(session_id, unix_now())).await?;
        Ok(record.and_then(|record| record.owner))
    }

    /// Whether the store has `session_id` live; an error as for [`PersistedSessions::owner`].
    pub async fn is_live(&self, session_id: &str) -> Result<bool, StoreError> {
        Ok(bounded(self.store.get(session_id, unix_now()))
            .await?
            .is_some())
    }

    /// Binds `session_id` to `subject` in the store (a failure is logged: the session then
    /// works on this instance only, until it ends).
    pub async fn record_owner(&self, session_id: &str, subject: &str) {
        let now = unix_now();
        let recorded = self
            .store
            .record_owner(session_id, subject, now, self.expires_at(now))
            .await;
        match recorded {
            Ok(()) => self.mark_written(session_id),
            Err(error) => tracing::error!(%error, "cannot store an MCP session's owner"),
        }
    }

    /// Notes a request naming `session_id`: pushes its stored expiry when the last push is a
    /// slack old. Sessions this instance neither stored nor loaded are left alone (rmcp loads
    /// them first, which pushes the expiry).
    pub fn refresh(&self, session_id: &str) {
        let now = Instant::now();
        {
            let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
            match written.get_mut(session_id) {
                Some(at) if now.saturating_duration_since(*at) >= self.slack => *at = now,
                _ => return,
            }
        }
        let (store, session_id) = (self.store.clone(), session_id.to_owned());
        let expires_at = self.expires_at(unix_now());
        tokio::spawn(async move {
            match store.touch(&session_id, expires_at).await {
                // Deleted or purged meanwhile: nothing left to keep alive.
                Ok(()) | Err(StoreError::NotFound(_)) => {}
                Err(error) => tracing::warn!(%error, "cannot extend a stored MCP session"),
            }
        });
    }

    /// The expiry of a session used at `now` (unix seconds).
    fn expires_at(&self, now: i64) -> i64 {
        let lifetime = (self.idle_timeout + self.slack).as_secs_f64().ceil() as i64;
        now.saturating_add(lifetime)
    }

    fn mark_written(&self, session_id: &str) {
        let now = Instant::now();
        let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        if written.len() >= CAPACITY {
            let lifetime = self.idle_timeout + self.slack;
            written.retain(|_, at| now.saturating_duration_since(*at) < lifetime);
        }
        if written.len() < CAPACITY {
            written.insert(session_id.to_owned(), now);
        }
    }

    /// Removes expired records, at most once per idle timeout, off the request's path.
    fn purge_now_and_then(&self) {
        let now = Instant::now();
        {
            let mut purged = self.purged.lock().unwrap_or_else(PoisonError::into_inner);
            if purged.is_some_and(|at| now.saturating_duration_since(at) < self.idle_timeout) {
                return;
            }
            *purged = Some(now);
        }
        let store = self.store.clone();
        tokio::spawn(async move {
            match store.purge_expired(unix_now()).await {
                Ok(0) => {}
                Ok(removed) => tracing::debug!(removed, "purged expired MCP sessions"),
                Err(error) => tracing::warn!(%error, "cannot purge expired MCP sessions"),
            }
        });
    }
}

#[async_trait::async_trait]
impl SessionStore for PersistedSessions {
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        let now = unix_now();
        let Some(record) = self.store.get(session_id, now).await? else {
            return Ok(None);
        };
        // An owner recorded before (or without) rmcp's state: nothing to restore from.
        let Some(state) = record.state else {
            return Ok(None);
        };
        let state: SessionState = serde_json::from_str(&state)?;
        // Being restored is being used: the session gets a full idle period from now.
        self.store
            .touch(session_id, self.expires_at(now))
            .await
            .or_else(ignore_not_found)?;
        self.mark_written(session_id);
        Ok(Some(state))
    }

    async fn store(&self, session_id: &str, state: &SessionState) -> Result<(), SessionStoreError> {
        let now = unix_now();
        let json = serde_json::to_string(state)?;
        self.store
            .save_state(session_id, &json, now, self.expires_at(now))
            .await?;
        self.mark_written(session_id);
        self.purge_now_and_then();
        Ok(())
    }

    async fn delete(&self, session_id: &str) -> Result<(), SessionStoreError> {
        self.written
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(session_id);
        self.store
            .delete(session_id)
            .await
            .or_else(ignore_not_found)?;
        Ok(())
    }
}

/// A record already gone is what a delete or touch of it wanted anyway (expired and purged,
/// or deleted by another instance).
fn ignore_not_found(error: StoreError) -> Result<(), StoreError> {
    match error {
        StoreError::NotFound(_) => Ok(()),
        other => Err(other),
    }
}

/// axum middleware on the rmcp side of `/mcp`: a request naming a session keeps its stored
/// record from expiring ([`PersistedSessions::refresh`]); a `DELETE` is about to remove it
/// instead. Mounted only when sessions are persisted.
pub async fn refresh_expiry(
    State(persisted): State<Arc<PersistedSessions>>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::DELETE {
        let class = RequestClass::from_request(&request);
        if let (Era::Session, Some(id)) = (class.era(), class.session()) {
            persisted.refresh(id);
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use rmcp::model::InitializeRequestParams;

    use super::*;
    use crate::store::Store;

    fn persisted(idle: Duration) -> (Store, PersistedSessions) {
        let store = Store::memory();
        let sessions = PersistedSessions::new(store.mcp_sessions.clone(), idle);
        (store, sessions)
    }

    #[tokio::test]
    async fn stored_state_loads_back_with_its_owner_kept() {
        let (store, sessions) = persisted(Duration::from_secs(60));
        sessions.record_owner("s1", "alice").await;
        let state = SessionState::new(InitializeRequestParams::default());
        SessionStore::store(&sessions, "s1", &state)
            .await
            .expect("store");
        let loaded = sessions.load("s1").await.expect("load").expect("stored");
        assert_eq!(
            serde_json::to_value(loaded.initialize_params).expect("json"),
            serde_json::to_value(state.initialize_params).expect("json")
        );
        assert_eq!(
            sessions.owner("s1").await.unwrap().as_deref(),
            Some("alice")
        );
        let record = store.mcp_sessions.get("s1", unix_now()).await.expect("get");
        let expires_at = record.expect("record").expires_at;
        assert!(
            expires_at >= unix_now() + 75,
            "60 s idle + 15 s slack: {expires_at}"
        );

        sessions.delete("s1").await.expect("delete");
        assert!(sessions.load("s1").await.expect("load").is_none());
        assert_eq!(sessions.owner("s1").await.unwrap(), None);
        sessions.delete("s1").await.expect("deleting twice is fine");
    }

    #[tokio::test]
    async fn an_owner_without_state_is_not_restored() {
        let (_store, sessions) = persisted(Duration::from_secs(60));
        sessions.record_owner("s1", "alice").await;
        assert!(sessions.is_live("s1").await.unwrap());
        assert!(sessions.load("s1").await.expect("load").is_none());
    }

    #[tokio::test]
    async fn expired_sessions_are_not_loaded() {
        let (store, sessions) = persisted(Duration::from_secs(60));
        let now = unix_now();
        store
            .mcp_sessions
            .save_state("old", r#"{"initialize_params":{}}"#, now - 100, now - 1)
            .await
            .expect("save");
        assert!(sessions.load("old").await.expect("load").is_none());
        assert!(!sessions.is_live("old").await.unwrap());
    }
}
