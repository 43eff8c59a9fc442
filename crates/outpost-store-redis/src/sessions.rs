//! MCP sessions: a hash per session (`v`, `created_at`, `expires_at`, `owner`, `state`,
//! `data`) with a TTL, written by scripts so that the transport's and the owner check's writes
//! never clobber each other, the expiry only moves later and the handler's `data` is replaced
//! only if it is still what the writer read. Sessions made by `create_counted` are also members
//! of sorted sets by expiry (`mcp_sessions:counted`, `mcp_sessions:counted:owner:{owner}`),
//! counted and written by one script. The scripts that change a record publish its id on
//! `P sessions`, so that every instance can tell that nothing changed without reading
//! ([`McpSessionStore::changes_here`], counted by the [bus](crate::bus)).

use std::collections::HashMap;

use async_trait::async_trait;

use outpost_store::{McpSessionRecord, McpSessionStore, SessionAdmission, SessionCaps, StoreError};

use crate::{RedisStore, parse_time, records::check_version, script_status};

impl RedisStore {
    async fn write_session(
        &self,
        session_id: &str,
        field: &str,
        value: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let args = [
            session_id.to_owned(),
            field.to_owned(),
            value.to_owned(),
            now.to_string(),
            expires_at.to_string(),
        ];
        let status: String = self
            .eval("writing an MCP session", &self.scripts.session_write, &args)
            .await?;
        script_status(&status, format_args!("owner of MCP session {session_id}"))?;
        self.bus.session_changes.made_here(session_id);
        Ok(())
    }
}

#[async_trait]
impl McpSessionStore for RedisStore {
    async fn save_state(
        &self,
        session_id: &str,
        state: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.write_session(session_id, "state", state, now, expires_at)
            .await
    }

    async fn record_owner(
        &self,
        session_id: &str,
        owner: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.write_session(session_id, "owner", owner, now, expires_at)
            .await
    }

    async fn get(
        &self,
        session_id: &str,
        now: i64,
    ) -> Result<Option<McpSessionRecord>, StoreError> {
        let mut fields: HashMap<String, String> = self
            .query(
                "reading an MCP session",
                redis::cmd("HGETALL")
                    .arg(self.key(&format!("mcp_session:{session_id}")))
                    .clone(),
            )
            .await?;
        let time = |fields: &HashMap<String, String>, name: &str| {
            let text = fields.get(name).map_or("", String::as_str);
            parse_time(&format!("MCP session {name}"), text)
        };
        if fields.is_empty() {
            return Ok(None);
        }
        let version = fields.get("v").and_then(|v| v.parse().ok()).unwrap_or(0);
        check_version(version)?;
        let expires_at = time(&fields, "expires_at")?;
        if expires_at <= now {
            return Ok(None);
        }
        Ok(Some(McpSessionRecord {
            session_id: session_id.to_owned(),
            created_at: time(&fields, "created_at")?,
            owner: fields.remove("owner"),
            state: fields.remove("state"),
            data: fields.remove("data"),
            expires_at,
        }))
    }

    async fn replace_data(
        &self,
        session_id: &str,
        expected: Option<&str>,
        data: &str,
    ) -> Result<bool, StoreError> {
        let args = [
            session_id.to_owned(),
            expected.unwrap_or_default().to_owned(),
            data.to_owned(),
        ];
        let status: String = self
            .eval(
                "replacing an MCP session's data",
                &self.scripts.session_data_replace,
                &args,
            )
            .await?;
        match status.as_str() {
            "ok" => {
                self.bus.session_changes.made_here(session_id);
                Ok(true)
            }
            "changed" => Ok(false),
            "no session" => Err(StoreError::NotFound(format!("MCP session {session_id}"))),
            other => Err(StoreError::Backend(format!(
                "unexpected script answer {other:?} for MCP session {session_id}"
            ))),
        }
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
        let args = [
            session_id.to_owned(),
            state.to_owned(),
            owner.unwrap_or_default().to_owned(),
            now.to_string(),
            expires_at.to_string(),
            caps.per_owner.to_string(),
            caps.total.to_string(),
        ];
        let status: String = self
            .eval(
                "creating a counted MCP session",
                &self.scripts.session_create_counted,
                &args,
            )
            .await?;
        match status.as_str() {
            "owner at cap" => Ok(SessionAdmission::OwnerAtCap),
            "store at cap" => Ok(SessionAdmission::StoreAtCap),
            other => script_status(other, format_args!("MCP session {session_id}"))
                .map(|()| SessionAdmission::Created),
        }
    }

    async fn touch(&self, session_id: &str, expires_at: i64) -> Result<(), StoreError> {
        let touched: i64 = self
            .eval(
                "touching an MCP session",
                &self.scripts.session_touch,
                &[session_id.to_owned(), expires_at.to_string()],
            )
            .await?;
        if touched == 0 {
            return Err(StoreError::NotFound(format!("MCP session {session_id}")));
        }
        Ok(())
    }

    async fn delete(&self, session_id: &str) -> Result<(), StoreError> {
        let deleted: i64 = self
            .eval(
                "deleting an MCP session",
                &self.scripts.session_delete,
                &[session_id.to_owned()],
            )
            .await?;
        if deleted == 0 {
            return Err(StoreError::NotFound(format!("MCP session {session_id}")));
        }
        self.bus.session_changes.made_here(session_id);
        Ok(())
    }

    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        let purged: u64 = self
            .eval(
                "purging expired MCP sessions",
                &self.scripts.sessions_purge,
                &[now.to_string()],
            )
            .await?;
        if purged > 0 {
            self.bus.session_changes.made_here_to_any();
        }
        Ok(purged)
    }

    /// Every change to a session, made here or by another instance on the same Redis and
    /// prefix (heard on `P sessions` as soon as Redis delivers it); `None` while this store's
    /// subscription to `P sessions` is lost.
    async fn changes_here(&self) -> Result<Option<u64>, StoreError> {
        Ok(self.bus.session_changes.count())
    }

    /// The changes to the sessions of `session_id`'s group (one of 4,096), and those that
    /// may concern any session (a purge, a lost or renewed subscription); `None` while this
    /// store's subscription to `P sessions` is lost.
    async fn changes_to(&self, session_id: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.bus.session_changes.count_for(session_id))
    }
}

impl RedisStore {
    /// Removes the entries of a `by_expiry` index expired at `now` and their records.
    pub(crate) async fn purge_index(
        &self,
        index: &str,
        record_prefix: &str,
        now: i64,
    ) -> Result<u64, StoreError> {
        self.eval(
            "purging expired records",
            &self.scripts.expired_purge,
            &[index.to_owned(), record_prefix.to_owned(), now.to_string()],
        )
        .await
    }
}
