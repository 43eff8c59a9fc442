//! [`ClientStore`] and [`ConsentStore`] on SQLite.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension as _, Row, params};

use super::{Failure, SqliteStore, expect_changed, query_one, write_error};
use outpost_store::{
    StoreError,
    model::{
        ApplicationType, ClientId, ClientRecord, ConsentRecord, PasswordHash,
        TokenEndpointAuthMethod, UserId,
    },
    traits::{ClientStore, ConsentStore, DOCUMENT_CLIENT_PREFIX},
};

fn to_json(list: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(list).map_err(|e| StoreError::Backend(e.to_string()))
}

fn from_json(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Backend(format!("stored list: {e}")))
}

fn client_from_row(row: &Row<'_>) -> Result<ClientRecord, Failure> {
    let secret: Option<String> = row.get(1)?;
    Ok(ClientRecord {
        client_id: ClientId::parse(&row.get::<_, String>(0)?)?,
        client_secret_hash: secret.as_deref().map(PasswordHash::parse).transpose()?,
        client_name: row.get(2)?,
        redirect_uris: from_json(&row.get::<_, String>(3)?)?,
        grant_types: from_json(&row.get::<_, String>(4)?)?,
        response_types: from_json(&row.get::<_, String>(5)?)?,
        token_endpoint_auth_method: TokenEndpointAuthMethod::parse(&row.get::<_, String>(6)?)?,
        application_type: ApplicationType::parse(&row.get::<_, String>(7)?)?,
        scope: row.get(8)?,
        created_at: row.get(9)?,
    })
}

/// Inserts `client`, with `on_conflict` (empty: a taken id is a conflict) appended.
fn write_client(c: &Connection, client: &ClientRecord, on_conflict: &str) -> Result<(), Failure> {
    c.execute(
        &format!(
            "INSERT INTO clients (client_id, client_secret_hash, client_name, redirect_uris, \
             grant_types, response_types, token_endpoint_auth_method, application_type, scope, \
             created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10){on_conflict}"
        ),
        params![
            client.client_id.as_str(),
            client.client_secret_hash.as_ref().map(PasswordHash::as_str),
            client.client_name,
            to_json(&client.redirect_uris)?,
            to_json(&client.grant_types)?,
            to_json(&client.response_types)?,
            client.token_endpoint_auth_method.as_str(),
            client.application_type.as_str(),
            client.scope,
            client.created_at,
        ],
    )
    .map_err(|e| write_error(e, &format!("client {}", client.client_id)))?;
    Ok(())
}

#[async_trait]
impl ClientStore for SqliteStore {
    async fn insert(&self, client: ClientRecord) -> Result<(), StoreError> {
        self.call(move |c| write_client(c, &client, "")).await
    }

    async fn upsert(&self, client: ClientRecord) -> Result<(), StoreError> {
        // ON CONFLICT … DO UPDATE keeps the row (INSERT OR REPLACE would delete it and cascade
        // to its codes, grants and consents).
        self.call(move |c| {
            write_client(
                c,
                &client,
                " ON CONFLICT (client_id) DO UPDATE SET \
                 client_secret_hash = excluded.client_secret_hash, \
                 client_name = excluded.client_name, redirect_uris = excluded.redirect_uris, \
                 grant_types = excluded.grant_types, response_types = excluded.response_types, \
                 token_endpoint_auth_method = excluded.token_endpoint_auth_method, \
                 application_type = excluded.application_type, scope = excluded.scope",
            )
        })
        .await
    }

    async fn get(&self, client_id: &ClientId) -> Result<Option<ClientRecord>, StoreError> {
        let client_id = client_id.as_str().to_owned();
        self.call(move |c| {
            query_one(
                c,
                "SELECT client_id, client_secret_hash, client_name, redirect_uris, grant_types, \
                 response_types, token_endpoint_auth_method, application_type, scope, created_at \
                 FROM clients WHERE client_id = ?1",
                [client_id],
                client_from_row,
            )
        })
        .await
    }

    async fn delete(&self, client_id: &ClientId) -> Result<(), StoreError> {
        let client_id = client_id.as_str().to_owned();
        self.call(move |c| {
            let changed = c.execute("DELETE FROM clients WHERE client_id = ?1", [&client_id])?;
            expect_changed(changed, || format!("client {client_id}"))
        })
        .await
    }

    async fn purge_unused_documents(&self, before: i64) -> Result<Vec<ClientId>, StoreError> {
        self.call(move |c| {
            let mut statement = c.prepare(
                "DELETE FROM clients WHERE substr(client_id, 1, length(?1)) = ?1 \
                 AND created_at < ?2 \
                 AND NOT EXISTS (SELECT 1 FROM authorization_codes a \
                                 WHERE a.client_id = clients.client_id) \
                 AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.client_id = clients.client_id) \
                 AND NOT EXISTS (SELECT 1 FROM consents s WHERE s.client_id = clients.client_id) \
                 RETURNING client_id",
            )?;
            let mut rows = statement.query(params![DOCUMENT_CLIENT_PREFIX, before])?;
            let mut removed = Vec::new();
            while let Some(row) = rows.next()? {
                removed.push(ClientId::parse(&row.get::<_, String>(0)?)?);
            }
            Ok(removed)
        })
        .await
    }
}

#[async_trait]
impl ConsentStore for SqliteStore {
    async fn remember(&self, consent: ConsentRecord) -> Result<(), StoreError> {
        self.call(move |c| {
            c.execute(
                "INSERT INTO consents (user_id, client_id, scope, granted_at) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (user_id, client_id) \
                 DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at",
                params![
                    consent.user_id.to_string(),
                    consent.client_id.as_str(),
                    consent.scope,
                    consent.granted_at,
                ],
            )
            .map_err(|e| write_error(e, "consent"))?;
            Ok(())
        })
        .await
    }

    async fn get(
        &self,
        user_id: UserId,
        client_id: &ClientId,
    ) -> Result<Option<ConsentRecord>, StoreError> {
        let client_id = client_id.clone();
        self.call(move |c| {
            let row = c
                .query_row(
                    "SELECT scope, granted_at FROM consents WHERE user_id = ?1 AND client_id = ?2",
                    params![user_id.to_string(), client_id.as_str()],
                    |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)),
                )
                .optional()?;
            Ok(row.map(|(scope, granted_at)| ConsentRecord {
                user_id,
                client_id,
                scope,
                granted_at,
            }))
        })
        .await
    }
}
