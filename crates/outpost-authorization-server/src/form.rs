//! The `application/x-www-form-urlencoded` bodies of the token, revocation and introspection
//! requests (RFC 6749 §3.2, RFC 7009 §2.1, RFC 7662 §2.1), and the authorization request's
//! query (RFC 6749 §4.1.1).
//!
//! Parsed by hand rather than with a serde extractor for two rules: a parameter sent more
//! than once is an `invalid_request` (RFC 6749 §3.1, §3.2), and an empty value counts as absent
//! (RFC 6749 §3.1).

use std::collections::HashMap;

use axum::http::{HeaderMap, header};

use super::errors::OAuthError;

/// The parameters of one form body.
#[derive(Default)]
pub struct FormParams(HashMap<String, String>);

impl std::fmt::Debug for FormParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values include secrets (codes, verifiers, tokens): show names only.
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl FormParams {
    /// Parses `body`, which must be sent as `application/x-www-form-urlencoded`.
    pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Self, OAuthError> {
        let is_form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Err(OAuthError::InvalidRequest(
                "the body must be application/x-www-form-urlencoded".into(),
            ));
        }
        Self::from_urlencoded(body)
    }

    /// Parses a URL query string or form body (`a=1&b=2`) with the same rules: the
    /// authorization request's query (RFC 6749 §4.1.1) and the pages' form posts.
    pub fn from_urlencoded(body: &[u8]) -> Result<Self, OAuthError> {
        let mut params = HashMap::new();
        for (name, value) in url::form_urlencoded::parse(body) {
            if value.is_empty() {
                continue;
            }
            if params
                .insert(name.to_string(), value.into_owned())
                .is_some()
            {
                return Err(OAuthError::InvalidRequest(format!(
                    "parameter {name} is repeated"
                )));
            }
        }
        Ok(Self(params))
    }

    /// The parameter `name`, if present and non-empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
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
    fn a_content_type_that_is_not_ascii_is_no_form() {
        // An input of the `oauth_form` fuzz target: obs-text in a Content-Type parameter.
        let mut headers = HeaderMap::new();
        let value = b"application/x-www-form-urlencoded; ch\x9f\x95set=UTF-8";
        headers.insert(header::CONTENT_TYPE, value.as_slice().try_into().unwrap());
        assert!(FormParams::parse(&headers, b"a=1").is_err());
    }
}
