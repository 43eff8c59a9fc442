//! Work that runs for a parked session outside its requests, on the instance holding its GET
//! stream — e.g. `notifications/resources/updated` for the resources it subscribed to.
//!
//! A parked session has no handler between requests, so nothing of the handler's can tick on
//! its own. A server that needs it gives a [`StandaloneStreamTask`]
//! (`Outpost::with_standalone_stream_task`): each time a session opens its GET stream on an
//! instance, the task runs there with a [`SessionStream`], until the stream closes. It reads
//! what the handler recorded ([`SessionStream::data`], from the store, so a subscription made
//! through any instance counts) and sends as the session's events, which reach its GET stream
//! wherever it is open and are replayed on `Last-Event-ID`.

use std::{pin::Pin, sync::Arc};

use rmcp::{
    model::{ServerJsonRpcMessage, ServerNotification},
    transport::streamable_http_server::SessionId,
};
use tokio_util::sync::CancellationToken;

use super::{
    SessionEvents,
    data::{SessionData, SessionDataError},
};
use crate::{clock::unix_now, ops::degraded::bounded, store::McpSessionStore};

/// What a server runs while a parked session's GET stream is open on this instance.
pub type StandaloneStreamTask =
    Arc<dyn Fn(SessionStream) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// A parked session's open GET stream, as a [`StandaloneStreamTask`] sees it.
pub struct SessionStream {
    session_id: SessionId,
    events: SessionEvents,
    store: Arc<dyn McpSessionStore>,
    closed: CancellationToken,
}

impl std::fmt::Debug for SessionStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStream")
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

impl SessionStream {
    pub(crate) fn new(
        session_id: SessionId,
        events: SessionEvents,
        store: Arc<dyn McpSessionStore>,
        closed: CancellationToken,
    ) -> Self {
        Self {
            session_id,
            events,
            store,
            closed,
        }
    }

    /// The session's `Mcp-Session-Id`.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// The session's data as the store holds it now (one store read): what any instance's
    /// handler recorded. [`SessionDataError::Ended`] once the session was deleted or expired.
    pub async fn data(&self) -> Result<SessionData, SessionDataError> {
        let record = bounded(self.store.get(&self.session_id, unix_now()))
            .await
            .map_err(SessionDataError::Store)?
            .ok_or(SessionDataError::Ended)?;
        Ok(SessionData::new(
            &self.session_id,
            Arc::new(std::sync::Mutex::new(record.data)),
            self.store.clone(),
        ))
    }

    /// Sends `notification` as the session's next event, to its GET stream; `false` when it
    /// is closed or the event store failed.
    pub async fn notify(&self, notification: ServerNotification) -> bool {
        if self.closed.is_cancelled() {
            return false;
        }
        let message = ServerJsonRpcMessage::notification(notification);
        match self.events.emit(&self.session_id, &message).await {
            Ok(_) => true,
            Err(error) => {
                tracing::warn!(%error, "cannot send a notification to a session's GET stream");
                false
            }
        }
    }

    /// Resolves when the GET stream closes: the client went away, opened another GET stream,
    /// or ended the session, or the server shuts down.
    pub async fn closed(&self) {
        self.closed.cancelled().await;
    }
}
