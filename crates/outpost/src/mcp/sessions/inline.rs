//! One request of a session served in the connection's task, with the session's hot peer
//! (`hot`) instead of a serve loop of its own.
//!
//! The handler's future is polled right here. Most requests send nothing but their answer:
//! the answer is then the whole SSE body ([`InlineOutcome::Answered`]). When the handler sends
//! something first (progress, a log message, a server→client request), the rest of the future
//! moves into a task of its own and the body streams ([`InlineOutcome::Streaming`]), the
//! answer last — what the per-request path gives, in the same order. A cancellation by the
//! client (`notifications/cancelled`, relayed from any instance) stops the handler and ends the
//! body without an answer, as rmcp's serve loop does; so does the client going away.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use futures::{Stream, future::BoxFuture};
use rmcp::{
    Peer, RoleServer,
    model::{ErrorData, RequestId, ServerJsonRpcMessage, ServerResult},
    transport::streamable_http_server::SessionId,
};
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::{
    hot::Lease,
    keep_alive::KeepAlive,
    request::{InFlight, Running},
};

/// How long a request may run without sending anything before its SSE stream starts (the
/// headers, then keep-alive comments), so that a client waiting for a slow tool hears from
/// the server, as on rmcp's path, where the stream starts at once.
const STREAM_AFTER: Duration = Duration::from_secs(1);

/// A handler's answer to one request.
pub(crate) type Answer = Result<ServerResult, ErrorData>;

/// A session ready to serve one request here, its peer lent to the request.
pub(crate) struct InlineSession {
    pub(super) id: SessionId,
    pub(super) lease: Lease,
    pub(super) in_flight: Arc<InFlight>,
    /// Told once the request is registered as running, to keep the session's record alive.
    pub(super) keep_alive: Arc<KeepAlive>,
    /// The server's shutdown, which ends a streaming request.
    pub(super) shutdown: CancellationToken,
}

/// How an inline request ended.
pub(crate) enum InlineOutcome {
    /// Answered without streaming: what the handler sent before (usually nothing), then the
    /// answer.
    Answered(Vec<ServerJsonRpcMessage>),
    /// The handler sent something before answering: everything, the answer last.
    Streaming(InlineStream),
    /// Cancelled by the client: no answer.
    Cancelled,
}

impl InlineSession {
    /// The peer to put in the request's context.
    pub(crate) fn peer(&self) -> Peer<RoleServer> {
        self.lease.peer()
    }

    /// Runs `handler` — the handler's future for request `request_id`, whose context holds
    /// `cancel` — to its answer; `answered` sees the answer first.
    pub(crate) async fn run(
        self,
        request_id: RequestId,
        cancel: CancellationToken,
        mut handler: BoxFuture<'static, Answer>,
        answered: impl FnOnce(&Answer) + Send + 'static,
    ) -> InlineOutcome {
        let running = RunningHere::new(&self.in_flight, &self.id, &request_id, &cancel);
        self.keep_alive.in_use();
        let outbox = self.lease.outbox().clone();
        // Whatever ends this call — the answer, a cancellation, the client going away (this
        // future dropped) — cancels what the handler started, as rmcp cancels a request's
        // token; a streaming request hands that on to its stream.
        let cancel_on_exit = cancel.clone().drop_guard();
        tokio::select! {
            biased;
            answer = &mut handler => {
                answered(&answer);
                let mut messages = Vec::with_capacity(1);
                if let Some(mut sent) = outbox.take_receiver() {
                    while let Ok(message) = sent.try_recv() {
                        messages.push(message);
                    }
                }
                messages.push(message(answer, request_id));
                InlineOutcome::Answered(messages)
            }
            () = cancel.cancelled() => InlineOutcome::Cancelled,
            () = outbox.opened() => self.stream(request_id, handler, answered, running, cancel_on_exit),
            () = tokio::time::sleep(STREAM_AFTER) => {
                self.stream(request_id, handler, answered, running, cancel_on_exit)
            }
        }
    }

    /// Moves the rest of the request into a task of its own, which adds the answer after
    /// whatever the handler sends.
    fn stream(
        self,
        request_id: RequestId,
        handler: BoxFuture<'static, Answer>,
        answered: impl FnOnce(&Answer) + Send + 'static,
        running: RunningHere,
        cancel_on_exit: DropGuard,
    ) -> InlineOutcome {
        let outbox = self.lease.outbox();
        let sender = outbox.sender();
        let Some(receiver) = outbox.take_receiver() else {
            // Only one stream takes the receiver, and this is the one.
            return InlineOutcome::Cancelled;
        };
        let stop = running.cancel.clone();
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            // Held to the end: the lease, and the request's registration for cancellations.
            let (_lease, _running) = (self.lease, running);
            tokio::select! {
                answer = handler => {
                    answered(&answer);
                    let _ = sender.send(message(answer, request_id)).await;
                }
                () = stop.cancelled() => {}
                () = shutdown.cancelled() => {}
            }
        });
        InlineOutcome::Streaming(InlineStream {
            receiver,
            _cancel_on_drop: cancel_on_exit,
        })
    }
}

fn message(answer: Answer, id: RequestId) -> ServerJsonRpcMessage {
    match answer {
        Ok(result) => ServerJsonRpcMessage::response(result, id),
        Err(error) => ServerJsonRpcMessage::error(error, Some(id)),
    }
}

/// A request registered as running here, so that the client's `notifications/cancelled`
/// reaches it; unregistered on drop.
struct RunningHere {
    in_flight: Arc<InFlight>,
    session: SessionId,
    request: RequestId,
    cancel: CancellationToken,
}

impl RunningHere {
    fn new(
        in_flight: &Arc<InFlight>,
        session: &SessionId,
        request: &RequestId,
        cancel: &CancellationToken,
    ) -> Self {
        in_flight.started(session, request, Running::Inline(cancel.clone()));
        Self {
            in_flight: in_flight.clone(),
            session: session.clone(),
            request: request.clone(),
            cancel: cancel.clone(),
        }
    }
}

impl Drop for RunningHere {
    fn drop(&mut self) {
        self.in_flight.finished(&self.session, &self.request);
    }
}

/// The rest of a streaming inline request; dropping it (the client went away) cancels the
/// request.
pub(crate) struct InlineStream {
    receiver: mpsc::Receiver<ServerJsonRpcMessage>,
    _cancel_on_drop: DropGuard,
}

impl Stream for InlineStream {
    type Item = ServerJsonRpcMessage;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.receiver.poll_recv(cx)
    }
}
