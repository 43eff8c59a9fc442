//! The authorization server's form parser (`form.rs`: token, revocation and introspection
//! bodies, the `/authorize` query, the pages' posts) on arbitrary bodies and content types.
//!
//! Beyond "no panic": the body is accepted exactly when it is sent as a form and names no
//! parameter twice with a value (RFC 6749 §3.1, §3.2) but `resource` (RFC 8707 §2: its last
//! value is read back, and `resources_differ` says whether the values were not all the same);
//! an empty value counts as absent; every other value is read back as sent.
//!
//! Input: the first line is the `Content-Type` (none when empty), the rest the body.

#![no_main]

use std::collections::HashMap;

use http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;
use outpost_authorization_server::fuzzing::FormParams;

fuzz_target!(|data: &[u8]| {
    let (first, rest) = match data.iter().position(|byte| *byte == b'\n') {
        Some(end) => (data[..end].to_vec(), &data[end + 1..]),
        None => (data.to_vec(), &[][..]),
    };
    let mut headers = HeaderMap::new();
    // A Content-Type that is not visible ASCII (obs-text) is no form: refused as such.
    let is_form = match HeaderValue::from_bytes(&first) {
        Ok(_) if first.is_empty() => false,
        Ok(value) => {
            headers.insert(header::CONTENT_TYPE, value.clone());
            value
                .to_str()
                .ok()
                .and_then(|text| text.split(';').next())
                .is_some_and(|essence| {
                    essence
                        .trim()
                        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
                })
        }
        Err(_) => false,
    };

    let mut expected = HashMap::new();
    let mut repeated = false;
    let mut resources = Vec::new();
    for (name, value) in url::form_urlencoded::parse(rest) {
        if !value.is_empty() {
            if name == "resource" {
                resources.push(value.clone().into_owned());
                expected.insert(name.into_owned(), value.into_owned());
                continue;
            }
            repeated |= expected
                .insert(name.into_owned(), value.into_owned())
                .is_some();
        }
    }
    let resources_differ = resources.windows(2).any(|pair| pair[0] != pair[1]);

    let query = FormParams::from_urlencoded(rest);
    assert_eq!(query.is_ok(), !repeated, "repeated parameters refused");
    let parsed = FormParams::parse(&headers, rest);
    assert_eq!(parsed.is_ok(), is_form && !repeated);
    for form in [query.ok(), parsed.ok()].into_iter().flatten() {
        for (name, value) in &expected {
            assert_eq!(form.get(name), Some(value.as_str()), "{name}");
        }
        assert_eq!(form.get(""), expected.get("").map(String::as_str));
        assert_eq!(form.resources_differ(), resources_differ);
    }
});
