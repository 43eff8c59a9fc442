//! Fetched metadata documents, kept in memory so that `/authorize`, `/token` and later refreshes
//! of one client do not each fetch its URL.
//!
//! A document is kept for its `Cache-Control: max-age`, clamped to
//! [`MIN_DOCUMENT_TTL`]–[`MAX_DOCUMENT_TTL`] ([`DEFAULT_DOCUMENT_TTL`] without one): at least a
//! minute, so one authorization does not fetch twice, at most a day, so a client's changes
//! arrive. A failure is kept for [`FAILURE_TTL`] only: enough to keep a burst of requests from
//! fetching a broken URL again and again, short enough that a fixed document is soon seen.
//! The cache holds at most its capacity; past it, expired entries go first, then the entry that
//! expires soonest. Times are the authorization server's clock (Unix seconds).

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
    time::Duration,
};

use super::CimdError;
use outpost_store::ClientRecord;

/// Shortest time a document is kept.
pub const MIN_DOCUMENT_TTL: Duration = Duration::from_secs(60);
/// Longest time a document is kept.
pub const MAX_DOCUMENT_TTL: Duration = Duration::from_secs(24 * 3600);
/// How long a document without `max-age` is kept.
pub const DEFAULT_DOCUMENT_TTL: Duration = Duration::from_secs(300);
/// How long a failed fetch is remembered.
pub const FAILURE_TTL: Duration = Duration::from_secs(10);

/// The cache's answer for one URL.
pub type CachedResult = Result<ClientRecord, CimdError>;

struct Entry {
    result: CachedResult,
    expires_at: i64,
}

/// Documents by client id URL.
pub struct DocumentCache {
    entries: Mutex<HashMap<String, Entry>>,
    capacity: usize,
}

impl std::fmt::Debug for DocumentCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentCache")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl DocumentCache {
    /// An empty cache of at most `capacity` entries (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::default(),
            capacity: capacity.max(1),
        }
    }

    /// The unexpired answer for `url`, if any.
    pub fn get(&self, url: &str, now: i64) -> Option<CachedResult> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(url)
            .filter(|entry| entry.expires_at > now)
            .map(|entry| entry.result.clone())
    }

    /// Keeps a document for its `max_age` (clamped, see the module docs).
    pub fn put_document(&self, url: &str, record: ClientRecord, max_age: Option<u64>, now: i64) {
        let ttl = max_age
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_DOCUMENT_TTL)
            .clamp(MIN_DOCUMENT_TTL, MAX_DOCUMENT_TTL);
        self.put(url, Ok(record), ttl, now);
    }

    /// Keeps a failure for [`FAILURE_TTL`].
    pub fn put_failure(&self, url: &str, error: CimdError, now: i64) {
        self.put(url, Err(error), FAILURE_TTL, now);
    }

    /// Entries currently held, expired or not.
    pub fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn put(&self, url: &str, result: CachedResult, ttl: Duration, now: i64) {
        let expires_at = now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX));
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if !entries.contains_key(url) && entries.len() >= self.capacity {
            entries.retain(|_, entry| entry.expires_at > now);
            if entries.len() >= self.capacity {
                let soonest = entries
                    .iter()
                    .min_by_key(|(_, entry)| entry.expires_at)
                    .map(|(key, _)| key.clone());
                if let Some(soonest) = soonest {
                    entries.remove(&soonest);
                }
            }
        }
        entries.insert(url.to_owned(), Entry { result, expires_at });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use outpost_store::{ApplicationType, ClientId, TokenEndpointAuthMethod};

    fn record(id: &str) -> ClientRecord {
        ClientRecord {
            client_id: ClientId::parse(id).unwrap(),
            client_secret_hash: None,
            client_name: None,
            redirect_uris: vec!["https://app.example/cb".into()],
            grant_types: vec!["authorization_code".into()],
            response_types: vec!["code".into()],
            token_endpoint_auth_method: TokenEndpointAuthMethod::None,
            application_type: ApplicationType::Web,
            scope: None,
            created_at: 0,
        }
    }

    #[test]
    fn documents_expire_within_the_clamped_max_age() {
        let cache = DocumentCache::new(10);
        let url = "https://a.example/c";
        cache.put_document(url, record(url), Some(5), 1000);
        assert!(cache.get(url, 1059).is_some(), "kept at least a minute");
        assert!(cache.get(url, 1060).is_none());
        cache.put_document(url, record(url), None, 1000);
        assert!(cache.get(url, 1299).is_some());
        assert!(cache.get(url, 1300).is_none(), "five minutes by default");
        cache.put_document(url, record(url), Some(10_000_000), 1000);
        assert!(cache.get(url, 1000 + 86_399).is_some());
        assert!(cache.get(url, 1000 + 86_400).is_none(), "a day at most");
    }

    #[test]
    fn failures_are_short_lived() {
        let cache = DocumentCache::new(10);
        cache.put_failure("https://a.example/c", CimdError::Timeout, 1000);
        assert!(matches!(
            cache.get("https://a.example/c", 1009),
            Some(Err(CimdError::Timeout))
        ));
        assert!(cache.get("https://a.example/c", 1010).is_none());
    }

    #[test]
    fn capacity_is_bounded() {
        let cache = DocumentCache::new(2);
        let (a, b, c) = (
            "https://a.example/c",
            "https://b.example/c",
            "https://c.example/c",
        );
        cache.put_document(a, record(a), Some(600), 0);
        cache.put_document(b, record(b), Some(60), 0);
        cache.put_document(c, record(c), Some(600), 0);
        assert_eq!(cache.len(), 2);
        assert!(cache.get(b, 1).is_none(), "the soonest to expire went");
        assert!(cache.get(a, 1).is_some() && cache.get(c, 1).is_some());
    }
}
