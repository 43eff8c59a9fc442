//! [`AuthorizationCodeStore`] on SQLite: a code is spent by one `UPDATE … WHERE
//! redeemed_grant_id IS NULL`, so two concurrent redemptions cannot both succeed.

use async_trait::async_trait;
use rusqlite::{Connection, Row, TransactionBehavior, params};

use super::{Failure, SqliteStore, query_one, write_error};
use outpost_store::{
    StoreError,
    model::{AuthorizationCodeRecord, ClientId, GrantId, TokenHash, UserId},
    traits::{AuthorizationCodeStore, Redemption},
};

const COLUMNS: &str = "code_hash, client_id, user_id, redirect_uri, scope, resource, \
                       code_challenge, expires_at, redirect_uri_sent";

fn code_from_row(row: &Row<'_>) -> Result<AuthorizationCodeRecord, Failure> {
    Ok(AuthorizationCodeRecord {
        code_hash: TokenHash::parse(&row.get::<_, String>(0)?)?,
        client_id: ClientId::parse(&row.get::<_, String>(1)?)?,
        user_id: UserId::parse(&row.get::<_, String>(2)?)?,
        redirect_uri: row.get(3)?,
        scope: row.get(4)?,
        resource: row.get(5)?,
        code_challenge: row.get(6)?,
        expires_at: row.get(7)?,
        redirect_uri_sent: row.get(8)?,
    })
}

/// One redemption, inside the caller's transaction.
fn redeem(
    c: &Connection,
    code_hash: &str,
    grant_id: GrantId,
    now: i64,
) -> Result<Redemption, Failure> {
    let spent = query_one(
        c,
        &format!(
            "UPDATE authorization_codes SET redeemed_grant_id = ?2 \
             WHERE code_hash = ?1 AND redeemed_grant_id IS NULL AND expires_at > ?3 \
             RETURNING {COLUMNS}"
        ),
        params![code_hash, grant_id.to_string(), now],
        code_from_row,
    )?;
    if let Some(code) = spent {
        return Ok(Redemption::Redeemed(code));
    }
    let earlier = query_one(
        c,
        "SELECT redeemed_grant_id FROM authorization_codes \
         WHERE code_hash = ?1 AND redeemed_grant_id IS NOT NULL",
        [code_hash],
        |row| Ok(GrantId::parse(&row.get::<_, String>(0)?)?),
    )?;
    Ok(
        earlier.map_or(Redemption::Invalid, |grant_id| Redemption::Replayed {
            grant_id,
        }),
    )
}

#[async_trait]
impl AuthorizationCodeStore for SqliteStore {
    async fn insert(&self, code: AuthorizationCodeRecord) -> Result<(), StoreError> {
        self.call(move |c| {
            c.execute(
                &format!(
                    "INSERT INTO authorization_codes ({COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                ),
                params![
                    code.code_hash.as_str(),
                    code.client_id.as_str(),
                    code.user_id.to_string(),
                    code.redirect_uri,
                    code.scope,
                    code.resource,
                    code.code_challenge,
                    code.expires_at,
                    code.redirect_uri_sent,
                ],
            )
            .map_err(|e| write_error(e, "authorization code"))?;
            Ok(())
        })
        .await
    }

    async fn redeem(
        &self,
        code_hash: &TokenHash,
        grant_id: GrantId,
        now: i64,
    ) -> Result<Redemption, StoreError> {
        let code_hash = code_hash.as_str().to_owned();
        self.call(move |c| {
            // IMMEDIATE: the write lock before the read, so that with another process on the
            // file the read-then-update waits its turn (busy timeout) instead of failing with
            // SQLITE_BUSY when a deferred read transaction cannot be upgraded.
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let outcome = redeem(&tx, &code_hash, grant_id, now)?;
            tx.commit()?;
            Ok(outcome)
        })
        .await
    }

    async fn expire_codes_of_user(&self, user_id: UserId, now: i64) -> Result<u64, StoreError> {
        self.call(move |c| {
            let ended = c.execute(
                "UPDATE authorization_codes SET expires_at = ?2 \
                 WHERE user_id = ?1 AND redeemed_grant_id IS NULL AND expires_at > ?2",
                params![user_id.to_string(), now],
            )?;
            Ok(ended as u64)
        })
        .await
    }

    async fn purge_expired(&self, before: i64) -> Result<u64, StoreError> {
        self.call(move |c| {
            let removed = c.execute(
                "DELETE FROM authorization_codes WHERE expires_at < ?1",
                [before],
            )?;
            Ok(removed as u64)
        })
        .await
    }
}
