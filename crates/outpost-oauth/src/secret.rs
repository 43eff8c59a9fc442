//! Random opaque secrets: authorization codes, refresh tokens, client secrets.
//!
//! 256 bits from the operating system's RNG, base64url without padding (RFC 4648 §5), 43
//! characters. RFC 6749 §10.10 asks that credentials be guessable with probability ≤ 2^-128;
//! RFC 6819 §5.1.4.2.2 suggests at least 128 bits of entropy: 256 leaves a wide margin. The
//! [`Secret`] newtype never prints its value in `Debug`, so a secret that reaches a log line by
//! accident shows as `Secret(<redacted>)`.

use std::fmt;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use subtle::ConstantTimeEq;

/// Bytes of randomness in a generated secret.
pub const SECRET_BYTES: usize = 32;

/// The operating system's random number generator failed.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed: {0}")]
pub struct RandomnessError(#[from] getrandom::Error);

/// Fills `N` bytes from the operating system's RNG.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], RandomnessError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)?;
    Ok(bytes)
}

/// An opaque secret: an authorization code, refresh token or client secret.
///
/// Compare two secrets with [`Secret::matches`] (constant time); store only a hash of it at rest.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A new secret: 256 random bits from the OS, base64url without padding.
    pub fn generate() -> Result<Self, RandomnessError> {
        let bytes = random_bytes::<SECRET_BYTES>()?;
        Ok(Self(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Wraps a secret received from a client (a code or refresh token in a request).
    pub fn from_presented(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret's text, to send to the client once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `other` is this secret, compared in constant time.
    pub fn matches(&self, other: &str) -> bool {
        self.0.as_bytes().ct_eq(other.as_bytes()).into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_256_bit_base64url_without_padding() {
        let secret = Secret::generate().unwrap();
        assert_eq!(secret.expose().len(), 43);
        assert!(
            secret
                .expose()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(URL_SAFE_NO_PAD.decode(secret.expose()).unwrap().len(), 32);
    }

    #[test]
    fn generated_secrets_differ() {
        assert_ne!(Secret::generate().unwrap(), Secret::generate().unwrap());
    }

    #[test]
    fn debug_is_redacted() {
        let secret = Secret::from_presented("hunter2");
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert!(!format!("{:?}", Some(&secret)).contains("hunter2"));
    }

    #[test]
    fn matches_compares_the_whole_value() {
        let secret = Secret::from_presented("abc");
        assert!(secret.matches("abc"));
        assert!(!secret.matches("abd"));
        assert!(!secret.matches("ab"));
        assert!(!secret.matches(""));
    }
}
