//! Throttling what an attacker repeats, never what a client does normally.
//!
//! Guessing passwords (OWASP Authentication Cheat Sheet, "Protect against automated attacks";
//! NIST SP 800-63B §5.2.2, "Rate Limiting") and flooding Dynamic Client Registration (RFC 7591
//! §5 leaves abuse control to the server) are counted in sliding windows, in memory, per
//! instance:
//!
//! - failed logins per account: [`LOGIN_FAILURES_PER_ACCOUNT`] in [`LOGIN_WINDOW`], then the
//!   account is refused until the oldest failure leaves the window (a lockout of at most the
//!   window);
//! - failed logins per source address: [`LOGIN_FAILURES_PER_SOURCE`] in the same window,
//!   higher than per account so that several people behind one address are not locked out by
//!   one of them;
//! - registrations per source address: [`REGISTRATIONS_PER_SOURCE`] in
//!   [`REGISTRATION_WINDOW`];
//! - failed token requests (`invalid_client`, `invalid_grant`: a wrong client secret, code or
//!   refresh token) per source address and client id, [`TOKEN_FAILURES_PER_CLIENT`] in
//!   [`TOKEN_WINDOW`], and per source address, [`TOKEN_FAILURES_PER_SOURCE`] (for floods
//!   spread over many client ids; each wrong secret costs an argon2 verification).
//!
//! Only failures count at the login and token endpoints: a client that refreshes and retries
//! a few times a second keeps working, and one client's failures never lock out another's.
//!
//! The source address is the TCP peer, from axum's [`ConnectInfo<SocketAddr>`] (serve with
//! `into_make_service_with_connect_info::<SocketAddr>()`). Without it every request counts as
//! one shared source, [`ClientIp::Unknown`]: the login and registration limits per source then
//! apply to all callers together (fail closed), per-account limits are unaffected; the token
//! limits are not applied at all, since one caller's failures would otherwise block every
//! client's refreshes. `X-Forwarded-For` is not trusted.

use std::{
    collections::{HashMap, VecDeque},
    convert::Infallible,
    net::{IpAddr, SocketAddr},
    sync::{Mutex, PoisonError},
    time::Duration,
};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};

/// Failed logins one account may have in [`LOGIN_WINDOW`].
pub const LOGIN_FAILURES_PER_ACCOUNT: usize = 5;
/// Failed logins one source address may have in [`LOGIN_WINDOW`].
pub const LOGIN_FAILURES_PER_SOURCE: usize = 20;
/// The window failed logins are counted in: 15 minutes.
pub const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Registrations one source address may make in [`REGISTRATION_WINDOW`].
pub const REGISTRATIONS_PER_SOURCE: usize = 20;
/// The window registrations are counted in: 10 minutes.
pub const REGISTRATION_WINDOW: Duration = Duration::from_secs(10 * 60);
/// Failed token requests one source may make for one client id in [`TOKEN_WINDOW`].
pub const TOKEN_FAILURES_PER_CLIENT: usize = 10;
/// Failed token requests one source address may make in [`TOKEN_WINDOW`].
pub const TOKEN_FAILURES_PER_SOURCE: usize = 100;
/// The window failed token requests are counted in: 10 minutes.
pub const TOKEN_WINDOW: Duration = Duration::from_secs(10 * 60);
/// Keys one limiter keeps before it drops those with no event in the window.
const MAX_KEYS: usize = 100_000;

/// The caller's address, for per-source limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientIp {
    /// The TCP peer's address.
    Known(IpAddr),
    /// The server was not served with connect info: one shared source.
    Unknown,
}

impl ClientIp {
    /// The key this source is counted under.
    pub fn key(&self) -> String {
        match self {
            Self::Known(ip) => ip.to_string(),
            Self::Unknown => "unknown".into(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(Self::Unknown, |ConnectInfo(addr)| Self::Known(addr.ip())))
    }
}

/// Events per key in a sliding window.
#[derive(Debug)]
pub struct SlidingWindow {
    limit: usize,
    window: i64,
    events: Mutex<HashMap<String, VecDeque<i64>>>,
}

impl SlidingWindow {
    /// At most `limit` events per key in `window`.
    pub fn new(limit: usize, window: Duration) -> Self {
        Self {
            limit,
            window: i64::try_from(window.as_secs()).unwrap_or(i64::MAX),
            events: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(retry_after_seconds)` when `key` has used up its events at `now`.
    pub fn check(&self, key: &str, now: i64) -> Result<(), u64> {
        let mut events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(times) = events.get_mut(key) else {
            return Ok(());
        };
        self.expire(times, now);
        if times.len() < self.limit {
            return Ok(());
        }
        let oldest = times.front().copied().unwrap_or(now);
        Err(u64::try_from(oldest + self.window - now)
            .unwrap_or(0)
            .max(1))
    }

    /// Counts one event for `key` at `now`.
    pub fn record(&self, key: &str, now: i64) {
        let mut events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        if events.len() >= MAX_KEYS {
            let window = self.window;
            events.retain(|_, times| times.back().is_some_and(|&t| t > now - window));
        }
        let times = events.entry(key.to_owned()).or_default();
        self.expire(times, now);
        times.push_back(now);
        while times.len() > self.limit {
            times.pop_front();
        }
    }

    /// [`check`](Self::check), then [`record`](Self::record) when allowed.
    pub fn hit(&self, key: &str, now: i64) -> Result<(), u64> {
        self.check(key, now)?;
        self.record(key, now);
        Ok(())
    }

    /// Forgets `key` (a successful login clears its account's failures).
    pub fn clear(&self, key: &str) {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }

    fn expire(&self, times: &mut VecDeque<i64>, now: i64) {
        while times.front().is_some_and(|&t| t <= now - self.window) {
            times.pop_front();
        }
    }
}

/// The authorization server's limiters.
#[derive(Debug)]
pub struct Throttles {
    /// Failed logins per (lower-cased) username.
    pub login_account: SlidingWindow,
    /// Failed logins per source address.
    pub login_source: SlidingWindow,
    /// Registrations per source address.
    pub registration_source: SlidingWindow,
    /// Failed token requests per source address and client id.
    pub token_client: SlidingWindow,
    /// Failed token requests per source address.
    pub token_source: SlidingWindow,
}

impl Default for Throttles {
    fn default() -> Self {
        Self {
            login_account: SlidingWindow::new(LOGIN_FAILURES_PER_ACCOUNT, LOGIN_WINDOW),
            login_source: SlidingWindow::new(LOGIN_FAILURES_PER_SOURCE, LOGIN_WINDOW),
            registration_source: SlidingWindow::new(REGISTRATIONS_PER_SOURCE, REGISTRATION_WINDOW),
            token_client: SlidingWindow::new(TOKEN_FAILURES_PER_CLIENT, TOKEN_WINDOW),
            token_source: SlidingWindow::new(TOKEN_FAILURES_PER_SOURCE, TOKEN_WINDOW),
        }
    }
}

/// `429` for a registration flood: an RFC 6749 §5.2-shaped JSON body and `Retry-After`.
pub fn too_many_registrations(retry_after: u64) -> Response {
    too_many_requests(
        &format!("too many registrations from this address; retry in {retry_after} seconds"),
        retry_after,
    )
}

/// `429` for repeated failed token requests, shaped like [`too_many_registrations`].
pub fn too_many_token_failures(retry_after: u64) -> Response {
    too_many_requests(
        &format!("too many failed token requests; retry in {retry_after} seconds"),
        retry_after,
    )
}

fn too_many_requests(description: &str, retry_after: u64) -> Response {
    let body = serde_json::json!({
        "error": "too_many_requests",
        "error_description": description,
    });
    let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    super::errors::no_store(headers);
    headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_the_limit_until_the_window_moves() {
        let limiter = SlidingWindow::new(3, Duration::from_secs(60));
        for t in 0..3 {
            assert!(limiter.hit("a", 100 + t).is_ok());
        }
        assert_eq!(limiter.check("a", 103), Err(57));
        assert!(limiter.check("b", 103).is_ok(), "keys are independent");
        assert!(limiter.check("a", 160).is_ok(), "the oldest event left");
        limiter.clear("a");
        assert!(limiter.check("a", 103).is_ok());
    }
}
