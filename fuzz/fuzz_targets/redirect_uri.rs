//! Redirect URI registration and matching (`outpost-oauth/src/redirect_uri.rs`) on arbitrary
//! registered and requested URIs.
//!
//! Beyond "no panic": a URI that registers keeps its text exactly (it round-trips) and carries
//! no fragment; it matches itself; a match of another URI happens only for an `http` loopback
//! registration, and then the two differ in the port alone.
//!
//! Input, one item a line: `native` (else the client is a web client), the requested URI,
//! then the registered URIs.

#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_oauth::redirect_uri::{ApplicationType, RedirectUri, find_match};

/// `uri` without its port (the text after `http://HOST` up to the path, query or end).
fn without_port(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("http://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host = match authority.rfind(':') {
        Some(colon) if !authority[colon..].contains(']') => &authority[..colon],
        _ => authority,
    };
    Some(format!("http://{host}{tail}"))
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let native = lines.next() == Some("native");
    let requested = lines.next().unwrap_or_default();
    let given: Vec<&str> = lines.collect();
    let kind = if native {
        ApplicationType::Native
    } else {
        ApplicationType::Web
    };
    let registered: Vec<RedirectUri> = given
        .iter()
        .filter_map(|text| RedirectUri::parse(text, kind).ok())
        .collect();
    for uri in &registered {
        let text = uri.as_str();
        assert!(given.contains(&text), "round trip");
        assert!(!text.contains('#'), "no fragment");
        assert!(uri.matches(text), "matches itself");
    }
    if let Some(found) = find_match(&registered, requested) {
        assert!(found.matches(requested));
        if found.as_str() != requested {
            assert!(found.is_loopback(), "only loopback ports may vary");
            assert!(!requested.contains('#'));
            assert_eq!(without_port(found.as_str()), without_port(requested));
        }
    }
});
