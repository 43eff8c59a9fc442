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
//!   error with `500`, so the manager leaves its refusal in the request's [`RefusalSlot`] and
//!   [`answer_refusals`] answers it. In-memory sessions (rmcp's manager) are not counted.
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
};

use axum::{extract::Request, middleware::Next, response::Response};
use http::{HeaderValue, Method, StatusCode, header, request::Parts};
use rmcp::{ErrorData, model::Extensions};

use crate::{
    config::SessionLimits,
    mcp::{
        classify::{Era, RequestClass},
        jsonrpc_body::error_response,
    },
    ops::degraded::RETRY_AFTER_SECONDS,
    store::{SessionAdmission, SessionCaps},
};

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
pub(crate) struct RefusalSlot(OnceLock<Refused>);

impl RefusalSlot {
    /// The slot of the request whose JSON-RPC message has `extensions`, if it has one.
    pub(crate) fn from_extensions(extensions: &Extensions) -> Option<Arc<Self>> {
        extensions
            .get::<Parts>()
            .and_then(|parts| parts.extensions.get::<Arc<Self>>())
            .cloned()
    }

    /// Records why the session was not created.
    pub(crate) fn refuse(&self, refused: Refused) {
        let _ = self.0.set(refused);
    }
}

/// axum middleware for `/mcp` with parked sessions: a request that may create a session (a
/// 2025-xx POST naming none) carries a [`RefusalSlot`]; when the session manager refused the
/// session over a cap, the answer is that refusal's `429` or `503` instead of rmcp's `500`.
pub(crate) async fn answer_refusals(mut request: Request, next: Next) -> Response {
    let class = RequestClass::from_request(&request);
    if request.method() != Method::POST || class.era() != Era::Session || class.session().is_some()
    {
        return next.run(request).await;
    }
    let slot = Arc::new(RefusalSlot::default());
    request.extensions_mut().insert(slot.clone());
    let response = next.run(request).await;
    match slot.0.get() {
        Some(refused) => refused.into_response(),
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
    /// The answer the client gets.
    pub(crate) fn into_response(self) -> Response {
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
        let mut response = error_response(status, None, error);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        response
    }
}

#[cfg(test)]
mod tests {
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
        let per_subject = Refused::Subject(2).into_response();
        assert_eq!(per_subject.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(per_subject.headers().get(header::RETRY_AFTER).is_none());
        let total = Refused::Total(2).into_response();
        assert_eq!(total.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(total.headers()[header::RETRY_AFTER], "5");
    }
}
