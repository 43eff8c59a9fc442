//! Outpost's durable state, seen through one trait per concern: users, clients, authorization
//! codes, grants with their refresh tokens, signing keys and consents for the authorization
//! server; Streamable HTTP sessions and the MRTR `requestState` keys for the MCP side; and the
//! authorization server's
//! short-lived state — pending authorization requests, rate-limit attempts, fetched client
//! metadata documents — so that instances sharing a store share it too.
//!
//! Callers talk only to the traits in [`traits`], through a [`Store`] that bundles one trait
//! object of each. A backend is a type that implements them: [`memory`] here (tests,
//! `memory://`), SQLite in the `outpost-store-sqlite` crate; a third party's backend is one more
//! crate, and nothing above the traits changes. Every backend runs the same
//! `behaviour_suite` (feature `test-util`), where `outage::switchable` also lives: any store
//! behind a switch that makes it refuse or stall, for tests of what callers do in an outage.
//! [`metered::metered`] puts any store behind timing and error counters (the [`metrics`]
//! facade). This crate knows nothing of HTTP, OAuth endpoints or MCP.
//!
//! Secrets at rest are hashed: authorization codes and refresh tokens by SHA-256
//! ([`token_hash`]; they are random and high-entropy, so a fast hash suffices and lookups stay
//! indexable), passwords and client secrets by argon2id (stored as a parsed PHC string,
//! [`PasswordHash`]; hashing lives with the authorization server). The secrets that must be
//! kept whole — signing keys, request-state keys — are sealed with a key-encryption key when
//! one is given ([`key_encryption`], [`sealed`]), and in the clear otherwise.

#![deny(missing_docs)]

#[cfg(any(test, feature = "test-util"))]
pub mod behaviour_suite;
mod concerns;
pub mod event_listeners;
pub mod failure_streak;
pub mod key_encryption;
pub mod memory;
pub mod metered;
pub mod model;
#[cfg(any(test, feature = "test-util"))]
pub mod outage;
pub mod redact;
pub mod request_state_keys;
pub mod sealed;
pub mod traits;

use std::{
    fmt::{self, Write as _},
    path::PathBuf,
    sync::Arc,
};

use sha2::{Digest as _, Sha256};

pub use event_listeners::{EventListener, EventListeners};
pub use key_encryption::{
    KeyEncryptionError, KeyEncryptionKey, KeyEncryptionKeys, encrypt_keys_at_rest,
};
pub use model::{
    ApplicationType, AuthorizationCodeRecord, ClientId, ClientRecord, ConsentRecord, GrantId,
    GrantRecord, McpSessionRecord, ModelError, PasswordHash, RefreshTokenRecord, ScopeSet,
    SigningKeyRecord, TokenEndpointAuthMethod, TokenHash, UserId, UserRecord, Username,
};
pub use redact::{redact_url, redact_urls_in};
pub use request_state_keys::{RequestStateKeyRecord, RequestStateKeyStore, RequestStateSecret};
pub use sealed::{KeyEncryptionKeyId, PrivateKeyPem, SealedSecret, SecretAtRest};
pub use traits::{
    Admission, Allowance, Budget, ClientDocumentRecord, ClientDocumentStore, DocumentOutcome,
    EventId, EventRetention, EventStore, InvalidEventId, PendingAuthorizationRecord,
    PendingAuthorizationStore, Reservation, SessionAdmission, SessionCaps, StoreHealth,
    StoredEvent, ThrottleStore,
};
pub use traits::{
    AuthorizationCodeStore, ClientStore, ConsentStore, DOCUMENT_CLIENT_PREFIX, GrantStore,
    McpSessionStore, NewRefreshToken, Redemption, Rotation, SigningKeyStore, UserStore,
};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing to change, or a thing it refers to, does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A unique key is taken (a username, a client id, a kid).
    #[error("already exists: {0}")]
    Conflict(String),
    /// The store URL names no supported backend or no usable location.
    #[error("invalid store URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The database schema could not be brought up to date, or is newer than this build.
    #[error("store schema: {0}")]
    Migration(String),
    /// A stored value does not parse.
    #[error("corrupt stored value: {0}")]
    Corrupt(#[from] ModelError),
    /// The backend failed (I/O, database error).
    #[error("store backend: {0}")]
    Backend(String),
    /// Keys at rest could not be sealed or opened: a missing or wrong key-encryption key, or
    /// an altered sealed key.
    #[error("keys encrypted at rest: {0}")]
    KeyEncryption(#[from] KeyEncryptionError),
    /// The backend cannot be reached or did not answer in time: a temporary condition, retried
    /// later, that callers report as "service unavailable" rather than as a failure of the
    /// request.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Store files that group or others may read or write: a store holds password hashes,
    /// grants and signing keys, so a file-based backend refuses them unless the operator
    /// explicitly allows shared modes.
    #[error(
        "store files readable or writable by group or others: {}; run `chmod 600 {}`, or \
         explicitly allow shared file modes",
        list(.files, ", ", |file| file.to_string()),
        list(.files, " ", |file| file.path.display().to_string())
    )]
    SharedFileMode {
        /// Each file at fault, with its mode.
        files: Vec<SharedFile>,
    },
}

/// A store file whose permissions let group or others in ([`StoreError::SharedFileMode`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedFile {
    /// The file.
    pub path: PathBuf,
    /// Its permission bits (e.g. `0o644`).
    pub mode: u32,
}

impl fmt::Display for SharedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (mode {:04o})", self.path.display(), self.mode)
    }
}

/// `items`, each shown by `show`, separated by `separator`.
fn list<T>(items: &[T], separator: &str, show: impl Fn(&T) -> String) -> String {
    items.iter().map(show).collect::<Vec<_>>().join(separator)
}

/// The SHA-256 of a code or refresh token, as stored and looked up.
pub fn token_hash(secret: &str) -> TokenHash {
    let digest = Sha256::digest(secret.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest.iter() {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{byte:02x}");
    }
    TokenHash::from_digest_hex(hex)
}

/// One backend seen through every concern's trait. Cloning is cheap (`Arc`s).
#[derive(Clone)]
pub struct Store {
    /// Local users.
    pub users: Arc<dyn UserStore>,
    /// OAuth clients.
    pub clients: Arc<dyn ClientStore>,
    /// Authorization codes.
    pub codes: Arc<dyn AuthorizationCodeStore>,
    /// Grants and refresh tokens.
    pub grants: Arc<dyn GrantStore>,
    /// Signing keys.
    pub keys: Arc<dyn SigningKeyStore>,
    /// Remembered consent.
    pub consents: Arc<dyn ConsentStore>,
    /// Streamable HTTP MCP sessions.
    pub mcp_sessions: Arc<dyn McpSessionStore>,
    /// Authorization requests waiting for login and consent.
    pub pending_authorizations: Arc<dyn PendingAuthorizationStore>,
    /// Attempts counted against rate limits.
    pub throttles: Arc<dyn ThrottleStore>,
    /// Fetched client metadata documents and failed fetches.
    pub client_documents: Arc<dyn ClientDocumentStore>,
    /// The keys that seal MRTR `requestState` values.
    pub request_state_keys: Arc<dyn RequestStateKeyStore>,
    /// Server-sent events kept for `Last-Event-ID`, and their bus.
    pub events: Arc<dyn EventStore>,
    /// Whether the backend answers.
    pub health: Arc<dyn StoreHealth>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// A fresh in-memory store.
    pub fn memory() -> Self {
        Self::from_backend(Arc::new(memory::MemoryStore::new()))
    }

    /// Bundles one backend that implements every concern.
    pub fn from_backend<B>(backend: Arc<B>) -> Self
    where
        B: UserStore
            + ClientStore
            + AuthorizationCodeStore
            + GrantStore
            + SigningKeyStore
            + ConsentStore
            + McpSessionStore
            + PendingAuthorizationStore
            + ThrottleStore
            + ClientDocumentStore
            + RequestStateKeyStore
            + EventStore
            + StoreHealth
            + 'static,
    {
        Self {
            users: backend.clone(),
            clients: backend.clone(),
            codes: backend.clone(),
            grants: backend.clone(),
            keys: backend.clone(),
            consents: backend.clone(),
            mcp_sessions: backend.clone(),
            pending_authorizations: backend.clone(),
            throttles: backend.clone(),
            client_documents: backend.clone(),
            request_state_keys: backend.clone(),
            events: backend.clone(),
            health: backend,
        }
    }
}

#[cfg(test)]
mod memory_behaviour {
    crate::store_behaviour_suite!(|_dir| async { crate::Store::memory() });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hash_is_sha256_hex() {
        assert_eq!(
            token_hash("abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
