//! One ES256 signing key: the private key that signs access tokens and its public JWK.
//!
//! Keys are ECDSA P-256 (`ES256`, RFC 7518 §3.4), generated from the operating system's RNG.
//! A key is named by its `kid`, the RFC 7638 JWK thumbprint of its public key (SHA-256 over
//! `{"crv","kty","x","y"}` in lexicographic order, base64url): the name is derived from the key,
//! so two instances sharing a store agree on it and a stored `kid` that does not match its key
//! betrays corruption. The private key travels to storage as PKCS#8 PEM (RFC 5958, RFC 7468
//! `PRIVATE KEY`); the public key is published as a JWK (RFC 7517 §4, RFC 7518 §6.2.1).
//! `Debug` never shows private material.

use std::fmt;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{DecodingKey, EncodingKey};
use p256::{
    elliptic_curve::Generate as _,
    pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, LineEnding},
};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::secret::RandomnessError;

/// The JWS `alg` of every Outpost signing key.
pub const ES256: &str = "ES256";

/// Why a signing key could not be made, loaded or exported.
#[derive(Debug, thiserror::Error)]
pub enum SigningKeyError {
    /// The OS RNG failed while generating a key.
    #[error(transparent)]
    Randomness(#[from] RandomnessError),
    /// A stored key names an algorithm other than ES256.
    #[error("unsupported signing key algorithm {0:?}: only ES256 is supported")]
    UnsupportedAlgorithm(String),
    /// The stored PEM is not a PKCS#8 P-256 private key.
    #[error("the stored private key is not a PKCS#8 PEM P-256 key")]
    InvalidPem,
    /// The stored `kid` is not the thumbprint of the stored key.
    #[error("stored key id {stored:?} does not match the key (its thumbprint is {actual:?})")]
    KidMismatch {
        /// The `kid` the store holds.
        stored: String,
        /// The thumbprint of the stored key.
        actual: String,
    },
    /// PKCS#8 encoding failed.
    #[error("cannot encode the private key as PKCS#8")]
    Encoding,
}

/// A public key as a JWK (RFC 7517 §4; EC members RFC 7518 §6.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    /// Key type: `EC`.
    pub kty: String,
    /// Curve: `P-256`.
    pub crv: String,
    /// The x coordinate, base64url (32 bytes).
    pub x: String,
    /// The y coordinate, base64url (32 bytes).
    pub y: String,
    /// The key id (RFC 7638 thumbprint).
    pub kid: String,
    /// The algorithm the key is used with: `ES256`.
    pub alg: String,
    /// Public key use: `sig`.
    #[serde(rename = "use")]
    pub key_use: String,
}

/// An ES256 private key with its `kid` and public JWK.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    secret: p256::ecdsa::SigningKey,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: PublicJwk,
}

impl SigningKey {
    /// A new key from the OS RNG.
    pub fn generate() -> Result<Self, SigningKeyError> {
        let secret = p256::ecdsa::SigningKey::try_generate().map_err(RandomnessError::from)?;
        Self::from_secret(secret)
    }

    /// Loads a stored key: `kid` and `private_key_pem` of a signing-key record. Refuses a PEM
    /// that is not a P-256 PKCS#8 key and a `kid` that is not the key's thumbprint.
    pub fn from_pem(kid: &str, private_key_pem: &str) -> Result<Self, SigningKeyError> {
        let secret = p256::ecdsa::SigningKey::from_pkcs8_pem(private_key_pem)
            .map_err(|_| SigningKeyError::InvalidPem)?;
        let key = Self::from_secret(secret)?;
        if key.kid != kid {
            return Err(SigningKeyError::KidMismatch {
                stored: kid.to_owned(),
                actual: key.kid,
            });
        }
        Ok(key)
    }

    /// Like [`SigningKey::from_pem`], checking the record's `algorithm` first.
    pub fn from_stored(
        kid: &str,
        algorithm: &str,
        private_key_pem: &str,
    ) -> Result<Self, SigningKeyError> {
        if algorithm != ES256 {
            return Err(SigningKeyError::UnsupportedAlgorithm(algorithm.to_owned()));
        }
        Self::from_pem(kid, private_key_pem)
    }

    fn from_secret(secret: p256::ecdsa::SigningKey) -> Result<Self, SigningKeyError> {
        let point = secret.verifying_key().to_sec1_point(false);
        // Uncompressed SEC1: 0x04 ‖ x (32 bytes) ‖ y (32 bytes).
        let (x, y) = match point.as_bytes() {
            [0x04, rest @ ..] if rest.len() == 64 => rest.split_at(32),
            _ => return Err(SigningKeyError::Encoding),
        };
        let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
        let kid = thumbprint(&x, &y);
        let der = secret
            .to_pkcs8_der()
            .map_err(|_| SigningKeyError::Encoding)?;
        let encoding = EncodingKey::from_ec_der(der.as_bytes());
        let decoding =
            DecodingKey::from_ec_components(&x, &y).map_err(|_| SigningKeyError::Encoding)?;
        let jwk = PublicJwk {
            kty: "EC".into(),
            crv: "P-256".into(),
            x,
            y,
            kid: kid.clone(),
            alg: ES256.into(),
            key_use: "sig".into(),
        };
        Ok(Self {
            kid,
            secret,
            encoding,
            decoding,
            jwk,
        })
    }

    /// The private key as PKCS#8 PEM, for the signing-key record. Handle as a secret.
    pub fn to_pem(&self) -> Result<String, SigningKeyError> {
        self.secret
            .to_pkcs8_pem(LineEnding::LF)
            .map(|pem| pem.as_str().to_owned())
            .map_err(|_| SigningKeyError::Encoding)
    }

    /// The key id: the RFC 7638 thumbprint of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm, `ES256` (the record's `algorithm`).
    pub fn algorithm(&self) -> &'static str {
        ES256
    }

    /// The public key as a JWK, for the JWK Set.
    pub fn public_jwk(&self) -> &PublicJwk {
        &self.jwk
    }

    pub(crate) fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }

    pub(crate) fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &ES256)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

/// RFC 7638 §3.2–3.3: SHA-256 over the required EC members in lexicographic order, no
/// whitespace, base64url. The members are fixed strings and base64url text, so no JSON escaping
/// is ever needed.
fn thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip_keeps_the_kid() {
        let key = SigningKey::generate().unwrap();
        let pem = key.to_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let loaded = SigningKey::from_pem(key.kid(), &pem).unwrap();
        assert_eq!(loaded.kid(), key.kid());
        assert_eq!(loaded.public_jwk(), key.public_jwk());
        let loaded = SigningKey::from_stored(key.kid(), "ES256", &pem).unwrap();
        assert_eq!(loaded.kid(), key.kid());
    }

    #[test]
    fn generated_keys_differ() {
        let (a, b) = (
            SigningKey::generate().unwrap(),
            SigningKey::generate().unwrap(),
        );
        assert_ne!(a.kid(), b.kid());
    }

    #[test]
    fn stored_key_checks() {
        let key = SigningKey::generate().unwrap();
        let pem = key.to_pem().unwrap();
        assert!(matches!(
            SigningKey::from_pem("not-the-kid", &pem),
            Err(SigningKeyError::KidMismatch { .. })
        ));
        assert!(matches!(
            SigningKey::from_pem(
                key.kid(),
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
            ),
            Err(SigningKeyError::InvalidPem)
        ));
        assert!(matches!(
            SigningKey::from_stored(key.kid(), "RS256", &pem),
            Err(SigningKeyError::UnsupportedAlgorithm(_))
        ));
    }

    #[test]
    fn public_jwk_has_the_ec_members() {
        let key = SigningKey::generate().unwrap();
        let json = serde_json::to_value(key.public_jwk()).unwrap();
        assert_eq!(json["kty"], "EC");
        assert_eq!(json["crv"], "P-256");
        assert_eq!(json["alg"], "ES256");
        assert_eq!(json["use"], "sig");
        assert_eq!(json["kid"], key.kid());
        for coordinate in ["x", "y"] {
            let text = json[coordinate].as_str().unwrap();
            assert_eq!(URL_SAFE_NO_PAD.decode(text).unwrap().len(), 32);
        }
        assert!(json.get("d").is_none(), "no private member in a public JWK");
    }

    #[test]
    fn kid_is_the_rfc7638_thumbprint() {
        // Cross-check against jsonwebtoken's own RFC 7638 implementation.
        super::super::es256::install();
        let key = SigningKey::generate().unwrap();
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(serde_json::to_value(key.public_jwk()).unwrap()).unwrap();
        let expected = jwk
            .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
            .unwrap();
        assert_eq!(key.kid(), expected);
        assert_eq!(key.kid().len(), 43);
    }

    #[test]
    fn debug_redacts_the_private_key() {
        let key = SigningKey::generate().unwrap();
        let pem = key.to_pem().unwrap();
        let debug = format!("{key:?}");
        assert!(debug.contains(key.kid()));
        assert!(debug.contains("<redacted>"));
        let body: String = pem.lines().nth(1).unwrap().chars().take(20).collect();
        assert!(!debug.contains(&body));
    }
}
