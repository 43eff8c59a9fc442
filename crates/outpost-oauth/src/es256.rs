//! ES256 for `jsonwebtoken`, backed by `p256`.
//!
//! `jsonwebtoken` 11 delegates its cryptography to a process-wide [`CryptoProvider`]. Its own
//! RustCrypto provider is built on the previous RustCrypto generation (`sha2` 0.10, `rand` 0.8,
//! `p256` 0.13), which would put a second major of each in the tree next to what rmcp already
//! uses (`sha2` 0.11, `getrandom` 0.4); its aws-lc provider needs a C toolchain. This provider
//! does ES256 (ECDSA P-256 with SHA-256, RFC 7518 §3.4) with `p256` 0.14 and nothing else: any
//! other algorithm is refused by the provider itself, on top of the pinning in
//! [`super::access_token`]. It holds no state.
//!
//! [`install`] sets it once per process before the first use. If something else in the process
//! installed a provider first, that provider stays (it is then theirs to keep complete).

use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey,
    crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils},
    errors::{Error, ErrorKind, Result},
    jwk::{EllipticCurve, ThumbprintHash},
    signature,
};
use p256::{
    ecdsa::{
        Signature, SigningKey, VerifyingKey,
        signature::{Signer as _, Verifier as _},
    },
    pkcs8::DecodePrivateKey as _,
};
use sha2::{Digest as _, Sha256, Sha384, Sha512};

/// The provider: ES256 only.
static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: |_| Err(ErrorKind::UnsupportedAlgorithm.into()),
        rsa_pub_components_from_public_key: |_| Err(ErrorKind::UnsupportedAlgorithm.into()),
        ec_pub_components_from_private_key: ec_components_from_private_key,
        ed_pub_components_from_private_key: |_, _| Err(ErrorKind::UnsupportedAlgorithm.into()),
        compute_digest,
    },
};

/// Installs the ES256 provider as `jsonwebtoken`'s process default (once; later calls and a
/// provider installed by someone else are left alone).
pub(crate) fn install() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        // An error means a provider is already installed: keep it.
        let _ = PROVIDER.install_default();
    });
}

fn new_signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    if *algorithm != Algorithm::ES256 {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    let key = SigningKey::from_pkcs8_der(key.as_bytes())
        .map_err(|_| Error::from(ErrorKind::InvalidEcdsaKey))?;
    Ok(Box::new(Es256Signer(key)))
}

fn new_verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    if *algorithm != Algorithm::ES256 {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    // An EC `DecodingKey` holds the SEC1 point (`0x04 ‖ x ‖ y`).
    let key = VerifyingKey::from_sec1_bytes(key.try_get_as_bytes()?)
        .map_err(|_| Error::from(ErrorKind::InvalidEcdsaKey))?;
    Ok(Box::new(Es256Verifier(key)))
}

fn ec_components_from_private_key(
    der: &[u8],
    algorithm: Algorithm,
) -> Result<(EllipticCurve, Vec<u8>, Vec<u8>)> {
    if algorithm != Algorithm::ES256 {
        return Err(ErrorKind::UnsupportedAlgorithm.into());
    }
    let key =
        SigningKey::from_pkcs8_der(der).map_err(|_| Error::from(ErrorKind::InvalidEcdsaKey))?;
    let point = key.verifying_key().to_sec1_point(false);
    let bytes = point.as_bytes();
    if bytes.len() != 65 {
        return Err(ErrorKind::InvalidEcdsaKey.into());
    }
    Ok((
        EllipticCurve::P256,
        bytes[1..33].to_vec(),
        bytes[33..].to_vec(),
    ))
}

fn compute_digest(data: &[u8], hash: ThumbprintHash) -> Result<Vec<u8>> {
    Ok(match hash {
        ThumbprintHash::SHA256 => Sha256::digest(data).to_vec(),
        ThumbprintHash::SHA384 => Sha384::digest(data).to_vec(),
        ThumbprintHash::SHA512 => Sha512::digest(data).to_vec(),
        _ => return Err(ErrorKind::UnsupportedAlgorithm.into()),
    })
}

struct Es256Signer(SigningKey);

impl signature::Signer<Vec<u8>> for Es256Signer {
    fn try_sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        // RFC 7518 §3.4: the JWS signature is `r ‖ s`, 64 bytes, not DER.
        let signature: Signature = self
            .0
            .try_sign(message)
            .map_err(|_| signature::Error::new())?;
        Ok(signature.to_bytes().to_vec())
    }
}

impl JwtSigner for Es256Signer {
    fn algorithm(&self) -> Algorithm {
        Algorithm::ES256
    }
}

struct Es256Verifier(VerifyingKey);

impl signature::Verifier<Vec<u8>> for Es256Verifier {
    fn verify(
        &self,
        message: &[u8],
        signature: &Vec<u8>,
    ) -> std::result::Result<(), signature::Error> {
        let signature = Signature::from_slice(signature).map_err(|_| signature::Error::new())?;
        self.0
            .verify(message, &signature)
            .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Es256Verifier {
    fn algorithm(&self) -> Algorithm {
        Algorithm::ES256
    }
}
