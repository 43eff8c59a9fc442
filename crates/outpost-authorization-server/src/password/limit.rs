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
//!
//! Each permit comes with its working memory (`working_memory`), allocated the first time it
//! is used and kept: the pool holds at most [`Argon2Limits::permits`] blocks of 19 MiB, for as
//! long as it lives, instead of allocating and freeing one per call (which glibc's malloc
//! would leave resident, one block per malloc arena).

use std::{
    num::NonZeroUsize,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use tokio::sync::Semaphore;

use super::{HashError, working_memory::WorkingMemory};
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

/// The argon2 permits of one authorization server, and their working memory; clones share
/// them.
#[derive(Debug, Clone)]
pub struct Argon2Pool {
    permits: Arc<Semaphore>,
    /// The working memory of the permits not in use: a call takes one (or starts one, the first
    /// times) and puts it back, so there are never more than permits.
    memories: Arc<Mutex<Vec<WorkingMemory>>>,
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
            memories: Arc::default(),
            limits,
        }
    }

    /// Its limits.
    pub fn limits(&self) -> Argon2Limits {
        self.limits
    }

    /// Whether `password` matches `hash` ([`verify_password`](super::verify_password)), under
    /// a permit, in its working memory.
    pub async fn verify(&self, password: String, hash: PasswordHash) -> Result<bool, Argon2Error> {
        self.run(move |memory| memory.verify(&password, &hash))
            .await
    }

    /// Hashes `password` ([`hash_password`](super::hash_password)), under a permit, in its
    /// working memory.
    pub async fn hash(&self, password: String) -> Result<PasswordHash, Argon2Error> {
        Ok(self.run(move |memory| memory.hash(&password)).await??)
    }

    /// Runs `work` (argon2 calls) on the blocking pool once a permit is free, waiting at most
    /// [`Argon2Limits::max_wait`] for it, with the permit's working memory.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut WorkingMemory) -> T + Send + 'static,
    ) -> Result<T, Argon2Error> {
        let max_wait = self.limits.max_wait;
        let permit = tokio::time::timeout(max_wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| Argon2Error::Busy(max_wait))?
            .expect("the semaphore is never closed");
        let memories = self.memories.clone();
        Ok(tokio::task::spawn_blocking(move || {
            let taken = memories
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            let mut memory = taken.unwrap_or_default();
            let answer = work(&mut memory);
            memories
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(memory);
            drop(permit);
            answer
        })
        .await?)
    }

    /// How many working memories the pool keeps (one per permit used so far at once).
    #[cfg(test)]
    fn memories_kept(&self) -> usize {
        self.memories
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
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
            async move { pool.run(move |_| held.recv().is_ok()).await }
        });
        // The holder's permit is taken once it is queued on the blocking pool.
        while pool.permits.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let refused = pool.run(|_| ()).await;
        assert!(matches!(refused, Err(Argon2Error::Busy(_))), "{refused:?}");
        release.send(()).unwrap();
        assert!(holder.await.unwrap().unwrap());
        // Free again: the next call runs.
        pool.run(|_| ()).await.unwrap();
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
        assert_eq!(pool.memories_kept(), 1, "one permit, one working memory");
    }

    #[tokio::test]
    async fn answers_as_argon2_does_with_one_memory_per_permit() {
        use argon2::{Argon2, PasswordHasher as _, PasswordVerifier as _};

        let pool = pool(2, DEFAULT_MAX_WAIT);
        let by_argon2 = Argon2::default()
            .hash_password(b"correct horse")
            .unwrap()
            .to_string();
        let by_argon2 = PasswordHash::parse(&by_argon2).unwrap();
        let calls: Vec<_> = (0..8)
            .map(|n| {
                let (pool, by_argon2) = (pool.clone(), by_argon2.clone());
                tokio::spawn(async move {
                    let password = if n % 2 == 0 { "correct horse" } else { "wrong" };
                    let by_pool = pool.hash(password.into()).await.unwrap();
                    let argon2_verifies = Argon2::default()
                        .verify_password(password.as_bytes(), by_pool.as_str())
                        .is_ok();
                    let pool_verifies = pool.verify(password.into(), by_argon2).await.unwrap();
                    (argon2_verifies, pool_verifies)
                })
            })
            .collect();
        for (n, call) in calls.into_iter().enumerate() {
            assert_eq!(call.await.unwrap(), (true, n % 2 == 0));
        }
        assert!(pool.memories_kept() <= 2, "{}", pool.memories_kept());
    }
}
