//! [`GrantStore`] on SQLite: refresh-token rotation and reuse detection in one transaction.

use async_trait::async_trait;
use rusqlite::{Connection, Row, TransactionBehavior, params};

use super::{Failure, SqliteStore, expect_changed, query_one, write_error};
use outpost_store::{
    StoreError,
    model::{ClientId, GrantId, GrantRecord, RefreshTokenRecord, TokenHash, UserId},
    traits::{GrantStore, NewRefreshToken, Rotation},
};

fn grant_from_row(row: &Row<'_>) -> Result<GrantRecord, Failure> {
    Ok(GrantRecord {
        grant_id: GrantId::parse(&row.get::<_, String>(0)?)?,
        user_id: UserId::parse(&row.get::<_, String>(1)?)?,
        client_id: ClientId::parse(&row.get::<_, String>(2)?)?,
        scope: row.get(3)?,
        resource: row.get(4)?,
        created_at: row.get(5)?,
        revoked_at: row.get(6)?,
    })
}

fn token_from_row(row: &Row<'_>) -> Result<RefreshTokenRecord, Failure> {
    Ok(RefreshTokenRecord {
        token_hash: TokenHash::parse(&row.get::<_, String>(0)?)?,
        grant_id: GrantId::parse(&row.get::<_, String>(1)?)?,
        expires_at: row.get(2)?,
        rotated_at: row.get(3)?,
    })
}

fn grant(c: &Connection, grant_id: &str) -> Result<Option<GrantRecord>, Failure> {
    query_one(
        c,
        "SELECT grant_id, user_id, client_id, scope, resource, created_at, revoked_at \
         FROM grants WHERE grant_id = ?1",
        [grant_id],
        grant_from_row,
    )
}

fn token(c: &Connection, token_hash: &str) -> Result<Option<RefreshTokenRecord>, Failure> {
    query_one(
        c,
        "SELECT token_hash, grant_id, expires_at, rotated_at FROM refresh_tokens \
         WHERE token_hash = ?1",
        [token_hash],
        token_from_row,
    )
}

fn rotate_in(
    c: &Connection,
    presented: &str,
    successor: NewRefreshToken,
    now: i64,
    concurrent_since: i64,
) -> Result<Rotation, Failure> {
    let Some(token) = token(c, presented)? else {
        return Ok(Rotation::Unknown);
    };
    let grant_id = token.grant_id;
    let Some(grant) = grant(c, &grant_id.to_string())? else {
        return Ok(Rotation::Unknown);
    };
    if grant.revoked_at.is_some() {
        return Ok(Rotation::Revoked { grant_id });
    }
    if token.rotated_at.is_some_and(|at| at < concurrent_since) {
        c.execute(
            "UPDATE grants SET revoked_at = ?2 WHERE grant_id = ?1",
            params![grant_id.to_string(), now],
        )?;
        return Ok(Rotation::Reused { grant_id });
    }
    if token.expires_at <= now {
        return Ok(Rotation::Expired);
    }
    c.execute(
        "UPDATE refresh_tokens SET rotated_at = COALESCE(rotated_at, ?2) WHERE token_hash = ?1",
        params![presented, now],
    )?;
    let successor = RefreshTokenRecord {
        token_hash: successor.token_hash,
        grant_id,
        expires_at: successor.expires_at,
        rotated_at: None,
    };
    c.execute(
        "INSERT INTO refresh_tokens (token_hash, grant_id, expires_at) VALUES (?1, ?2, ?3)",
        params![
            successor.token_hash.as_str(),
            grant_id.to_string(),
            successor.expires_at
        ],
    )
    .map_err(|e| write_error(e, "refresh token"))?;
    Ok(Rotation::Rotated { grant, successor })
}

#[async_trait]
impl GrantStore for SqliteStore {
    async fn create_grant(&self, grant: GrantRecord) -> Result<(), StoreError> {
        self.call(move |c| {
            c.execute(
                "INSERT INTO grants (grant_id, user_id, client_id, scope, resource, created_at, \
                 revoked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    grant.grant_id.to_string(),
                    grant.user_id.to_string(),
                    grant.client_id.as_str(),
                    grant.scope,
                    grant.resource,
                    grant.created_at,
                    grant.revoked_at,
                ],
            )
            .map_err(|e| write_error(e, &format!("grant {}", grant.grant_id)))?;
            Ok(())
        })
        .await
    }

    async fn get_grant(&self, grant_id: GrantId) -> Result<Option<GrantRecord>, StoreError> {
        self.call(move |c| grant(c, &grant_id.to_string())).await
    }

    async fn insert_refresh_token(&self, token: RefreshTokenRecord) -> Result<(), StoreError> {
        self.call(move |c| {
            c.execute(
                "INSERT INTO refresh_tokens (token_hash, grant_id, expires_at, rotated_at) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    token.token_hash.as_str(),
                    token.grant_id.to_string(),
                    token.expires_at,
                    token.rotated_at,
                ],
            )
            .map_err(|e| write_error(e, "refresh token"))?;
            Ok(())
        })
        .await
    }

    async fn get_refresh_token(
        &self,
        token_hash: &TokenHash,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        let token_hash = token_hash.as_str().to_owned();
        self.call(move |c| token(c, &token_hash)).await
    }

    async fn rotate(
        &self,
        presented: &TokenHash,
        successor: NewRefreshToken,
        now: i64,
        concurrent_since: i64,
    ) -> Result<Rotation, StoreError> {
        let presented = presented.as_str().to_owned();
        self.call(move |c| {
            // IMMEDIATE takes the write lock before the first read, so another process cannot
            // rotate the same token between our read and our write.
            let transaction = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let rotation = rotate_in(&transaction, &presented, successor, now, concurrent_since)?;
            transaction.commit()?;
            Ok(rotation)
        })
        .await
    }

    async fn revoke_grant(&self, grant_id: GrantId, now: i64) -> Result<(), StoreError> {
        self.call(move |c| {
            let changed = c.execute(
                "UPDATE grants SET revoked_at = COALESCE(revoked_at, ?2) WHERE grant_id = ?1",
                params![grant_id.to_string(), now],
            )?;
            expect_changed(changed, || format!("grant {grant_id}"))
        })
        .await
    }

    async fn revoke_grants_of_user(&self, user_id: UserId, now: i64) -> Result<u64, StoreError> {
        self.call(move |c| {
            let revoked = c.execute(
                "UPDATE grants SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
                params![user_id.to_string(), now],
            )?;
            Ok(revoked as u64)
        })
        .await
    }

    async fn is_revoked(&self, grant_id: GrantId) -> Result<bool, StoreError> {
        let grant = self.get_grant(grant_id).await?;
        Ok(grant.is_none_or(|g| g.revoked_at.is_some()))
    }

    async fn purge_expired(&self, now: i64, idle_grants_before: i64) -> Result<u64, StoreError> {
        self.call(move |c| {
            let transaction = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let tokens =
                transaction.execute("DELETE FROM refresh_tokens WHERE expires_at <= ?1", [now])?;
            // Deleting a grant cascades to its remaining refresh tokens.
            let grants = transaction.execute(
                "DELETE FROM grants WHERE revoked_at IS NOT NULL \
                 OR (created_at < ?1 AND NOT EXISTS \
                     (SELECT 1 FROM refresh_tokens r WHERE r.grant_id = grants.grant_id))",
                [idle_grants_before],
            )?;
            transaction.commit()?;
            Ok((tokens + grants) as u64)
        })
        .await
    }
}
