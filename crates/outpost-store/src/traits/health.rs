//! [`StoreHealth`]: whether the backend answers right now, for readiness checks and degraded
//! mode.

use async_trait::async_trait;

use crate::StoreError;

/// The backend's liveness, as a readiness probe asks it.
#[async_trait]
pub trait StoreHealth: Send + Sync {
    /// Asks the backend something trivial; `Ok` when it answered, otherwise the error (an
    /// unreachable backend is [`StoreError::Unavailable`]). Never waits longer than the
    /// backend's own timeouts.
    async fn check(&self) -> Result<(), StoreError>;
}
