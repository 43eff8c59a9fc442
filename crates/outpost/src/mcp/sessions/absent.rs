//! Session ids the store has just said it does not hold.
//!
//! A request naming a session looks it up more than once: the fast path's inline attempt, then,
//! when that leaves the request to rmcp, the edge's and rmcp's own checks. For a live session
//! the later looks reuse the record the first one read; [`AbsentIds`] does the same for an id
//! with no session, so a request naming an unknown or ended session reads the store once, not
//! two or three times (a client sending made-up ids gets no more store reads than requests).
//!
//! An absent id is not about to appear: ids are random, a session's record is stored before
//! its id is given to the client, and an ended session's id is never used again. So the answer
//! is kept for [`ABSENT_FOR`], for at most [`MOST_ABSENT`] ids (past that, the oldest half of
//! the window is forgotten: only reads are lost, never an answer).

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use rmcp::transport::streamable_http_server::SessionId;

/// How long the store's "no such session" is reused.
pub(super) const ABSENT_FOR: Duration = Duration::from_secs(1);
/// The most ids remembered at once.
pub(super) const MOST_ABSENT: usize = 4096;

/// Ids the store did not hold, and when it said so.
#[derive(Default)]
pub(super) struct AbsentIds {
    ids: Mutex<HashMap<SessionId, Instant>>,
}

impl AbsentIds {
    /// Whether the store said within [`ABSENT_FOR`] before `now` that it holds no session `id`.
    pub(super) fn recently(&self, id: &SessionId, now: Instant) -> bool {
        let ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        ids.get(id)
            .is_some_and(|said| now.saturating_duration_since(*said) < ABSENT_FOR)
    }

    /// Remembers that the store held no session `id` at `now`.
    pub(super) fn remember(&self, id: &SessionId, now: Instant) {
        let mut ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        if ids.len() >= MOST_ABSENT {
            ids.retain(|_, said| now.saturating_duration_since(*said) < ABSENT_FOR / 2);
        }
        if ids.len() < MOST_ABSENT {
            ids.insert(id.clone(), now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: usize) -> SessionId {
        SessionId::from(format!("session-{n}"))
    }

    #[test]
    fn an_absent_id_is_remembered_for_a_second() {
        let absent = AbsentIds::default();
        let now = Instant::now();
        assert!(!absent.recently(&id(1), now));
        absent.remember(&id(1), now);
        assert!(absent.recently(&id(1), now + ABSENT_FOR / 2));
        assert!(!absent.recently(&id(1), now + ABSENT_FOR));
        assert!(!absent.recently(&id(2), now));
    }

    #[test]
    fn a_full_set_forgets_the_older_half_of_the_window() {
        let absent = AbsentIds::default();
        let start = Instant::now();
        for n in 0..MOST_ABSENT {
            absent.remember(&id(n), start);
        }
        let later = start + ABSENT_FOR * 3 / 4;
        absent.remember(&id(MOST_ABSENT), later);
        assert!(absent.recently(&id(MOST_ABSENT), later));
        assert!(!absent.recently(&id(0), later));
    }
}
