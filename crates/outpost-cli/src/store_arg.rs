//! The `--store` flag every command that touches durable state takes, declared once.

use anyhow::Context;
use outpost::store::Store;

/// Where users, clients, grants and signing keys live: the same URL for `serve`, `users`
/// and `keys`.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArg {
    /// Store URL: sqlite://PATH or memory://.
    #[arg(
        long = "store",
        global = true,
        env = "OUTPOST_STORE",
        default_value = "sqlite://./outpost.db"
    )]
    pub url: String,
}

impl StoreArg {
    /// Opens the store (creating and migrating a SQLite file as needed).
    pub async fn open(&self) -> anyhow::Result<Store> {
        outpost::store::open(&self.url)
            .await
            .with_context(|| format!("cannot open the store {}", self.url))
    }
}
