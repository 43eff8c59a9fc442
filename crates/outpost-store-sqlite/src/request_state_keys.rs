//! [`RequestStateKeyStore`] on SQLite. Each conditional step is one `INSERT … SELECT … WHERE
//! NOT EXISTS` statement: SQLite holds the write lock for the whole statement, so the check and
//! the insert cannot be split by another connection or process.

use async_trait::async_trait;
use rusqlite::{Connection, Row, ToSql};

use super::{Failure, SqliteStore, query_all, write_error};
use outpost_store::{RequestStateKeyRecord, RequestStateKeyStore, RequestStateSecret, StoreError};

fn key_from_row(row: &Row<'_>) -> Result<RequestStateKeyRecord, Failure> {
    Ok(RequestStateKeyRecord {
        kid: row.get(0)?,
        secret: RequestStateSecret::from_bytes(row.get(1)?)?,
        created_at: row.get(2)?,
        activates_at: row.get(3)?,
    })
}

/// Inserts `key` when `condition` holds (a SQL boolean over `?5`…, bound to `arguments`);
/// whether it did.
fn insert_when(
    connection: &Connection,
    key: &RequestStateKeyRecord,
    condition: &str,
    arguments: &[&dyn ToSql],
) -> Result<bool, Failure> {
    let sql = format!(
        "INSERT INTO request_state_keys (kid, secret, created_at, activates_at) \
         SELECT ?1, ?2, ?3, ?4 WHERE {condition}"
    );
    let secret = key.secret.expose();
    let mut bound: Vec<&dyn ToSql> = vec![&key.kid, &secret, &key.created_at, &key.activates_at];
    bound.extend_from_slice(arguments);
    let inserted = connection
        .execute(&sql, bound.as_slice())
        .map_err(|e| write_error(e, &format!("request-state key {}", key.kid)))?;
    Ok(inserted == 1)
}

#[async_trait]
impl RequestStateKeyStore for SqliteStore {
    async fn list(&self) -> Result<Vec<RequestStateKeyRecord>, StoreError> {
        self.call(|c| {
            query_all(
                c,
                "SELECT kid, secret, created_at, activates_at FROM request_state_keys \
                 ORDER BY activates_at, kid",
                [],
                key_from_row,
            )
        })
        .await
    }

    async fn insert_first(&self, key: RequestStateKeyRecord) -> Result<bool, StoreError> {
        self.call(move |c| {
            insert_when(
                c,
                &key,
                "NOT EXISTS (SELECT 1 FROM request_state_keys)",
                &[],
            )
        })
        .await
    }

    async fn rotate(
        &self,
        next: RequestStateKeyRecord,
        published_after: i64,
    ) -> Result<bool, StoreError> {
        self.call(move |c| {
            insert_when(
                c,
                &next,
                "NOT EXISTS (SELECT 1 FROM request_state_keys WHERE created_at > ?5)",
                &[&published_after],
            )
        })
        .await
    }

    async fn purge_superseded(&self, before: i64) -> Result<u64, StoreError> {
        self.call(move |c| {
            let purged = c.execute(
                "DELETE FROM request_state_keys WHERE EXISTS ( \
                     SELECT 1 FROM request_state_keys AS later \
                     WHERE later.activates_at > request_state_keys.activates_at \
                       AND later.activates_at <= ?1)",
                [before],
            )?;
            Ok(purged as u64)
        })
        .await
    }
}
