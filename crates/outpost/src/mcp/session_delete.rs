//! `DELETE /mcp`: ending a session (2025-03-26 … 2025-11-25), with the answers clients act on.
//!
//! rmcp answers every DELETE that names a session with `202 Accepted`, also when the session
//! does not exist. The transport spec answers an unknown session with `404 Not Found` (the
//! client then knows its id is stale), and clients treat `200`/`204` as success (the official
//! Python SDK reports a failed termination on `202`). This layer checks the session first.
//!
//! With parked sessions (`mcp::sessions`, the default) this layer ends the session itself
//! ([`SessionRecords::end`]): rmcp's DELETE would reach the manager's `close_session`, which is
//! also what rmcp calls when a handshake ends, so the two could not be told apart there. The
//! same check runs for every request naming a session — one that may be known only to the
//! store — so that a store that fails or does not answer gets `503` with `Retry-After`
//! (`ops::degraded`) rather than rmcp's `500`, or a `404` that makes the client drop a session
//! that may well exist.
//!
//! With in-memory sessions (rmcp's `LocalSessionManager`) rmcp does the closing and this
//! layer turns its `202` into `204 No Content`.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http::{Method, StatusCode};
use rmcp::transport::streamable_http_server::{
    SessionManager, session::local::LocalSessionManager,
};

use super::{
    classify::{Era, RequestClass},
    sessions::SessionRecords,
};
use crate::{ops::degraded::store_unavailable, store::StoreError};

/// The sessions a DELETE can end.
#[derive(Clone)]
pub(crate) enum EndableSessions {
    /// rmcp's sessions, in this process's memory.
    InMemory(Arc<LocalSessionManager>),
    /// Outpost's parked sessions, records in the store.
    Parked(Arc<dyn SessionRecords>),
}

impl EndableSessions {
    /// Whether the session exists; an error when only the store could tell and it cannot.
    async fn contains(&self, id: &Arc<str>) -> Result<bool, StoreError> {
        match self {
            EndableSessions::InMemory(memory) => Ok(memory.has_session(id).await.unwrap_or(false)),
            EndableSessions::Parked(records) => records
                .contains(id)
                .await
                .map_err(|error| error.into_store_error()),
        }
    }

    /// Whether requests naming a session need the store's answer before rmcp sees them.
    fn checks_every_request(&self) -> bool {
        matches!(self, EndableSessions::Parked(_))
    }
}

/// axum middleware for `/mcp`: answers DELETE of an unknown session with 404 and a successful
/// DELETE with 204, and any request naming a session the store cannot vouch for, while it
/// does not answer, with 503. Everything else passes through untouched.
pub async fn end_session(
    State(sessions): State<EndableSessions>,
    request: Request,
    next: Next,
) -> Response {
    // Sessions exist only before 2026-07-28: a DELETE declaring a later version is left to
    // rmcp (which answers 405).
    let class = RequestClass::from_request(&request);
    let delete = request.method() == Method::DELETE;
    let id = match class.session() {
        Some(id) if class.era() == Era::Session && (delete || sessions.checks_every_request()) => {
            Arc::<str>::from(id)
        }
        _ => return next.run(request).await,
    };
    match sessions.contains(&id).await {
        Ok(true) => {}
        Ok(false) if delete => {
            return (StatusCode::NOT_FOUND, "Not Found: Session not found").into_response();
        }
        // rmcp answers an unknown session itself.
        Ok(false) => return next.run(request).await,
        Err(error) => {
            let Ok(response) = store_unavailable(request, &error.to_string()).await;
            return response;
        }
    }
    if !delete {
        return next.run(request).await;
    }
    if let EndableSessions::Parked(records) = &sessions
        && class.is_known_version()
    {
        return match records.end(&id).await {
            Ok(true) => StatusCode::NO_CONTENT.into_response(),
            Ok(false) => (StatusCode::NOT_FOUND, "Not Found: Session not found").into_response(),
            Err(error) => {
                let Ok(response) =
                    store_unavailable(request, &error.into_store_error().to_string()).await;
                response
            }
        };
    }
    let response = next.run(request).await;
    if response.status() == StatusCode::ACCEPTED {
        return StatusCode::NO_CONTENT.into_response();
    }
    response
}
