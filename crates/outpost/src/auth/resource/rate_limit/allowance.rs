//! Local allowances: permits taken from the store's budget in batches and spent here, so a
//! request under its limit waits on the store about once per batch, not once per request.
//!
//! A batch lives one clock second (the second it was reserved in): the store counts the
//! permits at that second, so spending them later could let more requests through in a later
//! window than the budget allows. Within a second the batch doubles with each refill (1, 2,
//! 4, …, up to [`Rate::largest_batch`]): a principal seen once takes one permit, a busy one
//! takes a tenth of its per-second rate at a time, and an instance never holds back more than
//! that from the others.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError, RwLock},
};

use super::rate::Rate;
use crate::{
    ops::degraded::bounded,
    store::{Allowance, ThrottleStore},
};

/// Principals kept before new ones first drop those idle for more than a second.
const CAPACITY: usize = 100_000;

/// What one principal's allowance says about one more request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Take {
    /// A permit was spent: the request goes on.
    Taken,
    /// The budget is spent: retry after so many seconds.
    Refused(u64),
    /// No permit here: the store must be asked ([`Allowances::ask`]).
    Ask,
}

/// The allowances of one limit (per subject, or per client), by principal.
pub(super) struct Allowances {
    rate: Rate,
    /// Prefix of the store's throttle keys: `mcp-rate:subject:`.
    key_prefix: &'static str,
    by_principal: RwLock<HashMap<Box<str>, Arc<LocalAllowance>>>,
}

/// One principal's permits.
#[derive(Default)]
struct LocalAllowance {
    state: Mutex<State>,
    /// Held while the store is asked, so one request per principal asks at a time.
    refill: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    /// The unix second the permits were reserved in (and are good for).
    second: i64,
    /// Permits left.
    permits: u32,
    /// The size of the last batch taken in `second`.
    batch: u32,
    /// Unix second until which the store refused: requests are refused here till then.
    refused_until: i64,
}

impl State {
    fn take(&mut self, now: i64) -> Take {
        if now < self.refused_until {
            return Take::Refused(u64::try_from(self.refused_until - now).unwrap_or(1));
        }
        if self.second == now && self.permits > 0 {
            self.permits -= 1;
            return Take::Taken;
        }
        Take::Ask
    }
}

impl Allowances {
    /// Allowances for `rate`, counted in the store under `key_prefix` + the principal.
    pub(super) fn new(rate: Rate, key_prefix: &'static str) -> Self {
        Self {
            rate,
            key_prefix,
            by_principal: RwLock::default(),
        }
    }

    /// The rate these allowances enforce.
    pub(super) fn rate(&self) -> Rate {
        self.rate
    }

    /// Spends a local permit of `principal` at `now`, if there is one: no await.
    pub(super) fn take(&self, principal: &str, now: i64) -> Take {
        let allowances = self
            .by_principal
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        match allowances.get(principal) {
            Some(allowance) => lock(&allowance.state).take(now),
            None => Take::Ask,
        }
    }

    /// Spends a permit of `principal`, asking `store` for a batch when there is none here:
    /// `Err(retry_after)` when the budget is spent. When the store does not answer the
    /// request goes through (a limit is a protection, not an authorization: an outage of the
    /// store must not take `/mcp` down with it), on a batch good for this second.
    pub(super) async fn ask(
        &self,
        principal: &str,
        store: &dyn ThrottleStore,
        now: impl Fn() -> i64,
    ) -> Result<(), u64> {
        let allowance = self.allowance(principal, now());
        let _turn = allowance.refill.lock().await;
        let now = now();
        let batch = {
            let mut state = lock(&allowance.state);
            let batch = match state.take(now) {
                Take::Taken => return Ok(()),
                Take::Refused(retry_after) => return Err(retry_after),
                Take::Ask if state.second == now => {
                    state.batch.saturating_mul(2).min(self.rate.largest_batch())
                }
                Take::Ask => 1,
            };
            batch.max(1)
        };
        let key = format!("{}{principal}", self.key_prefix);
        let granted = match bounded(store.reserve_many(&key, self.rate.budget(), batch, now)).await
        {
            Ok(Allowance::Granted { granted }) => granted,
            Ok(Allowance::Refused { retry_after }) => {
                lock(&allowance.state).refused_until =
                    now.saturating_add(i64::try_from(retry_after).unwrap_or(i64::MAX));
                return Err(retry_after);
            }
            Err(error) => {
                tracing::warn!(
                    %error,
                    limit = %self.rate,
                    "request limit not checked: the store did not answer; letting the request through"
                );
                batch
            }
        };
        let mut state = lock(&allowance.state);
        *state = State {
            second: now,
            permits: granted.saturating_sub(1),
            batch,
            refused_until: 0,
        };
        Ok(())
    }

    /// The allowance of `principal`, made if it has none; when [`CAPACITY`] principals are
    /// kept, those idle since before `now - 1` and not in use are dropped first.
    fn allowance(&self, principal: &str, now: i64) -> Arc<LocalAllowance> {
        if let Some(allowance) = self
            .by_principal
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(principal)
        {
            return allowance.clone();
        }
        let mut allowances = self
            .by_principal
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if allowances.len() >= CAPACITY {
            allowances.retain(|_, allowance| {
                let state = lock(&allowance.state);
                Arc::strong_count(allowance) > 1
                    || state.second >= now - 1
                    || state.refused_until > now
            });
        }
        allowances.entry(principal.into()).or_default().clone()
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::{num::NonZeroU32, sync::Arc};

    use super::*;
    use crate::store::Store;

    const NOW: i64 = 1_800_000_000;

    fn rate(per_second: u32) -> Rate {
        Rate::per_second(NonZeroU32::new(per_second).unwrap())
    }

    #[tokio::test]
    async fn batches_double_within_a_second_and_the_budget_holds() {
        let store = Store::memory();
        let allowances = Allowances::new(rate(50), "test:");
        assert_eq!(allowances.take("alice", NOW), Take::Ask);
        let mut asked = 0;
        let mut granted = 0;
        for _ in 0..60 {
            match allowances.take("alice", NOW) {
                Take::Taken => granted += 1,
                Take::Ask => {
                    asked += 1;
                    if allowances
                        .ask("alice", store.throttles.as_ref(), || NOW)
                        .await
                        .is_ok()
                    {
                        granted += 1;
                    }
                }
                Take::Refused(retry_after) => assert_eq!(retry_after, 1),
            }
        }
        assert_eq!(granted, 50, "exactly the budget in one second");
        // 1 + 2 + 4 + 5 × 8 + 3 (the last batch, cut to the room left) = 50, then one refusal.
        assert_eq!(asked, 13, "a store call per batch, not per request");
        assert_eq!(allowances.take("alice", NOW), Take::Refused(1));
        assert_eq!(allowances.take("bob", NOW), Take::Ask, "per principal");
        assert!(
            allowances
                .ask("alice", store.throttles.as_ref(), || NOW + 1)
                .await
                .is_ok(),
            "the next second has room again"
        );
    }

    #[tokio::test]
    async fn permits_do_not_outlive_their_second() {
        let store = Store::memory();
        let allowances = Allowances::new(rate(100), "test:");
        allowances
            .ask("alice", store.throttles.as_ref(), || NOW)
            .await
            .unwrap();
        allowances
            .ask("alice", store.throttles.as_ref(), || NOW)
            .await
            .unwrap();
        assert_eq!(allowances.take("alice", NOW), Take::Taken);
        assert_eq!(allowances.take("alice", NOW + 1), Take::Ask);
    }

    #[tokio::test]
    async fn a_store_that_fails_lets_requests_through() {
        let (store, switch) = crate::store::outage::switchable(Store::memory());
        switch.refuse();
        let allowances = Allowances::new(rate(1), "test:");
        let throttles = Arc::clone(&store.throttles);
        for _ in 0..3 {
            assert!(
                allowances
                    .ask("alice", throttles.as_ref(), || NOW)
                    .await
                    .is_ok()
            );
        }
    }
}
