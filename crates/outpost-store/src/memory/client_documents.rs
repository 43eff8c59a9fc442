//! [`ClientDocumentStore`] in memory: one map behind its own lock.

use std::collections::HashMap;

use async_trait::async_trait;

use super::{MemoryStore, lock, make_room};
use crate::{
    StoreError,
    model::ClientId,
    traits::{ClientDocumentRecord, ClientDocumentStore},
};

/// Cached answers by client id URL.
pub(super) type Documents = HashMap<ClientId, ClientDocumentRecord>;

#[async_trait]
impl ClientDocumentStore for MemoryStore {
    async fn get(
        &self,
        client_id: &ClientId,
        now: i64,
    ) -> Result<Option<ClientDocumentRecord>, StoreError> {
        let documents = lock(&self.documents);
        Ok(documents
            .get(client_id)
            .filter(|r| r.expires_at > now)
            .cloned())
    }

    async fn put(
        &self,
        record: ClientDocumentRecord,
        now: i64,
        max_entries: usize,
    ) -> Result<(), StoreError> {
        let mut documents = lock(&self.documents);
        documents.remove(&record.client_id);
        make_room(&mut documents, max_entries, now, |r| r.expires_at);
        documents.insert(record.client_id.clone(), record);
        Ok(())
    }

    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        let mut documents = lock(&self.documents);
        let before = documents.len();
        documents.retain(|_, r| r.expires_at > now);
        Ok((before - documents.len()) as u64)
    }
}
