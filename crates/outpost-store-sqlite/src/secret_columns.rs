//! A [`SecretAtRest`] as two columns: the bytes (the secret in the clear, or its sealed form)
//! and `sealed_with`, the id of the key-encryption key that sealed them (NULL in the clear).

use outpost_store::{KeyEncryptionKeyId, ModelError, SealedSecret, SecretAtRest};

/// The bytes and the `sealed_with` column of `secret`, whose clear form `clear` gives as bytes.
pub(crate) fn to_columns<T>(
    secret: &SecretAtRest<T>,
    clear: impl FnOnce(&T) -> &[u8],
) -> (&[u8], Option<&str>) {
    match secret {
        SecretAtRest::Clear(value) => (clear(value), None),
        SecretAtRest::Sealed(sealed) => (sealed.ciphertext(), Some(sealed.key_id().as_str())),
    }
}

/// The secret stored as `bytes` and `sealed_with`, whose clear form `clear` parses.
pub(crate) fn from_columns<T>(
    bytes: Vec<u8>,
    sealed_with: Option<String>,
    clear: impl FnOnce(Vec<u8>) -> Result<T, ModelError>,
) -> Result<SecretAtRest<T>, ModelError> {
    Ok(match sealed_with {
        None => SecretAtRest::Clear(clear(bytes)?),
        Some(id) => SecretAtRest::Sealed(SealedSecret::new(KeyEncryptionKeyId::parse(&id)?, bytes)),
    })
}
