//! [`SessionNotifier`]: how code outside a request — a resource-update timer, a background
//! job — sends a notification to a parked session, whichever instance holds its GET stream.
//!
//! A notification is appended to the session's GET stream in the store's event store; the
//! instance holding that stream is woken over the store's bus (in-process for memory and
//! SQLite, Redis pub/sub for Redis) and sends it; a client that reconnects with
//! `Last-Event-ID`, to any instance, gets what it missed. Requests of parked sessions carry
//! the notifier in their extensions ([`SessionNotifier::from_context`]); the server hands it
//! out too ([`crate::Outpost::session_notifier`]).

use rmcp::{
    RoleServer,
    model::{ServerJsonRpcMessage, ServerNotification},
    service::RequestContext,
};

use crate::{
    mcp::sessions::SessionEvents,
    store::{EventId, StoreError},
};

/// Sends notifications to parked sessions' GET streams, from any instance.
#[derive(Debug, Clone)]
pub struct SessionNotifier {
    events: SessionEvents,
}

/// What a parked session's request carries: the notifier and the session it belongs to.
#[derive(Debug, Clone)]
pub(crate) struct SessionBinding {
    pub(crate) notifier: SessionNotifier,
    pub(crate) session_id: String,
}

impl SessionNotifier {
    pub(crate) fn new(events: SessionEvents) -> Self {
        Self { events }
    }

    /// Sends `notification` on the GET stream of session `session_id` (now, if a client
    /// holds it on any instance; on its next resumption with `Last-Event-ID` otherwise, while
    /// the event retention keeps it). Returns the event's id; fails when the store does.
    pub async fn notify(
        &self,
        session_id: &str,
        notification: ServerNotification,
    ) -> Result<EventId, StoreError> {
        self.events
            .emit(
                session_id,
                &ServerJsonRpcMessage::notification(notification),
            )
            .await
    }

    /// The notifier and the session id of a parked session's request; `None` for a request
    /// of a stateless revision, or with rmcp's own session manager.
    pub fn from_context(context: &RequestContext<RoleServer>) -> Option<(Self, String)> {
        context
            .extensions
            .get::<SessionBinding>()
            .map(|binding| (binding.notifier.clone(), binding.session_id.clone()))
    }
}
