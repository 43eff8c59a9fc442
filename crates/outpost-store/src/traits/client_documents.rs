//! [`ClientDocumentStore`]: fetched Client ID Metadata Documents and failed fetches, shared by
//! every instance, so that a document is fetched once per expiry for all of them and a broken
//! URL is not fetched again by each. When an entry expires is the caller's decision (its
//! cache policy); the store keeps it until then.

use async_trait::async_trait;

use crate::{StoreError, model::ClientId};

/// What fetching a client id URL gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentOutcome {
    /// The document, as fetched (JSON text; the fetch limits its size).
    Fetched(String),
    /// Why the fetch failed, as the caller encoded it.
    Failed(String),
}

/// One cached answer for a client id URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientDocumentRecord {
    /// The client id URL.
    pub client_id: ClientId,
    /// The document or the failure.
    pub outcome: DocumentOutcome,
    /// Expiry, unix seconds.
    pub expires_at: i64,
}

/// Cached client metadata documents by client id URL.
#[async_trait]
pub trait ClientDocumentStore: Send + Sync {
    /// The answer for `client_id`, unless none or expired at `now`.
    async fn get(
        &self,
        client_id: &ClientId,
        now: i64,
    ) -> Result<Option<ClientDocumentRecord>, StoreError>;
    /// Keeps `record`, replacing the answer for its URL. Entries expired at `now` are removed
    /// first; if `max_entries` or more other entries remain, those expiring soonest go until
    /// there is room.
    async fn put(
        &self,
        record: ClientDocumentRecord,
        now: i64,
        max_entries: usize,
    ) -> Result<(), StoreError>;
    /// Removes the entries expired at `now`; returns how many.
    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError>;
}
