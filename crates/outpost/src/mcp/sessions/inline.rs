//! One request of a session served in the connection's task, with the session's hot peer
//! (`hot`) instead of a serve loop of its own.
//!
//! The handler's future is polled right here. Most requests send nothing but their answer:
//! the answer is then the whole SSE body ([`InlineOutcome::Answered`]). When the handler sends
//! something first (progress, a log message, a server→client request), the rest of the future
//! moves into a task of its own and the body streams ([`InlineOutcome::Streaming`]), the
//! answer last — what the per-request path gives, in the same order. A cancellation by the
//! client (`notifications/cancelled`, relayed from any instance) stops the handler and ends the
//! body without an answer, as rmcp's serve loop does. The client going away does not: the
//! request runs on to its answer, which goes nowhere ([`Pending`]).

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
    detached::{Detached, RunOn},
    hot::{Lease, Outbox},
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
    /// Where the request runs on if its client goes away.
    pub(super) detached: Arc<Detached>,
    /// The server's shutdown, which ends the request with a `shutting_down` answer.
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
    pub(crate) async fn run<A>(
        self,
        request_id: RequestId,
        cancel: CancellationToken,
        handler: BoxFuture<'static, Answer>,
        answered: A,
    ) -> InlineOutcome
    where
        A: FnOnce(&Answer) + Send + 'static,
    {
        let running = RunningHere::new(&self.in_flight, &self.id, &request_id, &cancel);
        self.keep_alive.in_use();
        let outbox = self.lease.outbox().clone();
        let shutdown = self.shutdown.clone();
        let mut pending = Pending(Some(Unanswered {
            handler,
            answered,
            request_id,
            lease: self.lease,
            running,
            // Whatever ends the request — its answer, a cancellation, shutdown — cancels what
            // the handler started, as rmcp cancels a request's token.
            cancel_on_exit: cancel.clone().drop_guard(),
            shutdown: self.shutdown,
            detached: self.detached,
        }));
        let mut answer = None;
        let streams = tokio::select! {
            biased;
            answered = pending.answer() => {
                answer = Some(answered);
                false
            }
            () = cancel.cancelled() => false,
            () = shutdown.cancelled() => {
                answer = Some(Err(super::shutting_down()));
                false
            }
            () = outbox.opened() => true,
            () = tokio::time::sleep(STREAM_AFTER) => true,
        };
        let Some(rest) = pending.0.take() else {
            return InlineOutcome::Cancelled;
        };
        if streams {
            return rest.stream(&outbox);
        }
        // No answer: cancelled by the client.
        let Some(answer) = answer else {
            return InlineOutcome::Cancelled;
        };
        (rest.answered)(&answer);
        let mut messages = Vec::with_capacity(1);
        if let Some(mut sent) = outbox.take_receiver() {
            while let Ok(message) = sent.try_recv() {
                messages.push(message);
            }
        }
        messages.push(message(answer, rest.request_id));
        InlineOutcome::Answered(messages)
    }
}

/// A request whose handler has not answered yet, and what it holds until it does.
struct Unanswered<A> {
    handler: BoxFuture<'static, Answer>,
    answered: A,
    request_id: RequestId,
    /// The session's hot peer, lent to this request to the end.
    lease: Lease,
    /// The request's registration for the client's cancellations.
    running: RunningHere,
    cancel_on_exit: DropGuard,
    /// The server's shutdown, which ends the request.
    shutdown: CancellationToken,
    /// Where the request runs on if its client goes away.
    detached: Arc<Detached>,
}

impl<A> Unanswered<A>
where
    A: FnOnce(&Answer) + Send + 'static,
{
    /// Moves the rest of the request into a task of its own, which adds the answer after
    /// whatever the handler sends through `outbox`.
    fn stream(self, outbox: &Outbox) -> InlineOutcome {
        let sender = outbox.sender();
        let Some(receiver) = outbox.take_receiver() else {
            // Only one stream takes the receiver, and this is the one.
            return InlineOutcome::Cancelled;
        };
        let (detached, stop) = (self.detached.clone(), self.running.cancel.clone());
        let run_on = RunOn::spawn(detached, stop, self.finish(Some(sender)));
        InlineOutcome::Streaming(InlineStream {
            receiver,
            run_on: Some(run_on),
        })
    }

    /// Awaits the answer (or the client's cancellation, or shutdown) and sends it to `to`:
    /// nowhere once the client went away.
    async fn finish(self, to: Option<mpsc::Sender<ServerJsonRpcMessage>>) {
        let Self {
            handler,
            answered,
            request_id,
            lease,
            running,
            cancel_on_exit,
            shutdown,
            detached: _,
        } = self;
        let stop = running.cancel.clone();
        let answer = tokio::select! {
            // A handler that answered as shutdown came: its answer, not an invitation to send
            // the request again.
            biased;
            answer = handler => {
                answered(&answer);
                answer
            }
            () = stop.cancelled() => return,
            () = shutdown.cancelled() => Err(super::shutting_down()),
        };
        if let Some(to) = to {
            let _ = to.send(message(answer, request_id)).await;
        }
        drop((lease, running, cancel_on_exit));
    }
}

/// The request while its first wait runs in the connection's task. Dropped before the
/// answer — the client went away, and hyper dropped the response future — it lets the
/// request run on in a task of its own, within [`Detached`]'s bounds: MCP 2025-03-26 …
/// 2025-11-25 say a disconnection SHOULD NOT be taken for a cancellation (the client sends
/// `notifications/cancelled` for that), and rmcp's in-memory sessions let the request run
/// on too. Its messages go nowhere from then on, and its requests to the client fail at
/// once.
struct Pending<A: FnOnce(&Answer) + Send + 'static>(Option<Unanswered<A>>);

impl<A: FnOnce(&Answer) + Send + 'static> Pending<A> {
    /// The handler's answer.
    fn answer(&mut self) -> impl Future<Output = Answer> + '_ {
        std::future::poll_fn(|cx| match &mut self.0 {
            Some(rest) => rest.handler.as_mut().poll(cx),
            None => Poll::Pending,
        })
    }
}

impl<A: FnOnce(&Answer) + Send + 'static> Drop for Pending<A> {
    fn drop(&mut self) {
        let Some(rest) = self.0.take() else {
            return;
        };
        if std::thread::panicking() {
            // The handler panicked while polled here: it cannot be polled again.
            return;
        }
        rest.lease.outbox().abandon();
        let (detached, stop) = (rest.detached.clone(), rest.running.cancel.clone());
        detached.run_on(rest.finish(None), stop);
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
    registration: u64,
    cancel: CancellationToken,
}

impl RunningHere {
    fn new(
        in_flight: &Arc<InFlight>,
        session: &SessionId,
        request: &RequestId,
        cancel: &CancellationToken,
    ) -> Self {
        let registration = in_flight.started(session, request, Running::Inline(cancel.clone()));
        Self {
            in_flight: in_flight.clone(),
            session: session.clone(),
            request: request.clone(),
            registration,
            cancel: cancel.clone(),
        }
    }
}

impl Drop for RunningHere {
    fn drop(&mut self) {
        self.in_flight
            .finished(&self.session, &self.request, self.registration);
    }
}

/// The rest of a streaming inline request. Dropping it (the client went away) does not cancel
/// the request ([`Pending`]): it runs on within [`Detached`]'s bounds, and what it sends goes
/// nowhere.
pub(crate) struct InlineStream {
    receiver: mpsc::Receiver<ServerJsonRpcMessage>,
    /// How the rest of the request runs on if the stream is dropped.
    run_on: Option<RunOn>,
}

impl Drop for InlineStream {
    fn drop(&mut self) {
        if let Some(run_on) = self.run_on.take() {
            run_on.client_left();
        }
    }
}

impl Stream for InlineStream {
    type Item = ServerJsonRpcMessage;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.receiver.poll_recv(cx)
    }
}
