//! Secrets as a store keeps them: in the clear, or sealed with a key-encryption key.
//!
//! Two kinds of stored secret must be kept whole rather than hashed — the authorization
//! server's signing keys and the MRTR request-state keys. Their records hold a
//! [`SecretAtRest`]: [`SecretAtRest::Clear`] (no key-encryption key was set when it was
//! written) or [`SecretAtRest::Sealed`], opaque bytes plus the id of the key that sealed them.
//! Backends store either form as it is and never see a key-encryption key; sealing and opening
//! live in [`key_encryption`](crate::key_encryption).

use std::fmt;

use zeroize::Zeroizing;

use super::model::ModelError;

/// The id of a key-encryption key: the first 8 bytes of a SHA-256 over the key, in lowercase
/// hex. Stored with every secret the key sealed, so that the right key is picked when several
/// are given (rotation) and a missing one is named. It reveals nothing of the key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyEncryptionKeyId(String);

impl KeyEncryptionKeyId {
    /// The length of an id, in hex digits.
    pub const LEN: usize = 16;

    /// Parses a stored id: [`KeyEncryptionKeyId::LEN`] lowercase hex digits.
    pub fn parse(id: &str) -> Result<Self, ModelError> {
        let hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
        if id.len() != Self::LEN || !id.chars().all(hex) {
            return Err(ModelError::KeyEncryptionKeyId(id.to_owned()));
        }
        Ok(Self(id.to_owned()))
    }

    /// The id, as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyEncryptionKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A secret sealed with a key-encryption key: the id of that key and the AEAD output (nonce,
/// ciphertext, tag), which only that key opens, and only for the record it was sealed for.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret {
    key_id: KeyEncryptionKeyId,
    ciphertext: Vec<u8>,
}

impl SealedSecret {
    /// A sealed secret as read from storage or made by [`crate::key_encryption`].
    pub fn new(key_id: KeyEncryptionKeyId, ciphertext: Vec<u8>) -> Self {
        Self { key_id, ciphertext }
    }

    /// The key-encryption key that sealed it.
    pub fn key_id(&self) -> &KeyEncryptionKeyId {
        &self.key_id
    }

    /// The sealed bytes, as stored.
    pub fn ciphertext(&self) -> &[u8] {
        &self.ciphertext
    }
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedSecret")
            .field("key_id", &self.key_id)
            .field("bytes", &self.ciphertext.len())
            .finish()
    }
}

/// A stored secret: in the clear (`T`, whose `Debug` redacts it) or sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretAtRest<T> {
    /// Written without a key-encryption key.
    Clear(T),
    /// Sealed with a key-encryption key.
    Sealed(SealedSecret),
}

impl<T> SecretAtRest<T> {
    /// The key-encryption key that sealed it; `None` when it is in the clear.
    pub fn sealed_with(&self) -> Option<&KeyEncryptionKeyId> {
        match self {
            Self::Clear(_) => None,
            Self::Sealed(sealed) => Some(sealed.key_id()),
        }
    }

    /// Replaces the secret by `sealed` if it is as `from` says (in the clear for `None`,
    /// else sealed with that key): a conditional reseal's check and write in one step;
    /// whether it was replaced.
    pub fn reseal(&mut self, from: Option<&KeyEncryptionKeyId>, sealed: SealedSecret) -> bool {
        if self.sealed_with() != from {
            return false;
        }
        *self = Self::Sealed(sealed);
        true
    }
}

/// A signing key's private key, PKCS#8 PEM. Secret: `Debug` redacts it, and it is wiped from
/// memory when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKeyPem(Zeroizing<String>);

impl PrivateKeyPem {
    /// Takes a PEM document (its form is checked where the key is loaded).
    pub fn new(pem: String) -> Self {
        Self(Zeroizing::new(pem))
    }

    /// The PEM text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PrivateKeyPem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKeyPem(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_parse_or_not() {
        assert!(KeyEncryptionKeyId::parse("0123456789abcdef").is_ok());
        for bad in [
            "",
            "0123456789ABCDEF",
            "0123456789abcde",
            "0123456789abcdefg",
        ] {
            assert!(KeyEncryptionKeyId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn nothing_secret_in_debug() {
        let pem = PrivateKeyPem::new("-----BEGIN PRIVATE KEY-----".into());
        let clear: SecretAtRest<PrivateKeyPem> = SecretAtRest::Clear(pem);
        assert!(!format!("{clear:?}").contains("BEGIN"));
        let id = KeyEncryptionKeyId::parse("0123456789abcdef").expect("valid");
        let sealed = SealedSecret::new(id, b"opaque bytes".to_vec());
        assert_eq!(
            format!("{sealed:?}"),
            r#"SealedSecret { key_id: KeyEncryptionKeyId("0123456789abcdef"), bytes: 12 }"#
        );
    }
}
