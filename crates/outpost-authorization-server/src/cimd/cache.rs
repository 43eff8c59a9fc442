//! Fetched metadata documents, cached in the store ([`ClientDocumentStore`]) so that
//! `/authorize`, `/token` and later refreshes of one client — on any instance sharing the
//! store — do not each fetch its URL.
//!
//! A document is kept for its `Cache-Control: max-age`, clamped to
//! [`MIN_DOCUMENT_TTL`]–[`MAX_DOCUMENT_TTL`] ([`DEFAULT_DOCUMENT_TTL`] without one): at least a
//! minute, so one authorization does not fetch twice, at most a day, so a client's changes
//! arrive. A failure is kept for [`FAILURE_TTL`] only: enough to keep a burst of requests from
//! fetching a broken URL again and again, short enough that a fixed document is soon seen.
//! The cache holds at most its capacity; past it, expired entries go first, then the entry that
//! expires soonest. Times are the authorization server's clock (Unix seconds).
//!
//! What is kept is the document's text, checked again on every read (a cheap parse), and a
//! failure as its [`CimdError`] in JSON; an entry that no longer decodes (written by another
//! version) is a miss.

use std::time::Duration;

use super::{CimdError, ClientIdUrl};
use outpost_store::{
    ClientDocumentRecord, ClientDocumentStore, ClientId, DocumentOutcome, StoreError,
};

/// Shortest time a document is kept.
pub const MIN_DOCUMENT_TTL: Duration = Duration::from_secs(60);
/// Longest time a document is kept.
pub const MAX_DOCUMENT_TTL: Duration = Duration::from_secs(24 * 3600);
/// How long a document without `max-age` is kept.
pub const DEFAULT_DOCUMENT_TTL: Duration = Duration::from_secs(300);
/// How long a failed fetch is remembered.
pub const FAILURE_TTL: Duration = Duration::from_secs(10);

/// What the cache holds for a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cached {
    /// The document's text, to be checked ([`document`](super::document)).
    Document(String),
    /// Why fetching it failed.
    Failure(CimdError),
}

/// Documents by client id URL, in the store.
pub struct DocumentCache<'a> {
    store: &'a dyn ClientDocumentStore,
    capacity: usize,
}

impl std::fmt::Debug for DocumentCache<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentCache")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl<'a> DocumentCache<'a> {
    /// The cache in `store`, of at most `capacity` entries (at least one).
    pub fn new(store: &'a dyn ClientDocumentStore, capacity: usize) -> Self {
        Self {
            store,
            capacity: capacity.max(1),
        }
    }

    /// The unexpired answer for `url`, if any.
    pub async fn get(&self, url: &ClientIdUrl, now: i64) -> Result<Option<Cached>, StoreError> {
        let Some(record) = self.store.get(&key(url)?, now).await? else {
            return Ok(None);
        };
        Ok(match record.outcome {
            DocumentOutcome::Fetched(text) => Some(Cached::Document(text)),
            DocumentOutcome::Failed(json) => serde_json::from_str(&json).ok().map(Cached::Failure),
        })
    }

    /// Keeps a document's text for its `max_age` (clamped, see the module docs).
    pub async fn put_document(
        &self,
        url: &ClientIdUrl,
        text: String,
        max_age: Option<u64>,
        now: i64,
    ) -> Result<(), StoreError> {
        let ttl = max_age
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_DOCUMENT_TTL)
            .clamp(MIN_DOCUMENT_TTL, MAX_DOCUMENT_TTL);
        self.put(url, DocumentOutcome::Fetched(text), ttl, now)
            .await
    }

    /// Keeps a failure for [`FAILURE_TTL`].
    pub async fn put_failure(
        &self,
        url: &ClientIdUrl,
        error: &CimdError,
        now: i64,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(error)
            .map_err(|e| StoreError::Backend(format!("cannot encode a fetch failure: {e}")))?;
        self.put(url, DocumentOutcome::Failed(json), FAILURE_TTL, now)
            .await
    }

    async fn put(
        &self,
        url: &ClientIdUrl,
        outcome: DocumentOutcome,
        ttl: Duration,
        now: i64,
    ) -> Result<(), StoreError> {
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        let record = ClientDocumentRecord {
            client_id: key(url)?,
            outcome,
            expires_at: now.saturating_add(ttl),
        };
        self.store.put(record, now, self.capacity).await
    }
}

/// The store key of `url`: the client id it is.
fn key(url: &ClientIdUrl) -> Result<ClientId, StoreError> {
    // A client id URL has no whitespace or control characters: it always parses.
    Ok(ClientId::parse(url.as_str())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use outpost_store::Store;

    fn url(text: &str) -> ClientIdUrl {
        ClientIdUrl::parse(text).unwrap()
    }

    #[tokio::test]
    async fn documents_expire_within_the_clamped_max_age() {
        let store = Store::memory();
        let cache = DocumentCache::new(&*store.client_documents, 10);
        let url = url("https://a.example/c");
        let text = || "{}".to_owned();
        let cached = |at| cache.get(&url, at);
        cache
            .put_document(&url, text(), Some(5), 1000)
            .await
            .unwrap();
        assert!(
            cached(1059).await.unwrap().is_some(),
            "kept at least a minute"
        );
        assert!(cached(1060).await.unwrap().is_none());
        cache.put_document(&url, text(), None, 1000).await.unwrap();
        assert!(cached(1299).await.unwrap().is_some());
        assert!(
            cached(1300).await.unwrap().is_none(),
            "five minutes by default"
        );
        cache
            .put_document(&url, text(), Some(10_000_000), 1000)
            .await
            .unwrap();
        assert!(cached(1000 + 86_399).await.unwrap().is_some());
        assert!(
            cached(1000 + 86_400).await.unwrap().is_none(),
            "a day at most"
        );
    }

    #[tokio::test]
    async fn failures_are_short_lived_and_keep_their_kind() {
        let store = Store::memory();
        let cache = DocumentCache::new(&*store.client_documents, 10);
        let url = url("https://a.example/c");
        cache
            .put_failure(&url, &CimdError::Status(404), 1000)
            .await
            .unwrap();
        assert_eq!(
            cache.get(&url, 1009).await.unwrap(),
            Some(Cached::Failure(CimdError::Status(404)))
        );
        assert_eq!(cache.get(&url, 1010).await.unwrap(), None);
    }

    #[tokio::test]
    async fn capacity_is_bounded() {
        let store = Store::memory();
        let cache = DocumentCache::new(&*store.client_documents, 2);
        let (a, b, c) = (
            url("https://a.example/c"),
            url("https://b.example/c"),
            url("https://c.example/c"),
        );
        for (url, max_age) in [(&a, 600), (&b, 60), (&c, 600)] {
            let text = "{}".to_owned();
            cache
                .put_document(url, text, Some(max_age), 0)
                .await
                .unwrap();
        }
        assert!(
            cache.get(&b, 1).await.unwrap().is_none(),
            "the soonest to expire went"
        );
        assert!(cache.get(&a, 1).await.unwrap().is_some());
        assert!(cache.get(&c, 1).await.unwrap().is_some());
    }
}
