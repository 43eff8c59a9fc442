//! The authorization server's short-lived shared state: pending authorization requests (a
//! hash each, the signed-in user beside the JSON) and fetched client metadata documents (a
//! JSON string each), both with TTLs and bounded through their `by_expiry` sorted sets.

use async_trait::async_trait;

use outpost_store::{
    ClientDocumentRecord, ClientDocumentStore, ClientId, PendingAuthorizationRecord,
    PendingAuthorizationStore, StoreError, TokenHash, UserId,
};

use crate::{
    RedisStore,
    records::{self, decode, encode},
};

fn pending_from(text: &str, user: Option<&str>) -> Result<PendingAuthorizationRecord, StoreError> {
    let record: records::Pending = decode("pending authorization", text)?;
    let user = user.map(UserId::parse).transpose()?;
    Ok(record.into_record(user)?)
}

#[async_trait]
impl PendingAuthorizationStore for RedisStore {
    async fn insert(
        &self,
        record: PendingAuthorizationRecord,
        now: i64,
        max_live: usize,
    ) -> Result<(), StoreError> {
        let args = [
            record.id_hash.as_str().to_owned(),
            encode(&records::Pending::from(&record)),
            record.expires_at.to_string(),
            now.to_string(),
            max_live.to_string(),
        ];
        let stored: i64 = self
            .eval(
                "storing a pending authorization",
                &self.scripts.pending_insert,
                &args,
            )
            .await?;
        if stored == 0 {
            return Err(StoreError::Conflict("pending authorization".into()));
        }
        if let Some(user) = record.user_id {
            self.sign_in(&record.id_hash, user, now).await?;
        }
        Ok(())
    }

    async fn get(
        &self,
        id_hash: &TokenHash,
        now: i64,
    ) -> Result<Option<PendingAuthorizationRecord>, StoreError> {
        let (text, expires_at, user): (Option<String>, Option<i64>, Option<String>) = self
            .query(
                "reading a pending authorization",
                redis::cmd("HMGET")
                    .arg(self.key(&format!("pending:{}", id_hash.as_str())))
                    .arg("record")
                    .arg("expires_at")
                    .arg("user")
                    .clone(),
            )
            .await?;
        match (text, expires_at) {
            (Some(text), Some(expires_at)) if expires_at > now => {
                pending_from(&text, user.as_deref()).map(Some)
            }
            _ => Ok(None),
        }
    }

    async fn sign_in(
        &self,
        id_hash: &TokenHash,
        user_id: UserId,
        now: i64,
    ) -> Result<Option<PendingAuthorizationRecord>, StoreError> {
        let args = [
            id_hash.as_str().to_owned(),
            user_id.to_string(),
            now.to_string(),
        ];
        let reply: Vec<String> = self
            .eval(
                "signing in to a pending authorization",
                &self.scripts.pending_sign_in,
                &args,
            )
            .await?;
        match reply.first() {
            Some(text) => pending_from(text, Some(&user_id.to_string())).map(Some),
            None => Ok(None),
        }
    }

    async fn take_signed_in(
        &self,
        id_hash: &TokenHash,
        now: i64,
    ) -> Result<Option<PendingAuthorizationRecord>, StoreError> {
        let reply: Vec<String> = self
            .eval(
                "deciding a pending authorization",
                &self.scripts.pending_take,
                &[id_hash.as_str().to_owned(), now.to_string()],
            )
            .await?;
        match reply.as_slice() {
            [text, user] => pending_from(text, Some(user)).map(Some),
            _ => Ok(None),
        }
    }

    async fn remove_signed_in_of_user(&self, user_id: UserId) -> Result<u64, StoreError> {
        self.eval(
            "removing a user's pending authorizations",
            &self.scripts.pending_remove_signed_in_of_user,
            &[user_id.to_string()],
        )
        .await
    }

    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        self.purge_index("pending:by_expiry", "pending:", now).await
    }
}

#[async_trait]
impl ClientDocumentStore for RedisStore {
    async fn get(
        &self,
        client_id: &ClientId,
        now: i64,
    ) -> Result<Option<ClientDocumentRecord>, StoreError> {
        let text: Option<String> = self
            .query(
                "reading a client document",
                redis::cmd("GET")
                    .arg(self.key(&format!("client_document:{client_id}")))
                    .clone(),
            )
            .await?;
        let Some(text) = text else {
            return Ok(None);
        };
        let record: records::Document = decode("client document", &text)?;
        let record = ClientDocumentRecord::try_from(record)?;
        Ok((record.expires_at > now).then_some(record))
    }

    async fn put(
        &self,
        record: ClientDocumentRecord,
        now: i64,
        max_entries: usize,
    ) -> Result<(), StoreError> {
        let args = [
            record.client_id.to_string(),
            encode(&records::Document::from(&record)),
            record.expires_at.to_string(),
            now.to_string(),
            max_entries.to_string(),
        ];
        let _: i64 = self
            .eval(
                "storing a client document",
                &self.scripts.document_put,
                &args,
            )
            .await?;
        Ok(())
    }

    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        self.purge_index("client_documents:by_expiry", "client_document:", now)
            .await
    }
}
