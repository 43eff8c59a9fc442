//! The `application/x-www-form-urlencoded` bodies of the token, revocation and introspection
//! requests (RFC 6749 §3.2, RFC 7009 §2.1, RFC 7662 §2.1), and the authorization request's
//! query (RFC 6749 §4.1.1).
//!
//! Parsed by hand rather than with a serde extractor for two rules: a parameter sent more
//! than once is an `invalid_request` (RFC 6749 §3.1, §3.2), and an empty value counts as absent
//! (RFC 6749 §3.1). The exception is `resource`, which RFC 8707 §2 lets a client send more than
//! once: the same value again is the same request; different values are kept apart
//! ([`FormParams::resources_differ`]) for the endpoint to answer `invalid_target` its own way
//! (this server protects one resource).

use std::collections::HashMap;

use axum::http::{HeaderMap, header};

use super::errors::OAuthError;

/// Whether the request's `Content-Type` is `media_type` (any case; parameters such as
/// `charset` allowed).
pub(crate) fn declares(headers: &HeaderMap, media_type: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(media_type))
}

/// The parameters of one form body.
#[derive(Default)]
pub struct FormParams {
    params: HashMap<String, String>,
    resources_differ: bool,
}

impl std::fmt::Debug for FormParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values include secrets (codes, verifiers, tokens): show names only.
        f.debug_set().entries(self.params.keys()).finish()
    }
}

impl FormParams {
    /// Parses `body`, which must be sent as `application/x-www-form-urlencoded`.
    pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Self, OAuthError> {
        if !declares(headers, "application/x-www-form-urlencoded") {
            return Err(OAuthError::InvalidRequest(
                "the body must be application/x-www-form-urlencoded".into(),
            ));
        }
        Self::from_urlencoded(body)
    }

    /// Parses a URL query string or form body (`a=1&b=2`) with the same rules: the
    /// authorization request's query (RFC 6749 §4.1.1) and the pages' form posts.
    pub fn from_urlencoded(body: &[u8]) -> Result<Self, OAuthError> {
        let mut form = Self::default();
        for (name, value) in url::form_urlencoded::parse(body) {
            if value.is_empty() {
                continue;
            }
            if let Some(earlier) = form.params.insert(name.to_string(), value.into_owned()) {
                if name == "resource" {
                    form.resources_differ |= form.params.get("resource") != Some(&earlier);
                    continue;
                }
                return Err(OAuthError::InvalidRequest(format!(
                    "parameter {name} is repeated"
                )));
            }
        }
        Ok(form)
    }

    /// The parameter `name`, if present and non-empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// Whether `resource` came more than once with different values (RFC 8707 §2 allows
    /// several resources; this server protects one).
    pub fn resources_differ(&self) -> bool {
        self.resources_differ
    }

    /// The parameter `name`, or `invalid_request` naming it.
    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::InvalidRequest(format!("missing parameter {name}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=UTF-8"
                .parse()
                .unwrap(),
        );
        headers
    }

    #[test]
    fn parses_and_refuses_repeats() {
        let form = FormParams::parse(&form_headers(), b"a=1&b=&c=x%20y").unwrap();
        assert_eq!(form.get("a"), Some("1"));
        assert_eq!(form.get("b"), None);
        assert_eq!(form.get("c"), Some("x y"));
        assert!(FormParams::parse(&form_headers(), b"a=1&a=2").is_err());
        assert!(FormParams::parse(&HeaderMap::new(), b"a=1").is_err());
    }

    #[test]
    fn resource_may_repeat_and_different_ones_are_told_apart() {
        let same =
            FormParams::from_urlencoded(b"resource=https%3A%2F%2Fa&resource=https://a").unwrap();
        assert_eq!(
            (same.get("resource"), same.resources_differ()),
            (Some("https://a"), false)
        );
        let different =
            FormParams::from_urlencoded(b"resource=https://a&resource=https://b").unwrap();
        assert!(different.resources_differ());
    }

    #[test]
    fn a_content_type_that_is_not_ascii_is_no_form() {
        // An input of the `oauth_form` fuzz target: obs-text in a Content-Type parameter.
        let mut headers = HeaderMap::new();
        let value = b"application/x-www-form-urlencoded; ch\x9f\x95set=UTF-8";
        headers.insert(header::CONTENT_TYPE, value.as_slice().try_into().unwrap());
        assert!(FormParams::parse(&headers, b"a=1").is_err());
    }
}
