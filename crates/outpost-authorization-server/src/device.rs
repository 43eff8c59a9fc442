//! The device cookie: a browser that signed in to an account keeps a device token for it
//! ([`outpost_oauth::device_token`]), so that its next sign-in to that account counts against
//! a failure budget of its own instead of the account's ([`throttle`](crate::throttle)). An
//! attacker guessing the password from elsewhere spends the account's budget, never this one:
//! the owner signs in from a browser they used before at once.
//!
//! The cookie [`COOKIE_NAME`] holds the token itself (no store record: every instance sharing
//! the keys verifies it), `HttpOnly`, `SameSite=Strict` (only the login form, posted from the
//! server's own page, needs it), `Secure` when the issuer is `https`, for [`DEVICE_TRUST`].
//! One browser holds one: signing in to another account replaces it.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use outpost_oauth::device_token::{self, DeviceClaims};
use outpost_store::Username;

use crate::{AuthorizationServer, secret_cookie};

/// The cookie's name (with the `__Host-` prefix on an `https` issuer).
pub const COOKIE_NAME: &str = "outpost_device";
/// How long a browser stays trusted after signing in.
pub const DEVICE_TRUST: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// A browser that has signed in to the account it is signing in to now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedDevice {
    id: String,
}

impl TrustedDevice {
    /// The device the request's cookie names, when it carries a device token of `server` for
    /// `username`, valid at `now`.
    pub fn from_headers(
        server: &AuthorizationServer,
        headers: &HeaderMap,
        username: &Username,
        now: i64,
    ) -> Option<Self> {
        let token = cookie_value(headers, server.issuer_is_https())?;
        let claims = device_token::verify(
            &server.keyring(),
            token,
            &server.issuer,
            &username.key(),
            now,
        )?;
        Some(Self { id: claims.jti })
    }

    /// The device's id: what its failed attempts are counted under.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The `Set-Cookie` that makes this browser a trusted device of `username`, which it signed in
/// to at `now`; `None` when no token could be made (the sign-in goes on without it).
pub fn cookie_for(
    server: &AuthorizationServer,
    username: &Username,
    now: i64,
) -> Option<HeaderValue> {
    let lifetime = i64::try_from(DEVICE_TRUST.as_secs()).unwrap_or(i64::MAX);
    let claims = DeviceClaims::new(&server.issuer, &username.key(), now, lifetime)
        .inspect_err(|error| tracing::warn!(%error, "no device token"))
        .ok()?;
    let token = device_token::issue(&server.keyring(), &claims)
        .inspect_err(|error| tracing::warn!(%error, "no device token"))
        .ok()?;
    secret_cookie::set_cookie(
        COOKIE_NAME,
        &token,
        "Strict",
        Some(DEVICE_TRUST),
        server.issuer_is_https(),
    )
}

/// The device cookie's value, when the request carries one that may be a token (base64url
/// segments separated by dots).
fn cookie_value(headers: &HeaderMap, secure: bool) -> Option<&str> {
    secret_cookie::read_checked(headers, COOKIE_NAME, secure, is_token_syntax)
}

fn is_token_syntax(value: &str) -> bool {
    (1..=4096).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use axum::http::header;

    use super::*;

    #[test]
    fn only_a_cookie_shaped_like_a_token_is_read() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("outpost_csrf=x; outpost_device=a.b-c_d.e"),
        );
        assert_eq!(cookie_value(&headers, false), Some("a.b-c_d.e"));
        assert_eq!(cookie_value(&headers, true), None, "not __Host-");
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("__Host-outpost_device=a.b-c_d.e"),
        );
        assert_eq!(cookie_value(&headers, true), Some("a.b-c_d.e"));
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("outpost_device=<script>"),
        );
        assert_eq!(cookie_value(&headers, false), None);
    }
}
