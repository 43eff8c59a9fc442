//! The JWT checks, with ES256 and Ed25519 keys made by `ring`.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use ring::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _},
};
use serde_json::{Value, json};

use super::*;
use crate::auth::external::jwk::JwkSetDocument;

const ISSUER: &str = "https://idp.example/";
const AUDIENCE: &str = "https://mcp.example/mcp";
const NOW: i64 = 1_800_000_000;

struct Signers {
    ec: EcdsaKeyPair,
    ed: Ed25519KeyPair,
    keys: KeySet,
}

fn signers() -> Signers {
    let rng = SystemRandom::new();
    let ec_pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let ec = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, ec_pkcs8.as_ref(), &rng)
        .unwrap();
    let ed_pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let ed = Ed25519KeyPair::from_pkcs8(ed_pkcs8.as_ref()).unwrap();
    let point = ec.public_key().as_ref();
    let document: JwkSetDocument = serde_json::from_value(json!({"keys": [
        {"kty": "EC", "crv": "P-256", "kid": "ec", "use": "sig",
         "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..])},
        {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "alg": "EdDSA",
         "x": URL_SAFE_NO_PAD.encode(ed.public_key().as_ref())},
    ]}))
    .unwrap();
    Signers {
        ec,
        ed,
        keys: KeySet::from_document(&document),
    }
}

fn expect() -> Expectations {
    Expectations {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        audience_aliases: Vec::new(),
        require_at_jwt: false,
        leeway_seconds: 30,
        names_grants: false,
    }
}

fn claims() -> Value {
    json!({"iss": ISSUER, "sub": "user-1", "aud": ["https://other.example", AUDIENCE],
           "exp": NOW + 300, "iat": NOW, "scp": ["mcp", "mcp:admin"], "azp": "app",
           "preferred_username": "alice", "email": "alice@example.com"})
}

fn sign(signers: &Signers, header: Value, claims: &Value) -> String {
    let encode = |value: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap());
    let signed = format!("{}.{}", encode(&header), encode(claims));
    let signature = match header["alg"].as_str() {
        Some("EdDSA") => signers.ed.sign(signed.as_bytes()).as_ref().to_vec(),
        _ => signers
            .ec
            .sign(&SystemRandom::new(), signed.as_bytes())
            .unwrap()
            .as_ref()
            .to_vec(),
    };
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn es256() -> Value {
    json!({"alg": "ES256", "kid": "ec", "typ": "at+jwt"})
}

fn refusal(token: &str, signers: &Signers, expect: &Expectations) -> String {
    match verify(token, &signers.keys, expect, NOW) {
        Ok(_) => panic!("accepted"),
        Err(refusal) => refusal.reason(),
    }
}

#[test]
fn a_good_token_gives_the_callers_identity() {
    let signers = signers();
    let token = sign(&signers, es256(), &claims());
    let verified = verify(&token, &signers.keys, &expect(), NOW).unwrap();
    assert_eq!(verified.exp, NOW + 300);
    let identity = verified.identity;
    assert_eq!(identity.subject, "user-1");
    assert_eq!(identity.username.as_deref(), Some("alice"));
    assert_eq!(identity.client_id.as_deref(), Some("app"));
    assert_eq!(identity.scopes.to_string(), "mcp mcp:admin");

    let mut plain = claims();
    plain["aud"] = json!(AUDIENCE);
    plain["scope"] = json!("mcp");
    plain["client_id"] = json!("cli");
    let token = sign(&signers, json!({"alg": "EdDSA", "kid": "ed"}), &plain);
    let identity = verify(&token, &signers.keys, &expect(), NOW)
        .unwrap()
        .identity;
    assert_eq!(identity.client_id.as_deref(), Some("cli"));
    assert_eq!(identity.scopes.to_string(), "mcp");
}

#[test]
fn the_grant_claim_is_read_only_where_grants_are_checked() {
    let signers = signers();
    let mut claims = claims();
    claims["gid"] = json!("grant-1");
    let token = sign(&signers, es256(), &claims);
    let foreign = verify(&token, &signers.keys, &expect(), NOW).unwrap();
    assert_eq!(foreign.identity.grant_id, None);
    let auth_role = Expectations {
        names_grants: true,
        ..expect()
    };
    let own = verify(&token, &signers.keys, &auth_role, NOW).unwrap();
    assert_eq!(own.identity.grant_id.as_deref(), Some("grant-1"));
}

#[test]
fn issuer_audience_and_subject_must_match() {
    let signers = signers();
    let mut claims = claims();
    claims["iss"] = json!("https://idp.example");
    let why = refusal(&sign(&signers, es256(), &claims), &signers, &expect());
    assert!(why.contains("issued by \"https://idp.example\""), "{why}");

    let mut claims = self::claims();
    claims["aud"] = json!("https://other.example/mcp");
    let why = refusal(&sign(&signers, es256(), &claims), &signers, &expect());
    assert!(why.contains("not for this resource"), "{why}");
    // An alias of the audience (another URL of the endpoint) is as good as the audience.
    let with_alias = Expectations {
        audience_aliases: vec!["https://other.example/mcp".into()],
        ..expect()
    };
    let token = sign(&signers, es256(), &claims);
    assert!(verify(&token, &signers.keys, &with_alias, NOW).is_ok());

    let mut claims = self::claims();
    claims.as_object_mut().unwrap().remove("sub");
    let why = refusal(&sign(&signers, es256(), &claims), &signers, &expect());
    assert!(why.contains("no subject"), "{why}");
    for disturbing in [
        "user-1\n\u{0}admin",
        "user-1\u{2028}admin",
        "user-\u{202E}1",
    ] {
        claims["sub"] = json!(disturbing);
        let why = refusal(&sign(&signers, es256(), &claims), &signers, &expect());
        assert!(why.contains("control characters"), "{why}");
    }
}

#[test]
fn expiry_and_not_before_allow_the_leeway_only() {
    let signers = signers();
    let mut claims = claims();
    claims["exp"] = json!(NOW - 30);
    assert!(
        verify(
            &sign(&signers, es256(), &claims),
            &signers.keys,
            &expect(),
            NOW
        )
        .is_ok()
    );
    claims["exp"] = json!(NOW - 31);
    let why = refusal(&sign(&signers, es256(), &claims), &signers, &expect());
    assert!(why.contains("expired"), "{why}");

    let mut claims = self::claims();
    claims["nbf"] = json!(NOW + 31);
    let why = refusal(&sign(&signers, es256(), &claims), &signers, &expect());
    assert!(why.contains("not valid yet"), "{why}");
    claims.as_object_mut().unwrap().remove("nbf");
    claims.as_object_mut().unwrap().remove("exp");
    let why = refusal(&sign(&signers, es256(), &claims), &signers, &expect());
    assert!(why.contains("no expiry"), "{why}");
}

#[test]
fn forged_tokens_are_refused() {
    let signers = signers();
    let token = sign(&signers, es256(), &claims());
    // Another subject under the same signature.
    let mut forged_claims = claims();
    forged_claims["sub"] = json!("admin");
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged_claims).unwrap());
    let parts: Vec<&str> = token.split('.').collect();
    let forged = format!("{}.{payload}.{}", parts[0], parts[2]);
    assert!(refusal(&forged, &signers, &expect()).contains("signature is invalid"));

    // `none`, and HMAC keyed with a public key.
    for alg in ["none", "HS256"] {
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","kid":"ec"}}"#));
        let why = refusal(&format!("{header}.{}.", parts[1]), &signers, &expect());
        assert!(why.contains("uses algorithm"), "{why}");
    }

    // A key used with an algorithm not its own: the Ed25519 key is pinned to EdDSA.
    let why = refusal(
        &sign(&signers, json!({"alg": "ES256", "kid": "ed"}), &claims()),
        &signers,
        &expect(),
    );
    assert!(why.contains("signature is invalid"), "{why}");
    assert!(refusal("abc", &signers, &expect()).contains("not a signed JWT"));
}

#[test]
fn an_unknown_kid_asks_for_the_keys_again() {
    let signers = signers();
    let token = sign(&signers, json!({"alg": "ES256", "kid": "new"}), &claims());
    assert_eq!(
        verify(&token, &signers.keys, &expect(), NOW).err(),
        Some(JwtRefusal::UnknownKey("new".into()))
    );
}

#[test]
fn the_token_type_is_an_access_token() {
    let signers = signers();
    let with_typ = |typ: Value| {
        sign(
            &signers,
            json!({"alg": "ES256", "kid": "ec", "typ": typ}),
            &claims(),
        )
    };
    let strict = Expectations {
        require_at_jwt: true,
        ..expect()
    };
    for typ in ["at+jwt", "application/at+JWT"] {
        assert!(verify(&with_typ(json!(typ)), &signers.keys, &strict, NOW).is_ok());
    }
    assert!(verify(&with_typ(json!("JWT")), &signers.keys, &expect(), NOW).is_ok());
    assert!(verify(&with_typ(Value::Null), &signers.keys, &expect(), NOW).is_ok());
    let why = refusal(&with_typ(json!("JWT")), &signers, &strict);
    assert!(why.contains("--require-at-jwt"), "{why}");
    let why = refusal(&with_typ(json!("logout+jwt")), &signers, &expect());
    assert!(why.contains("not an access token"), "{why}");
}

#[test]
fn claims_are_checked_without_the_signature_when_the_key_is_not_known_yet() {
    let signers = signers();
    let unknown_key = json!({"alg": "ES256", "kid": "published-meanwhile", "typ": "at+jwt"});
    let token = sign(&signers, unknown_key.clone(), &claims());
    assert!(matches!(
        verify(&token, &signers.keys, &expect(), NOW),
        Err(JwtRefusal::UnknownKey(_))
    ));
    assert!(check_unverified_claims(&token, &expect(), NOW).is_ok());
    let mut expired = claims();
    expired["exp"] = json!(NOW - 3600);
    let token = sign(&signers, unknown_key, &expired);
    let why = check_unverified_claims(&token, &expect(), NOW)
        .err()
        .map(|refusal| refusal.reason());
    assert!(why.is_some_and(|why| why.contains("expired")));
}

#[test]
fn critical_header_parameters_are_refused_even_null() {
    let signers = signers();
    for crit in [json!(["x"]), json!(null)] {
        let header = json!({"alg": "ES256", "kid": "ec", "typ": "at+jwt", "crit": crit});
        let why = refusal(&sign(&signers, header, &claims()), &signers, &expect());
        assert!(why.contains("critical"), "{why}");
    }
}
