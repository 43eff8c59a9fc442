//! [`RequestStateKeyStore`] in memory: each conditional step decides and writes under the
//! store's one lock, which is what makes it atomic.

use async_trait::async_trait;

use super::MemoryStore;
use crate::{
    StoreError,
    request_state_keys::{RequestStateKeyRecord, RequestStateKeyStore},
    sealed::{KeyEncryptionKeyId, SealedSecret},
};

impl MemoryStore {
    fn add_request_state_key(
        keys: &mut Vec<RequestStateKeyRecord>,
        key: RequestStateKeyRecord,
    ) -> Result<(), StoreError> {
        if keys.iter().any(|k| k.kid == key.kid) {
            return Err(StoreError::Conflict(format!(
                "request-state key {}",
                key.kid
            )));
        }
        keys.push(key);
        Ok(())
    }
}

#[async_trait]
impl RequestStateKeyStore for MemoryStore {
    async fn list(&self) -> Result<Vec<RequestStateKeyRecord>, StoreError> {
        let mut keys = self.state().request_state_keys.clone();
        keys.sort_by(|a, b| (a.activates_at, &a.kid).cmp(&(b.activates_at, &b.kid)));
        Ok(keys)
    }

    async fn insert_first(&self, key: RequestStateKeyRecord) -> Result<bool, StoreError> {
        let mut state = self.state();
        let keys = &mut state.request_state_keys;
        if !keys.is_empty() {
            return Ok(false);
        }
        Self::add_request_state_key(keys, key)?;
        Ok(true)
    }

    async fn rotate(
        &self,
        next: RequestStateKeyRecord,
        published_after: i64,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        let keys = &mut state.request_state_keys;
        if keys.iter().any(|k| k.created_at > published_after) {
            return Ok(false);
        }
        Self::add_request_state_key(keys, next)?;
        Ok(true)
    }

    async fn purge_superseded(&self, before: i64) -> Result<u64, StoreError> {
        let mut state = self.state();
        let keys = &mut state.request_state_keys;
        let activations: Vec<i64> = keys.iter().map(|k| k.activates_at).collect();
        let count = keys.len();
        keys.retain(|key| {
            !activations
                .iter()
                .any(|&later| later > key.activates_at && later <= before)
        });
        Ok((count - keys.len()) as u64)
    }

    async fn reseal(
        &self,
        kid: &str,
        from: Option<&KeyEncryptionKeyId>,
        sealed: SealedSecret,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        let key = state.request_state_keys.iter_mut().find(|k| k.kid == kid);
        Ok(key.is_some_and(|key| key.secret.reseal(from, sealed)))
    }
}
