//! Sessions bound to the subject that opened them (MCP security best practices,
//! "session hijacking": a session id is never authentication).
//!
//! A 2025-xx session (`Mcp-Session-Id`, created by an `initialize` answer) or a 2024-11-05
//! session (`sessionId`, announced by `GET /sse`) is recorded with the [`Identity`]'s subject
//! when it is created. Every later request naming a session must come from the same subject;
//! a request naming a session that belongs to someone else — or that this map does not know,
//! which fails closed — gets `404`, the answer for an unknown session, so another user cannot
//! even learn that it exists. Entries leave on a successful `DELETE`, when the SSE stream
//! ends, or after the session idle timeout without requests; the map is bounded.
//!
//! With parked sessions (`mcp::sessions`, the default) a Streamable HTTP session's owner is
//! in its record, written by the session manager at `initialize` from the caller's
//! [`Identity`]: the check asks the manager (its cache, else the store) on every request naming
//! such a session, on every instance, and keeps no map of its own for them — `503` when the
//! store cannot tell (`ops::degraded`), as a 404 would make the client drop a session that may
//! well be its own. The map holds the owners of in-memory sessions (rmcp's manager, an opt-out)
//! and of 2024-11-05 sessions, which live as long as their stream; when those are shared
//! between instances (a store whose bus reaches other processes: `LegacyDirectory`), a legacy
//! session missing from the map is looked up in the store the same way, its owner being in
//! the record the holding instance wrote.
//!
//! [`Identity`]: super::Identity
//!
//! [`OwnerCheck::verdict`] decides synchronously where it can: stateless 2026-07-28 requests
//! name no session and pass untouched; other requests without a session id have their answer
//! watched for a new `Mcp-Session-Id` or `/sse` endpoint event ([`OwnerCheck::watch`]), on the
//! session path only. [`super::service`] runs the check after the bearer token's.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use axum::{
    body::Body,
    response::{IntoResponse, Response},
};
use futures::StreamExt;
use http::{Method, StatusCode};

use crate::{
    mcp::{
        classify::{Era, RequestClass, SESSION_ID},
        legacy_sse::directory::LegacyDirectory,
        sessions::SessionRecords,
    },
    store::StoreError,
};

/// Most sessions tracked at once; new sessions beyond it are not recorded (so not usable).
const CAPACITY: usize = 100_000;

struct Owner {
    subject: String,
    last_seen: Instant,
}

/// Session id → owning subject.
pub(crate) struct SessionOwners {
    owners: Mutex<HashMap<String, Owner>>,
    idle_timeout: Duration,
}

impl SessionOwners {
    /// An empty map whose entries expire after `idle_timeout` without use.
    pub fn new(idle_timeout: Duration) -> Self {
        Self {
            owners: Mutex::new(HashMap::new()),
            idle_timeout,
        }
    }

    /// Records `session` as owned by `subject`.
    pub fn record(&self, session: &str, subject: &str) {
        let now = Instant::now();
        let mut owners = self.owners.lock().unwrap_or_else(PoisonError::into_inner);
        if owners.len() >= CAPACITY {
            let idle = self.idle_timeout;
            owners.retain(|_, owner| now.saturating_duration_since(owner.last_seen) < idle);
        }
        if owners.len() < CAPACITY {
            let owner = Owner {
                subject: subject.to_owned(),
                last_seen: now,
            };
            owners.insert(session.to_owned(), owner);
        } else {
            tracing::warn!("session owner map full; the new session cannot be used");
        }
    }

    /// Whether `subject` owns `session` (and it has not idled out); refreshes its use time.
    pub fn owned_by(&self, session: &str, subject: &str) -> bool {
        let now = Instant::now();
        let mut owners = self.owners.lock().unwrap_or_else(PoisonError::into_inner);
        match owners.get_mut(session) {
            Some(owner) if now.saturating_duration_since(owner.last_seen) >= self.idle_timeout => {
                owners.remove(session);
                false
            }
            Some(owner) if owner.subject == subject => {
                owner.last_seen = now;
                true
            }
            _ => false,
        }
    }

    /// Forgets `session`.
    pub fn remove(&self, session: &str) {
        let mut owners = self.owners.lock().unwrap_or_else(PoisonError::into_inner);
        owners.remove(session);
    }
}

/// What the session-owner check decided before the request goes on.
pub(crate) enum OwnerVerdict {
    /// Nothing to check or watch: pass the request on.
    Pass,
    /// The request may create a session (or ends one): pass it on and [`OwnerCheck::watch`]
    /// its answer.
    Watch,
    /// A Streamable HTTP session this instance does not know: ask the store.
    AskStore,
    /// Someone else's session, or an unknown one: `404`.
    NotFound,
}

/// Where the owners of Streamable HTTP sessions are kept besides this instance's map.
#[derive(Clone, Default)]
pub(crate) enum StoredOwners {
    /// Nowhere: rmcp's sessions in memory only.
    #[default]
    Memory,
    /// Parked sessions: the owner is in each session's record, and only there.
    Parked(Arc<dyn SessionRecords>),
}

/// Sessions bound to subjects, in memory and, with a store, in the store.
pub(crate) struct OwnerCheck {
    owners: Arc<SessionOwners>,
    stored: StoredOwners,
    legacy: Option<Arc<LegacyDirectory>>,
}

impl OwnerCheck {
    /// Sessions that idle out after `idle_timeout`, their owners kept in `stored` too, and
    /// legacy sessions' owners in `legacy` when those are shared between instances.
    pub(crate) fn new(
        idle_timeout: Duration,
        stored: StoredOwners,
        legacy: Option<Arc<LegacyDirectory>>,
    ) -> Self {
        Self {
            owners: Arc::new(SessionOwners::new(idle_timeout)),
            stored,
            legacy,
        }
    }

    /// Whether `subject` may send `request` (classified as `class`) as far as memory can tell.
    pub(crate) fn verdict(
        &self,
        class: &RequestClass,
        method: &Method,
        subject: &str,
    ) -> OwnerVerdict {
        let parked = matches!(self.stored, StoredOwners::Parked(_)) && class.era() == Era::Session;
        if let Some(session) = class.session() {
            if parked {
                return OwnerVerdict::AskStore;
            }
            if !self.owners.owned_by(session, subject) {
                return if class.era() == Era::HttpSse && self.legacy.is_some() {
                    OwnerVerdict::AskStore
                } else {
                    OwnerVerdict::NotFound
                };
            }
            return if *method == Method::DELETE {
                OwnerVerdict::Watch
            } else {
                OwnerVerdict::Pass
            };
        }
        match class.era() {
            // The session manager records the owner of a session it creates.
            Era::Session if parked => OwnerVerdict::Pass,
            Era::Stateless => OwnerVerdict::Pass,
            Era::Session => OwnerVerdict::Watch,
            Era::HttpSse if *method == Method::GET => OwnerVerdict::Watch,
            Era::HttpSse => OwnerVerdict::Pass,
        }
    }

    /// Whether the store names `subject` as the owner of `session` (remembered in memory from
    /// then on); an error when the store cannot tell.
    pub(crate) async fn owned_in_store(
        &self,
        era: Era,
        session: &str,
        subject: &str,
    ) -> Result<bool, StoreError> {
        if era == Era::HttpSse {
            let Some(legacy) = &self.legacy else {
                return Ok(false);
            };
            let owner = legacy
                .holder(session)
                .await?
                .and_then(|holder| holder.owner);
            if owner.as_deref() != Some(subject) {
                return Ok(false);
            }
            self.owners.record(session, subject);
            return Ok(true);
        }
        match &self.stored {
            StoredOwners::Memory => Ok(false),
            StoredOwners::Parked(records) => {
                let owner = records
                    .owner(session)
                    .await
                    .map_err(|error| error.into_store_error())?;
                Ok(owner.flatten().as_deref() == Some(subject))
            }
        }
    }

    /// Follows up on an answer: a successful `DELETE` forgets its session; an `initialize`
    /// answer's new `Mcp-Session-Id` is recorded for `subject`; a `/sse`
    /// stream's announced session is recorded while the stream lasts.
    pub(crate) async fn watch(
        &self,
        class: &RequestClass,
        method: &Method,
        subject: String,
        response: Response,
    ) -> Response {
        if let Some(session) = class.session() {
            if *method == Method::DELETE && response.status().is_success() {
                self.owners.remove(session);
            }
            return response;
        }
        if class.era() == Era::HttpSse {
            return watch_sse(response, self.owners.clone(), subject);
        }
        if let Some(id) = response.headers().get(&SESSION_ID) {
            let id = String::from_utf8_lossy(id.as_bytes());
            self.owners.record(&id, &subject);
        }
        response
    }
}

/// The answer for someone else's or an unknown session.
pub(crate) fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not Found: Session not found").into_response()
}

/// The legacy session id in the `endpoint` event of a `/sse` stream's first bytes.
fn announced_session(chunk: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(chunk).ok()?;
    let start = text.find("sessionId=")? + "sessionId=".len();
    let id: String = text[start..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    (!id.is_empty()).then_some(id)
}

/// Forgets a legacy session when its stream ends.
struct ForgetOnDrop {
    owners: Arc<SessionOwners>,
    session: Option<String>,
}

impl Drop for ForgetOnDrop {
    fn drop(&mut self) {
        if let Some(session) = &self.session {
            self.owners.remove(session);
        }
    }
}

/// Passes a `/sse` stream through, recording the session its `endpoint` event announces
/// for `subject` and forgetting it when the stream ends.
fn watch_sse(response: Response, owners: Arc<SessionOwners>, subject: String) -> Response {
    let (parts, body) = response.into_parts();
    let mut guard = ForgetOnDrop {
        owners,
        session: None,
    };
    let stream = body.into_data_stream().map(move |chunk| {
        if guard.session.is_none()
            && let Ok(bytes) = &chunk
            && let Some(id) = announced_session(bytes)
        {
            guard.owners.record(&id, &subject);
            guard.session = Some(id);
        }
        chunk
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_belong_to_their_subject_until_removed_or_idle() {
        let owners = SessionOwners::new(Duration::from_secs(60));
        owners.record("s1", "alice");
        assert!(owners.owned_by("s1", "alice"));
        assert!(!owners.owned_by("s1", "bob"));
        assert!(!owners.owned_by("unknown", "alice"));
        owners.remove("s1");
        assert!(!owners.owned_by("s1", "alice"));
        let idle = SessionOwners::new(Duration::ZERO);
        idle.record("s2", "alice");
        assert!(!idle.owned_by("s2", "alice"));
    }

    #[test]
    fn the_sse_endpoint_event_names_the_session() {
        let event = b"event: endpoint\ndata: /message?sessionId=0123abcd\n\n";
        assert_eq!(announced_session(event), Some("0123abcd".to_owned()));
        assert_eq!(announced_session(b": keep-alive\n\n"), None);
    }
}
