//! The start-up step of encryption at rest ([`encrypt_keys_at_rest`]) and the store wrappers
//! that seal keys as they are written and open them as they are read, so that callers — the
//! authorization server, the request-state codec, the CLI — handle keys in the clear and
//! every backend holds only sealed ones.

use std::sync::Arc;

use async_trait::async_trait;

use super::{KeyEncryptionError, KeyEncryptionKeys, SecretOwner, seal_clear};
use crate::{
    RequestStateKeyRecord, RequestStateKeyStore, SigningKeyRecord, SigningKeyStore, Store,
    StoreError,
    sealed::{KeyEncryptionKeyId, SealedSecret, SecretAtRest},
};

/// Prepares `store`'s keys for use with the key-encryption keys `keys`, once at start.
///
/// With `keys`: every signing and request-state key still in the clear is sealed with the
/// current key-encryption key, and every one sealed with a previous key is opened and sealed
/// again with the current one — each by one conditional write
/// ([`SigningKeyStore::reseal`], [`RequestStateKeyStore::reseal`]), so instances starting
/// together on one store do it once between them. A key sealed with a key-encryption key not
/// given is refused ([`KeyEncryptionError::UnknownKey`]). The store returned seals the keys
/// written through it and opens those read.
///
/// Without `keys`: a store holding a sealed key is refused ([`KeyEncryptionError::NotGiven`],
/// naming the key-encryption key it needs); otherwise the store is returned as it is, its
/// keys in the clear.
pub async fn encrypt_keys_at_rest(
    store: Store,
    keys: Option<KeyEncryptionKeys>,
) -> Result<Store, StoreError> {
    let Some(keys) = keys else {
        refuse_sealed(&store).await?;
        return Ok(store);
    };
    let keys = Arc::new(keys);
    let signing = reseal_signing_keys(&*store.keys, &keys).await?;
    let request_state = reseal_request_state_keys(&*store.request_state_keys, &keys).await?;
    if signing + request_state > 0 {
        tracing::info!(
            signing,
            request_state,
            key_encryption_key = %keys.current_id(),
            "encrypted stored keys with the current key-encryption key"
        );
    }
    Ok(Store {
        keys: Arc::new(SealingSigningKeys {
            inner: store.keys.clone(),
            keys: keys.clone(),
        }),
        request_state_keys: Arc::new(SealingRequestStateKeys {
            inner: store.request_state_keys.clone(),
            keys,
        }),
        ..store
    })
}

/// The first sealed key in `store`, as an error: nothing can open it without a key.
async fn refuse_sealed(store: &Store) -> Result<(), StoreError> {
    let signing = store.keys.list().await?;
    let sealed = signing.iter().find_map(|key| {
        Some((
            SecretOwner::SigningKey(&key.kid),
            key.private_key.sealed_with()?,
        ))
    });
    let request_state = store.request_state_keys.list().await?;
    let sealed = sealed.or_else(|| {
        request_state.iter().find_map(|key| {
            Some((
                SecretOwner::RequestStateKey(&key.kid),
                key.secret.sealed_with()?,
            ))
        })
    });
    match sealed {
        Some((owner, key_id)) => Err(KeyEncryptionError::NotGiven {
            record: owner.to_string(),
            key_id: key_id.clone(),
        }
        .into()),
        None => Ok(()),
    }
}

/// Seals what is clear and re-seals what a previous key sealed; how many keys it wrote.
async fn reseal_signing_keys(
    store: &dyn SigningKeyStore,
    keys: &KeyEncryptionKeys,
) -> Result<usize, StoreError> {
    let mut written = 0;
    for record in store.list().await? {
        let kid = &record.kid;
        let sealed = match &record.private_key {
            SecretAtRest::Sealed(sealed) if sealed.key_id() == keys.current_id() => continue,
            SecretAtRest::Sealed(sealed) => keys.seal_pem(kid, &keys.open_pem(kid, sealed)?)?,
            SecretAtRest::Clear(pem) => keys.seal_pem(kid, pem)?,
        };
        let from = record.private_key.sealed_with();
        written += usize::from(store.reseal(kid, from, sealed).await?);
    }
    Ok(written)
}

/// [`reseal_signing_keys`] for the request-state keys.
async fn reseal_request_state_keys(
    store: &dyn RequestStateKeyStore,
    keys: &KeyEncryptionKeys,
) -> Result<usize, StoreError> {
    let mut written = 0;
    for record in store.list().await? {
        let kid = &record.kid;
        let sealed = match &record.secret {
            SecretAtRest::Sealed(sealed) if sealed.key_id() == keys.current_id() => continue,
            SecretAtRest::Sealed(sealed) => {
                keys.seal_request_state(kid, &keys.open_request_state(kid, sealed)?)?
            }
            SecretAtRest::Clear(secret) => keys.seal_request_state(kid, secret)?,
        };
        let from = record.secret.sealed_with();
        written += usize::from(store.reseal(kid, from, sealed).await?);
    }
    Ok(written)
}

/// Signing keys sealed on the way in, opened on the way out.
struct SealingSigningKeys {
    inner: Arc<dyn SigningKeyStore>,
    keys: Arc<KeyEncryptionKeys>,
}

impl SealingSigningKeys {
    fn sealed(&self, mut key: SigningKeyRecord) -> Result<SigningKeyRecord, StoreError> {
        let kid = key.kid.clone();
        key.private_key = seal_clear(key.private_key, |pem| self.keys.seal_pem(&kid, pem))?;
        Ok(key)
    }

    fn opened(&self, mut key: SigningKeyRecord) -> Result<SigningKeyRecord, StoreError> {
        if let SecretAtRest::Sealed(sealed) = &key.private_key {
            key.private_key = SecretAtRest::Clear(self.keys.open_pem(&key.kid, sealed)?);
        }
        Ok(key)
    }
}

#[async_trait]
impl SigningKeyStore for SealingSigningKeys {
    async fn insert(&self, key: SigningKeyRecord) -> Result<(), StoreError> {
        self.inner.insert(self.sealed(key)?).await
    }

    async fn insert_if_no_active(&self, key: SigningKeyRecord) -> Result<bool, StoreError> {
        self.inner.insert_if_no_active(self.sealed(key)?).await
    }

    async fn list(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let keys = self.inner.list().await?;
        keys.into_iter().map(|key| self.opened(key)).collect()
    }

    async fn retire(&self, kid: &str, at: i64) -> Result<(), StoreError> {
        self.inner.retire(kid, at).await
    }

    async fn reseal(
        &self,
        kid: &str,
        from: Option<&KeyEncryptionKeyId>,
        sealed: SealedSecret,
    ) -> Result<bool, StoreError> {
        self.inner.reseal(kid, from, sealed).await
    }
}

/// Request-state keys sealed on the way in, opened on the way out.
struct SealingRequestStateKeys {
    inner: Arc<dyn RequestStateKeyStore>,
    keys: Arc<KeyEncryptionKeys>,
}

impl SealingRequestStateKeys {
    fn sealed(&self, mut key: RequestStateKeyRecord) -> Result<RequestStateKeyRecord, StoreError> {
        let kid = key.kid.clone();
        key.secret = seal_clear(key.secret, |secret| {
            self.keys.seal_request_state(&kid, secret)
        })?;
        Ok(key)
    }

    fn opened(&self, mut key: RequestStateKeyRecord) -> Result<RequestStateKeyRecord, StoreError> {
        if let SecretAtRest::Sealed(sealed) = &key.secret {
            key.secret = SecretAtRest::Clear(self.keys.open_request_state(&key.kid, sealed)?);
        }
        Ok(key)
    }
}

#[async_trait]
impl RequestStateKeyStore for SealingRequestStateKeys {
    async fn list(&self) -> Result<Vec<RequestStateKeyRecord>, StoreError> {
        let keys = self.inner.list().await?;
        keys.into_iter().map(|key| self.opened(key)).collect()
    }

    async fn insert_first(&self, key: RequestStateKeyRecord) -> Result<bool, StoreError> {
        self.inner.insert_first(self.sealed(key)?).await
    }

    async fn rotate(
        &self,
        next: RequestStateKeyRecord,
        published_after: i64,
    ) -> Result<bool, StoreError> {
        self.inner.rotate(self.sealed(next)?, published_after).await
    }

    async fn purge_superseded(&self, before: i64) -> Result<u64, StoreError> {
        self.inner.purge_superseded(before).await
    }

    async fn reseal(
        &self,
        kid: &str,
        from: Option<&KeyEncryptionKeyId>,
        sealed: SealedSecret,
    ) -> Result<bool, StoreError> {
        self.inner.reseal(kid, from, sealed).await
    }
}
