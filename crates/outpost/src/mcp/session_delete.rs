//! `DELETE /mcp`: ending a session (2025-03-26 … 2025-11-25), with the answers clients act on.
//!
//! rmcp answers every DELETE that names a session with `202 Accepted`, also when the session
//! does not exist. The transport spec answers an unknown session with `404 Not Found` (the
//! client then knows its id is stale), and clients treat `200`/`204` as success (the official
//! Python SDK reports a failed termination on `202`). This layer checks the session first and
//! turns rmcp's `202` into `204 No Content`; rmcp still does the closing. A session that
//! lives only in the store (persisted before a restart) exists too: rmcp's DELETE removes it
//! from the store.
//!
//! With parked sessions (`mcp::sessions`) this layer ends the session itself
//! ([`SessionRecords::end`]): rmcp's DELETE would reach the manager's `close_session`, which is
//! also what rmcp calls when a handshake ends, so the two could not be told apart there.
//!
//! With persisted or parked sessions the same check runs for every request naming a session this
//! instance does not hold in memory — one rmcp would restore from the store — so that a store
//! that fails or does not answer gets `503` with `Retry-After` (`ops::degraded`) rather than
//! rmcp's `500`, or a `404` that makes the client drop a session that may well exist.

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
    session_store::PersistedSessions,
    sessions::SessionRecords,
};
use crate::{ops::degraded::store_unavailable, store::StoreError};

/// The sessions a DELETE can end.
#[derive(Clone)]
pub(crate) enum EndableSessions {
    /// rmcp's sessions in memory and, when persisted, the stored ones.
    Rmcp {
        /// rmcp's session manager.
        memory: Arc<LocalSessionManager>,
        /// The persisted sessions, if the server has a store.
        persisted: Option<Arc<PersistedSessions>>,
    },
    /// Outpost's parked sessions, records in the store.
    Parked(Arc<dyn SessionRecords>),
}

impl EndableSessions {
    /// Whether the session exists, in memory or in the store; an error when only the store
    /// could tell and it cannot.
    async fn contains(&self, id: &Arc<str>) -> Result<bool, StoreError> {
        match self {
            EndableSessions::Rmcp { memory, persisted } => {
                if memory.has_session(id).await.unwrap_or(false) {
                    return Ok(true);
                }
                match persisted {
                    Some(persisted) => persisted.is_live(id).await,
                    None => Ok(false),
                }
            }
            EndableSessions::Parked(records) => records
                .contains(id)
                .await
                .map_err(|error| error.into_store_error()),
        }
    }

    /// Whether requests naming a session need the store's answer before rmcp sees them.
    fn checks_every_request(&self) -> bool {
        !matches!(
            self,
            EndableSessions::Rmcp {
                persisted: None,
                ..
            }
        )
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
