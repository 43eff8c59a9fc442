//! SSE priming events (SEP-1699: an event with an id and empty data, opening a stream so the
//! client can resume it) only for the sessions of clients that know them.
//!
//! Priming came with 2025-11-25. rmcp primes the `initialize` answer and every GET stream of
//! every session, whatever revision it negotiated, and Outpost's GET stream adds its own
//! position event ([`super::sessions::events`]). A 2025-03-26 or 2025-06-18 client reads an
//! event with empty data as a message and fails to parse it: the Python SDK of that time logs
//! an error for each, the TypeScript SDK's `onerror` fires. So for those revisions:
//!
//! - the request goes to a second rmcp service over the same session manager, configured
//!   without priming ([`route_unprimed`]);
//! - the session manager leaves its position event out ([`knows_priming`]).
//!
//! Every GET stream goes to that second service too: the session manager's own position event
//! primes it (for the revisions that know priming), with an id from the store. rmcp's would
//! say `0`, as its priming of the `initialize` answer does, and event ids must be unique
//! within a session.
//!
//! The revision is the one an `initialize`'s body asks for (rmcp negotiates from it, whatever a
//! header says); for a request of a session, the `MCP-Protocol-Version` header's, and
//! 2025-03-26 without one (the transport spec's rule).
//! rmcp's in-memory sessions (`--in-memory-sessions`) prime each request's stream too, with
//! one setting for all sessions: they keep priming every revision.

use std::{convert::Infallible, sync::Arc};

use axum::{
    body::Body,
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http::Method;
use rmcp::model::ProtocolVersion;
use tower::{Service, ServiceExt};

use super::{
    classify::{Era, PROTOCOL_VERSION, RequestClass},
    fast_path::content_type_is_json,
    jsonrpc_body::initialize_version,
};
use crate::http::body_read::read_limited;

/// Whether a session that negotiated `version` may be sent priming events: any revision but
/// the known ones before 2025-11-25.
pub(crate) fn knows_priming(version: &str) -> bool {
    !ProtocolVersion::KNOWN_VERSIONS
        .iter()
        .any(|known| known.as_str() == version && *known < ProtocolVersion::V_2025_11_25)
}

/// rmcp's service without priming events, and the body limit an `initialize` is read under.
/// Shared: the middleware's state is cloned for every request that passes, and the service is
/// cloned only for those it serves.
pub(crate) struct Unprimed<S> {
    service: S,
    max_body: usize,
}

impl<S> Unprimed<S> {
    /// `service` (rmcp's, configured without priming) for bodies of up to `max_body` bytes.
    pub(crate) fn new(service: S, max_body: usize) -> Arc<Self> {
        Arc::new(Self { service, max_body })
    }

    /// `request` answered by the service.
    async fn answer<B>(&self, request: Request) -> Response
    where
        S: Service<Request, Response = http::Response<B>, Error = Infallible> + Clone,
        B: http_body::Body<Data = axum::body::Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        match self.service.clone().oneshot(request).await {
            Ok(response) => response.map(Body::new),
            Err(never) => match never {},
        }
    }
}

/// axum middleware for the session era of `/mcp`: a request of a client that predates
/// priming goes to the unprimed service, any other on. Runs behind the JSON-RPC body check,
/// which has read a JSON body whole.
pub(crate) async fn route_unprimed<S, B>(
    State(unprimed): State<Arc<Unprimed<S>>>,
    request: Request,
    next: Next,
) -> Response
where
    S: Service<Request, Response = http::Response<B>, Error = Infallible> + Clone,
    B: http_body::Body<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let class = RequestClass::from_request(&request);
    if class.era() != Era::Session {
        return next.run(request).await;
    }
    let header = request
        .headers()
        .get(&PROTOCOL_VERSION)
        .map(|value| value.to_str().unwrap_or_default().to_owned());
    let opens_session = class.session().is_none()
        && request.method() == Method::POST
        && content_type_is_json(request.headers());
    // A GET stream is primed by the session manager's position event, never by rmcp.
    if request.method() == Method::GET && class.session().is_some() {
        return unprimed.answer(request).await;
    }
    let (request, version) = if opens_session {
        // The revision rmcp negotiates is the one the body asks for, whatever a header says.
        let (parts, body) = request.into_parts();
        let body = match read_limited(&parts.headers, body, unprimed.max_body).await {
            Ok(body) => body,
            Err(error) => return error.into_response(),
        };
        let version = initialize_version(&body).or(header).unwrap_or_default();
        (Request::from_parts(parts, Body::from(body)), version)
    } else {
        match (header, class.session()) {
            (Some(version), _) => (request, version),
            (None, Some(_)) => (request, ProtocolVersion::V_2025_03_26.as_str().to_owned()),
            (None, None) => return next.run(request).await,
        }
    };
    if knows_priming(&version) {
        return next.run(request).await;
    }
    unprimed.answer(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_revisions_before_2025_11_25_go_unprimed() {
        for old in ["2024-11-05", "2025-03-26", "2025-06-18"] {
            assert!(!knows_priming(old), "{old}");
        }
        for primed in ["2025-11-25", "2026-07-28", "2099-01-01", "", "garbage"] {
            assert!(knows_priming(primed), "{primed:?}");
        }
    }
}
