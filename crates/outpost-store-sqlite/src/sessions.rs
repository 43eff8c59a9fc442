//! [`McpSessionStore`] on SQLite: one row per session, written by two upserts that each fill
//! only their own column, so the transport's state and the owner check's subject can arrive in
//! either order. Sessions made by `create_counted` carry `counted = 1` (migration 0010) and are
//! counted against the caps inside the transaction that inserts them.

use std::sync::atomic::Ordering;

use async_trait::async_trait;
use rusqlite::{Row, TransactionBehavior, params};

use super::{Failure, SqliteStore, expect_changed, query_one};
use outpost_store::{
    SessionAdmission, SessionCaps, StoreError, model::McpSessionRecord, traits::McpSessionStore,
};

fn session_from_row(row: &Row<'_>) -> Result<McpSessionRecord, Failure> {
    Ok(McpSessionRecord {
        session_id: row.get(0)?,
        owner: row.get(1)?,
        state: row.get(2)?,
        data: row.get(3)?,
        created_at: row.get(4)?,
        expires_at: row.get(5)?,
    })
}

#[async_trait]
impl McpSessionStore for SqliteStore {
    async fn save_state(
        &self,
        session_id: &str,
        state: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let (session_id, state) = (session_id.to_owned(), state.to_owned());
        self.call(move |c| {
            c.execute(
                "INSERT INTO mcp_sessions (session_id, owner, state, created_at, expires_at) \
                 VALUES (?1, NULL, ?2, ?3, ?4) \
                 ON CONFLICT (session_id) DO UPDATE SET state = excluded.state, \
                 expires_at = max(mcp_sessions.expires_at, excluded.expires_at)",
                params![session_id, state, now, expires_at],
            )?;
            Ok(())
        })
        .await
        .inspect(|()| self.session_changed())
    }

    async fn record_owner(
        &self,
        session_id: &str,
        owner: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let (session_id, owner) = (session_id.to_owned(), owner.to_owned());
        self.call(move |c| {
            // The conflict branch updates only a row without an owner or with this one, so a
            // recorded owner is never replaced: no row changed means another owner holds it.
            let changed = c.execute(
                "INSERT INTO mcp_sessions (session_id, owner, state, created_at, expires_at) \
                 VALUES (?1, ?2, NULL, ?3, ?4) \
                 ON CONFLICT (session_id) DO UPDATE SET owner = excluded.owner, \
                 expires_at = max(mcp_sessions.expires_at, excluded.expires_at) \
                 WHERE mcp_sessions.owner IS NULL OR mcp_sessions.owner = excluded.owner",
                params![session_id, owner, now, expires_at],
            )?;
            if changed == 0 {
                return Err(
                    StoreError::Conflict(format!("owner of MCP session {session_id}")).into(),
                );
            }
            Ok(())
        })
        .await
        .inspect(|()| self.session_changed())
    }

    async fn get(
        &self,
        session_id: &str,
        now: i64,
    ) -> Result<Option<McpSessionRecord>, StoreError> {
        let session_id = session_id.to_owned();
        self.call(move |c| {
            query_one(
                c,
                "SELECT session_id, owner, state, data, created_at, expires_at FROM mcp_sessions \
                 WHERE session_id = ?1 AND expires_at > ?2",
                params![session_id, now],
                session_from_row,
            )
        })
        .await
    }

    async fn replace_data(
        &self,
        session_id: &str,
        expected: Option<&str>,
        data: &str,
    ) -> Result<bool, StoreError> {
        let (session_id, expected, data) = (
            session_id.to_owned(),
            expected.map(str::to_owned),
            data.to_owned(),
        );
        self.call(move |c| {
            // `IS` compares NULL with NULL as equal: a first write expects no data.
            let changed = c.execute(
                "UPDATE mcp_sessions SET data = ?3 WHERE session_id = ?1 AND data IS ?2",
                params![session_id, expected, data],
            )?;
            if changed == 1 {
                return Ok(true);
            }
            let exists: Option<i64> = query_one(
                c,
                "SELECT 1 FROM mcp_sessions WHERE session_id = ?1",
                params![session_id],
                |row| Ok(row.get(0)?),
            )?;
            match exists {
                Some(_) => Ok(false),
                None => Err(StoreError::NotFound(format!("MCP session {session_id}")).into()),
            }
        })
        .await
        .inspect(|&replaced| {
            if replaced {
                self.session_changed();
            }
        })
    }

    async fn create_counted(
        &self,
        session_id: &str,
        state: &str,
        owner: Option<&str>,
        now: i64,
        expires_at: i64,
        caps: SessionCaps,
    ) -> Result<SessionAdmission, StoreError> {
        let (session_id, state) = (session_id.to_owned(), state.to_owned());
        let owner = owner.map(str::to_owned);
        self.call(move |c| {
            // IMMEDIATE: the write lock before the counts, so that two processes on the file
            // cannot both count room for the last slot.
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let exists: Option<i64> = query_one(
                &tx,
                "SELECT 1 FROM mcp_sessions WHERE session_id = ?1",
                params![session_id],
                |row| Ok(row.get(0)?),
            )?;
            if exists.is_some() {
                return Err(StoreError::Conflict(format!("MCP session {session_id}")).into());
            }
            if let Some(owner) = &owner {
                let owned: i64 = tx.query_row(
                    "SELECT count(*) FROM mcp_sessions \
                     WHERE counted = 1 AND owner = ?1 AND expires_at > ?2",
                    params![owner, now],
                    |row| row.get(0),
                )?;
                if owned as u64 >= caps.per_owner {
                    return Ok(SessionAdmission::OwnerAtCap);
                }
            }
            let total: i64 = tx.query_row(
                "SELECT count(*) FROM mcp_sessions WHERE counted = 1 AND expires_at > ?1",
                params![now],
                |row| row.get(0),
            )?;
            if total as u64 >= caps.total {
                return Ok(SessionAdmission::StoreAtCap);
            }
            tx.execute(
                "INSERT INTO mcp_sessions \
                 (session_id, owner, state, created_at, expires_at, counted) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 1)",
                params![session_id, owner, state, now, expires_at],
            )?;
            tx.commit()?;
            Ok(SessionAdmission::Created)
        })
        .await
    }

    async fn touch(&self, session_id: &str, expires_at: i64) -> Result<(), StoreError> {
        let session_id = session_id.to_owned();
        self.call(move |c| {
            let changed = c.execute(
                "UPDATE mcp_sessions SET expires_at = max(expires_at, ?2) WHERE session_id = ?1",
                params![session_id, expires_at],
            )?;
            expect_changed(changed, || format!("MCP session {session_id}"))
        })
        .await
    }

    async fn delete(&self, session_id: &str) -> Result<(), StoreError> {
        let session_id = session_id.to_owned();
        self.call(move |c| {
            let changed = c.execute(
                "DELETE FROM mcp_sessions WHERE session_id = ?1",
                params![session_id],
            )?;
            expect_changed(changed, || format!("MCP session {session_id}"))
        })
        .await
        .inspect(|()| self.session_changed())
    }

    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        self.call(move |c| {
            let removed = c.execute(
                "DELETE FROM mcp_sessions WHERE expires_at <= ?1",
                params![now],
            )?;
            Ok(removed as u64)
        })
        .await
        .inspect(|&removed| {
            if removed > 0 {
                self.session_changed();
            }
        })
    }

    async fn changes_here(&self) -> Result<Option<u64>, StoreError> {
        Ok(Some(self.session_changes.load(Ordering::Acquire)))
    }
}

impl SqliteStore {
    /// Called after every committed change to an existing session.
    fn session_changed(&self) {
        self.session_changes.fetch_add(1, Ordering::AcqRel);
    }
}
