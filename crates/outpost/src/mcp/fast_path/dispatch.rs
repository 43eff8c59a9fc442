//! Answering a classified request: the handler is awaited inline, on the connection's task.
//!
//! rmcp's stateless path builds a whole service per request (a serve loop, 3–4 spawns,
//! channels, a `Peer`, a one-shot transport) only to call `Service::handle_request` once. Here
//! the call is made directly, with the `RequestContext` rmcp's serve loop would have built:
//! - `peer`: a clone of one template `Peer`, made once by `serve_directly` over a transport
//!   that is already closed, with the peer info rmcp gives a 2026-07-28 stateless request
//!   (`peer_info_for_stateless_request`). Sends on it fail, as 2026-07-28 forbids
//!   server-to-client requests anyway; the fast path never takes requests that ask for
//!   progress or log notifications.
//! - `meta` and `extensions`: moved out of the request exactly as the serve loop moves them,
//!   with the HTTP `Parts` inserted first, so tools read the caller's identity the same way on
//!   both paths.
//! - `ct`: cancelled when the answer is done or the client goes away (the future is dropped).
//!
//! The answer is serialised once, with rmcp's HTTP status mapping for JSON-RPC errors. A tool
//! call's outcome — a result, an `isError` result or a JSON-RPC error — is written into the
//! request's facts for the tool-call metrics (`ops/request_log.rs`).

use std::sync::{Arc, OnceLock};

use axum::{body::Body, response::Response};
use http::{HeaderValue, StatusCode, header, request::Parts};
use rmcp::{
    Peer, RoleServer, ServerHandler, Service,
    model::{
        ClientCapabilities, ClientRequest, ErrorCode, ErrorData, Extensions, GetExtensions,
        GetMeta, Implementation, InitializeRequestParams, ProtocolVersion, RequestId,
        RequestMetaObject, ServerJsonRpcMessage, ServerResult,
    },
    service::{RequestContext, RxJsonRpcMessage, TxJsonRpcMessage},
    transport::common::http_header::{EVENT_STREAM_MIME_TYPE, JSON_MIME_TYPE},
};

use super::envelope::FastRequest;
use crate::ops::request_facts::{RequestFacts, ToolOutcome};

/// The `Peer` every fast-path request context gets a clone of.
#[derive(Default)]
pub(super) struct TemplatePeer(OnceLock<Peer<RoleServer>>);

impl TemplatePeer {
    /// The template, made on first use with a handler from `handler` (inside the runtime:
    /// `serve_directly` spawns its loop, which ends at once on the closed transport).
    pub(super) fn get<H: ServerHandler>(&self, handler: impl FnOnce() -> H) -> Peer<RoleServer> {
        self.0.get_or_init(|| closed_peer(handler())).clone()
    }
}

/// A `Peer` for requests made to `handler` outside any connection: made by `serve_directly`
/// over a transport that is already closed (inside the runtime: it spawns its loop, which ends
/// at once), with the peer info of a 2026-07-28 stateless request. Sends on it fail.
pub(crate) fn closed_peer<H: ServerHandler>(handler: H) -> Peer<RoleServer> {
    let closed = (
        futures::sink::drain::<TxJsonRpcMessage<RoleServer>>(),
        futures::stream::empty::<RxJsonRpcMessage<RoleServer>>(),
    );
    let running = rmcp::service::serve_directly(handler, closed, Some(stateless_peer_info()));
    let peer = running.peer().clone();
    // Its loop has nothing to serve; stop it now rather than on drop.
    running.cancellation_token().cancel();
    peer
}

/// What rmcp's `peer_info_for_stateless_request` gives a 2026-07-28 request.
pub(super) fn stateless_peer_info() -> InitializeRequestParams {
    let mut info =
        InitializeRequestParams::new(ClientCapabilities::default(), Implementation::default());
    info.protocol_version = ProtocolVersion::V_2026_07_28;
    info
}

/// Runs `request` on `handler` with a context around `peer`, and renders the JSON-RPC answer.
pub(super) async fn answer<H: ServerHandler>(
    handler: H,
    peer: Peer<RoleServer>,
    request: FastRequest,
    parts: Parts,
) -> Response {
    let FastRequest { id, mut request } = request;
    let (context, facts) = context(id.clone(), peer, &mut request, parts);
    // Cancelled on every exit: the answer is written, or the client left and this future is
    // dropped mid-await (rmcp cancels the request token in both cases too). The handler gets
    // the context's own token, not a child: nothing else holds it, and a child would allocate
    // a tree node and take its parent's lock per request.
    let _cancel_on_exit = context.ct.clone().drop_guard();

    // Boxed: rmcp's dispatch future is ~4 KiB, and inline it would more than double the size of
    // every future around it (each of which is moved at least once).
    let answer = Box::pin(handler.handle_request(request, context)).await;
    record_outcome(facts.as_deref(), &answer);
    let message = match answer {
        Ok(result) => ServerJsonRpcMessage::response(result, id),
        Err(error) => ServerJsonRpcMessage::error(error, Some(id)),
    };
    render(&message)
}

/// The context rmcp's serve loop would give `request` (id `id`, answered through `peer`, with
/// a cancellation token of its own, `ct`): its `_meta` and extensions moved out of the
/// request, with the HTTP `parts` among the extensions. Also the request's facts, when it is a tool call whose
/// outcome the metrics count ([`record_outcome`]).
pub(super) fn context(
    id: RequestId,
    peer: Peer<RoleServer>,
    request: &mut ClientRequest,
    parts: Parts,
) -> (RequestContext<RoleServer>, Option<Arc<RequestFacts>>) {
    // Only a tool call's outcome is counted: one reference count more for those.
    let facts = matches!(request, ClientRequest::CallToolRequest(_))
        .then(|| RequestFacts::shared(&parts.extensions))
        .flatten();
    #[cfg(feature = "opentelemetry")]
    if crate::ops::otel::tracer().is_some()
        && let Some(parent) = crate::ops::otel::trace_context::from_meta(request.get_meta())
    {
        RequestFacts::record_meta_parent(&parts.extensions, parent);
    }
    request.extensions_mut().insert(parts);
    let mut context = RequestContext::new(id, peer);
    context.meta = std::mem::replace(request.get_meta_mut(), RequestMetaObject::new());
    context.extensions = std::mem::replace(request.extensions_mut(), Extensions::new());
    (context, facts)
}

/// Writes a tool call's outcome into its facts, for the tool-call metrics.
pub(super) fn record_outcome(
    facts: Option<&RequestFacts>,
    answer: &Result<ServerResult, ErrorData>,
) {
    if let Some(facts) = facts {
        facts.record_tool_outcome(ToolOutcome::of(answer));
    }
}

fn render(message: &ServerJsonRpcMessage) -> Response {
    let status = jsonrpc_http_status(message);
    match serde_json::to_vec(message) {
        Ok(body) => Response::builder()
            .status(status)
            .header(
                header::CONTENT_TYPE,
                HeaderValue::from_static(JSON_MIME_TYPE),
            )
            .body(Body::from(body))
            .unwrap_or_else(|_| internal_error("build json response")),
        Err(error) => internal_error(&format!("serialize json response: {error}")),
    }
}

/// rmcp's SSE response (`sse_stream_response`): `200`, the event-stream headers, `body`.
pub(crate) fn sse_response(body: Body) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(EVENT_STREAM_MIME_TYPE),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    *response.status_mut() = StatusCode::OK;
    response
}

/// rmcp's `jsonrpc_http_status` for a request whose `_meta` is well-formed (the only kind the
/// fast path takes).
pub(super) fn jsonrpc_http_status(message: &ServerJsonRpcMessage) -> StatusCode {
    let ServerJsonRpcMessage::Error(error) = message else {
        return StatusCode::OK;
    };
    match error.error.code {
        ErrorCode::UNSUPPORTED_PROTOCOL_VERSION
        | ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY
        | ErrorCode::HEADER_MISMATCH => StatusCode::BAD_REQUEST,
        ErrorCode::METHOD_NOT_FOUND => StatusCode::NOT_FOUND,
        _ => StatusCode::OK,
    }
}

/// rmcp's `internal_error_response` text.
fn internal_error(context: &str) -> Response {
    tracing::error!("Internal server error when {context}");
    let mut response = Response::new(Body::from(format!("Encounter an error when {context}")));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

#[cfg(test)]
mod tests {
    use rmcp::model::{ErrorData, JsonRpcMessage, RequestId};

    use super::*;

    fn error(code: ErrorCode) -> ServerJsonRpcMessage {
        JsonRpcMessage::error(ErrorData::new(code, "x", None), Some(RequestId::Number(1)))
    }

    #[test]
    fn statuses_follow_rmcp() {
        assert_eq!(
            jsonrpc_http_status(&error(ErrorCode::HEADER_MISMATCH)),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            jsonrpc_http_status(&error(ErrorCode::UNSUPPORTED_PROTOCOL_VERSION)),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            jsonrpc_http_status(&error(ErrorCode::METHOD_NOT_FOUND)),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            jsonrpc_http_status(&error(ErrorCode::INVALID_PARAMS)),
            StatusCode::OK
        );
        assert_eq!(
            jsonrpc_http_status(&error(ErrorCode::INTERNAL_ERROR)),
            StatusCode::OK
        );
    }
}
