//! How much argon2 work runs at once: [`Argon2Pool`], the permits every argon2 call of one
//! [`AuthorizationServer`](crate::AuthorizationServer) shares — a login's password check, a
//! client secret's verification, a registration's hashing.
//!
//! Each call holds about 19 MiB and tens of milliseconds of CPU, so a burst of them — an
//! attacker's, or a crowd of clients refreshing at once — would otherwise take as much memory
//! and as many blocking threads as it has requests. With the pool, at most
//! [`Argon2Limits::permits`] run at once (by default one per CPU), and the others wait for a
//! permit, at most [`Argon2Limits::max_wait`]; past it the call fails with
//! [`Argon2Error::Busy`], which the endpoints answer 503 with `Retry-After` (the login page, a
//! "busy, try again" page). A waiting call holds no argon2 memory, and the wait is bounded, so
//! overload costs bounded memory and answers quickly instead of queueing forever.
//!
//! A permit is held by the blocking task itself: a request whose client goes away does not
//! free its permit before its argon2 work is done.

use std::{num::NonZeroUsize, sync::Arc, time::Duration};

use tokio::sync::Semaphore;

use super::{HashError, hash_password, verify_password};
use outpost_store::PasswordHash;

/// Default longest wait for a permit.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(5);
/// The `Retry-After` (seconds) of an answer refused for want of a permit.
pub const BUSY_RETRY_AFTER: u64 = 2;

/// How many argon2 calls run at once, and how long a call waits for its turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Limits {
    /// Calls running at once.
    pub permits: NonZeroUsize,
    /// Longest wait for a permit before the call is refused ([`Argon2Error::Busy`]).
    pub max_wait: Duration,
}

impl Default for Argon2Limits {
    /// One permit per CPU (`std::thread::available_parallelism`, 1 if unknown), and
    /// [`DEFAULT_MAX_WAIT`].
    fn default() -> Self {
        Self {
            permits: std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN),
            max_wait: DEFAULT_MAX_WAIT,
        }
    }
}

/// Why an argon2 call did not give an answer.
#[derive(Debug, thiserror::Error)]
pub enum Argon2Error {
    /// No permit came free within the wait bound: the server is busy.
    #[error("no argon2 permit came free within {0:?}")]
    Busy(Duration),
    /// The blocking task failed (it panicked).
    #[error("the argon2 task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// Hashing failed.
    #[error(transparent)]
    Hash(#[from] HashError),
}

/// The argon2 permits of one authorization server; clones share them.
#[derive(Debug, Clone)]
pub struct Argon2Pool {
    permits: Arc<Semaphore>,
    limits: Argon2Limits,
}

impl Default for Argon2Pool {
    fn default() -> Self {
        Self::new(Argon2Limits::default())
    }
}

impl Argon2Pool {
    /// A pool with `limits`.
    pub fn new(limits: Argon2Limits) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(limits.permits.get())),
            limits,
        }
    }

    /// Its limits.
    pub fn limits(&self) -> Argon2Limits {
        self.limits
    }

    /// Whether `password` matches `hash` ([`verify_password`]), under a permit.
    pub async fn verify(&self, password: String, hash: PasswordHash) -> Result<bool, Argon2Error> {
        self.run(move || verify_password(&password, &hash)).await
    }

    /// Hashes `password` ([`hash_password`]), under a permit.
    pub async fn hash(&self, password: String) -> Result<PasswordHash, Argon2Error> {
        Ok(self.run(move || hash_password(&password)).await??)
    }

    /// Runs `work` (argon2 calls) on the blocking pool once a permit is free, waiting at most
    /// [`Argon2Limits::max_wait`] for it.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Argon2Error> {
        let max_wait = self.limits.max_wait;
        let permit = tokio::time::timeout(max_wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| Argon2Error::Busy(max_wait))?
            .expect("the semaphore is never closed");
        Ok(tokio::task::spawn_blocking(move || {
            let answer = work();
            drop(permit);
            answer
        })
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    fn pool(permits: usize, max_wait: Duration) -> Argon2Pool {
        Argon2Pool::new(Argon2Limits {
            permits: NonZeroUsize::new(permits).unwrap(),
            max_wait,
        })
    }

    #[tokio::test]
    async fn work_past_the_permits_waits_then_is_refused() {
        let pool = pool(1, Duration::from_millis(50));
        let (release, held) = mpsc::channel::<()>();
        let holder = tokio::spawn({
            let pool = pool.clone();
            async move { pool.run(move || held.recv().is_ok()).await }
        });
        // The holder's permit is taken once it is queued on the blocking pool.
        while pool.permits.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let refused = pool.run(|| ()).await;
        assert!(matches!(refused, Err(Argon2Error::Busy(_))), "{refused:?}");
        release.send(()).unwrap();
        assert!(holder.await.unwrap().unwrap());
        // Free again: the next call runs.
        pool.run(|| ()).await.unwrap();
    }

    #[tokio::test]
    async fn waiting_calls_run_in_turn() {
        let pool = pool(1, DEFAULT_MAX_WAIT);
        let hash = pool.hash("correct horse".into()).await.unwrap();
        let checks: Vec<_> = (0..4)
            .map(|n| {
                let (pool, hash) = (pool.clone(), hash.clone());
                let password = if n % 2 == 0 { "correct horse" } else { "wrong" };
                tokio::spawn(async move { pool.verify(password.into(), hash).await })
            })
            .collect();
        let mut answers = Vec::new();
        for check in checks {
            answers.push(check.await.unwrap().unwrap());
        }
        assert_eq!(answers, [true, false, true, false]);
    }
}
