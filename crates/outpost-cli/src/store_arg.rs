//! The `--store` flags every command that touches durable state takes, declared once.

use std::{path::PathBuf, time::Duration};

use anyhow::Context;
use outpost::store::{Store, StoreError, StoreOptions, redact_url};

/// The environment variable the store password is read from.
const PASSWORD_ENV: &str = "OUTPOST_STORE_PASSWORD";

/// Where users, clients, grants and signing keys live: the same URL for `serve`, `users`
/// and `keys`.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArg {
    /// Store URL: sqlite://PATH, memory://, or redis://[USER@]HOST[:PORT][/DB] (rediss:// for
    /// TLS) to share one store between instances. Put no password in it: see
    /// --store-password-file and OUTPOST_STORE_PASSWORD. [default: sqlite://./outpost.db]
    #[arg(long = "store", global = true, env = "OUTPOST_STORE")]
    url: Option<String>,
    /// Prefix of every Redis key, so deployments can share one Redis.
    #[arg(
        long = "store-prefix",
        global = true,
        env = "OUTPOST_STORE_PREFIX",
        default_value = "outpost:"
    )]
    prefix: String,
    /// File holding the Redis password (trailing newline ignored); otherwise the password is
    /// read from OUTPOST_STORE_PASSWORD, never from the command line.
    #[arg(
        long = "store-password-file",
        global = true,
        env = "OUTPOST_STORE_PASSWORD_FILE"
    )]
    password_file: Option<PathBuf>,
    /// How long connecting to Redis may take (e.g. 2s, 500ms).
    #[arg(long = "store-connect-timeout", global = true, default_value = "2s", value_parser = humantime::parse_duration, env = "OUTPOST_STORE_CONNECT_TIMEOUT")]
    connect_timeout: Duration,
    /// How long one store operation may wait for Redis before it fails as unavailable.
    #[arg(long = "store-response-timeout", global = true, default_value = "2s", value_parser = humantime::parse_duration, env = "OUTPOST_STORE_RESPONSE_TIMEOUT")]
    response_timeout: Duration,
    /// Start even if Redis' maxmemory-policy may evict keys (it would silently lose grants and
    /// keys); a warning instead of a refusal.
    #[arg(
        long = "store-allow-eviction",
        global = true,
        env = "OUTPOST_STORE_ALLOW_EVICTION", value_parser = clap::builder::BoolishValueParser::new())]
    allow_eviction: bool,
    /// Open a SQLite store whose file (or -wal / -shm) group or others may read or write, with
    /// a warning, instead of refusing to start. New files are created 0600 either way.
    #[arg(
        long = "store-allow-shared-file-mode",
        global = true,
        env = "OUTPOST_STORE_ALLOW_SHARED_FILE_MODE", value_parser = clap::builder::BoolishValueParser::new())]
    allow_shared_file_mode: bool,
}

/// The store of a command given no `--store`.
const DEFAULT_STORE_URL: &str = "sqlite://./outpost.db";

impl StoreArg {
    /// The store URL: the one given, else `sqlite://./outpost.db`.
    pub fn url(&self) -> &str {
        self.url.as_deref().unwrap_or(DEFAULT_STORE_URL)
    }

    /// Whether a store was named (`--store` or `OUTPOST_STORE`) rather than defaulted.
    pub fn is_given(&self) -> bool {
        self.url.is_some()
    }

    /// The URL as logs show it, any password redacted.
    pub fn display_url(&self) -> String {
        redact_url(self.url())
    }

    /// Opens the store (creating and migrating a SQLite file as needed, checking a Redis).
    pub async fn open(&self) -> anyhow::Result<Store> {
        if url_has_password(self.url()) {
            tracing::warn!(
                store = %self.display_url(),
                "the store URL carries a password, which command lines, shell histories and \
                 process lists show to others: give it in --store-password-file or \
                 OUTPOST_STORE_PASSWORD instead"
            );
        }
        let options = StoreOptions {
            prefix: Some(self.prefix.clone()),
            password: self.password()?,
            connect_timeout: Some(self.connect_timeout),
            response_timeout: Some(self.response_timeout),
            allow_eviction: self.allow_eviction,
            allow_shared_file_mode: self.allow_shared_file_mode,
        };
        outpost::store::open_with(self.url(), &options)
            .await
            .map_err(|error| match error {
                StoreError::SharedFileMode { .. } => anyhow::anyhow!(
                    "{error} (--store-allow-shared-file-mode, \
                     OUTPOST_STORE_ALLOW_SHARED_FILE_MODE=true)"
                ),
                error => error.into(),
            })
            .with_context(|| format!("cannot open the store {}", self.display_url()))
    }

    /// Opens a store a server can share with this command: never `memory://`, which lives
    /// and dies with the one process (what a command writes there no server ever sees).
    pub async fn open_shared(&self) -> anyhow::Result<Store> {
        if self.url() == "memory://" {
            anyhow::bail!(
                "memory:// lives only inside one process: a command cannot reach a server's \
                 memory store. Name the store the server uses (--store)"
            );
        }
        self.open().await
    }

    /// Opens a store that already exists, for a command that manages what a server put
    /// there: a SQLite file that is not there is refused rather than created empty (a typo
    /// in `--store`, or the wrong directory, would otherwise look like an empty store).
    pub async fn open_existing(&self) -> anyhow::Result<Store> {
        if let Some(path) = self.url().strip_prefix("sqlite://")
            && !std::path::Path::new(path).exists()
        {
            anyhow::bail!(
                "there is no store at {path}: `outpost serve` or `outpost users add` creates \
                 one; name the one the server uses with --store"
            );
        }
        self.open_shared().await
    }

    /// Opens the store for `serve`, which uses its signing and request-state keys: sealed at
    /// rest with the key-encryption key the environment gives ([`crate::key_encryption`]).
    pub async fn open_with_keys(&self) -> anyhow::Result<Store> {
        let keys = crate::key_encryption::from_env()?;
        let store = self.open().await?;
        self.sealed(store, keys).await
    }

    /// The same for a command that manages the keys of a store that already exists
    /// ([`open_existing`](Self::open_existing)).
    pub async fn open_existing_with_keys(&self) -> anyhow::Result<Store> {
        let keys = crate::key_encryption::from_env()?;
        let store = self.open_existing().await?;
        self.sealed(store, keys).await
    }

    /// `store` with its keys sealed by `keys`.
    async fn sealed(
        &self,
        store: Store,
        keys: Option<outpost::store::KeyEncryptionKeys>,
    ) -> anyhow::Result<Store> {
        crate::key_encryption::apply(store, keys)
            .await
            .with_context(|| format!("cannot open the keys in the store {}", self.display_url()))
    }

    /// The password from --store-password-file, else from OUTPOST_STORE_PASSWORD.
    fn password(&self) -> anyhow::Result<Option<String>> {
        if let Some(path) = &self.password_file {
            let text = std::fs::read_to_string(path).with_context(|| {
                format!("cannot read the store password file {}", path.display())
            })?;
            return Ok(Some(text.trim_end_matches(['\r', '\n']).to_owned()));
        }
        Ok(std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty()))
    }
}

/// Whether `url` carries a password (`redis://user:password@host`).
fn url_has_password(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|parsed| parsed.password().is_some())
}
