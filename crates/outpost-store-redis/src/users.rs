//! Users, clients and consents: hashes of JSON records, with the per-user and per-client sets
//! of what was issued that the cascading deletes walk.

use async_trait::async_trait;

use outpost_store::{
    ClientId, ClientRecord, ClientStore, ConsentRecord, ConsentStore, DOCUMENT_CLIENT_PREFIX,
    PasswordHash, ScopeSet, StoreError, UserId, UserRecord, UserStore, Username,
};

use crate::{
    RedisStore, parse_time,
    records::{self, decode, encode},
    script_status,
};

impl RedisStore {
    fn user_from(text: &str) -> Result<UserRecord, StoreError> {
        Ok(decode::<records::User>("user", text)?.try_into()?)
    }
}

#[async_trait]
impl UserStore for RedisStore {
    async fn create(&self, user: UserRecord) -> Result<(), StoreError> {
        let args = [
            user.id.to_string(),
            user.username.key(),
            encode(&records::User::from(&user)),
        ];
        let created: i64 = self
            .eval("creating a user", &self.scripts.user_create, &args)
            .await?;
        if created == 0 {
            return Err(StoreError::Conflict(format!("user {}", user.username)));
        }
        Ok(())
    }

    async fn get_by_username(&self, username: &Username) -> Result<Option<UserRecord>, StoreError> {
        let id: Option<String> = self
            .query(
                "looking up a username",
                redis::cmd("HGET")
                    .arg(self.key("usernames"))
                    .arg(username.key())
                    .clone(),
            )
            .await?;
        match id {
            Some(id) => UserStore::get(self, UserId::parse(&id)?).await,
            None => Ok(None),
        }
    }

    async fn get(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        let text: Option<String> = self
            .query(
                "reading a user",
                redis::cmd("HGET")
                    .arg(self.key("users"))
                    .arg(id.to_string())
                    .clone(),
            )
            .await?;
        text.as_deref().map(Self::user_from).transpose()
    }

    async fn list(&self) -> Result<Vec<UserRecord>, StoreError> {
        let texts: Vec<String> = self
            .query(
                "listing users",
                redis::cmd("HVALS").arg(self.key("users")).clone(),
            )
            .await?;
        let mut users = texts
            .iter()
            .map(|t| Self::user_from(t))
            .collect::<Result<Vec<_>, _>>()?;
        users.sort_by_key(|u| u.username.key());
        Ok(users)
    }

    async fn delete(&self, username: &Username) -> Result<(), StoreError> {
        let deleted: i64 = self
            .eval(
                "deleting a user",
                &self.scripts.user_delete,
                &[username.key()],
            )
            .await?;
        if deleted == 0 {
            return Err(StoreError::NotFound(format!("user {username}")));
        }
        Ok(())
    }

    async fn set_password_hash(&self, id: UserId, hash: PasswordHash) -> Result<(), StoreError> {
        self.replace_user(id, "changing a password", |user| user.password_hash = hash)
            .await
    }

    async fn set_allowed_scopes(&self, id: UserId, scopes: ScopeSet) -> Result<(), StoreError> {
        self.replace_user(id, "changing a user's scopes", |user| {
            user.allowed_scopes = scopes;
        })
        .await
    }
}

impl RedisStore {
    /// Reads user `id`, applies `change`, and writes the record back (`NotFound` when there is
    /// no such user, before or at the write).
    async fn replace_user(
        &self,
        id: UserId,
        doing: &str,
        change: impl FnOnce(&mut UserRecord) + Send,
    ) -> Result<(), StoreError> {
        let not_found = || StoreError::NotFound(format!("user {id}"));
        let mut user = UserStore::get(self, id).await?.ok_or_else(not_found)?;
        change(&mut user);
        let args = [id.to_string(), encode(&records::User::from(&user))];
        let replaced: i64 = self.eval(doing, &self.scripts.user_replace, &args).await?;
        if replaced == 0 {
            return Err(not_found());
        }
        Ok(())
    }
}

impl RedisStore {
    async fn store_client(&self, client: &ClientRecord, replace: bool) -> Result<bool, StoreError> {
        let args = [
            client.client_id.to_string(),
            encode(&records::Client::from(client)),
            client.created_at.to_string(),
            if replace { "1" } else { "0" }.to_owned(),
        ];
        let stored: i64 = self
            .eval("storing a client", &self.scripts.client_insert, &args)
            .await?;
        Ok(stored == 1)
    }
}

#[async_trait]
impl ClientStore for RedisStore {
    async fn insert(&self, client: ClientRecord) -> Result<(), StoreError> {
        if !self.store_client(&client, false).await? {
            return Err(StoreError::Conflict(format!("client {}", client.client_id)));
        }
        Ok(())
    }

    async fn upsert(&self, client: ClientRecord) -> Result<(), StoreError> {
        self.store_client(&client, true).await.map(drop)
    }

    async fn get(&self, client_id: &ClientId) -> Result<Option<ClientRecord>, StoreError> {
        let mut pipe = redis::pipe();
        pipe.cmd("HGET")
            .arg(self.key("clients"))
            .arg(client_id.as_str())
            .cmd("HGET")
            .arg(self.key("clients:created"))
            .arg(client_id.as_str());
        let (text, created): (Option<String>, Option<String>) = self
            .atomically("reading a client", pipe.atomic().clone())
            .await?;
        let (Some(text), Some(created)) = (text, created) else {
            return Ok(None);
        };
        let client: records::Client = decode("client", &text)?;
        Ok(Some(
            client.into_record(parse_time("client created_at", &created)?)?,
        ))
    }

    async fn delete(&self, client_id: &ClientId) -> Result<(), StoreError> {
        let deleted: i64 = self
            .eval(
                "deleting a client",
                &self.scripts.client_delete,
                &[client_id.to_string()],
            )
            .await?;
        if deleted == 0 {
            return Err(StoreError::NotFound(format!("client {client_id}")));
        }
        Ok(())
    }

    async fn purge_unused_documents(&self, before: i64) -> Result<Vec<ClientId>, StoreError> {
        let ids: Vec<String> = self
            .eval(
                "purging unused document clients",
                &self.scripts.clients_purge_unused,
                &[before.to_string(), DOCUMENT_CLIENT_PREFIX.to_owned()],
            )
            .await?;
        Ok(ids
            .iter()
            .map(|id| ClientId::parse(id))
            .collect::<Result<_, _>>()?)
    }
}

#[async_trait]
impl ConsentStore for RedisStore {
    async fn remember(&self, consent: ConsentRecord) -> Result<(), StoreError> {
        let args = [
            consent.user_id.to_string(),
            consent.client_id.to_string(),
            encode(&records::Consent::from(&consent)),
        ];
        let status: String = self
            .eval("remembering consent", &self.scripts.consent_remember, &args)
            .await?;
        script_status(&status, "consent")
    }

    async fn get(
        &self,
        user_id: UserId,
        client_id: &ClientId,
    ) -> Result<Option<ConsentRecord>, StoreError> {
        let text: Option<String> = self
            .query(
                "reading consent",
                redis::cmd("HGET")
                    .arg(self.key("consents"))
                    .arg(format!("{user_id} {client_id}"))
                    .clone(),
            )
            .await?;
        match text {
            Some(text) => Ok(Some(
                decode::<records::Consent>("consent", &text)?.try_into()?,
            )),
            None => Ok(None),
        }
    }
}
