//! Caps on sessions ([`SessionLimits`]): in total, and per subject (the access token's `sub`),
//! so that one client cannot hold every slot.
//!
//! Two kinds of session count:
//!
//! - each open 2024-11-05 `/sse` stream, which holds memory and a connection on its instance:
//!   counted per instance ([`OpenSessions`]);
//! - each live parked Streamable HTTP session (2025-03-26 … 2025-11-25), a record any instance
//!   serves: counted in the store, across instances, by the session manager when it creates
//!   the record (`McpSessionStore::create_counted`, per owner and in total, atomically). A
//!   `DELETE` or the record's idle expiry gives the slot back. rmcp answers a session manager's
//!   error with `500` (and an ERROR log line), so the manager leaves its refusal in the
//!   request's [`RefusalSlot`] and [`answer_refusals`] answers it — and so too a store that
//!   did not answer, which gets degraded mode's `503` (`ops::degraded`). In-memory sessions
//!   (rmcp's manager) are not counted.
//!
//! A client at a cap usually asks again at once. For [`REFUSAL_MEMORY`] after a refusal, this
//! instance answers the same subject's `initialize` (any subject's, for the total cap) itself,
//! before rmcp: the handshake does not run again, and rmcp logs at most one ERROR line per
//! subject and second instead of one per attempt. A session ended here (`DELETE`) clears
//! what its end changes at once; a slot freed on another instance, or by an idle expiry, is
//! taken at most that long later.
//!
//! A session over a cap is refused before anything is kept for it, with a JSON-RPC error body
//! (`-32603`, as for the other refusals at the edge: `ops::degraded`) whose `data` names the
//! reason and the cap:
//!
//! - per subject: `429 Too Many Requests` — the client's own sessions fill its share; it must
//!   end one (no `Retry-After`: waiting does not help);
//! - in total: `503 Service Unavailable` with `Retry-After: 5` — the server is full; a load
//!   balancer or the client may try again, or elsewhere.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock, PoisonError},
    time::{Duration, Instant},
};

use axum::{
    body::Body,
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http::{Method, StatusCode, request::Parts};
use rmcp::{
    ErrorData,
    model::{Extensions, RequestId},
};

use crate::{
    auth::resource::identity::Identity,
    config::SessionLimits,
    http::body_read::read_limited,
    mcp::{
        classify::{Era, RequestClass},
        fast_path::content_type_is_json,
        jsonrpc_body::{error_response, is_initialize, request_id_of},
    },
    ops::degraded::{RETRY_AFTER_SECONDS, retry_after_response, store_unavailable_for},
    store::{SessionAdmission, SessionCaps},
};

/// How long a session refusal is answered here before rmcp sees the request again.
pub(crate) const REFUSAL_MEMORY: Duration = Duration::from_secs(1);

/// The sessions open on this instance, against the caps.
#[derive(Debug)]
pub(crate) struct OpenSessions {
    limits: SessionLimits,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_subject: HashMap<String, usize>,
}

/// One admitted session; dropping it frees its slot.
#[derive(Debug)]
pub(crate) struct SessionPermit {
    sessions: Arc<OpenSessions>,
    subject: Option<String>,
}

/// Why a session was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refused {
    /// The instance (or, for parked sessions, the store) holds
    /// [`SessionLimits::max_sessions`].
    #[error("the server holds as many sessions as it may ({0})")]
    Total(usize),
    /// The subject holds [`SessionLimits::max_sessions_per_subject`].
    #[error("the subject holds as many sessions as it may ({0})")]
    Subject(usize),
}

impl Refused {
    /// Why the store did not create a session under `limits`; `None` when it did.
    pub(crate) fn from_admission(
        admission: SessionAdmission,
        limits: SessionLimits,
    ) -> Option<Self> {
        match admission {
            SessionAdmission::Created => None,
            SessionAdmission::OwnerAtCap => Some(Refused::Subject(limits.max_sessions_per_subject)),
            SessionAdmission::StoreAtCap => Some(Refused::Total(limits.max_sessions)),
        }
    }
}

/// `limits` as the store counts them.
pub(crate) fn store_caps(limits: SessionLimits) -> SessionCaps {
    let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    SessionCaps {
        per_owner: count(limits.max_sessions_per_subject),
        total: count(limits.max_sessions),
    }
}

/// Where the session manager leaves why it did not create a session, for [`answer_refusals`]
/// to answer (rmcp turns the manager's error into a `500`). It rides in the extensions of a
/// request that may create a session; rmcp hands the manager those extensions as `Parts`.
#[derive(Debug, Default)]
pub(crate) struct RefusalSlot(OnceLock<NotCreated>);

/// Why the session manager created no session.
#[derive(Debug, Clone)]
pub(crate) enum NotCreated {
    /// A session cap.
    Refused(Refused),
    /// The store did not answer (why, for the log): `503` as in degraded mode, not
    /// remembered — the next attempt asks the store again.
    StoreUnavailable(String),
}

impl RefusalSlot {
    /// The slot of the request whose JSON-RPC message has `extensions`, if it has one.
    pub(crate) fn from_extensions(extensions: &Extensions) -> Option<Arc<Self>> {
        extensions
            .get::<Parts>()
            .and_then(|parts| parts.extensions.get::<Arc<Self>>())
            .cloned()
    }

    /// Records why the session was not created.
    pub(crate) fn refuse(&self, why: NotCreated) {
        let _ = self.0.set(why);
    }
}

/// The session refusals of the last [`REFUSAL_MEMORY`], answered by [`answer_refusals`]
/// without rmcp; it reads `initialize` bodies of up to `max_body` bytes.
#[derive(Debug)]
pub(crate) struct RecentRefusals {
    max_body: usize,
    recent: Mutex<Recent>,
}

#[derive(Debug, Default)]
struct Recent {
    /// The total cap's refusal, and until when it is repeated.
    total: Option<(Refused, Instant)>,
    /// Each subject's refusal, and until when it is repeated.
    by_subject: HashMap<String, (Refused, Instant)>,
}

impl RecentRefusals {
    /// None yet, for bodies of up to `max_body` bytes.
    pub(crate) fn new(max_body: usize) -> Arc<Self> {
        Arc::new(Self {
            max_body,
            recent: Mutex::default(),
        })
    }

    /// The refusal to repeat to `subject` at `now`, if one is fresh.
    fn recall(&self, subject: Option<&str>, now: Instant) -> Option<Refused> {
        let recent = self.lock();
        let fresh = |(refused, until): &(Refused, Instant)| (now < *until).then_some(*refused);
        recent.total.as_ref().and_then(fresh).or_else(|| {
            subject
                .and_then(|subject| recent.by_subject.get(subject))
                .and_then(fresh)
        })
    }

    /// Repeats `refused`, given to `subject` at `now`, for [`REFUSAL_MEMORY`].
    fn remember(&self, subject: Option<&str>, refused: Refused, now: Instant) {
        let until = now + REFUSAL_MEMORY;
        let mut recent = self.lock();
        recent.by_subject.retain(|_, (_, until)| now < *until);
        match (refused, subject) {
            (Refused::Total(_), _) => recent.total = Some((refused, until)),
            (Refused::Subject(_), Some(subject)) => {
                recent
                    .by_subject
                    .insert(subject.to_owned(), (refused, until));
            }
            (Refused::Subject(_), None) => {}
        }
    }

    /// Forgets the refusals a session of `subject` that just ended makes stale: the total's,
    /// and the subject's own.
    fn forget(&self, subject: Option<&str>) {
        let mut recent = self.lock();
        recent.total = None;
        if let Some(subject) = subject {
            recent.by_subject.remove(subject);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recent> {
        // Every statement leaves the map consistent: a panic elsewhere cannot corrupt it.
        self.recent.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// axum middleware for `/mcp` with parked sessions: a request that may create a session (a
/// 2025-xx JSON POST naming none) carries a [`RefusalSlot`]; when the session manager refused
/// the session over a cap, the answer is that refusal's `429` or `503` instead of rmcp's
/// `500`, with the request's id, and the refusal is repeated to the same subject's
/// `initialize` for [`REFUSAL_MEMORY`] without asking rmcp, unless a `DELETE` passing here
/// ends a session first. Runs behind the JSON-RPC body check, which has read the body whole,
/// and in front of the `DELETE` answers.
pub(crate) async fn answer_refusals(
    State(refusals): State<Arc<RecentRefusals>>,
    request: Request,
    next: Next,
) -> Response {
    let class = RequestClass::from_request(&request);
    let subject_of = |request: &Request| {
        request
            .extensions()
            .get::<Arc<Identity>>()
            .map(|identity| identity.subject.clone())
    };
    if request.method() == Method::DELETE && class.session().is_some() {
        let subject = subject_of(&request);
        let response = next.run(request).await;
        if response.status().is_success() {
            refusals.forget(subject.as_deref());
        }
        return response;
    }
    if request.method() != Method::POST
        || class.era() != Era::Session
        || class.session().is_some()
        || !content_type_is_json(request.headers())
    {
        return next.run(request).await;
    }
    let subject = subject_of(&request);
    let (mut parts, body) = request.into_parts();
    let body = match read_limited(&parts.headers, body, refusals.max_body).await {
        Ok(body) => body,
        Err(error) => return error.into_response(),
    };
    let id = request_id_of(&body);
    if is_initialize(&body)
        && let Some(refused) = refusals.recall(subject.as_deref(), Instant::now())
    {
        return refused.into_response_for(id.as_ref());
    }
    let slot = Arc::new(RefusalSlot::default());
    parts.extensions.insert(slot.clone());
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    match slot.0.get() {
        Some(NotCreated::Refused(refused)) => {
            refusals.remember(subject.as_deref(), *refused, Instant::now());
            refused.into_response_for(id.as_ref())
        }
        Some(NotCreated::StoreUnavailable(why)) => store_unavailable_for(id.as_ref(), why),
        None => response,
    }
}

impl OpenSessions {
    /// No session open yet, under `limits`.
    pub(crate) fn new(limits: SessionLimits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            counts: Mutex::default(),
        })
    }

    /// A slot for one more session of `subject` (`None` without authentication: only the
    /// total applies), or why not.
    pub(crate) fn admit(self: &Arc<Self>, subject: Option<&str>) -> Result<SessionPermit, Refused> {
        let mut counts = self.lock();
        if counts.total >= self.limits.max_sessions {
            return Err(Refused::Total(self.limits.max_sessions));
        }
        if let Some(subject) = subject {
            let held = counts.by_subject.entry(subject.to_owned()).or_default();
            if *held >= self.limits.max_sessions_per_subject {
                return Err(Refused::Subject(self.limits.max_sessions_per_subject));
            }
            *held += 1;
        }
        counts.total += 1;
        Ok(SessionPermit {
            sessions: self.clone(),
            subject: subject.map(str::to_owned),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        // Every statement leaves the counts consistent: a panic elsewhere cannot corrupt them.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for SessionPermit {
    fn drop(&mut self) {
        let mut counts = self.sessions.lock();
        counts.total = counts.total.saturating_sub(1);
        if let Some(subject) = &self.subject
            && let Some(held) = counts.by_subject.get_mut(subject)
        {
            *held = held.saturating_sub(1);
            if *held == 0 {
                counts.by_subject.remove(subject);
            }
        }
    }
}

impl Refused {
    /// The answer the client gets for its request `id`.
    pub(crate) fn into_response_for(self, id: Option<&RequestId>) -> Response {
        let (status, message, reason, limit) = match self {
            Refused::Subject(limit) => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many open sessions for this user: end one before opening another",
                "too_many_sessions",
                limit,
            ),
            Refused::Total(limit) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Service temporarily unavailable: this server holds as many sessions as it may; \
                 retry in a few seconds",
                "session_capacity",
                limit,
            ),
        };
        let error = ErrorData::internal_error(
            message,
            Some(serde_json::json!({ "reason": reason, "limit": limit })),
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            return retry_after_response(status, id, RETRY_AFTER_SECONDS, error);
        }
        error_response(status, id, error)
    }
}

#[cfg(test)]
mod tests {
    use http::header;

    use super::*;

    fn limits(max_sessions: usize, max_sessions_per_subject: usize) -> SessionLimits {
        SessionLimits {
            max_sessions,
            max_sessions_per_subject,
        }
    }

    #[test]
    fn a_subject_gets_its_share_and_a_freed_slot_back() {
        let sessions = OpenSessions::new(limits(10, 2));
        let first = sessions.admit(Some("alice")).expect("first");
        let _second = sessions.admit(Some("alice")).expect("second");
        assert_eq!(
            sessions.admit(Some("alice")).map(drop),
            Err(Refused::Subject(2))
        );
        let _bob = sessions.admit(Some("bob")).expect("another subject");
        drop(first);
        sessions.admit(Some("alice")).expect("a freed slot");
    }

    #[test]
    fn the_total_holds_with_and_without_subjects() {
        let sessions = OpenSessions::new(limits(2, 5));
        let _anonymous = sessions.admit(None).expect("first");
        let _alice = sessions.admit(Some("alice")).expect("second");
        assert_eq!(sessions.admit(None).map(drop), Err(Refused::Total(2)));
        assert_eq!(
            sessions.admit(Some("bob")).map(drop),
            Err(Refused::Total(2))
        );
    }

    #[test]
    fn refusals_answer_429_or_503_with_a_jsonrpc_error() {
        let per_subject = Refused::Subject(2).into_response_for(None);
        assert_eq!(per_subject.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(per_subject.headers().get(header::RETRY_AFTER).is_none());
        let total = Refused::Total(2).into_response_for(None);
        assert_eq!(total.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(total.headers()[header::RETRY_AFTER], "5");
    }

    #[test]
    fn a_refusal_is_repeated_to_its_subject_for_a_moment() {
        let recent = RecentRefusals::new(1024);
        let now = Instant::now();
        recent.remember(Some("alice"), Refused::Subject(2), now);
        assert_eq!(recent.recall(Some("alice"), now), Some(Refused::Subject(2)));
        assert_eq!(recent.recall(Some("bob"), now), None, "another subject");
        assert_eq!(recent.recall(None, now), None, "no subject");
        let later = now + REFUSAL_MEMORY;
        assert_eq!(recent.recall(Some("alice"), later), None, "forgotten");
    }

    #[test]
    fn a_session_ended_here_clears_what_it_frees() {
        let recent = RecentRefusals::new(1024);
        let now = Instant::now();
        recent.remember(Some("alice"), Refused::Subject(2), now);
        recent.remember(Some("bob"), Refused::Subject(2), now);
        recent.remember(Some("carol"), Refused::Total(9), now);
        recent.forget(Some("alice"));
        assert_eq!(recent.recall(Some("alice"), now), None);
        assert_eq!(recent.recall(Some("bob"), now), Some(Refused::Subject(2)));
        assert_eq!(
            recent.recall(Some("carol"), now),
            None,
            "a slot in all is free"
        );
    }

    #[test]
    fn a_full_server_is_repeated_to_everyone_for_a_moment() {
        let recent = RecentRefusals::new(1024);
        let now = Instant::now();
        recent.remember(None, Refused::Total(5), now);
        assert_eq!(recent.recall(Some("bob"), now), Some(Refused::Total(5)));
        assert_eq!(recent.recall(None, now), Some(Refused::Total(5)));
        assert_eq!(recent.recall(None, now + REFUSAL_MEMORY), None);
    }
}
