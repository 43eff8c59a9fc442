//! The resource server's token reader (`auth/resource/bearer.rs`, `bearer_token`) and access
//! token verification (`outpost-oauth/src/access_token.rs`, `verify`, with the fuzz-only
//! keyring) on arbitrary requests.
//!
//! Input: the first line is the request's query (none when empty), each further line one
//! `Authorization` header value.
//!
//! Beyond "no panic": a token is read only from a single `Bearer` header, trimmed and
//! non-empty, never when the query carries `access_token`; a token that verifies names this
//! issuer and audience and has not expired.

#![no_main]

use http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;
use outpost_fuzz::{AUDIENCE, ISSUER, NOW, keyring};
use outpost_oauth::access_token::{CLOCK_LEEWAY, verify};

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|byte| *byte == b'\n');
    let query = lines
        .next()
        .filter(|query| !query.is_empty())
        .map(String::from_utf8_lossy);
    let mut headers = HeaderMap::new();
    for line in lines {
        if let Ok(value) = HeaderValue::from_bytes(line) {
            headers.append(header::AUTHORIZATION, value);
        }
    }

    let read = outpost::fuzzing::bearer_token(&headers, query.as_deref());
    let Ok(Some(token)) = read else {
        return;
    };
    assert!(!token.is_empty() && token.trim() == token, "{token:?}");
    assert_eq!(headers.get_all(header::AUTHORIZATION).iter().count(), 1);
    let value = headers[header::AUTHORIZATION].to_str().expect("text");
    assert!(value[..6].eq_ignore_ascii_case("bearer"), "{value:?}");
    assert!(
        query.as_deref().is_none_or(|query| !query
            .split('&')
            .any(|pair| pair.starts_with("access_token="))),
        "a token in the query is refused"
    );

    if let Ok(claims) = verify(keyring(), token, ISSUER, AUDIENCE, NOW) {
        assert_eq!(claims.iss, ISSUER);
        assert_eq!(claims.aud, AUDIENCE);
        let leeway = i64::try_from(CLOCK_LEEWAY.as_secs()).expect("seconds");
        assert!(NOW <= claims.exp.saturating_add(leeway));
    }
});
