//! What a handler keeps per session between requests, in the session's record.
//!
//! A parked session has no handler between requests: each request gets a fresh one. What the
//! handler must remember — a log level set by `logging/setLevel`, the resources a client
//! subscribed to — is [`SessionData`]: small serde values keyed by name, one JSON object in
//! the store's record (`McpSessionRecord::data`), so it holds on every instance sharing the
//! store. A handler finds it in each request's context ([`SessionData::from_context`]).
//!
//! Writes are a compare-and-set on the text read ([`McpSessionStore::replace_data`]), retried
//! on a fresh read when another request of the session wrote first, so concurrent requests
//! never lose each other's change. The whole object is bounded ([`MAX_SESSION_DATA_BYTES`]) so
//! a session's record stays around a kilobyte or two.

use std::sync::{Arc, Mutex, PoisonError};

use rmcp::{RoleServer, service::RequestContext};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};

use crate::{
    clock::unix_now,
    ops::degraded::bounded,
    store::{McpSessionStore, StoreError},
};

/// The most a session's data may take, as JSON text.
pub const MAX_SESSION_DATA_BYTES: usize = 1024;
/// How often a write is retried after another writer changed the data first.
const MAX_ATTEMPTS: usize = 8;

/// Why session data could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionDataError {
    /// The data would outgrow [`MAX_SESSION_DATA_BYTES`]; nothing was written.
    #[error("session data would take {size} bytes, more than the {limit} a session may keep")]
    TooLarge {
        /// The size the data would have had, in bytes of JSON.
        size: usize,
        /// [`MAX_SESSION_DATA_BYTES`].
        limit: usize,
    },
    /// A value could not be serialized, or the stored one is not of the type asked for.
    #[error("session data value {name:?} is not valid: {source}")]
    Value {
        /// The value's name.
        name: String,
        /// What serde said.
        source: serde_json::Error,
    },
    /// The session was deleted or expired.
    #[error("the session has ended")]
    Ended,
    /// Other requests of the session kept changing the data; nothing was written.
    #[error("session data kept changing under concurrent writers")]
    Contended,
    /// The store failed or did not answer.
    #[error("the session store failed: {0}")]
    Store(StoreError),
}

/// The session's data as last read or written on this instance: shared by a cached session and
/// the [`SessionData`] handles given to its requests, so a write is seen by the next request
/// here at once.
pub(crate) type DataCell = Arc<Mutex<Option<String>>>;

/// A session's data: typed values keyed by name, kept in the session's record in the store.
///
/// Given to the handler in every request of a parked session (the default); `None` from
/// [`SessionData::from_context`] for in-memory sessions (`Outpost::with_in_memory_sessions`),
/// 2024-11-05 sessions and stateless requests, where a handler instance lives as long as its
/// session (or request) and keeps such state itself.
#[derive(Clone)]
pub struct SessionData {
    session_id: Arc<str>,
    cell: DataCell,
    store: Arc<dyn McpSessionStore>,
}

impl std::fmt::Debug for SessionData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionData")
            .field("session_id", &self.session_id)
            .field("data", &*lock(&self.cell))
            .finish_non_exhaustive()
    }
}

impl SessionData {
    pub(crate) fn new(session_id: &str, cell: DataCell, store: Arc<dyn McpSessionStore>) -> Self {
        Self {
            session_id: session_id.into(),
            cell,
            store,
        }
    }

    /// The data of the session a request belongs to, when its session keeps data in the
    /// store (a parked session).
    pub fn from_context(context: &RequestContext<RoleServer>) -> Option<SessionData> {
        context.extensions.get::<SessionData>().cloned()
    }

    /// The session's `Mcp-Session-Id`.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// The value named `name`, `None` when there is none.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, SessionDataError> {
        let values = parse(lock(&self.cell).as_deref())?;
        values
            .get(name)
            .map(|value| T::deserialize(value).map_err(|source| invalid(name, source)))
            .transpose()
    }

    /// Sets the value named `name`, in the store at once.
    pub async fn set<T: Serialize>(&self, name: &str, value: &T) -> Result<(), SessionDataError> {
        let value = serde_json::to_value(value).map_err(|source| invalid(name, source))?;
        self.modify(|values| {
            values.insert(name.to_owned(), value.clone());
        })
        .await
    }

    /// Removes the value named `name`.
    pub async fn remove(&self, name: &str) -> Result<(), SessionDataError> {
        self.modify(|values| {
            values.remove(name);
        })
        .await
    }

    /// Changes the value named `name` from what the store holds now: `change` gets the current
    /// value (`None` when there is none) and returns the new one (`None` removes it). It may
    /// run more than once, when another request of the session wrote meanwhile — so a list
    /// several requests add to loses no entry.
    pub async fn update<T: Serialize + DeserializeOwned>(
        &self,
        name: &str,
        mut change: impl FnMut(Option<T>) -> Option<T>,
    ) -> Result<(), SessionDataError> {
        let mut failure = None;
        self.modify(|values| {
            failure = None;
            let current = values.get(name).cloned().map(T::deserialize).transpose();
            let changed = current
                .map(&mut change)
                .and_then(|value| value.map(serde_json::to_value).transpose());
            match changed {
                Ok(Some(value)) => {
                    values.insert(name.to_owned(), value);
                }
                Ok(None) => {
                    values.remove(name);
                }
                // Written as it was: nothing changes.
                Err(source) => failure = Some(invalid(name, source)),
            }
        })
        .await?;
        failure.map_or(Ok(()), Err)
    }

    /// Applies `change` to the values read and writes them if `change` changed them, again
    /// on a fresh read when another writer came first.
    async fn modify(
        &self,
        mut change: impl FnMut(&mut Map<String, Value>),
    ) -> Result<(), SessionDataError> {
        for _ in 0..MAX_ATTEMPTS {
            let read = lock(&self.cell).clone();
            let before = parse(read.as_deref())?;
            let mut values = before.clone();
            change(&mut values);
            if values == before {
                return Ok(());
            }
            let text = Value::Object(values).to_string();
            if text.len() > MAX_SESSION_DATA_BYTES {
                return Err(SessionDataError::TooLarge {
                    size: text.len(),
                    limit: MAX_SESSION_DATA_BYTES,
                });
            }
            match bounded(
                self.store
                    .replace_data(&self.session_id, read.as_deref(), &text),
            )
            .await
            {
                Ok(true) => {
                    let mut cell = lock(&self.cell);
                    // A newer write made here meanwhile read ours first: keep it.
                    if *cell == read {
                        *cell = Some(text);
                    }
                    return Ok(());
                }
                Ok(false) => self.reload().await?,
                Err(StoreError::NotFound(_)) => return Err(SessionDataError::Ended),
                Err(error) => return Err(SessionDataError::Store(error)),
            }
        }
        Err(SessionDataError::Contended)
    }

    /// Reads the data again from the store.
    async fn reload(&self) -> Result<(), SessionDataError> {
        let record = bounded(self.store.get(&self.session_id, unix_now()))
            .await
            .map_err(SessionDataError::Store)?
            .ok_or(SessionDataError::Ended)?;
        *lock(&self.cell) = record.data;
        Ok(())
    }
}

/// The values of a session's data text; no text is no values.
fn parse(text: Option<&str>) -> Result<Map<String, Value>, SessionDataError> {
    match text {
        None => Ok(Map::new()),
        Some(text) => serde_json::from_str(text).map_err(|source| invalid("(all)", source)),
    }
}

fn invalid(name: &str, source: serde_json::Error) -> SessionDataError {
    SessionDataError::Value {
        name: name.to_owned(),
        source,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use crate::store::Store;

    use super::*;

    async fn session(store: &Store) -> SessionData {
        store
            .mcp_sessions
            .save_state("s", "{}", unix_now(), unix_now() + 60)
            .await
            .expect("record");
        SessionData::new("s", DataCell::default(), store.mcp_sessions.clone())
    }

    #[tokio::test]
    async fn values_are_written_to_the_record_and_read_back_anywhere() {
        let store = Store::memory();
        let data = session(&store).await;
        data.set("level", &"error").await.expect("set");
        assert_eq!(
            data.get::<String>("level").expect("get").as_deref(),
            Some("error")
        );
        // Another instance, with a handle that read nothing yet, sees it after a reload.
        let elsewhere = SessionData::new("s", DataCell::default(), store.mcp_sessions.clone());
        elsewhere
            .update::<Vec<String>>("uris", |uris| {
                let mut uris = uris.unwrap_or_default();
                uris.push("a".into());
                Some(uris)
            })
            .await
            .expect("update after a conflict");
        assert_eq!(
            elsewhere.get::<String>("level").expect("get").as_deref(),
            Some("error"),
            "the other writer's value is kept"
        );
        data.remove("level").await.expect("remove");
        let record = store.mcp_sessions.get("s", unix_now()).await.expect("get");
        assert_eq!(
            record.and_then(|r| r.data).as_deref(),
            Some(r#"{"uris":["a"]}"#)
        );
    }

    #[tokio::test]
    async fn data_is_bounded_and_ends_with_its_session() {
        let store = Store::memory();
        let data = session(&store).await;
        let big = "x".repeat(MAX_SESSION_DATA_BYTES);
        assert!(matches!(
            data.set("big", &big).await,
            Err(SessionDataError::TooLarge { .. })
        ));
        assert_eq!(data.get::<String>("big").expect("get"), None);
        store.mcp_sessions.delete("s").await.expect("delete");
        assert!(matches!(
            data.set("level", &"info").await,
            Err(SessionDataError::Ended)
        ));
    }
}
