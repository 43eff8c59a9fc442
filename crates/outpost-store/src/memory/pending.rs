//! [`PendingAuthorizationStore`] in memory: one map behind its own lock.

use std::collections::HashMap;

use async_trait::async_trait;

use super::{MemoryStore, lock, make_room};
use crate::{
    StoreError,
    model::{TokenHash, UserId},
    traits::{PendingAuthorizationRecord, PendingAuthorizationStore},
};

/// Pending requests by the hash of their id.
pub(super) type PendingRequests = HashMap<TokenHash, PendingAuthorizationRecord>;

#[async_trait]
impl PendingAuthorizationStore for MemoryStore {
    async fn insert(
        &self,
        record: PendingAuthorizationRecord,
        now: i64,
        max_live: usize,
    ) -> Result<(), StoreError> {
        let mut pending = lock(&self.pending);
        if pending.contains_key(&record.id_hash) {
            return Err(StoreError::Conflict("pending authorization".into()));
        }
        make_room(&mut pending, max_live, now, |r| r.expires_at);
        pending.insert(record.id_hash.clone(), record);
        Ok(())
    }

    async fn get(
        &self,
        id_hash: &TokenHash,
        now: i64,
    ) -> Result<Option<PendingAuthorizationRecord>, StoreError> {
        let pending = lock(&self.pending);
        Ok(pending.get(id_hash).filter(|r| r.expires_at > now).cloned())
    }

    async fn sign_in(
        &self,
        id_hash: &TokenHash,
        user_id: UserId,
        now: i64,
    ) -> Result<Option<PendingAuthorizationRecord>, StoreError> {
        let mut pending = lock(&self.pending);
        Ok(pending
            .get_mut(id_hash)
            .filter(|r| r.expires_at > now)
            .map(|r| {
                r.user_id = Some(user_id);
                r.clone()
            }))
    }

    async fn take_signed_in(
        &self,
        id_hash: &TokenHash,
        now: i64,
    ) -> Result<Option<PendingAuthorizationRecord>, StoreError> {
        let mut pending = lock(&self.pending);
        let decidable = pending
            .get(id_hash)
            .is_some_and(|r| r.expires_at > now && r.user_id.is_some());
        Ok(decidable.then(|| pending.remove(id_hash)).flatten())
    }

    async fn remove_signed_in_of_user(&self, user_id: UserId) -> Result<u64, StoreError> {
        let mut pending = lock(&self.pending);
        let before = pending.len();
        pending.retain(|_, r| r.user_id != Some(user_id));
        Ok((before - pending.len()) as u64)
    }

    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        let mut pending = lock(&self.pending);
        let before = pending.len();
        pending.retain(|_, r| r.expires_at > now);
        Ok((before - pending.len()) as u64)
    }
}
