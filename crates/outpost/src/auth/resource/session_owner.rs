//! Legacy sessions bound to the subject that opened them (MCP security best practices,
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
//! With [`PersistedSessions`] (a server with a store), a new Streamable HTTP session's owner is
//! also written to the store before the `initialize` answer leaves, and a Streamable HTTP
//! session id missing from the map is looked up there: a session resumed after a restart or
//! on another instance is accepted for the subject the store names, and 404 for anyone else
//! or when the store has no live record. Hits stay in memory. Legacy `/sse` sessions live as
//! long as their stream, so they are never persisted.
//!
//! Stateless 2026-07-28 requests name no session and are passed on untouched with no boxing;
//! other requests without a session id have their answer inspected for a new
//! `Mcp-Session-Id` (a boxed future, on the session path only).

use std::{
    collections::HashMap,
    convert::Infallible,
    sync::{Arc, Mutex, PoisonError},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::{
    body::Body,
    extract::Request,
    response::{IntoResponse, Response},
};
use futures::{StreamExt, future::Either};
use http::{HeaderName, Method, StatusCode};
use tower::{Layer, Service};

use super::identity::Identity;
use crate::{
    http::early_answer::{BoxedResponse, after_draining, refuse, take_ready},
    mcp::{
        legacy_sse::{MESSAGE_PATH, SSE_PATH, session_id as legacy_session_id},
        session_store::PersistedSessions,
    },
};

/// The session header of the Streamable HTTP transport (pre-parsed: a `&str` name is parsed
/// on every lookup).
static SESSION_HEADER: HeaderName = HeaderName::from_static("mcp-session-id");
/// The protocol revision header.
static PROTOCOL_VERSION_HEADER: HeaderName = HeaderName::from_static("mcp-protocol-version");
/// The revision whose requests are stateless and never create sessions.
const STATELESS_VERSION: &str = "2026-07-28";
/// Most sessions tracked at once; new sessions beyond it are not recorded (so not usable).
const CAPACITY: usize = 100_000;

struct Owner {
    subject: String,
    last_seen: Instant,
}

/// Session id → owning subject.
pub struct SessionOwners {
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

/// Binds sessions to subjects; place it behind the bearer layer.
#[derive(Clone)]
pub struct SessionOwnerLayer {
    owners: Arc<SessionOwners>,
    persisted: Option<Arc<PersistedSessions>>,
}

impl SessionOwnerLayer {
    /// A layer whose sessions idle out after `idle_timeout` (the server's session timeout).
    pub fn new(idle_timeout: Duration) -> Self {
        Self {
            owners: Arc::new(SessionOwners::new(idle_timeout)),
            persisted: None,
        }
    }

    /// Also records Streamable HTTP sessions' owners in `persisted`, and reads them back from
    /// there for session ids not in memory.
    pub fn persisted_in(mut self, persisted: Arc<PersistedSessions>) -> Self {
        self.persisted = Some(persisted);
        self
    }
}

impl<S> Layer<S> for SessionOwnerLayer {
    type Service = SessionOwner<S>;

    fn layer(&self, inner: S) -> SessionOwner<S> {
        SessionOwner {
            owners: self.owners.clone(),
            persisted: self.persisted.clone(),
            inner,
        }
    }
}

/// A service behind a [`SessionOwnerLayer`].
#[derive(Clone)]
pub struct SessionOwner<S> {
    owners: Arc<SessionOwners>,
    persisted: Option<Arc<PersistedSessions>>,
    inner: S,
}

/// The session a request names: on `/message`, its `sessionId` read exactly as the legacy
/// transport reads it to route the message (whatever headers say); elsewhere the
/// `Mcp-Session-Id` header.
fn named_session(request: &Request) -> Option<String> {
    if request.uri().path() == MESSAGE_PATH {
        return legacy_session_id(request.uri().query()).ok();
    }
    request
        .headers()
        .get(&SESSION_HEADER)
        .map(|id| String::from_utf8_lossy(id.as_bytes()).into_owned())
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

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not Found: Session not found").into_response()
}

impl<S> Service<Request> for SessionOwner<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<S::Future, BoxedResponse>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let Some(subject) = request
            .extensions()
            .get::<Arc<Identity>>()
            .map(|identity| identity.subject.clone())
        else {
            // Not authenticated: nothing to bind (the bearer layer sits in front).
            return Either::Left(self.inner.call(request));
        };
        let session = named_session(&request);
        if let Some(session) = &session {
            if !self.owners.owned_by(session, &subject) {
                if let Some(persisted) = &self.persisted
                    && ![MESSAGE_PATH, SSE_PATH].contains(&request.uri().path())
                {
                    let (persisted, session) = (persisted.clone(), session.clone());
                    return Either::Right(
                        self.owned_in_store(persisted, request, session, subject),
                    );
                }
                return Either::Right(refuse(request, not_found()));
            }
            if request.method() != Method::DELETE {
                return Either::Left(self.inner.call(request));
            }
        }
        let stateless = request
            .headers()
            .get(&PROTOCOL_VERSION_HEADER)
            .is_some_and(|version| version.as_bytes() == STATELESS_VERSION.as_bytes());
        let opens_sse = request.method() == Method::GET && request.uri().path() == SSE_PATH;
        if session.is_none() && stateless && !opens_sse {
            return Either::Left(self.inner.call(request));
        }
        let mut inner = take_ready(&mut self.inner);
        let owners = self.owners.clone();
        let persisted = self.persisted.clone();
        Either::Right(Box::pin(async move {
            let response = inner.call(request).await?;
            if let Some(session) = session {
                // A DELETE of an owned session: forget it once it has ended.
                if response.status().is_success() {
                    owners.remove(&session);
                }
                return Ok(response);
            }
            if opens_sse {
                return Ok(watch_sse(response, owners, subject));
            }
            if let Some(id) = response.headers().get(&SESSION_HEADER) {
                let id = String::from_utf8_lossy(id.as_bytes());
                owners.record(&id, &subject);
                if let Some(persisted) = persisted {
                    persisted.record_owner(&id, &subject).await;
                }
            }
            Ok(response)
        }))
    }
}

impl<S> SessionOwner<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    /// A Streamable HTTP session id this map does not know: passed on when the store names
    /// `subject` as its owner (and remembered in memory from then on), 404 otherwise.
    fn owned_in_store(
        &mut self,
        persisted: Arc<PersistedSessions>,
        request: Request,
        session: String,
        subject: String,
    ) -> BoxedResponse {
        let mut inner = take_ready(&mut self.inner);
        let owners = self.owners.clone();
        Box::pin(async move {
            if persisted.owner(&session).await.as_deref() != Some(subject.as_str()) {
                return Ok(after_draining(request.into_body(), not_found()).await);
            }
            owners.record(&session, &subject);
            let deleting = request.method() == Method::DELETE;
            let response = inner.call(request).await?;
            if deleting && response.status().is_success() {
                owners.remove(&session);
            }
            Ok(response)
        })
    }
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
    fn message_posts_are_checked_against_the_session_they_are_routed_to() {
        let request = |uri: &str| {
            Request::post(uri)
                .header(&SESSION_HEADER, "streamable-1")
                .body(Body::empty())
                .expect("request")
        };
        // `/message` routes by its query, so that is the session to check, not the header.
        assert_eq!(
            named_session(&request("/message?sessionId=legacy%31")),
            Some("legacy1".to_owned())
        );
        assert_eq!(named_session(&request("/message")), None);
        assert_eq!(
            named_session(&request("/mcp?sessionId=legacy1")),
            Some("streamable-1".to_owned())
        );
    }

    #[test]
    fn the_sse_endpoint_event_names_the_session() {
        let event = b"event: endpoint\ndata: /message?sessionId=0123abcd\n\n";
        assert_eq!(announced_session(event), Some("0123abcd".to_owned()));
        assert_eq!(announced_session(b": keep-alive\n\n"), None);
    }
}
