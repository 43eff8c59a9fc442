//! [`ClientDocumentStore`] on SQLite: one row per client id URL, holding either the document
//! or the failure (a `CHECK` keeps it one of the two).

use async_trait::async_trait;
use rusqlite::{Row, TransactionBehavior, params};

use super::{Failure, SqliteStore, make_room, query_one};
use outpost_store::{
    ClientDocumentRecord, ClientDocumentStore, ClientId, DocumentOutcome, StoreError,
};

fn document_from_row(row: &Row<'_>) -> Result<ClientDocumentRecord, Failure> {
    let outcome = match (row.get(1)?, row.get(2)?) {
        (Some(document), _) => DocumentOutcome::Fetched(document),
        (None, Some(failure)) => DocumentOutcome::Failed(failure),
        (None, None) => {
            return Err(StoreError::Backend("a client document row holds nothing".into()).into());
        }
    };
    Ok(ClientDocumentRecord {
        client_id: ClientId::parse(&row.get::<_, String>(0)?)?,
        outcome,
        expires_at: row.get(3)?,
    })
}

#[async_trait]
impl ClientDocumentStore for SqliteStore {
    async fn get(
        &self,
        client_id: &ClientId,
        now: i64,
    ) -> Result<Option<ClientDocumentRecord>, StoreError> {
        let client_id = client_id.as_str().to_owned();
        self.call(move |c| {
            query_one(
                c,
                "SELECT client_id, document, failure, expires_at FROM client_documents \
                 WHERE client_id = ?1 AND expires_at > ?2",
                params![client_id, now],
                document_from_row,
            )
        })
        .await
    }

    async fn put(
        &self,
        record: ClientDocumentRecord,
        now: i64,
        max_entries: usize,
    ) -> Result<(), StoreError> {
        self.call(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let client_id = record.client_id.as_str();
            tx.execute(
                "DELETE FROM client_documents WHERE client_id = ?1",
                [client_id],
            )?;
            make_room(&tx, "client_documents", "client_id", max_entries, now)?;
            let (document, failure) = match record.outcome {
                DocumentOutcome::Fetched(document) => (Some(document), None),
                DocumentOutcome::Failed(failure) => (None, Some(failure)),
            };
            tx.execute(
                "INSERT INTO client_documents (client_id, document, failure, expires_at) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![client_id, document, failure, record.expires_at],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        self.call(move |c| {
            let removed =
                c.execute("DELETE FROM client_documents WHERE expires_at <= ?1", [now])?;
            Ok(removed as u64)
        })
        .await
    }
}
