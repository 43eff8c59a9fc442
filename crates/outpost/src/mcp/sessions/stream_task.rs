//! Work that runs for a parked session outside its requests, on the instance holding its GET
//! stream — e.g. `notifications/resources/updated` for the resources it subscribed to.
//!
//! A parked session has no handler between requests, so nothing of the handler's can tick on
//! its own. A server that needs it gives a [`StandaloneStreamTask`]
//! (`Outpost::with_standalone_stream_task`): each time a session opens its GET stream on an
//! instance, the task runs there with a [`SessionStream`], until the stream closes. It reads
//! what the handler recorded ([`SessionStream::data`], from the store, so a subscription made
//! through any instance counts) and sends through [`send_to_session`], the one way out to a
//! session's GET stream.

use std::{pin::Pin, sync::Arc};

use rmcp::{
    model::{ServerJsonRpcMessage, ServerNotification},
    transport::streamable_http_server::SessionId,
};
use tokio_util::sync::CancellationToken;

use super::{
    StandaloneStreams,
    data::{SessionData, SessionDataError},
    lock,
};
use crate::{clock::unix_now, ops::degraded::bounded, store::McpSessionStore};

/// What a server runs while a parked session's GET stream is open on this instance.
pub type StandaloneStreamTask =
    Arc<dyn Fn(SessionStream) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// A parked session's open GET stream, as a [`StandaloneStreamTask`] sees it.
pub struct SessionStream {
    session_id: SessionId,
    streams: StandaloneStreams,
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
        streams: StandaloneStreams,
        store: Arc<dyn McpSessionStore>,
        closed: CancellationToken,
    ) -> Self {
        Self {
            session_id,
            streams,
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

    /// Sends `notification` on the session's GET stream; `false` once it is closed.
    pub async fn notify(&self, notification: ServerNotification) -> bool {
        send_to_session(
            &self.streams,
            &self.session_id,
            ServerJsonRpcMessage::notification(notification),
        )
        .await
    }

    /// Resolves when the GET stream closes: the client went away, opened another GET stream,
    /// or ended the session, or the server shuts down.
    pub async fn closed(&self) {
        self.closed.cancelled().await;
    }
}

/// Sends `message` to session `id`'s GET stream if this instance holds one; `false` when it
/// does not (none open here, or closed). Everything sent to a session outside its requests
/// goes through here — the seam where a bus will carry it to the instance holding the stream.
pub(crate) async fn send_to_session(
    streams: &StandaloneStreams,
    id: &SessionId,
    message: ServerJsonRpcMessage,
) -> bool {
    let sender = lock(streams).get(id).map(|(_, sender)| sender.clone());
    match sender {
        Some(sender) => sender.send(message).await.is_ok(),
        None => false,
    }
}
