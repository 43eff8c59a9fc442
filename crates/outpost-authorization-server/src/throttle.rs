//! Throttling what an attacker repeats, never what a client does normally.
//!
//! Guessing passwords (OWASP Authentication Cheat Sheet, "Protect against automated attacks";
//! NIST SP 800-63B §5.2.2, "Rate Limiting"), guessing client secrets, codes and refresh tokens,
//! and flooding Dynamic Client Registration (RFC 7591 §5 leaves abuse control to the server)
//! are limited by [`Budget`]s: so many attempts per key in a sliding window. The attempts live
//! in the store ([`ThrottleStore`]), so every instance sharing it enforces one budget, and an
//! attempt is *reserved* before the work it guards — before the argon2 verification of a
//! password or secret — so that a concurrent burst has at most the budget evaluated. A
//! request that succeeds gives its attempts back; only failures count.
//!
//! # Failed logins ([`lockout`])
//!
//! Locking an account after a few failures, whoever made them, lets anyone lock its owner
//! out: NIST SP 800-63B §5.2.2 asks to limit failed attempts *and* to keep the legitimate
//! user able to sign in. So the budgets are per account and per source, with a way past the
//! account's for a source that has not failed:
//!
//! 1. per account and source: [`LOGIN_FAILURES_PER_ACCOUNT_AND_SOURCE`] (5 per 15 min); past
//!    it, that source is refused for that account until the window frees an attempt;
//! 2. per account, across sources: [`LOGIN_FAILURES_PER_ACCOUNT`] (10 per 15 min), which bounds
//!    guessing distributed over many addresses;
//! 3. once (2) is spent, a source that has not failed against the account within the window
//!    is still evaluated, through the account's clean-source lane:
//!    [`LOGIN_CLEAN_SOURCE_ATTEMPTS`] (1 per 30 s). A failure there counts against that source
//!    as any other, so a source uses the lane only until it fails;
//! 4. per source, across accounts: [`LOGIN_FAILURES_PER_SOURCE`] (20 per 15 min), for
//!    password spraying from one address.
//!
//! A browser that has signed in to the account before carries a device token for it
//! ([`device`](crate::device); OWASP's "device cookies"): its attempts skip (1)–(4) and count
//! only against that device, [`LOGIN_FAILURES_PER_DEVICE`] (5 per 15 min), which no one else
//! can spend. A device past its budget is treated as any other browser.
//!
//! So the owner of an account signs in at once from a browser they used before, whatever is
//! guessed elsewhere; from a new browser, on a clean address, they wait about 30 s while
//! someone guesses from a few other addresses — and as long as an attacker takes the lane
//! with a fresh address every 30 s. Guessing one account stays bounded: at most 10 failures
//! per 15 min plus one per 30 s through the lane (each from a fresh address). Refusals are 429
//! with `Retry-After`.
//!
//! # Other budgets
//!
//! - Registrations per source: [`REGISTRATIONS_PER_SOURCE`], every registration counts.
//! - Failed client authentication (`invalid_client`: a wrong client secret) at `/token`,
//!   `/revoke` and `/introspect`, per source and claimed client id,
//!   [`CLIENT_FAILURES_PER_CLIENT`], and per source, [`CLIENT_FAILURES_PER_SOURCE`] (for
//!   floods spread over many client ids; each wrong secret costs an argon2 verification). The
//!   three endpoints share the budgets: guessing a secret at one of them is guessing it at
//!   all. A wrong code or refresh token (`invalid_grant`) does not count: they are 256-bit
//!   random values nobody guesses, and counting them would let any web page lock a public
//!   client out of `/token` from its user's address (a form POST needs no CORS preflight: ten
//!   junk refresh tokens under the client's id, and its real refreshes wait ten minutes).
//! - Pending authorization requests per source ([`pending`](super::pending)) and metadata
//!   documents fetched per host ([`cimd`](super::cimd)) use the same primitive.
//!
//! # Sources
//!
//! The source is the TCP peer, from axum's [`ConnectInfo<SocketAddr>`] (serve with
//! `into_make_service_with_connect_info::<SocketAddr>()`), or, when that peer is one of the
//! server's [`TrustedProxies`](crate::forwarded::TrustedProxies), the client address its `Forwarded` / `X-Forwarded-For` header
//! names ([`forwarded`](crate::forwarded)); never those headers otherwise. Without connect info
//! every request counts as one shared source, [`ClientIp::Unknown`]: the login and
//! registration budgets per source then apply to all callers together (fail closed), and the
//! per-account-and-source one to everyone signing in to an account; the client and
//! pending-request budgets are not applied at all, since one caller's failures would otherwise
//! block every client's refreshes.
//!
//! An IPv6 source is counted under its /64: one subscriber, or one attacker, commonly holds a
//! whole /64 (RFC 6177's end-site assignment is at least that), so counting single addresses
//! would give them 2^64 budgets. IPv4-mapped IPv6 addresses count as IPv4.
//!
//! Keys are `{what}:{scope}:{value}` (`login:account:alice`, `token:source:192.0.2.1`,
//! `token:source:2001:db8::/64`); text a caller chose (a client id) is hashed when long, so a
//! key stays short.

pub mod lockout;

use std::{
    convert::Infallible,
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{HeaderMap, request::Parts},
};

use super::{
    AuthorizationServer, client_auth::claimed_client_id, counters, errors::OAuthError,
    form::FormParams, forwarded::Source,
};
use outpost_store::{Admission, Budget, Reservation, StoreError, ThrottleStore, token_hash};

/// The window failed logins are counted in: 15 minutes.
pub const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failed logins per account from one source.
pub const LOGIN_FAILURES_PER_ACCOUNT_AND_SOURCE: Budget = Budget::new(5, LOGIN_WINDOW);
/// Failed logins per account from all sources.
pub const LOGIN_FAILURES_PER_ACCOUNT: Budget = Budget::new(10, LOGIN_WINDOW);
/// Logins evaluated per account, once its budget is spent, for sources that have not failed
/// against it.
pub const LOGIN_CLEAN_SOURCE_ATTEMPTS: Budget = Budget::new(1, Duration::from_secs(30));
/// Failed logins per source across accounts.
pub const LOGIN_FAILURES_PER_SOURCE: Budget = Budget::new(20, LOGIN_WINDOW);
/// Failed logins per trusted device (a browser holding a device token for the account).
pub const LOGIN_FAILURES_PER_DEVICE: Budget = Budget::new(5, LOGIN_WINDOW);
/// Registrations per source.
pub const REGISTRATIONS_PER_SOURCE: Budget = Budget::new(20, Duration::from_secs(10 * 60));
/// Failed client requests (`/token`, `/revoke`, `/introspect`) per source and client id.
pub const CLIENT_FAILURES_PER_CLIENT: Budget = Budget::new(10, Duration::from_secs(10 * 60));
/// Failed client requests (`/token`, `/revoke`, `/introspect`) per source.
pub const CLIENT_FAILURES_PER_SOURCE: Budget = Budget::new(100, Duration::from_secs(10 * 60));
/// Longest caller-chosen text kept as is in a key; longer text is hashed.
const MAX_KEY_TEXT: usize = 128;

/// The caller's address, for per-source limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientIp {
    /// The client's address: the TCP peer's, or the one a trusted proxy forwarded for.
    Known(IpAddr),
    /// The server was not served with connect info: one shared source.
    Unknown,
}

impl ClientIp {
    /// The text this source is counted under: an IPv4 address, or an IPv6 address's /64
    /// ([`Source`]).
    pub fn key(&self) -> String {
        match self {
            Self::Known(ip) => Source::of(*ip).to_string(),
            Self::Unknown => "unknown".into(),
        }
    }
}

impl FromRequestParts<AuthorizationServer> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        server: &AuthorizationServer,
    ) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(
                || {
                    static WARNED: std::sync::Once = std::sync::Once::new();
                    WARNED.call_once(|| {
                        tracing::warn!(
                            "requests reach the authorization server without the peer's address \
                         (axum's ConnectInfo<SocketAddr>): every client shares one login, \
                         token and registration budget. Serve the router with \
                         into_make_service_with_connect_info::<SocketAddr>()"
                        );
                    });
                    Self::Unknown
                },
                |ConnectInfo(peer)| {
                    Self::Known(
                        server
                            .trusted_proxies
                            .client_address(peer.ip(), &parts.headers),
                    )
                },
            ))
    }
}

/// Why attempts could not be reserved.
#[derive(Debug, thiserror::Error)]
pub enum ThrottleError {
    /// A budget is spent.
    #[error("too many attempts; retry in {retry_after} seconds")]
    Refused {
        /// Seconds until the budget has room again.
        retry_after: u64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ThrottleError {
    /// The refusal as the JSON endpoints answer it: `too many {what}` (a 429), or a server
    /// error.
    pub fn into_oauth(self, what: &str) -> OAuthError {
        match self {
            Self::Refused { retry_after } => OAuthError::TooManyRequests {
                description: format!("too many {what}; retry in {retry_after} seconds"),
                retry_after,
            },
            Self::Store(error) => error.into(),
        }
    }
}

/// The attempts one request reserved. Dropped, they keep counting (the request failed);
/// [`give_back`](Self::give_back) releases them (it succeeded).
#[derive(Debug, Default)]
pub struct Attempts {
    reservations: Vec<Reservation>,
}

impl Attempts {
    /// Releases every attempt: the request succeeded. A store failure is logged only; the
    /// request's answer stands (the attempts then count until their window ends).
    pub async fn give_back(self, store: &dyn ThrottleStore) {
        for reservation in &self.reservations {
            if let Err(error) = store.release(reservation).await {
                tracing::warn!(%error, key = %reservation.key, "cannot release a throttle attempt");
            }
        }
    }

    /// Reserves one attempt under `key` and keeps it with the others (refused, those stay
    /// held: the caller decides).
    async fn reserve(
        &mut self,
        store: &dyn ThrottleStore,
        key: &str,
        budget: Budget,
        now: i64,
    ) -> Result<Reservation, ThrottleError> {
        match store.reserve(key, budget, now).await? {
            Admission::Reserved(reservation) => {
                self.reservations.push(reservation.clone());
                Ok(reservation)
            }
            Admission::Refused { retry_after } => {
                counters::attempt_throttled();
                Err(ThrottleError::Refused { retry_after })
            }
        }
    }
}

/// Reserves one attempt under each key's budget, in order: all of them, or none (the first
/// refusal gives back the attempts already reserved and answers its `retry_after`).
pub async fn reserve_all(
    store: &dyn ThrottleStore,
    limits: &[(&str, Budget)],
    now: i64,
) -> Result<Attempts, ThrottleError> {
    let mut attempts = Attempts::default();
    for (key, budget) in limits {
        if let Err(error) = attempts.reserve(store, key, *budget, now).await {
            attempts.give_back(store).await;
            return Err(error);
        }
    }
    Ok(attempts)
}

/// Reserves a failed-request attempt for a request of an OAuth client at `/token`, `/revoke`
/// or `/introspect`, under its source and the client id it claims; `None` when the source is
/// unknown (see the module docs). Refused, the request is answered 429.
pub async fn reserve_client_attempt(
    server: &AuthorizationServer,
    source: ClientIp,
    headers: &HeaderMap,
    form: &FormParams,
) -> Result<Option<Attempts>, OAuthError> {
    if source == ClientIp::Unknown {
        return Ok(None);
    }
    let source = source.key();
    let client = key_text(&claimed_client_id(headers, form).unwrap_or_default());
    let limits = [
        (
            format!("client:source:{source}"),
            CLIENT_FAILURES_PER_SOURCE,
        ),
        (
            format!("client:id:{source}/{client}"),
            CLIENT_FAILURES_PER_CLIENT,
        ),
    ];
    let limits = limits
        .each_ref()
        .map(|(key, budget)| (key.as_str(), *budget));
    reserve_all(&*server.store.throttles, &limits, server.now())
        .await
        .map(Some)
        .map_err(|error| error.into_oauth("failed requests from this address"))
}

/// Settles a client request's attempts by its outcome: only what guessing a secret produces —
/// a wrong client secret (`invalid_client`) — keeps counting (see the module docs for why a
/// wrong code or refresh token does not).
pub async fn settle<T>(
    server: &AuthorizationServer,
    attempts: Option<Attempts>,
    outcome: &Result<T, OAuthError>,
) {
    let guessed = matches!(outcome, Err(OAuthError::InvalidClient { .. }));
    if let Some(attempts) = attempts
        && !guessed
    {
        attempts.give_back(&*server.store.throttles).await;
    }
}

/// Caller-chosen text as part of a key: as is when short, else its SHA-256.
fn key_text(text: &str) -> String {
    if text.len() <= MAX_KEY_TEXT {
        return text.to_owned();
    }
    format!("sha256-{}", token_hash(text).as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_keyed_by_ipv4_address_and_ipv6_slash_64() {
        let key = |ip: &str| ClientIp::Known(ip.parse().unwrap()).key();
        assert_eq!(key("192.0.2.1"), "192.0.2.1");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(ClientIp::Unknown.key(), "unknown");
    }

    #[test]
    fn long_key_text_is_hashed() {
        assert_eq!(key_text("client-1"), "client-1");
        let long = key_text(&"x".repeat(1000));
        assert!(long.starts_with("sha256-") && long.len() == 71, "{long}");
    }
}
