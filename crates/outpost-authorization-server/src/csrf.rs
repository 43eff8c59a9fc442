//! CSRF protection for the login and consent forms: the double-submit cookie pattern (OWASP
//! CSRF Prevention Cheat Sheet).
//!
//! The page that shows a form sets a random token (256 bits, [`Secret`]) in the cookie
//! [`COOKIE_NAME`] — `HttpOnly`, `SameSite=Strict`, `Secure` when the issuer is `https` — and
//! puts the same value in a hidden field. A POST is accepted only when both are present and
//! equal, compared in constant time. Another site can make the browser post the form but
//! cannot read or set the cookie, so it cannot make the two agree.

use axum::http::{HeaderMap, HeaderValue, header};
use subtle::ConstantTimeEq;

use outpost_oauth::secret::{RandomnessError, Secret};

/// The cookie's name.
pub const COOKIE_NAME: &str = "outpost_csrf";
/// The hidden form field's name.
pub const FIELD_NAME: &str = "csrf";

/// The token the request's cookie carries, if any.
pub fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == COOKIE_NAME && !value.is_empty())
        .map(|(_, value)| value)
}

/// The token for the page being shown: the request's own when it has one (several tabs keep
/// working), a fresh one otherwise. The second value is the `Set-Cookie` to send with it.
pub fn token_for_page(
    headers: &HeaderMap,
    secure: bool,
) -> Result<(String, Option<HeaderValue>), RandomnessError> {
    if let Some(token) = cookie_token(headers).filter(|t| is_token_syntax(t)) {
        return Ok((token.to_owned(), None));
    }
    let token = Secret::generate()?.expose().to_owned();
    let cookie = format!(
        "{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    );
    Ok((token, HeaderValue::from_str(&cookie).ok()))
}

/// Whether the form's token equals the cookie's, in constant time.
pub fn verify(headers: &HeaderMap, field: Option<&str>) -> bool {
    match (cookie_token(headers), field) {
        (Some(cookie), Some(field)) => cookie.as_bytes().ct_eq(field.as_bytes()).into(),
        _ => false,
    }
}

/// Tokens are base64url: anything else in the cookie was not set here.
fn is_token_syntax(token: &str) -> bool {
    (16..=128).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
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
            header::COOKIE,
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
