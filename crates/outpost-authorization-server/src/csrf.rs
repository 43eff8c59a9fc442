//! CSRF protection for the login and consent forms: the double-submit cookie pattern (OWASP
//! CSRF Prevention Cheat Sheet).
//!
//! The page that shows a form sets a random token (256 bits, [`Secret`]) in the cookie
//! [`COOKIE_NAME`] — `HttpOnly`, `SameSite=Strict`, `Secure` when the issuer is `https` — and
//! puts the same value in a hidden field. A POST is accepted only when both are present and
//! equal, compared in constant time. Another site can make the browser post the form but
//! cannot read or set the cookie, so it cannot make the two agree.

use axum::http::{HeaderMap, HeaderValue};
use subtle::ConstantTimeEq;

use outpost_oauth::secret::RandomnessError;

use super::secret_cookie;

/// The cookie's name.
pub const COOKIE_NAME: &str = "outpost_csrf";
/// The hidden form field's name.
pub const FIELD_NAME: &str = "csrf";

/// The token the request's cookie carries, if any (of the form this server sets).
pub fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    secret_cookie::read(headers, COOKIE_NAME)
}

/// The token for the page being shown: the request's own when it has one (several tabs keep
/// working), a fresh one otherwise. The second value is the `Set-Cookie` to send with it.
pub fn token_for_page(
    headers: &HeaderMap,
    secure: bool,
) -> Result<(String, Option<HeaderValue>), RandomnessError> {
    if let Some(token) = cookie_token(headers) {
        return Ok((token.to_owned(), None));
    }
    secret_cookie::issue(COOKIE_NAME, "Strict", secure)
}

/// Whether the form's token equals the cookie's, in constant time.
pub fn verify(headers: &HeaderMap, field: Option<&str>) -> bool {
    match (cookie_token(headers), field) {
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
        assert!(!verify(&headers, Some("x")));
        let (token, cookie) = token_for_page(&headers, true).unwrap();
        assert!(cookie.unwrap().to_str().unwrap().ends_with("; Secure"));
        headers.insert(
            axum::http::header::COOKIE,
            format!("a=b; {COOKIE_NAME}={token}").parse().unwrap(),
        );
        assert!(verify(&headers, Some(&token)));
        assert!(!verify(&headers, Some("other")));
        assert!(!verify(&headers, None));
        let (again, cookie) = token_for_page(&headers, false).unwrap();
        assert_eq!(again, token);
        assert!(cookie.is_none());
    }
}
