//! The browser a pending authorization request belongs to.
//!
//! A request's id travels in the pages and forms, so it may leak (a shared screen, a logged
//! form body, an extension); whoever holds it must still not be able to sign in to the
//! request or decide it from another browser. So `/authorize` gives the browser a second
//! secret, [`BrowserBinding`] (256 bits, [`Secret`]), only ever in the cookie [`COOKIE_NAME`] —
//! `HttpOnly` (no script reads it), never in a page or form, `SameSite=Lax` (sent on the
//! top-level navigation an MCP client opens `/authorize` with, so the tabs of one browser share
//! one value; never on another site's POST), `Secure` when the issuer is `https` — and the
//! request is stored under the SHA-256 of its id *and* this secret
//! ([`pending`](super::pending)). `/login` and `/consent` find the request only with both:
//! from another browser it does not exist, and it stays pending for its own browser.
//!
//! No store field is needed: the binding is part of the key, so every backend and every
//! instance sharing the store checks it the same way.

use axum::http::{HeaderMap, HeaderValue};

use outpost_oauth::secret::RandomnessError;

use super::secret_cookie;

/// The cookie's name (with the `__Host-` prefix on an `https` issuer).
pub const COOKIE_NAME: &str = "outpost_browser";

/// The secret of one browser, as its cookie carries it.
#[derive(Clone, PartialEq, Eq)]
pub struct BrowserBinding(String);

impl std::fmt::Debug for BrowserBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BrowserBinding(…)")
    }
}

impl BrowserBinding {
    /// The binding the request's cookie carries, when it has one of the right form (`secure`:
    /// the issuer is `https`).
    pub fn from_headers(headers: &HeaderMap, secure: bool) -> Option<Self> {
        secret_cookie::read(headers, COOKIE_NAME, secure).map(|value| Self(value.to_owned()))
    }

    /// The binding for a new request: the browser's own when it has one (its other tabs keep
    /// working), else a fresh one with the `Set-Cookie` that gives it to the browser.
    pub fn for_request(
        headers: &HeaderMap,
        secure: bool,
    ) -> Result<(Self, Option<HeaderValue>), RandomnessError> {
        if let Some(binding) = Self::from_headers(headers, secure) {
            return Ok((binding, None));
        }
        let (value, cookie) = secret_cookie::issue(COOKIE_NAME, "Lax", secure)?;
        Ok((Self(value), cookie))
    }

    /// The secret, to derive the request's key from.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_browser_keeps_its_binding() {
        let mut headers = HeaderMap::new();
        assert!(BrowserBinding::from_headers(&headers, true).is_none());
        let (binding, cookie) = BrowserBinding::for_request(&headers, true).unwrap();
        let cookie = cookie.unwrap();
        let cookie = cookie.to_str().unwrap();
        assert!(
            cookie.starts_with("__Host-outpost_browser=")
                && cookie.contains("HttpOnly; SameSite=Lax; Secure"),
            "{cookie}"
        );
        headers.insert(
            axum::http::header::COOKIE,
            format!("outpost_csrf=x; __Host-{COOKIE_NAME}={}", binding.expose())
                .parse()
                .unwrap(),
        );
        assert!(BrowserBinding::from_headers(&headers, false).is_none());
        let (again, cookie) = BrowserBinding::for_request(&headers, true).unwrap();
        assert_eq!(again, binding);
        assert!(cookie.is_none());
        assert!(!format!("{again:?}").contains(binding.expose()));
    }
}
