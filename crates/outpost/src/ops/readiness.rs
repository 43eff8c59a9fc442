//! Whether the server's dependencies answer: what `GET /ready` reports and `GET /health`
//! repeats.
//!
//! Today the one dependency is the store (when the server has one), asked through
//! [`StoreHealth::check`] and bounded by [`PROBE_TIMEOUT`], so a probe never hangs on a store
//! that stalls. [`Readiness::probe`] asks now (what `/ready` does on every request: a load
//! balancer sees the store's state of this moment) and remembers the result;
//! [`Readiness::last_known`] answers at once from the last result and, when that is older than
//! [`HEALTH_MAX_AGE`], starts one probe in the background for the next caller (what `/health`
//! does: it does not wait for the store — but the first time, [`FIRST_HEALTH_WAIT`] at most —
//! so a liveness probe with a short timeout never kills a process whose only trouble is its
//! store).
//!
//! A failure's message is reported (it names what failed, not where to log in): any URL
//! userinfo in it is masked, in case a backend's error quotes its connection URL.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use serde::Serialize;

use crate::store::{StoreError, StoreHealth};

/// The longest one probe of the store may take; no answer by then is "down".
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How old the last result may be before `/health` starts a fresh probe.
pub const HEALTH_MAX_AGE: Duration = Duration::from_secs(1);
/// How long the first `/health` after start waits for the first probe: well within the
/// shortest liveness-probe timeouts (Kubernetes' default is a second).
pub const FIRST_HEALTH_WAIT: Duration = Duration::from_millis(500);

/// The name of the store in the reports.
const STORE: &str = "store";

/// What one dependency answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum DependencyState {
    /// It answered.
    Up,
    /// It failed or did not answer in time.
    Down {
        /// What went wrong.
        error: String,
    },
    /// Not asked yet (`/health` before the first probe has finished).
    Unknown,
}

/// Every dependency by name, as last seen.
pub type Dependencies = BTreeMap<&'static str, DependencyState>;

/// The server's dependencies, and what they answered last.
pub struct Readiness {
    store: Option<Arc<dyn StoreHealth>>,
    last: Mutex<Option<(Instant, Dependencies)>>,
    probing: AtomicBool,
}

impl Readiness {
    /// Readiness of a server whose one dependency is `store` (none without a store).
    pub fn new(store: Option<Arc<dyn StoreHealth>>) -> Self {
        Self {
            store,
            last: Mutex::new(None),
            probing: AtomicBool::new(false),
        }
    }

    /// Asks every dependency now, each within [`PROBE_TIMEOUT`], and remembers the answers.
    pub async fn probe(&self) -> Dependencies {
        let mut dependencies = Dependencies::new();
        if let Some(store) = &self.store {
            let state = match tokio::time::timeout(PROBE_TIMEOUT, store.check()).await {
                Ok(Ok(())) => DependencyState::Up,
                Ok(Err(error)) => DependencyState::Down {
                    error: describe(&error),
                },
                Err(_) => DependencyState::Down {
                    error: format!("no answer within {} s", PROBE_TIMEOUT.as_secs()),
                },
            };
            dependencies.insert(STORE, state);
        }
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((Instant::now(), dependencies.clone()));
        dependencies
    }

    /// The answers of the last probe; before the first one, a probe now, awaited for at most
    /// [`FIRST_HEALTH_WAIT`] (then [`DependencyState::Unknown`] as [`Self::last_known`]
    /// says), so that the first answer after start is not a guess when the store answers.
    pub async fn last_known_or_first(self: &Arc<Self>) -> Dependencies {
        let probed = self
            .last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        if !probed && let Ok(first) = tokio::time::timeout(FIRST_HEALTH_WAIT, self.probe()).await {
            return first;
        }
        self.last_known()
    }

    /// The answers of the last probe, at once; when they are older than [`HEALTH_MAX_AGE`]
    /// (or there are none yet), one probe starts in the background for later callers.
    /// Dependencies not probed yet are [`DependencyState::Unknown`].
    pub fn last_known(self: &Arc<Self>) -> Dependencies {
        let last = self
            .last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let fresh = last
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() < HEALTH_MAX_AGE);
        if !fresh && !self.probing.swap(true, Ordering::AcqRel) {
            let readiness = self.clone();
            tokio::spawn(async move {
                readiness.probe().await;
                readiness.probing.store(false, Ordering::Release);
            });
        }
        match last {
            Some((_, dependencies)) => dependencies,
            None => self
                .store
                .iter()
                .map(|_| (STORE, DependencyState::Unknown))
                .collect(),
        }
    }
}

/// Whether every dependency is up.
pub fn all_up(dependencies: &Dependencies) -> bool {
    dependencies
        .values()
        .all(|state| *state == DependencyState::Up)
}

/// Whether some dependency is known to be down.
pub fn any_down(dependencies: &Dependencies) -> bool {
    dependencies
        .values()
        .any(|state| matches!(state, DependencyState::Down { .. }))
}

/// A store error as reported, URL userinfo masked.
fn describe(error: &StoreError) -> String {
    outpost_store::redact_urls_in(&error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Store, outage::switchable};

    #[tokio::test]
    async fn probes_report_up_down_and_stalls() {
        let (store, outage) = switchable(Store::memory());
        let readiness = Readiness::new(Some(store.health));
        assert!(all_up(&readiness.probe().await));
        outage.refuse();
        let down = readiness.probe().await;
        assert!(any_down(&down), "{down:?}");
        assert!(
            matches!(&down[STORE], DependencyState::Down { error } if error.contains("refused"))
        );
        outage.stall();
        tokio::time::pause();
        let stalled = readiness.probe().await;
        assert!(
            matches!(&stalled[STORE], DependencyState::Down { error } if error.contains("no answer"))
        );
    }

    #[tokio::test]
    async fn the_first_health_after_start_is_a_probe_not_a_guess() {
        let (store, outage) = switchable(Store::memory());
        outage.refuse();
        let readiness = Arc::new(Readiness::new(Some(store.health)));
        let first = readiness.last_known_or_first().await;
        assert!(any_down(&first), "{first:?}");
        outage.restore();
        // Later ones answer at once from what was seen (refreshed in the background).
        assert!(any_down(&readiness.last_known_or_first().await));
    }

    #[tokio::test]
    async fn without_a_store_there_is_nothing_to_wait_for() {
        let readiness = Arc::new(Readiness::new(None));
        assert!(readiness.probe().await.is_empty());
        assert!(readiness.last_known().is_empty());
    }
}
