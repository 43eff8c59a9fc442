//! [`ThrottleStore`] in memory: the attempts of every key behind one lock, so a reservation
//! checks the budget and counts the attempt in one step.

use std::collections::HashMap;

use async_trait::async_trait;

use super::{MemoryStore, lock};
use crate::{
    StoreError,
    traits::{Admission, Allowance, Budget, Reservation, ThrottleStore},
};

/// Keys kept before a reservation first drops every key whose attempts have all expired.
const MAX_KEYS: usize = 100_000;

/// One counted attempt.
struct Attempt {
    id: i64,
    expires_at: i64,
}

/// The attempts of every key, and the next attempt's id.
#[derive(Default)]
pub(super) struct Attempts {
    by_key: HashMap<String, Vec<Attempt>>,
    last_id: i64,
}

impl Attempts {
    /// The live attempts of `key` at `now` (the expired ones forgotten), after dropping every
    /// key whose attempts have all expired when [`MAX_KEYS`] are kept.
    fn live(&mut self, key: &str, now: i64) -> &mut Vec<Attempt> {
        if self.by_key.len() >= MAX_KEYS {
            self.by_key.retain(|_, live| {
                live.retain(|a| a.expires_at > now);
                !live.is_empty()
            });
        }
        let live = self.by_key.entry(key.to_owned()).or_default();
        live.retain(|a| a.expires_at > now);
        live
    }
}

/// When a budget of `allowed` attempts has room again, given its `live` attempts (at least
/// `allowed`): when all but `allowed - 1` of them have expired.
fn frees_at(live: &[Attempt], allowed: usize) -> Option<i64> {
    let mut expiries: Vec<i64> = live.iter().map(|a| a.expires_at).collect();
    expiries.sort_unstable();
    expiries.get(live.len() - allowed).copied()
}

#[async_trait]
impl ThrottleStore for MemoryStore {
    async fn reserve(&self, key: &str, budget: Budget, now: i64) -> Result<Admission, StoreError> {
        let mut attempts = lock(&self.throttles);
        attempts.last_id += 1;
        let id = attempts.last_id;
        let live = attempts.live(key, now);
        let allowed = usize::try_from(budget.attempts).unwrap_or(usize::MAX);
        let expires_at = now.saturating_add(budget.window_seconds());
        if live.len() >= allowed {
            let frees_at = frees_at(live, allowed).unwrap_or(expires_at);
            return Ok(Admission::refused_until(frees_at, now));
        }
        live.push(Attempt { id, expires_at });
        let remaining = u32::try_from(allowed - live.len()).unwrap_or(u32::MAX);
        Ok(Admission::Reserved(Reservation {
            key: key.to_owned(),
            id,
            remaining,
        }))
    }

    async fn reserve_many(
        &self,
        key: &str,
        budget: Budget,
        count: u32,
        now: i64,
    ) -> Result<Allowance, StoreError> {
        let mut guard = lock(&self.throttles);
        let attempts = &mut *guard;
        let allowed = usize::try_from(budget.attempts).unwrap_or(usize::MAX);
        let expires_at = now.saturating_add(budget.window_seconds());
        let room = allowed.saturating_sub(attempts.live(key, now).len());
        if room == 0 {
            let live = attempts.live(key, now);
            let frees_at = frees_at(live, allowed).unwrap_or(expires_at);
            return Ok(Allowance::refused_until(frees_at, now));
        }
        let granted = room.min(usize::try_from(count.max(1)).unwrap_or(usize::MAX));
        let first_id = attempts.last_id + 1;
        attempts.last_id += i64::try_from(granted).unwrap_or(i64::MAX);
        let live = attempts.live(key, now);
        live.extend((0..granted).map(|n| Attempt {
            id: first_id + i64::try_from(n).unwrap_or(0),
            expires_at,
        }));
        Ok(Allowance::Granted {
            granted: u32::try_from(granted).unwrap_or(u32::MAX),
        })
    }

    async fn release(&self, reservation: &Reservation) -> Result<(), StoreError> {
        let mut attempts = lock(&self.throttles);
        if let Some(live) = attempts.by_key.get_mut(&reservation.key) {
            live.retain(|a| a.id != reservation.id);
        }
        Ok(())
    }

    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        let mut attempts = lock(&self.throttles);
        let mut removed = 0;
        attempts.by_key.retain(|_, live| {
            let before = live.len();
            live.retain(|a| a.expires_at > now);
            removed += (before - live.len()) as u64;
            !live.is_empty()
        });
        Ok(removed)
    }
}
