//! [`ThrottleStore`]: the one primitive behind every rate limit, so that the limits hold across
//! every instance that shares the store.
//!
//! A limit is a [`Budget`] — at most so many attempts per key in a sliding window — and the
//! only way to make an attempt is to [`reserve`](ThrottleStore::reserve) one: atomically,
//! the attempt is counted when the budget has room and refused otherwise, so a concurrent
//! burst of N attempts against a budget of B is granted exactly B (checking first and counting
//! after would let the whole burst through). An attempt that turns out not to count (a
//! correct password, a successful token request) is given back with
//! [`release`](ThrottleStore::release); one that counts stays until its window ends.
//!
//! A caller that counts many attempts per key — a request rate on `/mcp` — takes them in
//! batches with [`reserve_many`](ThrottleStore::reserve_many): one round trip counts up to N
//! attempts, which the caller then spends locally, so the budget holds across instances
//! without a store call per attempt.
//!
//! Keys are opaque strings that the caller builds (`login:account:alice`); the store knows
//! nothing of their meaning.

use std::time::Duration;

use async_trait::async_trait;

use crate::StoreError;

/// At most `attempts` per key in any `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Attempts allowed in the window.
    pub attempts: u32,
    /// How long an attempt counts.
    pub window: Duration,
}

impl Budget {
    /// `attempts` per `window`.
    pub const fn new(attempts: u32, window: Duration) -> Self {
        Self { attempts, window }
    }

    /// The window in whole seconds, as stored times are.
    pub fn window_seconds(&self) -> i64 {
        i64::try_from(self.window.as_secs()).unwrap_or(i64::MAX)
    }
}

/// One attempt counted against a budget ([`Admission::Reserved`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// The key it is counted under.
    pub key: String,
    /// Which attempt: unique in the backend, never reused.
    pub id: i64,
    /// How many more attempts the budget allowed, this one counted.
    pub remaining: u32,
}

/// The answer to [`ThrottleStore::reserve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// The attempt is counted; give it back with [`ThrottleStore::release`] if it should not
    /// count.
    Reserved(Reservation),
    /// The budget is spent: the next attempt is possible in `retry_after` seconds (at least 1).
    Refused {
        /// Seconds until the budget has room again.
        retry_after: u64,
    },
}

impl Admission {
    /// The refusal of a budget that has room again at `frees_at`, seen at `now`: what every
    /// backend answers, so `retry_after` is at least one second.
    pub fn refused_until(frees_at: i64, now: i64) -> Self {
        let seconds = u64::try_from(frees_at.saturating_sub(now)).unwrap_or(0);
        Self::Refused {
            retry_after: seconds.max(1),
        }
    }
}

/// The answer to [`ThrottleStore::reserve_many`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowance {
    /// `granted` attempts (at least one, at most the count asked for) are counted until the
    /// window ends; they are not given back.
    Granted {
        /// How many attempts were counted.
        granted: u32,
    },
    /// The budget is spent: the next attempt is possible in `retry_after` seconds (at least 1).
    Refused {
        /// Seconds until the budget has room again.
        retry_after: u64,
    },
}

impl Allowance {
    /// The refusal of a budget that has room again at `frees_at`, seen at `now` (as
    /// [`Admission::refused_until`]).
    pub fn refused_until(frees_at: i64, now: i64) -> Self {
        match Admission::refused_until(frees_at, now) {
            Admission::Refused { retry_after } => Self::Refused { retry_after },
            Admission::Reserved(_) => unreachable!("refused_until always refuses"),
        }
    }
}

/// Attempts per key in sliding windows.
#[async_trait]
pub trait ThrottleStore: Send + Sync {
    /// Counts one attempt under `key` at `now`, until `now` + the budget's window, if fewer
    /// than the budget's attempts are counted there at `now`; refuses otherwise. Atomic: of
    /// concurrent reservations for the last slot, exactly one is granted, across every
    /// instance sharing the store.
    async fn reserve(&self, key: &str, budget: Budget, now: i64) -> Result<Admission, StoreError>;
    /// Counts up to `count` attempts (at least one: a `count` of 0 counts as 1) under `key` at
    /// `now`, until `now` + the budget's window: as many as the budget has room for, refused
    /// when it has none. Atomic as [`reserve`](Self::reserve) is: concurrent batches never
    /// count more than the budget between them. The attempts counted are not released.
    async fn reserve_many(
        &self,
        key: &str,
        budget: Budget,
        count: u32,
        now: i64,
    ) -> Result<Allowance, StoreError>;
    /// Gives an attempt back: it no longer counts. Releasing an attempt that is gone (released
    /// already, or past its window and purged) does nothing.
    async fn release(&self, reservation: &Reservation) -> Result<(), StoreError>;
    /// Forgets the attempts whose window has ended at `now`; returns how many.
    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError>;
}
