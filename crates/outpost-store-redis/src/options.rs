//! [`RedisOptions`]: where the Redis store is and how long to wait for it, with the password
//! kept apart from the URL and out of every log line.

use std::{fmt, time::Duration};

use outpost_store::redact_url;

/// A Redis password: `Debug` and `Display` print `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisPassword(String);

impl RedisPassword {
    /// Takes the password (read from `OUTPOST_STORE_PASSWORD` or a file by the CLI).
    pub fn new(password: impl Into<String>) -> Self {
        Self(password.into())
    }

    /// The password itself, to authenticate with.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RedisPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How to reach the Redis store and how long to wait for it. `Debug` redacts the password,
/// in the URL too.
#[derive(Clone)]
pub struct RedisOptions {
    /// `redis://[user@]host[:port][/db]` or `rediss://…` (TLS, verified against the system's
    /// roots or [`tls_root_ca_pem`](Self::tls_root_ca_pem)). A password in the URL is accepted
    /// but [`password`](Self::password) is the way to pass one; logs and errors show the URL
    /// with any password redacted ([`redact_url`]).
    pub url: String,
    /// The password (`AUTH`), overriding one in the URL.
    pub password: Option<RedisPassword>,
    /// What every key begins with, so several deployments can share one Redis
    /// (default `outpost:`).
    pub prefix: String,
    /// How long one connection attempt may take (default 2 s).
    pub connect_timeout: Duration,
    /// How long any store operation may wait for its answers (default 2 s); past it the
    /// operation fails with `StoreError::Unavailable`.
    pub response_timeout: Duration,
    /// Start even though Redis may evict keys (`maxmemory-policy` other than `noeviction`),
    /// with a warning instead of a refusal. Eviction silently loses grants and signing keys.
    pub allow_eviction: bool,
    /// A PEM CA certificate to trust for `rediss://` instead of the system's roots.
    pub tls_root_ca_pem: Option<Vec<u8>>,
}

impl fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisOptions")
            .field("url", &redact_url(&self.url))
            .field("password", &self.password)
            .field("prefix", &self.prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("allow_eviction", &self.allow_eviction)
            .field(
                "tls_root_ca_pem",
                &self.tls_root_ca_pem.as_ref().map(|_| "<set>"),
            )
            .finish()
    }
}

impl RedisOptions {
    /// The defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            password: None,
            prefix: "outpost:".into(),
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(2),
            allow_eviction: false,
            tls_root_ca_pem: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_print() {
        let mut options = RedisOptions::new("redis://app:hunter2@cache:6379/2");
        options.password = Some(RedisPassword::new("s3cret"));
        let debug = format!("{options:?}");
        assert!(
            !debug.contains("s3cret") && !debug.contains("hunter2"),
            "{debug}"
        );
    }
}
