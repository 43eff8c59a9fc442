//! [`RequestStateKeyStore`] on SQLite. Each conditional step is one `INSERT … SELECT … WHERE
//! NOT EXISTS` statement: SQLite holds the write lock for the whole statement, so the check and
//! the insert cannot be split by another connection or process.

use async_trait::async_trait;
use rusqlite::{Connection, Row, ToSql};

use super::{
    Failure, SqliteStore, query_all, reseal_key_row,
    secret_columns::{from_columns, to_columns},
    write_error,
};
use outpost_store::{
    KeyEncryptionKeyId, RequestStateKeyRecord, RequestStateKeyStore, RequestStateSecret,
    SealedSecret, StoreError,
};

fn key_from_row(row: &Row<'_>) -> Result<RequestStateKeyRecord, Failure> {
    Ok(RequestStateKeyRecord {
        kid: row.get(0)?,
        secret: from_columns(row.get(1)?, row.get(4)?, RequestStateSecret::from_bytes)?,
        created_at: row.get(2)?,
        activates_at: row.get(3)?,
    })
}

/// Inserts `key` when `condition` holds (a SQL boolean over `?6`…, bound to `arguments`);
/// whether it did.
fn insert_when(
    connection: &Connection,
    key: &RequestStateKeyRecord,
    condition: &str,
    arguments: &[&dyn ToSql],
) -> Result<bool, Failure> {
    let sql = format!(
        "INSERT INTO request_state_keys (kid, secret, created_at, activates_at, sealed_with) \
         SELECT ?1, ?2, ?3, ?4, ?5 WHERE {condition}"
    );
    let (secret, sealed_with) = to_columns(&key.secret, RequestStateSecret::expose);
    let mut bound: Vec<&dyn ToSql> = vec![
        &key.kid,
        &secret,
        &key.created_at,
        &key.activates_at,
        &sealed_with,
    ];
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
                "SELECT kid, secret, created_at, activates_at, sealed_with FROM request_state_keys \
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
                "NOT EXISTS (SELECT 1 FROM request_state_keys WHERE created_at > ?6)",
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

    async fn reseal(
        &self,
        kid: &str,
        from: Option<&KeyEncryptionKeyId>,
        sealed: SealedSecret,
    ) -> Result<bool, StoreError> {
        let kid = kid.to_owned();
        let from = from.cloned();
        self.call(move |c| {
            Ok(reseal_key_row(
                c,
                "request_state_keys",
                "secret",
                &kid,
                from.as_ref(),
                &sealed,
            )?)
        })
        .await
    }
}
