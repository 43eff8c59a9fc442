//! [`PendingAuthorizationStore`] on SQLite: one row per request; signing in is one `UPDATE`
//! and the decision one `DELETE … RETURNING`, each conditioned on the row being live (and, for
//! the decision, signed in to), so concurrent posts on any instance decide a request once.

use async_trait::async_trait;
use rusqlite::{Row, TransactionBehavior, params};

use super::{Failure, SqliteStore, make_room, query_one, write_error};
use outpost_store::{
    ClientId, PendingAuthorizationRecord, PendingAuthorizationStore, StoreError, TokenHash, UserId,
};

const COLUMNS: &str = "id_hash, client_id, client_name, client_host, redirect_uri, scope, \
                       resource, code_challenge, state, user_id, expires_at, redirect_uri_sent";

fn pending_from_row(row: &Row<'_>) -> Result<PendingAuthorizationRecord, Failure> {
    let user_id: Option<String> = row.get(9)?;
    Ok(PendingAuthorizationRecord {
        id_hash: TokenHash::parse(&row.get::<_, String>(0)?)?,
        client_id: ClientId::parse(&row.get::<_, String>(1)?)?,
        client_name: row.get(2)?,
        client_host: row.get(3)?,
        redirect_uri: row.get(4)?,
        scope: row.get(5)?,
        resource: row.get(6)?,
        code_challenge: row.get(7)?,
        state: row.get(8)?,
        user_id: user_id.as_deref().map(UserId::parse).transpose()?,
        expires_at: row.get(10)?,
        redirect_uri_sent: row.get(11)?,
    })
}

#[async_trait]
impl PendingAuthorizationStore for SqliteStore {
    async fn insert(
        &self,
        record: PendingAuthorizationRecord,
        now: i64,
        max_live: usize,
    ) -> Result<(), StoreError> {
        self.call(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            make_room(&tx, "pending_authorizations", "id_hash", max_live, now)?;
            tx.execute(
                &format!(
                    "INSERT INTO pending_authorizations ({COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
                ),
                params![
                    record.id_hash.as_str(),
                    record.client_id.as_str(),
                    record.client_name,
                    record.client_host,
                    record.redirect_uri,
                    record.scope,
                    record.resource,
                    record.code_challenge,
                    record.state,
                    record.user_id.map(|id| id.to_string()),
                    record.expires_at,
                    record.redirect_uri_sent,
                ],
            )
            .map_err(|e| write_error(e, "pending authorization"))?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn get(
        &self,
        id_hash: &TokenHash,
        now: i64,
    ) -> Result<Option<PendingAuthorizationRecord>, StoreError> {
        let id_hash = id_hash.as_str().to_owned();
        self.call(move |c| {
            query_one(
                c,
                &format!(
                    "SELECT {COLUMNS} FROM pending_authorizations \
                     WHERE id_hash = ?1 AND expires_at > ?2"
                ),
                params![id_hash, now],
                pending_from_row,
            )
        })
        .await
    }

    async fn sign_in(
        &self,
        id_hash: &TokenHash,
        user_id: UserId,
        now: i64,
    ) -> Result<Option<PendingAuthorizationRecord>, StoreError> {
        let id_hash = id_hash.as_str().to_owned();
        self.call(move |c| {
            query_one(
                c,
                &format!(
                    "UPDATE pending_authorizations SET user_id = ?3 \
                     WHERE id_hash = ?1 AND expires_at > ?2 RETURNING {COLUMNS}"
                ),
                params![id_hash, now, user_id.to_string()],
                pending_from_row,
            )
        })
        .await
    }

    async fn take_signed_in(
        &self,
        id_hash: &TokenHash,
        now: i64,
    ) -> Result<Option<PendingAuthorizationRecord>, StoreError> {
        let id_hash = id_hash.as_str().to_owned();
        self.call(move |c| {
            query_one(
                c,
                &format!(
                    "DELETE FROM pending_authorizations \
                     WHERE id_hash = ?1 AND expires_at > ?2 AND user_id IS NOT NULL \
                     RETURNING {COLUMNS}"
                ),
                params![id_hash, now],
                pending_from_row,
            )
        })
        .await
    }

    async fn remove_signed_in_of_user(&self, user_id: UserId) -> Result<u64, StoreError> {
        self.call(move |c| {
            let removed = c.execute(
                "DELETE FROM pending_authorizations WHERE user_id = ?1",
                [user_id.to_string()],
            )?;
            Ok(removed as u64)
        })
        .await
    }

    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        self.call(move |c| {
            let removed = c.execute(
                "DELETE FROM pending_authorizations WHERE expires_at <= ?1",
                [now],
            )?;
            Ok(removed as u64)
        })
        .await
    }
}
