//! [`StoreHealth`] for SQLite: one trivial query through the shared connection.

use async_trait::async_trait;
use outpost_store::{StoreError, StoreHealth};

use crate::SqliteStore;

#[async_trait]
impl StoreHealth for SqliteStore {
    async fn check(&self) -> Result<(), StoreError> {
        self.call(|connection| {
            connection.query_row("SELECT 1", [], |_| Ok(()))?;
            Ok(())
        })
        .await
    }
}
