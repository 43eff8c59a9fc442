//! The key-encryption key of `serve` and `keys`: read from the environment, never from the
//! command line (where `ps` shows it), and applied to the store
//! ([`outpost::store::encrypt_keys_at_rest`]) with errors that name the variable to set.

use anyhow::Context;
use outpost::store::{
    KeyEncryptionError, KeyEncryptionKey, KeyEncryptionKeys, Store, StoreError,
    encrypt_keys_at_rest,
};

/// The key that seals the signing and request-state keys in the store: the standard base64
/// of 32 random bytes.
pub const KEY_ENV: &str = "OUTPOST_KEY_ENCRYPTION_KEY";
/// Keys being rotated out, comma-separated: what they sealed is opened and sealed again with
/// the current key at start.
pub const PREVIOUS_KEYS_ENV: &str = "OUTPOST_KEY_ENCRYPTION_PREVIOUS_KEYS";

/// The key-encryption keys the environment gives; `None` when [`KEY_ENV`] is unset or empty.
/// A malformed key is refused naming its variable, never showing its value.
pub fn from_env() -> anyhow::Result<Option<KeyEncryptionKeys>> {
    let read = |name: &str| match std::env::var(name) {
        Ok(value) => Ok(Some(value).filter(|v| !v.trim().is_empty())),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(anyhow::anyhow!(
            "{name} is not valid text: expected the standard base64 of 32 random bytes"
        )),
    };
    let previous = read(PREVIOUS_KEYS_ENV)?;
    let Some(current) = read(KEY_ENV)? else {
        if previous.is_some() {
            anyhow::bail!(
                "{PREVIOUS_KEYS_ENV} is set but {KEY_ENV} is not: set the new key-encryption \
                 key in {KEY_ENV} and the keys it replaces in {PREVIOUS_KEYS_ENV}"
            );
        }
        return Ok(None);
    };
    let current = KeyEncryptionKey::from_base64(&current).with_context(|| KEY_ENV.to_owned())?;
    let previous = previous
        .iter()
        .flat_map(|list| list.split(','))
        .filter(|key| !key.trim().is_empty())
        .enumerate()
        .map(|(n, key)| {
            KeyEncryptionKey::from_base64(key)
                .with_context(|| format!("{PREVIOUS_KEYS_ENV}, key {}", n + 1))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Some(KeyEncryptionKeys::new(current, previous)))
}

/// `store` with its keys sealed at rest with `keys` (see [`from_env`]): clear keys sealed,
/// keys sealed with a previous key sealed again, a store with sealed keys refused without the
/// key that sealed them. Without a key, one warning that keys stay in the clear.
pub async fn apply(store: Store, keys: Option<KeyEncryptionKeys>) -> anyhow::Result<Store> {
    match &keys {
        Some(keys) => tracing::info!(
            key_encryption_key = %keys.current_id(),
            "signing and request-state keys are encrypted at rest"
        ),
        None => tracing::warn!(
            "signing and request-state keys are stored unencrypted: set {KEY_ENV} (make one \
             with `outpost keys generate-encryption-key`) to encrypt them at rest"
        ),
    }
    encrypt_keys_at_rest(store, keys).await.map_err(|error| {
        let hint = match &error {
            StoreError::KeyEncryption(KeyEncryptionError::NotGiven { .. }) => {
                format!("; set {KEY_ENV} to that key-encryption key")
            }
            StoreError::KeyEncryption(KeyEncryptionError::UnknownKey { .. }) => format!(
                "; set {KEY_ENV} to that key, or, while rotating to a new key, give it in \
                 {PREVIOUS_KEYS_ENV}"
            ),
            _ => String::new(),
        };
        anyhow::anyhow!("{error}{hint}")
    })
}

/// A new key-encryption key, as [`KEY_ENV`] takes it.
pub fn generate() -> anyhow::Result<String> {
    let key = KeyEncryptionKey::generate()?;
    Ok(key.to_base64().to_string())
}
