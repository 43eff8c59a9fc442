//! CSRF protection for the login and consent forms: the double-submit cookie pattern (OWASP
//! CSRF Prevention Cheat Sheet).
//!
//! The page that shows a form sets a random token (256 bits, [`Secret`]) in the cookie
//! [`COOKIE_NAME`] — `HttpOnly`, `SameSite=Strict`; when the issuer is `https`, `Secure` and
//! named `__Host-outpost_csrf`, which no other host can set — and
//! puts the same value in a hidden field. A POST is accepted only when both are present and
//! equal, compared in constant time. Another site can make the browser post the form but
//! cannot read or set the cookie, so it cannot make the two agree.

use axum::http::{HeaderMap, HeaderValue};
use subtle::ConstantTimeEq;

use outpost_oauth::secret::RandomnessError;

use super::secret_cookie;

/// The cookie's name (with the `__Host-` prefix on an `https` issuer).
pub const COOKIE_NAME: &str = "outpost_csrf";
/// The hidden form field's name.
pub const FIELD_NAME: &str = "csrf";

/// The token the request's cookie carries, if any (of the form this server sets; `secure`:
/// the issuer is `https`).
pub fn cookie_token(headers: &HeaderMap, secure: bool) -> Option<&str> {
    secret_cookie::read(headers, COOKIE_NAME, secure)
}

/// The token for the page being shown: the request's own when it has one (several tabs keep
/// working), a fresh one otherwise. The second value is the `Set-Cookie` to send with it.
pub fn token_for_page(
    headers: &HeaderMap,
    secure: bool,
) -> Result<(String, Option<HeaderValue>), RandomnessError> {
    if let Some(token) = cookie_token(headers, secure) {
        return Ok((token.to_owned(), None));
    }
    secret_cookie::issue(COOKIE_NAME, "Strict", secure)
}

/// Whether the form's token equals the cookie's, in constant time.
pub fn verify(headers: &HeaderMap, field: Option<&str>, secure: bool) -> bool {
    match (cookie_token(headers, secure), field) {
        (Some(cookie), Some(field)) => cookie.as_bytes().ct_eq(field.as_bytes()).into(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn double_submit() {
        let mut headers = HeaderMap::new();
        assert!(!verify(&headers, Some("x"), false));
        let (token, cookie) = token_for_page(&headers, false).unwrap();
        let cookie = cookie.unwrap();
        assert!(cookie.to_str().unwrap().starts_with("outpost_csrf="));
        assert!(!cookie.to_str().unwrap().contains("Secure"));
        headers.insert(
            axum::http::header::COOKIE,
            format!("a=b; {COOKIE_NAME}={token}").parse().unwrap(),
        );
        assert!(verify(&headers, Some(&token), false));
        assert!(!verify(&headers, Some("other"), false));
        assert!(!verify(&headers, None, false));
        let (again, cookie) = token_for_page(&headers, false).unwrap();
        assert_eq!(again, token);
        assert!(cookie.is_none());
    }

    /// On an https issuer only a `__Host-` cookie counts: a bare one may have been planted by
    /// a sibling subdomain or a plain-http page.
    #[test]
    fn https_issuers_read_only_host_only_cookies() {
        let mut headers = HeaderMap::new();
        let (token, cookie) = token_for_page(&headers, true).unwrap();
        let cookie = cookie.unwrap();
        let cookie = cookie.to_str().unwrap();
        assert!(
            cookie.starts_with("__Host-outpost_csrf=") && cookie.contains("Path=/;"),
            "{cookie}"
        );
        assert!(
            cookie.ends_with("; Secure") && !cookie.contains("Domain"),
            "{cookie}"
        );
        headers.insert(
            axum::http::header::COOKIE,
            format!("{COOKIE_NAME}={token}").parse().unwrap(),
        );
        assert!(!verify(&headers, Some(&token), true), "planted");
        headers.insert(
            axum::http::header::COOKIE,
            format!("__Host-{COOKIE_NAME}={token}").parse().unwrap(),
        );
        assert!(verify(&headers, Some(&token), true));
        assert!(!verify(&headers, Some(&token), false));
    }
}
