//! Encryption at rest of the secrets a store must keep whole: the signing keys and the
//! request-state keys.
//!
//! An operator gives a key-encryption key ([`KeyEncryptionKey`]: the standard base64 of 32
//! random bytes, e.g. `openssl rand -base64 32`) and, while rotating it, the keys it replaces
//! ([`KeyEncryptionKeys`]). [`encrypt_keys_at_rest`] is the start-up step: it seals every
//! secret still in the clear and re-seals those sealed with a previous key, one conditional
//! write per record (so instances starting together on one store agree), then wraps the
//! store so that keys are sealed as they are written and opened as they are read
//! (`sealing_store`). Without a key-encryption key, a store holding sealed secrets is
//! refused, naming the key that sealed them.
//!
//! The cipher is XChaCha20-Poly1305 (RustCrypto): its 192-bit nonces are drawn at random for
//! every seal, with no counter to keep. The associated data names the record — its kind and
//! key id — so a sealed secret copied onto another record does not open.

mod sealing_store;

use std::fmt;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use chacha20poly1305::{
    KeyInit as _, XChaCha20Poly1305, XNonce,
    aead::{Aead as _, Payload},
};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use super::sealed::{KeyEncryptionKeyId, PrivateKeyPem, SealedSecret, SecretAtRest};
use crate::{RequestStateSecret, model::ModelError};

pub use sealing_store::encrypt_keys_at_rest;

/// The length of a key-encryption key, in bytes.
const KEY_LEN: usize = 32;
/// The length of an XChaCha20-Poly1305 nonce, in bytes; it leads every sealed secret.
const NONCE_LEN: usize = 24;

/// Why a key-encryption key was refused or a stored secret could not be sealed or opened.
/// Messages never contain a key or a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyEncryptionError {
    /// The key-encryption key given is not the base64 of 32 bytes.
    #[error(
        "the key-encryption key is malformed ({0}): expected the standard base64 of 32 random \
         bytes, e.g. from `openssl rand -base64 32`"
    )]
    Malformed(&'static str),
    /// A stored secret is sealed, and no key-encryption key was given.
    #[error(
        "{record} is encrypted with key-encryption key {key_id}, and no key-encryption key is set"
    )]
    NotGiven {
        /// The record, e.g. `signing key 3f…`.
        record: String,
        /// The key that sealed it.
        key_id: KeyEncryptionKeyId,
    },
    /// A stored secret is sealed with a key that is neither the current one nor a previous one.
    #[error(
        "{record} is encrypted with key-encryption key {key_id}, which is neither the current \
         key-encryption key nor one of the previous ones given"
    )]
    UnknownKey {
        /// The record.
        record: String,
        /// The key that sealed it.
        key_id: KeyEncryptionKeyId,
    },
    /// A sealed secret does not open with the key it names: altered, or copied from another
    /// record.
    #[error(
        "{record} does not decrypt with key-encryption key {key_id}: its stored secret was \
         altered or belongs to another record"
    )]
    Unopenable {
        /// The record.
        record: String,
        /// The key it names.
        key_id: KeyEncryptionKeyId,
    },
    /// A secret opened, but is not what its record holds.
    #[error("{record}: the decrypted secret is invalid: {reason}")]
    Invalid {
        /// The record.
        record: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The operating system's random number generator failed.
    #[error("cannot draw random bytes for key encryption: {0}")]
    Randomness(String),
}

/// A key-encryption key: 32 bytes, wiped from memory when dropped; `Debug` shows its id only.
#[derive(Clone)]
pub struct KeyEncryptionKey {
    key: Zeroizing<[u8; KEY_LEN]>,
    id: KeyEncryptionKeyId,
}

impl KeyEncryptionKey {
    /// Parses the standard base64 (padded) of 32 bytes; surrounding whitespace is ignored.
    pub fn from_base64(text: &str) -> Result<Self, KeyEncryptionError> {
        let bytes = Zeroizing::new(
            STANDARD
                .decode(text.trim())
                .map_err(|_| KeyEncryptionError::Malformed("not base64"))?,
        );
        let key: [u8; KEY_LEN] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| KeyEncryptionError::Malformed("not 32 bytes"))?;
        Ok(Self::from_bytes(key))
    }

    /// A new random key.
    pub fn generate() -> Result<Self, KeyEncryptionError> {
        let mut key = [0u8; KEY_LEN];
        getrandom::fill(&mut key).map_err(|e| KeyEncryptionError::Randomness(e.to_string()))?;
        Ok(Self::from_bytes(key))
    }

    fn from_bytes(key: [u8; KEY_LEN]) -> Self {
        let key = Zeroizing::new(key);
        let digest = Sha256::new_with_prefix(b"outpost key-encryption key id\0")
            .chain_update(key.as_slice())
            .finalize();
        let hex: String = digest[..KeyEncryptionKeyId::LEN / 2]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        let id = KeyEncryptionKeyId::parse(&hex).expect("16 lowercase hex digits");
        Self { key, id }
    }

    /// The key as the standard base64 of its 32 bytes, the form [`Self::from_base64`] reads.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.key.as_slice()))
    }

    /// Its id, stored with what it seals.
    pub fn id(&self) -> &KeyEncryptionKeyId {
        &self.id
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new_from_slice(self.key.as_slice()).expect("a 32-byte key")
    }
}

impl fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyEncryptionKey({})", self.id)
    }
}

/// The record a secret belongs to: bound into its seal as associated data, and named in
/// errors.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SecretOwner<'a> {
    /// A signing key, by `kid`.
    SigningKey(&'a str),
    /// A request-state key, by `kid`.
    RequestStateKey(&'a str),
}

impl SecretOwner<'_> {
    fn associated_data(self) -> Vec<u8> {
        let (kind, kid): (&[u8], &str) = match self {
            Self::SigningKey(kid) => (b"outpost signing key\0", kid),
            Self::RequestStateKey(kid) => (b"outpost request-state key\0", kid),
        };
        [kind, kid.as_bytes()].concat()
    }
}

impl fmt::Display for SecretOwner<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SigningKey(kid) => write!(f, "signing key {kid}"),
            Self::RequestStateKey(kid) => write!(f, "request-state key {kid}"),
        }
    }
}

/// The key-encryption keys in use: the current one, which seals, and the previous ones, which
/// only open (during a rotation).
#[derive(Clone)]
pub struct KeyEncryptionKeys {
    current: KeyEncryptionKey,
    previous: Vec<KeyEncryptionKey>,
}

impl fmt::Debug for KeyEncryptionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyEncryptionKeys")
            .field("current", &self.current)
            .field("previous", &self.previous)
            .finish()
    }
}

impl KeyEncryptionKeys {
    /// `current` seals; `previous` (keys being rotated out) only open.
    pub fn new(current: KeyEncryptionKey, previous: Vec<KeyEncryptionKey>) -> Self {
        Self { current, previous }
    }

    /// The id of the key that seals.
    pub fn current_id(&self) -> &KeyEncryptionKeyId {
        self.current.id()
    }

    fn find(&self, id: &KeyEncryptionKeyId) -> Option<&KeyEncryptionKey> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|key| key.id() == id)
    }

    /// Seals `secret` for `owner` with the current key, under a fresh random nonce.
    pub(crate) fn seal(
        &self,
        owner: SecretOwner<'_>,
        secret: &[u8],
    ) -> Result<SealedSecret, KeyEncryptionError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| KeyEncryptionError::Randomness(e.to_string()))?;
        let aad = owner.associated_data();
        let sealed = self
            .current
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: secret,
                    aad: &aad,
                },
            )
            .map_err(|_| KeyEncryptionError::Invalid {
                record: owner.to_string(),
                reason: "too long to encrypt".into(),
            })?;
        Ok(SealedSecret::new(
            self.current.id().clone(),
            [nonce.as_slice(), &sealed].concat(),
        ))
    }

    /// Opens `sealed` as `owner`'s secret with the key it names.
    pub(crate) fn open(
        &self,
        owner: SecretOwner<'_>,
        sealed: &SealedSecret,
    ) -> Result<Zeroizing<Vec<u8>>, KeyEncryptionError> {
        let key = self
            .find(sealed.key_id())
            .ok_or_else(|| KeyEncryptionError::UnknownKey {
                record: owner.to_string(),
                key_id: sealed.key_id().clone(),
            })?;
        let unopenable = || KeyEncryptionError::Unopenable {
            record: owner.to_string(),
            key_id: sealed.key_id().clone(),
        };
        let (nonce, ciphertext) = sealed
            .ciphertext()
            .split_at_checked(NONCE_LEN)
            .ok_or_else(unopenable)?;
        let nonce = XNonce::try_from(nonce).map_err(|_| unopenable())?;
        let aad = owner.associated_data();
        key.cipher()
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| unopenable())
    }

    /// A signing key's PEM, sealed for the key `kid`.
    pub(crate) fn seal_pem(
        &self,
        kid: &str,
        pem: &PrivateKeyPem,
    ) -> Result<SealedSecret, KeyEncryptionError> {
        self.seal(SecretOwner::SigningKey(kid), pem.expose().as_bytes())
    }

    /// The PEM sealed for the signing key `kid`.
    pub(crate) fn open_pem(
        &self,
        kid: &str,
        sealed: &SealedSecret,
    ) -> Result<PrivateKeyPem, KeyEncryptionError> {
        let owner = SecretOwner::SigningKey(kid);
        let bytes = self.open(owner, sealed)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| KeyEncryptionError::Invalid {
            record: owner.to_string(),
            reason: "not UTF-8 text".into(),
        })?;
        Ok(PrivateKeyPem::new(text.to_owned()))
    }

    /// A request-state key's material, sealed for the key `kid`.
    pub(crate) fn seal_request_state(
        &self,
        kid: &str,
        secret: &RequestStateSecret,
    ) -> Result<SealedSecret, KeyEncryptionError> {
        self.seal(SecretOwner::RequestStateKey(kid), secret.expose())
    }

    /// The request-state key material sealed for the key `kid`.
    pub(crate) fn open_request_state(
        &self,
        kid: &str,
        sealed: &SealedSecret,
    ) -> Result<RequestStateSecret, KeyEncryptionError> {
        let owner = SecretOwner::RequestStateKey(kid);
        let bytes = self.open(owner, sealed)?;
        RequestStateSecret::from_bytes(bytes.to_vec()).map_err(|e: ModelError| {
            KeyEncryptionError::Invalid {
                record: owner.to_string(),
                reason: e.to_string(),
            }
        })
    }
}

/// `secret` sealed by `seal` if it is in the clear, else as it is.
pub(crate) fn seal_clear<T>(
    secret: SecretAtRest<T>,
    seal: impl FnOnce(&T) -> Result<SealedSecret, KeyEncryptionError>,
) -> Result<SecretAtRest<T>, KeyEncryptionError> {
    match secret {
        SecretAtRest::Clear(clear) => Ok(SecretAtRest::Sealed(seal(&clear)?)),
        sealed @ SecretAtRest::Sealed(_) => Ok(sealed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> KeyEncryptionKeys {
        KeyEncryptionKeys::new(KeyEncryptionKey::generate().expect("random"), Vec::new())
    }

    #[test]
    fn a_key_is_32_bytes_of_base64() {
        let key = KeyEncryptionKey::generate().expect("random");
        let again = KeyEncryptionKey::from_base64(&format!(" {}\n", *key.to_base64()))
            .expect("its own form");
        assert_eq!(again.id(), key.id());
        assert_eq!(
            KeyEncryptionKey::from_base64("not base64!").unwrap_err(),
            KeyEncryptionError::Malformed("not base64")
        );
        assert_eq!(
            KeyEncryptionKey::from_base64(&STANDARD.encode([7u8; 16])).unwrap_err(),
            KeyEncryptionError::Malformed("not 32 bytes")
        );
        assert!(!format!("{key:?}").contains(key.to_base64().as_str()));
    }

    #[test]
    fn sealed_secrets_open_only_for_their_record_and_unaltered() {
        let keys = keys();
        let sealed = keys
            .seal(SecretOwner::SigningKey("k1"), b"secret")
            .expect("seals");
        assert!(!sealed.ciphertext().windows(6).any(|w| w == b"secret"));
        let opened = keys
            .open(SecretOwner::SigningKey("k1"), &sealed)
            .expect("opens");
        assert_eq!(opened.as_slice(), b"secret");
        for owner in [
            SecretOwner::SigningKey("k2"),
            SecretOwner::RequestStateKey("k1"),
        ] {
            assert!(matches!(
                keys.open(owner, &sealed),
                Err(KeyEncryptionError::Unopenable { .. })
            ));
        }
        let mut altered = sealed.ciphertext().to_vec();
        altered[NONCE_LEN] ^= 1;
        let altered = SealedSecret::new(sealed.key_id().clone(), altered);
        assert!(matches!(
            keys.open(SecretOwner::SigningKey("k1"), &altered),
            Err(KeyEncryptionError::Unopenable { .. })
        ));
    }

    #[test]
    fn previous_keys_open_and_unknown_keys_are_named() {
        let old = keys();
        let sealed = old
            .seal(SecretOwner::RequestStateKey("r"), b"x")
            .expect("seals");
        let rotated = KeyEncryptionKeys::new(
            KeyEncryptionKey::generate().expect("random"),
            vec![old.current.clone()],
        );
        assert!(
            rotated
                .open(SecretOwner::RequestStateKey("r"), &sealed)
                .is_ok()
        );
        let error = keys()
            .open(SecretOwner::RequestStateKey("r"), &sealed)
            .unwrap_err();
        assert!(
            error.to_string().contains(old.current_id().as_str()),
            "{error}"
        );
    }
}
