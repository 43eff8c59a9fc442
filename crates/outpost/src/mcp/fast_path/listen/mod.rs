//! 2026-07-28 `subscriptions/listen` streams, all served by ONE rmcp serve loop per instance.
//!
//! rmcp's stateless path builds a whole service per request: a serve loop and its tasks, the
//! `Peer`'s channel, the sink-proxy channel and the response channel — each tokio channel a
//! 32-slot block of ~370-byte messages, whatever its capacity — and keeps all of it for as
//! long as a listen stream is open (~40 KiB a stream, measured with heaptrack). Here the
//! listen requests the fast path admits (its screen and parse: 2026-07-28, complete `_meta`,
//! no progress token or log level) enter one long-lived loop instead
//! (`rmcp::service::serve_directly_with_ct`, with the peer info rmcp gives a stateless
//! request), each under an instance-unique internal id ([`transport`]); rmcp still runs the
//! handler's `accepted_subscription_filter` and `listen`, sends the acknowledgement, enforces
//! the filter and writes the final result. Per stream there remains the handler's task, a
//! [`feed::Feed`] (the serialised SSE frames routed to it and one waker) and the
//! [`feed::ListenBody`].
//!
//! On the wire nothing changes (`tests/listen_differential.rs` holds both paths to it): the
//! status, the headers and the SSE framing are rmcp's (`data: {json}` events, the empty
//! comment keep-alive every `sse_keep_alive`, no priming event and no event ids: Outpost gives
//! rmcp no event store, so stateless streams are not resumable there either), the client's id
//! is restored in `_meta.subscriptionId` and in the final result, and a listen whose first
//! message is its final one (a refused filter) is answered alone as JSON with rmcp's status.
//! The client going away (the body dropped) cancels the listen: the loop gets
//! `notifications/cancelled` for its internal id and cancels the handler's token, as rmcp's
//! per-request loop is cancelled. At shutdown every stream ends with the final result rmcp
//! writes when a handler's `listen` returns (the one the 2026-07-28 schema defines for a
//! server's teardown: rmcp cannot send it then, as stopping its loop cancels the listens and
//! it answers no cancelled request), and the loop stops.
//!
//! What a handler can tell apart from rmcp's stateless path: one handler, made by the factory
//! when the first listen arrives, serves every listen stream of the instance (rmcp's makes
//! one per request), so state a handler instance keeps is shared by all listen streams; and
//! the `RequestContext::id` of a listen is its internal id (what rmcp tags with it is
//! rewritten to the client's id on the way out; an id the handler copies into a payload is
//! not). Listens that ask for progress or log notifications (`progressToken`, a log level in
//! `_meta`) are left to rmcp, whose per-request stream carries them; here a notification
//! without a subscription id has no stream to go to and is dropped.

mod feed;
mod transport;

use std::{sync::OnceLock, time::Duration};

use axum::{body::Body, response::Response};
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header, request::Parts};
use rmcp::{
    ServerHandler,
    model::{ClientRequest, GetExtensions, RequestId},
    transport::common::http_header::JSON_MIME_TYPE,
};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

use super::dispatch::{sse_response, stateless_peer_info};
use crate::http::in_flight::EndedByShutdown;
use crate::mcp::classify::RequestClass;
use feed::{ListenBody, Opening};
use transport::Hub;

/// The listen streams of one instance: the shared serve loop, started on first use.
pub(super) struct ListenStreams {
    hub: OnceLock<Arc<Hub>>,
    keep_alive: Duration,
    shutdown: CancellationToken,
}

impl ListenStreams {
    /// Streams with rmcp's keep-alive `keep_alive`, all ended when `shutdown` is cancelled.
    pub(super) fn new(keep_alive: Duration, shutdown: CancellationToken) -> Self {
        Self {
            hub: OnceLock::new(),
            keep_alive,
            shutdown,
        }
    }

    /// Whether a listen can still be opened (not once the server shuts down).
    pub(super) fn open(&self) -> bool {
        !self.shutdown.is_cancelled()
    }

    /// The hub, its loop started with a handler from `handler` on first use (inside the
    /// runtime: the loop is spawned).
    fn hub<H: ServerHandler>(&self, handler: impl FnOnce() -> H) -> &Arc<Hub> {
        self.hub.get_or_init(|| {
            let handler = handler();
            let (hub, transport) = Hub::new(handler.get_info().server_info);
            let running = rmcp::service::serve_directly_with_ct(
                handler,
                transport,
                Some(stateless_peer_info()),
                self.shutdown.child_token(),
            );
            // The loop runs until shutdown; dropping `running` would cancel it.
            tokio::spawn(async move {
                let _ = running.waiting().await;
            });
            let closing = hub.clone();
            let shutdown = self.shutdown.clone();
            tokio::spawn(async move {
                shutdown.cancelled().await;
                closing.close();
            });
            hub
        })
    }

    /// Answers `request` (a `subscriptions/listen` the client sent as `id`, with the HTTP
    /// request's `parts`): rmcp's JSON answer when its first message is its last, else the
    /// SSE stream.
    pub(super) async fn answer<H: ServerHandler>(
        &self,
        handler: impl FnOnce() -> H,
        id: RequestId,
        mut request: ClientRequest,
        parts: Parts,
    ) -> Response {
        request.extensions_mut().insert(detached(parts));
        let hub = self.hub(handler);
        let Some(feed) = hub.open(id, request) else {
            return shutting_down();
        };
        let mut body = ListenBody::new(feed, hub.clone(), self.keep_alive);
        match body.opening().await {
            Opening::Whole(json, status) => Response::builder()
                .status(status)
                .header(header::CONTENT_TYPE, JSON_MIME_TYPE)
                .body(Body::from(json))
                .unwrap_or_else(|_| shutting_down()),
            Opening::Stream => {
                let mut response = sse_response(Body::new(body));
                response.extensions_mut().insert(EndedByShutdown);
                response
            }
        }
    }
}

/// The answer to a listen that arrives as the server stops.
fn shutting_down() -> Response {
    let mut response = Response::new(Body::from("the server is shutting down"));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response
}

/// `parts` as the handler keeps them for the whole stream, detached from hyper's read
/// buffer: the header values and the URI hyper parsed are slices of the connection's read
/// buffer, and a listen holding them would keep that buffer (8 KiB) alive beside the one
/// hyper reads the next bytes into. Copied out, they cost their own length. The request's
/// `RequestClass` (Outpost's, crate-private; also slices of the buffer) is left out.
fn detached(parts: Parts) -> Parts {
    let Parts {
        method,
        uri,
        version,
        headers,
        mut extensions,
        ..
    } = parts;
    extensions.remove::<RequestClass>();
    let mut copied = HeaderMap::with_capacity(headers.len());
    for (name, value) in &headers {
        let mut owned = HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
        owned.set_sensitive(value.is_sensitive());
        copied.append(name.clone(), owned);
    }
    let uri = Uri::try_from(uri.to_string()).unwrap_or(uri);
    let mut request = http::Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    *request.headers_mut() = copied;
    *request.extensions_mut() = extensions;
    request.into_parts().0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handler_sees_the_same_request_in_the_detached_parts() {
        let buffer = bytes::Bytes::from_static(b"/mcp?x=1 outpost-tests secret");
        let mut request = http::Request::builder()
            .method("POST")
            .uri(Uri::from_maybe_shared(buffer.slice(0..8)).unwrap())
            .header(
                "user-agent",
                HeaderValue::from_maybe_shared(buffer.slice(9..22)).unwrap(),
            )
            .header("x-a", "1")
            .header("x-a", "2")
            .body(())
            .unwrap();
        let mut secret = HeaderValue::from_maybe_shared(buffer.slice(23..29)).unwrap();
        secret.set_sensitive(true);
        request.headers_mut().insert(header::AUTHORIZATION, secret);
        request.extensions_mut().insert(7u32);
        let (original, ()) = request.into_parts();
        let copy = detached(original.clone());
        assert_eq!(copy.method, original.method);
        assert_eq!(copy.uri, original.uri);
        assert_eq!(copy.headers, original.headers);
        assert!(copy.headers[header::AUTHORIZATION].is_sensitive());
        assert_eq!(copy.extensions.get::<u32>(), Some(&7));
        // Nothing of it points into the buffer any more.
        let range = buffer.as_ptr_range();
        assert!(!range.contains(&copy.uri.path().as_ptr()));
        for value in copy.headers.values() {
            assert!(!range.contains(&value.as_bytes().as_ptr()), "{value:?}");
        }
    }
}
