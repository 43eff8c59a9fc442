//! [`UserStore`] on SQLite.

use async_trait::async_trait;
use rusqlite::{Row, params};

use super::{Failure, SqliteStore, expect_changed, query_all, query_one, write_error};
use outpost_store::{
    StoreError,
    model::{PasswordHash, ScopeSet, UserId, UserRecord, Username},
    traits::UserStore,
};

const COLUMNS: &str = "id, username, password_hash, created_at, allowed_scopes";

fn user_from_row(row: &Row<'_>) -> Result<UserRecord, Failure> {
    Ok(UserRecord {
        id: UserId::parse(&row.get::<_, String>(0)?)?,
        username: Username::parse(&row.get::<_, String>(1)?)?,
        password_hash: PasswordHash::parse(&row.get::<_, String>(2)?)?,
        created_at: row.get(3)?,
        allowed_scopes: ScopeSet::parse(&row.get::<_, String>(4)?)?,
    })
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn create(&self, user: UserRecord) -> Result<(), StoreError> {
        self.call(move |c| {
            c.execute(
                "INSERT INTO users (id, username, password_hash, created_at, allowed_scopes) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    user.id.to_string(),
                    user.username.as_str(),
                    user.password_hash.as_str(),
                    user.created_at,
                    user.allowed_scopes.to_string()
                ],
            )
            .map_err(|e| write_error(e, &format!("user {}", user.username)))?;
            Ok(())
        })
        .await
    }

    async fn get_by_username(&self, username: &Username) -> Result<Option<UserRecord>, StoreError> {
        let username = username.as_str().to_owned();
        self.call(move |c| {
            let sql = format!("SELECT {COLUMNS} FROM users WHERE username = ?1");
            query_one(c, &sql, [username], user_from_row)
        })
        .await
    }

    async fn get(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        self.call(move |c| {
            let sql = format!("SELECT {COLUMNS} FROM users WHERE id = ?1");
            query_one(c, &sql, [id.to_string()], user_from_row)
        })
        .await
    }

    async fn list(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.call(|c| {
            let sql = format!("SELECT {COLUMNS} FROM users ORDER BY username");
            query_all(c, &sql, [], user_from_row)
        })
        .await
    }

    async fn delete(&self, username: &Username) -> Result<(), StoreError> {
        let username = username.as_str().to_owned();
        self.call(move |c| {
            let changed = c.execute("DELETE FROM users WHERE username = ?1", [&username])?;
            expect_changed(changed, || format!("user {username}"))
        })
        .await
    }

    async fn set_password_hash(&self, id: UserId, hash: PasswordHash) -> Result<(), StoreError> {
        self.call(move |c| {
            let changed = c.execute(
                "UPDATE users SET password_hash = ?2 WHERE id = ?1",
                params![id.to_string(), hash.as_str()],
            )?;
            expect_changed(changed, || format!("user {id}"))
        })
        .await
    }

    async fn set_allowed_scopes(&self, id: UserId, scopes: ScopeSet) -> Result<(), StoreError> {
        self.call(move |c| {
            let changed = c.execute(
                "UPDATE users SET allowed_scopes = ?2 WHERE id = ?1",
                params![id.to_string(), scopes.to_string()],
            )?;
            expect_changed(changed, || format!("user {id}"))
        })
        .await
    }
}
