//! [`SigningKeyStore`] on SQLite.

use async_trait::async_trait;
use rusqlite::{Row, params};

use super::{
    Failure, SqliteStore, expect_changed, query_all, reseal_key_row,
    secret_columns::{from_columns, to_columns},
    write_error,
};
use outpost_store::{
    KeyEncryptionKeyId, ModelError, PrivateKeyPem, SealedSecret, StoreError,
    model::SigningKeyRecord, traits::SigningKeyStore,
};

fn key_from_row(row: &Row<'_>) -> Result<SigningKeyRecord, Failure> {
    let pem = |bytes: Vec<u8>| {
        String::from_utf8(bytes)
            .map(PrivateKeyPem::new)
            .map_err(|_| ModelError::Unknown {
                field: "signing key PEM encoding",
                value: "not UTF-8".into(),
            })
    };
    Ok(SigningKeyRecord {
        kid: row.get(0)?,
        algorithm: row.get(1)?,
        private_key: from_columns(row.get(2)?, row.get(3)?, pem)?,
        created_at: row.get(4)?,
        retired_at: row.get(5)?,
    })
}

/// The private key's two columns.
fn private_key_columns(key: &SigningKeyRecord) -> (&[u8], Option<&str>) {
    to_columns(&key.private_key, |pem| pem.expose().as_bytes())
}

#[async_trait]
impl SigningKeyStore for SqliteStore {
    async fn insert(&self, key: SigningKeyRecord) -> Result<(), StoreError> {
        self.call(move |c| {
            let (private_key, sealed_with) = private_key_columns(&key);
            c.execute(
                "INSERT INTO signing_keys \
                 (kid, algorithm, private_key, sealed_with, created_at, retired_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    key.kid,
                    key.algorithm,
                    private_key,
                    sealed_with,
                    key.created_at,
                    key.retired_at
                ],
            )
            .map_err(|e| write_error(e, &format!("signing key {}", key.kid)))?;
            Ok(())
        })
        .await
    }

    async fn insert_if_no_active(&self, key: SigningKeyRecord) -> Result<bool, StoreError> {
        self.call(move |c| {
            let (private_key, sealed_with) = private_key_columns(&key);
            // One statement: SQLite takes the write lock before evaluating the condition, so
            // no other connection can store an active key in between.
            let inserted = c
                .execute(
                    "INSERT INTO signing_keys \
                     (kid, algorithm, private_key, sealed_with, created_at, retired_at) \
                     SELECT ?1, ?2, ?3, ?4, ?5, ?6 \
                     WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE retired_at IS NULL)",
                    params![
                        key.kid,
                        key.algorithm,
                        private_key,
                        sealed_with,
                        key.created_at,
                        key.retired_at
                    ],
                )
                .map_err(|e| write_error(e, &format!("signing key {}", key.kid)))?;
            Ok(inserted == 1)
        })
        .await
    }

    async fn list(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        self.call(|c| {
            query_all(
                c,
                "SELECT kid, algorithm, private_key, sealed_with, created_at, retired_at \
                 FROM signing_keys ORDER BY created_at, kid",
                [],
                key_from_row,
            )
        })
        .await
    }

    async fn retire(&self, kid: &str, at: i64) -> Result<(), StoreError> {
        let kid = kid.to_owned();
        self.call(move |c| {
            let changed = c.execute(
                "UPDATE signing_keys SET retired_at = ?2 WHERE kid = ?1",
                params![kid, at],
            )?;
            expect_changed(changed, || format!("signing key {kid}"))
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
                "signing_keys",
                "private_key",
                &kid,
                from.as_ref(),
                &sealed,
            )?)
        })
        .await
    }
}
