use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use outpost_oauth::jwk::{JwkSetDocument, KeySet};
use ring::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _},
};
use serde_json::{Value, json};

use super::*;

const ISSUER: &str = "https://idp.example";
const CLIENT: &str = "outpost";
const NONCE: &str = "n-0S6_WzA2Mj";
const NOW: i64 = 1_800_000_000;

/// A P-256 key of the provider, and its JWK Set.
struct ProviderKey {
    pair: EcdsaKeyPair,
    kid: &'static str,
}

impl ProviderKey {
    fn new(kid: &'static str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        Self { pair, kid }
    }

    fn key_set(&self) -> KeySet {
        let point = self.pair.public_key().as_ref();
        let document: JwkSetDocument = serde_json::from_value(json!({"keys": [{
            "kty": "EC", "crv": "P-256", "kid": self.kid, "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        }]}))
        .unwrap();
        KeySet::from_document(&document)
    }

    fn sign(&self, header: Value, claims: Value) -> String {
        let encode = |value: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap());
        let signed = format!("{}.{}", encode(&header), encode(&claims));
        let signature = self
            .pair
            .sign(&SystemRandom::new(), signed.as_bytes())
            .unwrap();
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }

    fn id_token(&self, claims: Value) -> String {
        self.sign(
            json!({"alg": "ES256", "kid": self.kid, "typ": "JWT"}),
            claims,
        )
    }
}

fn claims() -> Value {
    json!({
        "iss": ISSUER, "sub": "248289761001", "aud": CLIENT, "exp": NOW + 300, "iat": NOW,
        "nonce": NONCE, "email": "jane@example.com", "email_verified": true,
        "preferred_username": "jane",
    })
}

fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

fn expected() -> Expected<'static> {
    Expected {
        issuer: ISSUER,
        client_id: CLIENT,
        nonce: NONCE,
        now: NOW,
        leeway_seconds: 30,
    }
}

fn check(key: &ProviderKey, claims: Value) -> Result<UpstreamUser, IdTokenError> {
    verify(&key.id_token(claims), &key.key_set(), &expected())
}

#[test]
fn a_valid_id_token_names_the_user() {
    let key = ProviderKey::new("k1");
    let user = check(&key, claims()).unwrap();
    assert_eq!(user.sub, "248289761001");
    assert_eq!(user.email.as_deref(), Some("jane@example.com"));
    assert!(user.email_verified);
    assert_eq!(user.preferred_username.as_deref(), Some("jane"));
    assert_eq!(key_id(&key.id_token(claims())).as_deref(), Some("k1"));
}

#[test]
fn another_issuer_is_refused() {
    let key = ProviderKey::new("k1");
    let error = check(&key, with(claims(), "iss", json!("https://evil.example"))).unwrap_err();
    assert_eq!(
        error,
        IdTokenError::Issuer {
            found: "https://evil.example".into(),
            expected: ISSUER.into()
        }
    );
    assert!(error.to_string().contains("https://evil.example"));
    let mut no_issuer = claims();
    no_issuer.as_object_mut().unwrap().remove("iss");
    assert!(matches!(
        check(&key, no_issuer),
        Err(IdTokenError::Issuer { .. })
    ));
}

#[test]
fn another_audience_is_refused() {
    let key = ProviderKey::new("k1");
    assert_eq!(
        check(&key, with(claims(), "aud", json!("someone-else"))),
        Err(IdTokenError::Audience)
    );
    assert_eq!(
        check(&key, with(claims(), "aud", json!(["a", "b"]))),
        Err(IdTokenError::Audience)
    );
    // In an array: accepted, but with several audiences `azp` must name this client.
    assert!(check(&key, with(claims(), "aud", json!([CLIENT]))).is_ok());
    assert_eq!(
        check(&key, with(claims(), "aud", json!([CLIENT, "api"]))),
        Err(IdTokenError::AuthorizedParty)
    );
    let several = with(
        with(claims(), "aud", json!([CLIENT, "api"])),
        "azp",
        json!(CLIENT),
    );
    assert!(check(&key, several).is_ok());
    assert_eq!(
        check(&key, with(claims(), "azp", json!("other"))),
        Err(IdTokenError::AuthorizedParty)
    );
}

#[test]
fn a_wrong_or_missing_nonce_is_refused() {
    let key = ProviderKey::new("k1");
    assert_eq!(
        check(&key, with(claims(), "nonce", json!("replayed"))),
        Err(IdTokenError::Nonce)
    );
    let mut none = claims();
    none.as_object_mut().unwrap().remove("nonce");
    assert_eq!(check(&key, none), Err(IdTokenError::Nonce));
}

#[test]
fn an_expired_id_token_is_refused_after_the_leeway() {
    let key = ProviderKey::new("k1");
    assert_eq!(
        check(&key, with(claims(), "exp", json!(NOW - 31))),
        Err(IdTokenError::Expired)
    );
    assert!(check(&key, with(claims(), "exp", json!(NOW - 29))).is_ok());
    let mut no_exp = claims();
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_eq!(check(&key, no_exp), Err(IdTokenError::Expired));
    assert_eq!(
        check(&key, with(claims(), "iat", json!(NOW + 120))),
        Err(IdTokenError::IssuedAt)
    );
    assert_eq!(
        check(&key, with(claims(), "nbf", json!(NOW + 3600))),
        Err(IdTokenError::NotYetValid)
    );
    assert!(check(&key, with(claims(), "nbf", json!(NOW + 29))).is_ok());
}

#[test]
fn critical_parameters_and_access_token_types_are_refused() {
    let key = ProviderKey::new("k1");
    let critical = key.sign(
        json!({"alg": "ES256", "kid": "k1", "crit": ["x"], "x": 1}),
        claims(),
    );
    assert!(matches!(
        verify(&critical, &key.key_set(), &expected()),
        Err(IdTokenError::Header(_))
    ));
    let null_critical = key.sign(json!({"alg": "ES256", "kid": "k1", "crit": null}), claims());
    assert!(matches!(
        verify(&null_critical, &key.key_set(), &expected()),
        Err(IdTokenError::Header(_))
    ));
    for typ in ["at+jwt", "application/AT+JWT"] {
        let access_token = key.sign(json!({"alg": "ES256", "kid": "k1", "typ": typ}), claims());
        assert!(matches!(
            verify(&access_token, &key.key_set(), &expected()),
            Err(IdTokenError::Header(_))
        ));
    }
    let untyped = key.sign(json!({"alg": "ES256", "kid": "k1"}), claims());
    assert!(verify(&untyped, &key.key_set(), &expected()).is_ok());
}

#[test]
fn signatures_are_checked_with_the_published_key() {
    let key = ProviderKey::new("k1");
    let forger = ProviderKey::new("k1");
    assert_eq!(
        verify(&forger.id_token(claims()), &key.key_set(), &expected()),
        Err(IdTokenError::Signature)
    );
    let unknown = ProviderKey::new("k2");
    assert_eq!(
        verify(&unknown.id_token(claims()), &key.key_set(), &expected()),
        Err(IdTokenError::UnknownKey(Some("k2".into())))
    );
    let unsigned = key.sign(json!({"alg": "none", "kid": "k1"}), claims());
    assert_eq!(
        verify(&unsigned, &key.key_set(), &expected()),
        Err(IdTokenError::Algorithm("none".into()))
    );
    let hmac = key.sign(json!({"alg": "HS256", "kid": "k1"}), claims());
    assert_eq!(
        verify(&hmac, &key.key_set(), &expected()),
        Err(IdTokenError::Algorithm("HS256".into()))
    );
    let token = key.id_token(claims());
    let (signed, _) = token.rsplit_once('.').unwrap();
    let tampered = format!("{signed}.{}", URL_SAFE_NO_PAD.encode([0u8; 64]));
    assert_eq!(
        verify(&tampered, &key.key_set(), &expected()),
        Err(IdTokenError::Signature)
    );
    assert!(matches!(
        verify("a.b", &key.key_set(), &expected()),
        Err(IdTokenError::Malformed(_))
    ));
}

#[test]
fn email_verified_may_be_a_string_and_anything_else_is_no() {
    let key = ProviderKey::new("k1");
    let user = check(&key, with(claims(), "email_verified", json!("true"))).unwrap();
    assert!(user.email_verified);
    let user = check(&key, with(claims(), "email_verified", json!(false))).unwrap();
    assert!(!user.email_verified);
    for odd in [json!(1), json!(null), json!({"x": true})] {
        let user = check(&key, with(claims(), "email_verified", odd.clone())).unwrap();
        assert!(!user.email_verified, "{odd}");
    }
}

#[test]
fn user_info_adds_what_the_id_token_lacks_for_the_same_user_only() {
    let key = ProviderKey::new("k1");
    let mut bare = claims();
    for claim in ["email", "email_verified", "preferred_username"] {
        bare.as_object_mut().unwrap().remove(claim);
    }
    let user = check(&key, bare).unwrap();
    assert_eq!(user.email, None);
    let info = |sub: &str| -> UserInfo {
        serde_json::from_value(json!({
            "sub": sub, "email": "jane@example.com", "email_verified": true,
            "preferred_username": "jane"
        }))
        .unwrap()
    };
    let told = user.clone().with_user_info(info("248289761001")).unwrap();
    assert_eq!(told.email.as_deref(), Some("jane@example.com"));
    assert!(told.email_verified);
    assert_eq!(told.preferred_username.as_deref(), Some("jane"));
    assert!(user.with_user_info(info("someone-else")).is_err());

    // The ID token's email stays, with its own verification.
    let unverified = check(&key, with(claims(), "email_verified", json!(false))).unwrap();
    let told = unverified.with_user_info(info("248289761001")).unwrap();
    assert!(!told.email_verified);
}
