//! The keys that seal MRTR (SEP-2322) `requestState` values, kept in the store so that every
//! instance seals and opens with the same ones: a value handed out by one instance is accepted
//! on the retry by another.
//!
//! A key is published (`created_at`) some time before it starts sealing (`activates_at`), so
//! that every instance has loaded it before any value sealed with it comes back; the rules
//! that pick the sealing key and decide rotation live with the codec in the `outpost` crate.
//! The store only offers the steps several instances must not race on, each atomic: the first
//! key is stored once ([`RequestStateKeyStore::insert_first`]), a rotation happens once per due
//! time ([`RequestStateKeyStore::rotate`]).

use std::fmt;

use async_trait::async_trait;
use zeroize::Zeroizing;

use super::{
    StoreError,
    model::ModelError,
    sealed::{KeyEncryptionKeyId, SealedSecret, SecretAtRest},
};

/// The secret of a request-state key: HMAC-SHA256 key material, at least
/// [`RequestStateSecret::MIN_LEN`] bytes. `Debug` redacts it and it is wiped from memory when
/// dropped; it never reaches a log.
///
#[derive(Clone, PartialEq, Eq)]
pub struct RequestStateSecret(Zeroizing<Vec<u8>>);

impl RequestStateSecret {
    /// The shortest accepted secret: 32 bytes, as rmcp's `RequestStateCodec` requires.
    pub const MIN_LEN: usize = 32;

    /// Takes key material read from storage or freshly generated.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, ModelError> {
        let bytes = Zeroizing::new(bytes);
        if bytes.len() < Self::MIN_LEN {
            return Err(ModelError::KeyMaterial {
                minimum: Self::MIN_LEN,
                actual: bytes.len(),
            });
        }
        Ok(Self(bytes))
    }

    /// The key material, to build a codec or to write it to storage.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for RequestStateSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RequestStateSecret(<redacted>)")
    }
}

/// One request-state key, shared by every instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestStateKeyRecord {
    /// Key id, carried in every value the key seals (rmcp's `rs2` format).
    pub kid: String,
    /// The key material, in the clear or sealed ([`crate::key_encryption`]).
    pub secret: SecretAtRest<RequestStateSecret>,
    /// When the key was published in the store, unix seconds.
    pub created_at: i64,
    /// From when it seals new values, unix seconds; until then it only opens them.
    pub activates_at: i64,
}

/// Request-state keys.
#[async_trait]
pub trait RequestStateKeyStore: Send + Sync {
    /// Every key, by activation time, then kid.
    async fn list(&self) -> Result<Vec<RequestStateKeyRecord>, StoreError>;
    /// Stores `key` if the store holds no request-state key at all, atomically: of several
    /// instances starting on an empty store at the same moment, exactly one stores its key
    /// (`true`) and the others get `false`, then list and use the stored one.
    async fn insert_first(&self, key: RequestStateKeyRecord) -> Result<bool, StoreError>;
    /// Publishes `next` unless some key was published after `published_after`, atomically:
    /// the caller passes `now` minus the rotation period, so of several instances finding the
    /// newest key due at the same moment, exactly one publishes its successor (`true`).
    /// [`StoreError::Conflict`] if the kid is taken.
    async fn rotate(
        &self,
        next: RequestStateKeyRecord,
        published_after: i64,
    ) -> Result<bool, StoreError>;
    /// Removes the keys superseded at or before `before`: those for which a key that activates
    /// later had already activated by then. Returns how many went. The newest active key is
    /// never superseded, so the store is never emptied by a purge.
    async fn purge_superseded(&self, before: i64) -> Result<u64, StoreError>;
    /// Replaces the secret of key `kid` with `sealed` if it is still as `from` says — in the
    /// clear (`None`) or sealed with that key-encryption key —, atomically: of several
    /// instances sealing one key at the same moment, one writes (`true`) and the others find
    /// it changed (`false`). `false` too if there is no such key (purged meanwhile).
    async fn reseal(
        &self,
        kid: &str,
        from: Option<&KeyEncryptionKeyId>,
        sealed: SealedSecret,
    ) -> Result<bool, StoreError>;
}
