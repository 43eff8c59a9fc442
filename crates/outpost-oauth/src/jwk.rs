//! The issuer's public keys (RFC 7517 JWK Set) and the JWS algorithms they verify (RFC 7518).
//!
//! Accepted: RS256/384/512 and PS256/384/512 (RSA, 2048 to 8192 bits), ES256 (P-256), ES384
//! (P-384) and EdDSA (Ed25519). Never `none`, never HMAC: a public key is no shared secret, so
//! an `HS256` token "signed" with it is refused before any key is looked at (RFC 8725 §3.1,
//! §3.2). A key is used only for the algorithms of its type, and only for its own `alg` when
//! it names one. Signatures are verified by `ring` (feature `issuer-client`).

use std::collections::HashMap;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::Deserialize;

/// A JWS algorithm Outpost verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// RSASSA-PSS with SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512.
    Ps512,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// ECDSA on P-384 with SHA-384.
    Es384,
    /// Ed25519.
    EdDsa,
}

impl Algorithm {
    /// The algorithm a JWS header's `alg` names; `None` for anything not accepted.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "RS256" => Self::Rs256,
            "RS384" => Self::Rs384,
            "RS512" => Self::Rs512,
            "PS256" => Self::Ps256,
            "PS384" => Self::Ps384,
            "PS512" => Self::Ps512,
            "ES256" => Self::Es256,
            "ES384" => Self::Es384,
            "EdDSA" => Self::EdDsa,
            _ => return None,
        })
    }
}

/// One verification key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PublicKey {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    P256(Vec<u8>),
    P384(Vec<u8>),
    Ed25519(Vec<u8>),
}

/// A usable key of the set: the key and the one algorithm it is pinned to, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationKey {
    key: PublicKey,
    alg: Option<Algorithm>,
}

impl VerificationKey {
    /// Whether `signature` over `message` verifies with this key under `alg`; `false` too when
    /// `alg` does not fit the key.
    pub fn verifies(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        if self.alg.is_some_and(|pinned| pinned != alg) {
            return false;
        }
        let rsa = |params: &'static signature::RsaParameters, n: &[u8], e: &[u8]| {
            RsaPublicKeyComponents { n, e }
                .verify(params, message, signature)
                .is_ok()
        };
        let unparsed = |algorithm: &'static dyn signature::VerificationAlgorithm, key: &[u8]| {
            UnparsedPublicKey::new(algorithm, key)
                .verify(message, signature)
                .is_ok()
        };
        match (&self.key, alg) {
            (PublicKey::Rsa { n, e }, Algorithm::Rs256) => {
                rsa(&signature::RSA_PKCS1_2048_8192_SHA256, n, e)
            }
            (PublicKey::Rsa { n, e }, Algorithm::Rs384) => {
                rsa(&signature::RSA_PKCS1_2048_8192_SHA384, n, e)
            }
            (PublicKey::Rsa { n, e }, Algorithm::Rs512) => {
                rsa(&signature::RSA_PKCS1_2048_8192_SHA512, n, e)
            }
            (PublicKey::Rsa { n, e }, Algorithm::Ps256) => {
                rsa(&signature::RSA_PSS_2048_8192_SHA256, n, e)
            }
            (PublicKey::Rsa { n, e }, Algorithm::Ps384) => {
                rsa(&signature::RSA_PSS_2048_8192_SHA384, n, e)
            }
            (PublicKey::Rsa { n, e }, Algorithm::Ps512) => {
                rsa(&signature::RSA_PSS_2048_8192_SHA512, n, e)
            }
            (PublicKey::P256(point), Algorithm::Es256) => {
                unparsed(&signature::ECDSA_P256_SHA256_FIXED, point)
            }
            (PublicKey::P384(point), Algorithm::Es384) => {
                unparsed(&signature::ECDSA_P384_SHA384_FIXED, point)
            }
            (PublicKey::Ed25519(x), Algorithm::EdDsa) => unparsed(&signature::ED25519, x),
            _ => false,
        }
    }
}

/// The issuer's signing keys by `kid`.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, Vec<VerificationKey>>,
}

/// The keys a set names by one `kid`: one, or several when the set repeats the `kid` (RFC 7517
/// §4.5 lets keys of different types share one; a set in mid-rotation may repeat one by
/// mistake). A signature verifies when one of them verifies it.
#[derive(Debug, Clone, Copy)]
pub struct NamedKeys<'a>(&'a [VerificationKey]);

impl NamedKeys<'_> {
    /// Whether `signature` over `message` verifies under `alg` with one of the keys.
    pub fn verifies(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        self.0
            .iter()
            .any(|key| key.verifies(alg, message, signature))
    }
}

impl KeySet {
    /// The keys named `kid`.
    pub fn get(&self, kid: &str) -> Option<NamedKeys<'_>> {
        self.keys.get(kid).map(|keys| NamedKeys(keys))
    }

    /// The key ids of the set.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Whether no key is usable.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether `older` holds a key this set does not (under its `kid`): a key was dropped
    /// or replaced, so what it verified must be verified again.
    pub fn lacks_a_key_of(&self, older: &KeySet) -> bool {
        older.keys.iter().any(|(kid, keys)| {
            self.keys
                .get(kid)
                .is_none_or(|fresh| keys.iter().any(|key| !fresh.contains(key)))
        })
    }

    /// The usable keys of a JWK Set document: signature keys (`use` absent or `sig`, and
    /// `key_ops`, when given, including `verify`) with a `kid`, of a type and curve Outpost
    /// verifies, with well-formed members. Other keys (encryption keys, symmetric keys,
    /// unknown types) are skipped, as RFC 7517 §5 asks.
    pub fn from_document(document: &JwkSetDocument) -> Self {
        let mut keys: HashMap<String, Vec<VerificationKey>> = HashMap::new();
        let usable = document
            .keys
            .iter()
            .filter(|jwk| jwk.key_use.as_deref().is_none_or(|u| u == "sig"))
            .filter(|jwk| {
                jwk.key_ops
                    .as_ref()
                    .is_none_or(|ops| ops.iter().any(|op| op == "verify"))
            })
            .filter_map(|jwk| Some((jwk.kid.clone()?, jwk.verification_key()?)));
        for (kid, key) in usable {
            keys.entry(kid).or_default().push(key);
        }
        Self { keys }
    }
}

/// A JWK Set as served at the issuer's `jwks_uri`.
#[derive(Debug, Deserialize)]
pub struct JwkSetDocument {
    keys: Vec<Jwk>,
}

/// The members of a public JWK that matter here.
#[derive(Debug, Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    key_use: Option<String>,
    key_ops: Option<Vec<String>>,
    alg: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

impl Jwk {
    fn verification_key(&self) -> Option<VerificationKey> {
        let decode = |member: &Option<String>| URL_SAFE_NO_PAD.decode(member.as_deref()?).ok();
        let alg = match self.alg.as_deref() {
            None => None,
            // A key pinned to an algorithm Outpost refuses verifies nothing.
            Some(name) => Some(Algorithm::parse(name)?),
        };
        let key = match (self.kty.as_str(), self.crv.as_deref()) {
            ("RSA", _) => PublicKey::Rsa {
                n: decode(&self.n)?,
                e: decode(&self.e)?,
            },
            ("EC", Some("P-256")) => {
                PublicKey::P256(uncompressed_point(decode(&self.x)?, decode(&self.y)?, 32)?)
            }
            ("EC", Some("P-384")) => {
                PublicKey::P384(uncompressed_point(decode(&self.x)?, decode(&self.y)?, 48)?)
            }
            ("OKP", Some("Ed25519")) => PublicKey::Ed25519(decode(&self.x)?),
            _ => return None,
        };
        Some(VerificationKey { key, alg })
    }
}

/// `0x04 ‖ x ‖ y` (SEC 1 §2.3.3), the form `ring` reads.
fn uncompressed_point(x: Vec<u8>, y: Vec<u8>, size: usize) -> Option<Vec<u8>> {
    if x.len() != size || y.len() != size {
        return None;
    }
    let mut point = Vec::with_capacity(1 + 2 * size);
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    Some(point)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(json: &str) -> KeySet {
        KeySet::from_document(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn only_signature_keys_of_known_types_with_a_kid_are_kept() {
        let keys = set(r#"{"keys":[
            {"kty":"oct","kid":"hmac","k":"c2VjcmV0"},
            {"kty":"EC","kid":"enc","use":"enc","crv":"P-256","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
            {"kty":"EC","crv":"P-256","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
            {"kty":"EC","kid":"p521","crv":"P-521","x":"AA","y":"AA"},
            {"kty":"RSA","kid":"hs","alg":"HS256","n":"AQAB","e":"AQAB"},
            {"kty":"EC","kid":"ok","crv":"P-256","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}
        ]}"#);
        assert_eq!(keys.kids().collect::<Vec<_>>(), ["ok"]);
    }

    #[test]
    fn keys_for_other_operations_are_skipped() {
        let p256 = r#""kty":"EC","crv":"P-256","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA""#;
        let keys = set(&format!(
            r#"{{"keys":[{{"kid":"enc",{p256},"key_ops":["encrypt"]}},{{"kid":"sig",{p256},"key_ops":["sign","verify"]}}]}}"#
        ));
        assert_eq!(keys.kids().collect::<Vec<_>>(), ["sig"]);
    }

    #[test]
    fn a_repeated_kid_names_every_key_it_is_given_to() {
        crate::es256::install();
        let (first, second) = (
            crate::signing_key::SigningKey::generate().unwrap(),
            crate::signing_key::SigningKey::generate().unwrap(),
        );
        let renamed = |key: &crate::signing_key::SigningKey| {
            let mut jwk = serde_json::to_value(key.public_jwk()).unwrap();
            jwk["kid"] = "dup".into();
            jwk
        };
        let document = serde_json::json!({"keys": [renamed(&first), renamed(&second)]});
        let keys = KeySet::from_document(&serde_json::from_value(document).unwrap());
        for signer in [&first, &second] {
            let token = jsonwebtoken::encode(
                &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
                &serde_json::json!({"sub": "x"}),
                signer.encoding_key(),
            )
            .unwrap();
            let (signed, signature) = token.rsplit_once('.').unwrap();
            let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
            let named = keys.get("dup").unwrap();
            assert!(named.verifies(Algorithm::Es256, signed.as_bytes(), &signature));
            assert!(!named.verifies(Algorithm::Es256, b"another message", &signature));
        }
    }

    #[test]
    fn a_key_dropped_or_replaced_under_its_kid_is_noticed() {
        let key = |kid: &str, x: &str| {
            format!(r#"{{"kty":"OKP","crv":"Ed25519","kid":"{kid}","x":"{x}"}}"#)
        };
        let (a, b) = (
            "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        );
        let both = set(&format!(r#"{{"keys":[{},{}]}}"#, key("k", a), key("k", b)));
        let first = set(&format!(r#"{{"keys":[{}]}}"#, key("k", a)));
        let replaced = set(&format!(r#"{{"keys":[{}]}}"#, key("k", b)));
        let added = set(&format!(r#"{{"keys":[{},{}]}}"#, key("k", a), key("j", b)));
        assert!(first.lacks_a_key_of(&both), "one of a repeated kid dropped");
        assert!(replaced.lacks_a_key_of(&first), "replaced under its kid");
        assert!(!both.lacks_a_key_of(&first));
        assert!(!added.lacks_a_key_of(&first), "a new key drops nothing");
    }

    #[test]
    fn hmac_and_none_are_not_algorithms() {
        for name in ["none", "HS256", "HS384", "HS512", "ES512", "rs256", ""] {
            assert_eq!(Algorithm::parse(name), None, "{name}");
        }
        assert_eq!(Algorithm::parse("EdDSA"), Some(Algorithm::EdDsa));
    }
}
