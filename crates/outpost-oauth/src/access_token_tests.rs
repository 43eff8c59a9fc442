//! Unit tests for `access_token.rs`.

use super::*;

const ISSUER: &str = "https://auth.example.com";
const AUDIENCE: &str = "https://mcp.example.com/mcp";
const T0: i64 = 1_800_000_000;
const LIFETIME: Duration = Duration::from_secs(3600);

fn keyring() -> Keyring {
    Keyring::generate(T0, LIFETIME).unwrap()
}

fn claims() -> AccessClaims {
    AccessClaims::new(
        ISSUER,
        "user-123",
        AUDIENCE,
        "client-abc",
        Scope::parse("mcp:tools profile").unwrap(),
        T0,
        LIFETIME,
    )
    .unwrap()
    .with_username("alice")
}

fn b64(value: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// The token's three parts.
fn parts(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

#[test]
fn issue_then_verify() {
    let keyring = keyring();
    let claims = claims();
    let token = issue(&keyring, &claims).unwrap();
    let verified = verify(&keyring, &token, ISSUER, AUDIENCE, T0 + 10).unwrap();
    assert_eq!(verified, claims);
    assert_eq!(verified.username.as_deref(), Some("alice"));
    assert!(verified.scope.contains("mcp:tools"));
}

#[test]
fn header_and_claims_on_the_wire() {
    let keyring = keyring();
    let token = issue(&keyring, &claims()).unwrap();
    let parts = parts(&token);
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["kid"], keyring.signing_key(T0).kid());
    let payload: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    assert_eq!(payload["scope"], "mcp:tools profile");
    assert_eq!(payload["aud"], AUDIENCE);
    assert_eq!(payload["exp"], T0 + 3600);
    assert_eq!(payload["jti"].as_str().unwrap().len(), 22);
    // The signature is r ‖ s, 64 bytes (RFC 7518 §3.4).
    assert_eq!(URL_SAFE_NO_PAD.decode(&parts[2]).unwrap().len(), 64);
    let without_username = AccessClaims {
        username: None,
        ..claims()
    };
    let token = issue(&keyring, &without_username).unwrap();
    let payload = URL_SAFE_NO_PAD.decode(&self::parts(&token)[1]).unwrap();
    assert!(!String::from_utf8(payload).unwrap().contains("username"));
}

#[test]
fn jti_is_unique() {
    assert_ne!(claims().jti, claims().jti);
}

#[test]
fn tampered_payload_is_a_bad_signature() {
    let keyring = keyring();
    let token = issue(&keyring, &claims()).unwrap();
    let parts = parts(&token);
    let mut payload: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    payload["sub"] = "admin".into();
    let forged = format!("{}.{}.{}", parts[0], b64(&payload), parts[2]);
    assert_eq!(
        verify(&keyring, &forged, ISSUER, AUDIENCE, T0),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn tampered_signature_is_a_bad_signature() {
    let keyring = keyring();
    let token = issue(&keyring, &claims()).unwrap();
    let parts = parts(&token);
    let mut signature = parts[2].clone().into_bytes();
    signature[10] = if signature[10] == b'A' { b'B' } else { b'A' };
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        String::from_utf8(signature).unwrap()
    );
    assert_eq!(
        verify(&keyring, &forged, ISSUER, AUDIENCE, T0),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn signed_by_another_key_is_unknown_or_bad() {
    let ours = keyring();
    let theirs = keyring();
    let token = issue(&theirs, &claims()).unwrap();
    assert_eq!(
        verify(&ours, &token, ISSUER, AUDIENCE, T0),
        Err(TokenError::UnknownKey)
    );
    // Their signature under our kid.
    let parts = parts(&token);
    let header =
        serde_json::json!({"alg": "ES256", "typ": "at+jwt", "kid": ours.signing_key(T0).kid()});
    let forged = format!("{}.{}.{}", b64(&header), parts[1], parts[2]);
    assert_eq!(
        verify(&ours, &forged, ISSUER, AUDIENCE, T0),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn wrong_audience_and_issuer() {
    let keyring = keyring();
    let token = issue(&keyring, &claims()).unwrap();
    assert_eq!(
        verify(
            &keyring,
            &token,
            ISSUER,
            "https://other.example.com/mcp",
            T0
        ),
        Err(TokenError::WrongAudience)
    );
    // Exact comparison: a trailing slash is another audience, another issuer.
    assert_eq!(
        verify(&keyring, &token, ISSUER, "https://mcp.example.com/mcp/", T0),
        Err(TokenError::WrongAudience)
    );
    assert_eq!(
        verify(&keyring, &token, "https://auth.example.com/", AUDIENCE, T0),
        Err(TokenError::WrongIssuer)
    );
}

#[test]
fn expiry_with_leeway() {
    let keyring = keyring();
    let token = issue(&keyring, &claims()).unwrap();
    let exp = T0 + 3600;
    assert!(verify(&keyring, &token, ISSUER, AUDIENCE, exp).is_ok());
    assert!(verify(&keyring, &token, ISSUER, AUDIENCE, exp + 60).is_ok());
    assert_eq!(
        verify(&keyring, &token, ISSUER, AUDIENCE, exp + 61),
        Err(TokenError::Expired)
    );
}

#[test]
fn unsigned_and_symmetric_tokens_are_refused() {
    let keyring = keyring();
    let kid = keyring.signing_key(T0).kid();
    let payload = b64(&serde_json::to_value(claims()).unwrap());
    for alg in ["none", "None", "HS256", "HS512", "RS256", "ES384", "EdDSA"] {
        let header = serde_json::json!({"alg": alg, "typ": "at+jwt", "kid": kid});
        for signature in ["", "c2lnbmF0dXJl"] {
            let token = format!("{}.{payload}.{signature}", b64(&header));
            let result = verify(&keyring, &token, ISSUER, AUDIENCE, T0);
            assert!(
                matches!(
                    result,
                    Err(TokenError::UnsupportedAlgorithm(_) | TokenError::Malformed(_))
                ),
                "alg {alg}: {result:?}"
            );
        }
    }
    let hs256 = serde_json::json!({"alg": "HS256", "typ": "at+jwt", "kid": kid});
    let token = format!("{}.{payload}.c2lnbmF0dXJl", b64(&hs256));
    assert_eq!(
        verify(&keyring, &token, ISSUER, AUDIENCE, T0),
        Err(TokenError::UnsupportedAlgorithm("HS256".into()))
    );
}

#[test]
fn header_requirements() {
    let keyring = keyring();
    let token = issue(&keyring, &claims()).unwrap();
    let parts = parts(&token);
    let kid = keyring.signing_key(T0).kid();
    let cases = [
        (
            serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": kid}),
            "typ",
        ),
        (serde_json::json!({"alg": "ES256", "kid": kid}), "no typ"),
        (
            serde_json::json!({"alg": "ES256", "typ": "at+jwt"}),
            "no kid",
        ),
    ];
    for (header, what) in cases {
        let token = format!("{}.{}.{}", b64(&header), parts[1], parts[2]);
        assert!(
            matches!(
                verify(&keyring, &token, ISSUER, AUDIENCE, T0),
                Err(TokenError::Malformed(_))
            ),
            "{what}"
        );
    }
    let unknown = serde_json::json!({"alg": "ES256", "typ": "at+jwt", "kid": "nope"});
    let token = format!("{}.{}.{}", b64(&unknown), parts[1], parts[2]);
    assert_eq!(
        verify(&keyring, &token, ISSUER, AUDIENCE, T0),
        Err(TokenError::UnknownKey)
    );
}

#[test]
fn garbage_is_malformed() {
    let keyring = keyring();
    for token in ["", "abc", "a.b", "a.b.c", "....", &"a".repeat(9000)] {
        assert!(
            matches!(
                verify(&keyring, token, ISSUER, AUDIENCE, T0),
                Err(TokenError::Malformed(_))
            ),
            "{token:.20}"
        );
    }
}

#[test]
fn retired_key_verifies_until_its_tokens_expire() {
    let mut keyring = keyring();
    let token = issue(&keyring, &claims()).unwrap();
    let successor = keyring.rotate(T0 + 1).unwrap().successor;
    // The old key signs until the successor's lead has passed, then retires.
    let switch = T0 + 1 + crate::keyring::PUBLICATION_LEAD.as_secs() as i64;
    assert!(verify(&keyring, &token, ISSUER, AUDIENCE, T0 + 3600).is_ok());
    let later_claims = AccessClaims::new(
        ISSUER,
        "user-123",
        AUDIENCE,
        "client-abc",
        Scope::parse("mcp:tools").unwrap(),
        switch,
        LIFETIME,
    )
    .unwrap();
    let new_token = issue(&keyring, &later_claims).unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts(&new_token)[0]).unwrap()).unwrap();
    assert_eq!(header["kid"], successor.key.kid());
    assert!(verify(&keyring, &new_token, ISSUER, AUDIENCE, switch + 1).is_ok());
    let old_gone = switch + 3600 + 61;
    keyring.prune(old_gone);
    assert_eq!(
        verify(&keyring, &token, ISSUER, AUDIENCE, old_gone),
        Err(TokenError::UnknownKey)
    );
}
