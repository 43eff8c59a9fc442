//! [`RequestStateKeys`]: rmcp's [`RequestStateCodec`] built from the keys in the store, and
//! rebuilt at every reload.

use std::{
    fmt,
    sync::{Arc, PoisonError, RwLock},
};

use rmcp::model::{RequestStateCodec, RequestStateError};

use super::schedule;
use crate::{
    auth::secret::RandomnessError,
    clock::unix_now,
    store::{
        KeyEncryptionError, RequestStateKeyRecord, RequestStateKeyStore, RequestStateSecret,
        SecretAtRest, StoreError,
    },
};

/// Why the request-state keys could not be loaded or refreshed.
#[derive(Debug, thiserror::Error)]
pub enum RequestStateKeyError {
    /// The store failed.
    #[error("request-state keys: {0}")]
    Store(#[from] StoreError),
    /// A new key could not be generated.
    #[error(transparent)]
    Randomness(#[from] RandomnessError),
    /// The stored keys do not form a codec (a key id rmcp refuses).
    #[error("stored request-state keys: {0}")]
    Codec(#[from] RequestStateError),
    /// The store listed no key right after the first one was stored.
    #[error("the store holds no request-state key")]
    NoKey,
}

/// The codec built from one reload, and the id of the key it seals with.
struct Loaded {
    codec: Arc<RequestStateCodec>,
    sealing_kid: String,
}

impl Loaded {
    /// The codec at `now` over the stored `keys`: seals with the sealing key, opens with every
    /// key still kept.
    fn from_keys(keys: &[RequestStateKeyRecord], now: i64) -> Result<Self, RequestStateKeyError> {
        let sealing = schedule::sealing(keys, now).ok_or(RequestStateKeyError::NoKey)?;
        let opening = keys
            .iter()
            .filter(|key| schedule::opens(key, keys, now))
            .map(|key| Ok((key.kid.clone(), clear_secret(key)?.expose().to_vec())))
            .collect::<Result<Vec<_>, RequestStateKeyError>>()?;
        Ok(Self {
            codec: Arc::new(RequestStateCodec::new_with_keyring(
                sealing.kid.clone(),
                opening,
            )?),
            sealing_kid: sealing.kid.clone(),
        })
    }
}

/// The key material of `key`. A sealed one means the store was opened without its
/// key-encryption key (`encrypt_keys_at_rest` gives a store that opens them).
fn clear_secret(key: &RequestStateKeyRecord) -> Result<&RequestStateSecret, RequestStateKeyError> {
    match &key.secret {
        SecretAtRest::Clear(secret) => Ok(secret),
        SecretAtRest::Sealed(sealed) => Err(StoreError::from(KeyEncryptionError::NotGiven {
            record: format!("request-state key {}", key.kid),
            key_id: sealed.key_id().clone(),
        })
        .into()),
    }
}

/// The MRTR `requestState` codec of a server: the same keys on every instance sharing a store,
/// rotated through it (see the [module documentation](super)). Cloning is cheap.
///
/// Give it to [`Outpost::with_request_state_keys`](crate::Outpost::with_request_state_keys),
/// which keeps it current and hands it to handlers ([`super::StateCodec`],
/// [`RequestStateKeys::from_context`]); a handler may also hold a clone.
#[derive(Clone)]
pub struct RequestStateKeys {
    inner: Arc<Inner>,
}

struct Inner {
    loaded: RwLock<Arc<Loaded>>,
    store: Option<Arc<dyn RequestStateKeyStore>>,
}

impl fmt::Debug for RequestStateKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestStateKeys")
            .field("sealing_kid", &self.sealing_kid())
            .field("shared", &self.is_shared())
            .finish_non_exhaustive()
    }
}

impl RequestStateKeys {
    /// Keys of this process alone: one random key, never rotated. Values it seals open only
    /// here, so use it for a single instance (it is what an `Outpost` given no keys uses).
    ///
    /// # Panics
    ///
    /// If the operating system's random number generator fails, as nothing secret can be
    /// made then.
    pub fn process_local() -> Self {
        let key = new_key(0, 0).expect("the operating system's random number generator failed");
        let loaded = Loaded::from_keys(std::slice::from_ref(&key), 0)
            .expect("a freshly generated key forms a codec");
        Self::with(loaded, None)
    }

    /// Keys shared through `store`: stores a first key if the store has none (of several
    /// instances starting at once, exactly one does), publishes a successor or purges old keys
    /// if due, and loads what the store then holds.
    pub async fn load(store: Arc<dyn RequestStateKeyStore>) -> Result<Self, RequestStateKeyError> {
        Self::load_at(store, unix_now()).await
    }

    /// [`RequestStateKeys::load`] at `now` (unix seconds).
    pub(crate) async fn load_at(
        store: Arc<dyn RequestStateKeyStore>,
        now: i64,
    ) -> Result<Self, RequestStateKeyError> {
        let loaded = reload(&*store, now).await?;
        Ok(Self::with(loaded, Some(store)))
    }

    fn with(loaded: Loaded, store: Option<Arc<dyn RequestStateKeyStore>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                loaded: RwLock::new(Arc::new(loaded)),
                store,
            }),
        }
    }

    fn loaded(&self) -> Arc<Loaded> {
        // Nothing panics while the lock is held: a poisoned lock still holds a whole codec.
        let loaded = self
            .inner
            .loaded
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(&loaded)
    }

    /// The codec as of the last reload: seals with the current key, opens what any kept key
    /// sealed. Take it per request (a reload swaps it).
    pub fn codec(&self) -> Arc<RequestStateCodec> {
        Arc::clone(&self.loaded().codec)
    }

    /// The id of the key that seals now (never the key itself).
    pub fn sealing_kid(&self) -> String {
        self.loaded().sealing_kid.clone()
    }

    /// Whether the keys come from a store (and so need reloading).
    pub(crate) fn is_shared(&self) -> bool {
        self.inner.store.is_some()
    }

    /// Reloads from the store at `now`, rotating or purging if due, and swaps the codec in.
    /// Returns whether the sealing key changed. Process-local keys stay as they are.
    pub(crate) async fn refresh_at(&self, now: i64) -> Result<bool, RequestStateKeyError> {
        let Some(store) = &self.inner.store else {
            return Ok(false);
        };
        let fresh = reload(&**store, now).await?;
        let mut loaded = self
            .inner
            .loaded
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let changed = loaded.sealing_kid != fresh.sealing_kid;
        *loaded = Arc::new(fresh);
        Ok(changed)
    }
}

/// One reload at `now`: the first key if the store has none, a successor if one is due, the
/// purge of keys past their retention, then the codec of what the store holds. A failed
/// rotation or purge is logged and retried at the next reload; the keys still load.
async fn reload(
    store: &dyn RequestStateKeyStore,
    now: i64,
) -> Result<Loaded, RequestStateKeyError> {
    let mut keys = store.list().await?;
    if keys.is_empty() {
        store.insert_first(new_key(now, now)?).await?;
        keys = store.list().await?;
    }
    if schedule::rotation_due(&keys, now) {
        let next = new_key(now, schedule::activation(now))?;
        let kid = next.kid.clone();
        match store.rotate(next, schedule::rotation_threshold(now)).await {
            Ok(true) => tracing::info!(%kid, "published a new request-state key"),
            Ok(false) => {}
            Err(error) => tracing::warn!(%error, "cannot publish a new request-state key"),
        }
        keys = store.list().await?;
    }
    if keys.iter().any(|key| !schedule::opens(key, &keys, now)) {
        let cutoff = schedule::purge_cutoff(now);
        if let Err(error) = store.purge_superseded(cutoff).await {
            tracing::warn!(%error, "cannot purge old request-state keys");
        }
    }
    Loaded::from_keys(&keys, now)
}

/// A new random key: 256 bits of key material, a random 64-bit id in hex.
fn new_key(created_at: i64, activates_at: i64) -> Result<RequestStateKeyRecord, RandomnessError> {
    let mut secret = vec![0; RequestStateSecret::MIN_LEN];
    getrandom::fill(&mut secret)?;
    let mut id = [0u8; 8];
    getrandom::fill(&mut id)?;
    Ok(RequestStateKeyRecord {
        kid: id.iter().map(|byte| format!("{byte:02x}")).collect(),
        secret: SecretAtRest::Clear(
            RequestStateSecret::from_bytes(secret).expect("MIN_LEN bytes are long enough"),
        ),
        created_at,
        activates_at,
    })
}
