//! Session requests (2025-03-26 … 2025-11-25) on the lean path: a parked session's request
//! answered in the connection's task, through the session's hot peer (`mcp::sessions`'s
//! `inline`), instead of rmcp's session path with a serve loop per request.
//!
//! The screen and the parse are the stateless path's, with the session rules
//! (`screen::session_allowing_fast_path`, `envelope::parse_session`). The answer is what
//! rmcp's session path sends: `200` with an SSE body (`text/event-stream`, `no-cache`,
//! `X-Accel-Buffering: no`) holding one `data:` event per message — the answer last —,
//! framed by the same `sse-stream` crate; a complete answer goes out as one body, a request
//! that streams keeps rmcp's keep-alive comments. Everything the manager does not take (an
//! unknown or expired session, a store that fails, a second request of the session running
//! at once) goes to rmcp unchanged, which answers it as before.
//! `crates/outpost-reference/tests/fast_path_differential.rs` holds the two paths to the same
//! answers.

use std::{sync::Arc, time::Duration};

use axum::{body::Body, response::Response};
use bytes::Bytes;
use futures::StreamExt;
use http::request::Parts;
use rmcp::{
    ServerHandler, Service,
    model::{GetExtensions, ServerJsonRpcMessage},
    transport::streamable_http_server::SessionId,
};
use sse_stream::{KeepAlive, Sse, SseBody};

use super::{dispatch, envelope};
use crate::{
    HandlerFactory,
    mcp::{
        sessions::{InlineOutcome, OutpostSessionManager},
        sse_timer::TokioSleep,
    },
    ops::request_facts::RequestFacts,
};

/// Answers a request of session `session`, or gives its parts and body back for rmcp.
pub(super) async fn answer<H>(
    manager: &OutpostSessionManager<H>,
    factory: &HandlerFactory<H>,
    keep_alive: Duration,
    session: &SessionId,
    parts: Parts,
    body: Bytes,
) -> Result<Response, (Parts, Bytes)>
where
    H: ServerHandler + Send + Sync + 'static,
{
    let Some(parsed) = envelope::parse_session(&body) else {
        return Err((parts, body));
    };
    let (id, mut request) = (parsed.id, parsed.request);
    let Some(inline) = manager.inline(session, request.extensions_mut()).await else {
        return Err((parts, body));
    };
    RequestFacts::record_request(&parts.extensions, &request);
    let (context, facts) = dispatch::context(id.clone(), inline.peer(), &mut request, parts);
    let cancel = context.ct.clone();
    let handler = factory();
    // Boxed: rmcp's dispatch future is ~4 KiB (see `dispatch::answer`), and it may move into
    // a task of its own.
    let running = Box::pin(async move { handler.handle_request(request, context).await });
    let outcome = inline
        .run(id, cancel, running, move |answer| {
            dispatch::record_outcome(facts.as_deref(), answer);
        })
        .await;
    Ok(match outcome {
        InlineOutcome::Answered(messages) => dispatch::sse_response(Body::from(events(&messages))),
        InlineOutcome::Cancelled => dispatch::sse_response(Body::empty()),
        InlineOutcome::Streaming(stream) => {
            let frames = stream.map(|message| Ok::<_, std::convert::Infallible>(event(&message)));
            let body = SseBody::new(frames)
                .with_keep_alive::<TokioSleep>(KeepAlive::new().interval(keep_alive));
            dispatch::sse_response(Body::new(body))
        }
    })
}

/// `messages` as consecutive SSE events.
fn events(messages: &[ServerJsonRpcMessage]) -> Bytes {
    match messages {
        [only] => Bytes::from(event(only)),
        _ => {
            let mut all = Vec::new();
            for message in messages {
                all.extend_from_slice(&Bytes::from(event(message)));
            }
            Bytes::from(all)
        }
    }
}

/// One message as rmcp frames it: an event with its JSON as `data`, no id.
fn event(message: &ServerJsonRpcMessage) -> Sse {
    let data = serde_json::to_string(message).unwrap_or_else(|error| {
        // rmcp's `expect("valid message")`; a server message always serialises.
        tracing::error!(%error, "cannot serialise a server message");
        String::new()
    });
    Sse::default().data(data)
}

/// Session requests the fast path may answer: the parked sessions' manager.
pub(super) type Sessions<H> = Arc<OutpostSessionManager<H>>;
