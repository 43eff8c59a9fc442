//! Durable state: the `outpost-store` crate's traits, records and in-memory backend, and
//! [`open`] / [`open_with`], which pick a backend by URL among those compiled in (features
//! `sqlite` and `redis`).

use std::{fmt, time::Duration};

pub use outpost_store::*;

/// The store URLs [`open`] accepts in this build.
pub const SUPPORTED_URLS: &str = match (cfg!(feature = "sqlite"), cfg!(feature = "redis")) {
    (true, true) => {
        "memory://, sqlite://PATH (e.g. sqlite://./outpost.db, sqlite:///var/lib/outpost.db) \
         or redis://[USER@]HOST[:PORT][/DB] (rediss:// for TLS)"
    }
    (true, false) => {
        "memory:// or sqlite://PATH (e.g. sqlite://./outpost.db, sqlite:///var/lib/outpost.db)"
    }
    (false, true) => "memory:// or redis://[USER@]HOST[:PORT][/DB] (rediss:// for TLS)",
    (false, false) => "memory:// (build with the `sqlite` or `redis` feature for more)",
};

/// What a store needs besides its URL. The defaults are the backends' own (prefix `outpost:`,
/// 2 s timeouts, store files refused when group or others may read or write them).
#[derive(Clone, Default)]
pub struct StoreOptions {
    /// Prefix of every key (Redis); `None` for the default `outpost:`.
    pub prefix: Option<String>,
    /// The password to authenticate with (Redis `AUTH`), kept out of the URL and of logs.
    pub password: Option<String>,
    /// How long connecting may take; `None` for the backend's default.
    pub connect_timeout: Option<Duration>,
    /// How long one operation may wait for its answer; `None` for the backend's default.
    pub response_timeout: Option<Duration>,
    /// Start on a Redis whose `maxmemory-policy` may evict keys, with a warning.
    pub allow_eviction: bool,
    /// Open a SQLite file (or its `-wal` / `-shm`) that group or others may read or write,
    /// with a warning, rather than refusing it with [`StoreError::SharedFileMode`]. New files
    /// are created `0600` either way (Unix).
    pub allow_shared_file_mode: bool,
}

impl fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreOptions")
            .field("prefix", &self.prefix)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("allow_eviction", &self.allow_eviction)
            .field("allow_shared_file_mode", &self.allow_shared_file_mode)
            .finish()
    }
}

/// Opens the store a URL names, with default [`StoreOptions`]: see [`open_with`].
pub async fn open(url: &str) -> Result<Store, StoreError> {
    open_with(url, &StoreOptions::default()).await
}

/// Opens the store a URL names: `memory://` (empty, gone at exit); with the `sqlite` feature,
/// `sqlite://PATH` (created `0600` if missing, refused if group or others may read or write
/// it unless [`StoreOptions::allow_shared_file_mode`], migrated to the current schema); with
/// the `redis` feature, `redis://` or `rediss://` (checked at start, shared by every instance
/// that opens it, see the `outpost-store-redis` crate). Every call to the store is timed and
/// every failure counted in the process's metrics ([`metered`]).
pub async fn open_with(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
    open_backend(url, options).await.map(metered::metered)
}

/// The backend `url` names, as [`open_with`] describes, not metered.
async fn open_backend(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
    #[cfg(not(any(feature = "sqlite", feature = "redis")))]
    let _ = options;
    let invalid = |reason: String| StoreError::InvalidUrl {
        url: redact_url(url),
        reason,
    };
    if url == "memory://" {
        return Ok(Store::memory());
    }
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(invalid("missing file path after sqlite://".into()));
        }
        #[cfg(feature = "sqlite")]
        return outpost_store_sqlite::open_with(path, &sqlite_options(options)).await;
        #[cfg(not(feature = "sqlite"))]
        return Err(invalid(
            "this build has no SQLite backend (feature `sqlite`)".into(),
        ));
    }
    if url.starts_with("redis://") || url.starts_with("rediss://") {
        #[cfg(feature = "redis")]
        return outpost_store_redis::open(redis_options(url, options)).await;
        #[cfg(not(feature = "redis"))]
        return Err(invalid(
            "this build has no Redis backend (feature `redis`)".into(),
        ));
    }
    Err(invalid(format!("unsupported scheme; use {SUPPORTED_URLS}")))
}

#[cfg(feature = "sqlite")]
fn sqlite_options(options: &StoreOptions) -> outpost_store_sqlite::SqliteOptions {
    let mut sqlite = outpost_store_sqlite::SqliteOptions::default();
    sqlite.allow_shared_file_mode = options.allow_shared_file_mode;
    sqlite
}

#[cfg(feature = "redis")]
fn redis_options(url: &str, options: &StoreOptions) -> outpost_store_redis::RedisOptions {
    let mut redis = outpost_store_redis::RedisOptions::new(url);
    if let Some(prefix) = &options.prefix {
        redis.prefix.clone_from(prefix);
    }
    redis.password = options
        .password
        .as_deref()
        .map(outpost_store_redis::RedisPassword::new);
    if let Some(timeout) = options.connect_timeout {
        redis.connect_timeout = timeout;
    }
    if let Some(timeout) = options.response_timeout {
        redis.response_timeout = timeout;
    }
    redis.allow_eviction = options.allow_eviction;
    redis
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unknown_scheme_names_the_supported_ones() {
        let err = open("postgres://localhost").await.expect_err("unsupported");
        let message = err.to_string();
        assert!(message.contains("memory://"), "{message}");
        assert!(matches!(
            open("sqlite://").await,
            Err(StoreError::InvalidUrl { .. })
        ));
    }

    #[test]
    fn options_never_print_the_password() {
        let options = StoreOptions {
            password: Some("hunter2".into()),
            ..StoreOptions::default()
        };
        assert!(!format!("{options:?}").contains("hunter2"));
    }
}
