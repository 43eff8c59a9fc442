//! Caps on the sessions one instance holds open ([`SessionLimits`]): in total, and per
//! subject (the access token's `sub`), so that one client cannot hold every slot.
//!
//! What counts is what holds memory and a connection here: each open 2024-11-05 `/sse`
//! stream. A session over the cap is refused before anything is made for it, with a JSON-RPC
//! error body (`-32603`, as for the other refusals at the edge: `ops::degraded`) whose `data`
//! names the reason and the cap:
//!
//! - per subject: `429 Too Many Requests` — the client's own sessions fill its share; it must
//!   end one (no `Retry-After`: waiting does not help);
//! - in total: `503 Service Unavailable` with `Retry-After: 5` — this instance is full; a load
//!   balancer or the client may try again, or elsewhere.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use rmcp::ErrorData;

use crate::{
    config::SessionLimits, mcp::jsonrpc_body::error_response, ops::degraded::RETRY_AFTER_SECONDS,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The instance holds [`SessionLimits::max_sessions`].
    Total(usize),
    /// The subject holds [`SessionLimits::max_sessions_per_subject`].
    Subject(usize),
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
