//! The legacy MCP 2024-11-05 "HTTP with SSE" transport: `GET /sse` + `POST /message`.
//!
//! rmcp stopped shipping this transport (0.11), but 2024-11-05 clients still use it, so Outpost
//! implements it on rmcp's public [`Transport`](rmcp::transport::Transport) trait
//! ([`SseServerTransport`]). Each SSE connection gets its own handler from the
//! [`HandlerFactory`] and its own rmcp service (`serve_with_ct`), so initialization, dispatch,
//! notifications and server → client requests behave exactly as on every other transport.
//!
//! ```text
//! GET  /sse                      → event: endpoint  data: /message?sessionId=<32 hex>
//!                                  event: message   data: <JSON-RPC>   (every server message)
//!                                  : (keep-alive comment every `sse_keep_alive`)
//! POST /message?sessionId=<id>   → 202 at once; the answer arrives on the SSE stream
//! ```
//!
//! - **Any instance**: with a store whose bus reaches other processes (Redis), the instance
//!   holding the `/sse` stream records the session in the store (`directory`), and a POST to
//!   another instance is relayed to it (`mcp::relay`): `202` once the holder has queued the
//!   message, `404` when the session is gone everywhere, `503` with `Retry-After` when the
//!   holder does not take it in time. With memory or SQLite nothing is recorded: a session is
//!   known to its instance only, as before.
//! - **Lifetime**: a session lives exactly as long as its SSE response. Client disconnect, the
//!   rmcp service ending, or server shutdown (the `shutdown` token) ends the stream, cancels the
//!   service and removes the session; later POSTs get 404.
//! - **Back-pressure**: both directions are bounded ([`CHANNEL_CAPACITY`] messages). A POST to a
//!   full inbox waits up to [`ENQUEUE_WAIT`], then answers `503` with `Retry-After: 1`. A slow
//!   SSE reader makes rmcp's sends wait (until the session ends), never buffers unboundedly.
//! - **Batches** (allowed by 2024-11-05): accepted, up to [`CHANNEL_CAPACITY`] messages; each
//!   element is fed to the session in order and each answer is its own `message` event.
//! - **Errors on POST**: 400 no `sessionId`, 404 unknown session, 503 store or holder not
//!   answering, 415 non-JSON `Content-Type`
//!   (a missing one is accepted), 413 body over `max_request_body_bytes`, 400 with a JSON-RPC
//!   `-32700`/`-32600` body for malformed JSON or a non-message. See [`PostError`].
//!
//! Host/Origin validation is not done here: the router mounts these routes behind the same
//! transport guard as `/mcp`.

pub(crate) mod directory;
mod message;
mod session;
pub mod transport;

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    Extension, Router,
    extract::{Request, State},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
    routing::{get, post},
};
use futures::{Stream, StreamExt, stream};
use http::{HeaderName, HeaderValue, StatusCode};
use rmcp::{ServerHandler, ServiceExt, model::ClientJsonRpcMessage};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use message::PostError;
/// How `/message` reads its session, shared with the session-owner check so both agree.
pub(crate) use message::session_id;
use transport::SseServerTransport;

use crate::{
    HandlerFactory,
    auth::resource::Identity,
    config::ServerConfig,
    mcp::{
        relay::{Destination, Outcome, Recipient},
        session_limits::{OpenSessions, SessionPermit},
    },
    ops::request_facts::RequestFacts,
};
use directory::LegacyDirectory;
use session::{SessionGuard, SessionStore};

/// Path of the SSE stream a legacy client opens first.
pub const SSE_PATH: &str = "/sse";
/// Path legacy clients POST their messages to (the `endpoint` event names it).
pub const MESSAGE_PATH: &str = "/message";
/// Capacity, in messages, of each direction of a session, and the largest accepted batch.
pub const CHANNEL_CAPACITY: usize = 64;
/// How long a POST waits for room in a full session inbox before answering `503`.
pub const ENQUEUE_WAIT: Duration = Duration::from_secs(2);
/// Shortest keep-alive interval used, whatever the configuration says (zero would spin).
const MIN_KEEP_ALIVE: Duration = Duration::from_millis(10);

/// Shared state of the two routes.
struct LegacySse<H> {
    factory: HandlerFactory<H>,
    sessions: Arc<SessionStore>,
    /// Sessions of every instance, when they are shared (`directory`).
    directory: Option<Arc<LegacyDirectory>>,
    keep_alive: Duration,
    max_body_bytes: usize,
    open: Arc<OpenSessions>,
    shutdown: CancellationToken,
}

/// The `/sse` and `/message` routes for the handlers `factory` makes; with a `directory`,
/// sessions are recorded there and POSTs for sessions held by other instances relayed.
/// Cancelling `shutdown` ends every SSE stream and session. Mount them behind the Host/Origin
/// transport guard.
pub(crate) fn routes<H>(
    factory: HandlerFactory<H>,
    config: &ServerConfig,
    directory: Option<Arc<LegacyDirectory>>,
    shutdown: CancellationToken,
) -> Router
where
    H: ServerHandler + Send + Sync + 'static,
{
    let sessions = Arc::new(SessionStore::default());
    if let Some(directory) = &directory {
        let recipient: Arc<dyn Recipient> = sessions.clone();
        directory.register(Destination::LegacySessions, Arc::downgrade(&recipient));
    }
    let state = Arc::new(LegacySse {
        factory,
        sessions,
        directory,
        keep_alive: config.sse_keep_alive.max(MIN_KEEP_ALIVE),
        max_body_bytes: config.max_request_body_bytes,
        open: OpenSessions::new(config.session_limits),
        shutdown,
    });
    Router::new()
        .route(SSE_PATH, get(open_stream::<H>))
        .route(MESSAGE_PATH, post(post_message::<H>))
        .with_state(state)
}

/// `GET /sse`: registers a session, starts its rmcp service, streams its messages; a
/// session over the caps (`mcp::session_limits`) is refused.
async fn open_stream<H>(
    State(state): State<Arc<LegacySse<H>>>,
    identity: Option<Extension<Arc<Identity>>>,
) -> Response
where
    H: ServerHandler + Send + Sync + 'static,
{
    if state.shutdown.is_cancelled() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable: shutting down",
        )
            .into_response();
    }
    let subject = identity.as_ref().map(|identity| identity.subject.as_str());
    let permit = match state.open.admit(subject) {
        Ok(permit) => permit,
        Err(refused) => return refused.into_response_for(None),
    };
    let id = session::new_session_id();
    let ct = state.shutdown.child_token();
    let (transport, channels) = SseServerTransport::new(CHANNEL_CAPACITY, ct.clone());
    let guard = state
        .sessions
        .insert(id.clone(), channels.to_server, ct.clone());
    tracing::debug!(session = session::log_id(&id), "legacy SSE session opened");
    if let Some(directory) = &state.directory
        && let Err(error) = directory.hold(&id, subject, ct.clone()).await
    {
        // The session still works for POSTs that reach this instance.
        tracing::warn!(%error, "a legacy SSE session is not shared with other instances");
    }

    let handler = (state.factory)();
    tokio::spawn(run_session(
        handler,
        transport,
        ct.clone(),
        (*state.sessions).clone(),
        id.clone(),
    ));

    let events = event_stream(&id, channels.to_client, ct, (guard, permit));
    let sse = Sse::new(events).keep_alive(KeepAlive::new().interval(state.keep_alive));
    (
        [(
            HeaderName::from_static("x-accel-buffering"),
            HeaderValue::from_static("no"),
        )],
        sse,
    )
        .into_response()
}

/// Runs one session's rmcp service to its end, then ends the session.
async fn run_session<H>(
    handler: H,
    transport: SseServerTransport,
    ct: CancellationToken,
    sessions: SessionStore,
    id: String,
) where
    H: ServerHandler + Send + Sync + 'static,
{
    let log_id = session::log_id(&id);
    match handler.serve_with_ct(transport, ct.clone()).await {
        Ok(running) => match running.waiting().await {
            Ok(reason) => tracing::debug!(session = log_id, ?reason, "legacy SSE service ended"),
            Err(error) => tracing::warn!(session = log_id, %error, "legacy SSE service failed"),
        },
        Err(error) => {
            tracing::debug!(session = log_id, %error, "legacy SSE session ended before initialize");
        }
    }
    sessions.remove(&id);
    ct.cancel();
}

/// What the SSE response streams; owns the session's guard, so dropping it ends the session.
struct StreamState {
    to_client: mpsc::Receiver<String>,
    ct: CancellationToken,
    _guard: (SessionGuard, SessionPermit),
}

/// `endpoint` first, then one `message` event per server message until the session ends.
/// Messages already queued when the session is cancelled are still delivered.
fn event_stream(
    id: &str,
    to_client: mpsc::Receiver<String>,
    ct: CancellationToken,
    guard: (SessionGuard, SessionPermit),
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    let endpoint = Event::default()
        .event("endpoint")
        .data(format!("{MESSAGE_PATH}?sessionId={id}"));
    let state = StreamState {
        to_client,
        ct,
        _guard: guard,
    };
    let messages = stream::unfold(state, |mut state| async move {
        let json = tokio::select! {
            biased;
            json = state.to_client.recv() => json?,
            () = state.ct.cancelled() => return None,
        };
        Some((Ok(Event::default().event("message").data(json)), state))
    });
    stream::once(async move { Ok(endpoint) }).chain(messages)
}

/// `POST /message?sessionId=…`: validates, then queues the message(s) and answers `202`.
async fn post_message<H>(
    State(state): State<Arc<LegacySse<H>>>,
    request: Request,
) -> Result<StatusCode, PostError>
where
    H: ServerHandler + Send + Sync + 'static,
{
    let (parts, body) = request.into_parts();
    let id = message::session_id(parts.uri.query())?;
    let destination = match state.sessions.get(&id) {
        Some(inbox) => Ok(inbox),
        None => Err(elsewhere(state.directory.as_deref(), &id).await?),
    };
    message::check_content_type(&parts.headers)?;
    let body = message::read_body(&parts.headers, body, state.max_body_bytes).await?;
    let messages = message::parse_messages(&body, CHANNEL_CAPACITY)?;
    if let [ClientJsonRpcMessage::Request(request)] = messages.as_slice() {
        RequestFacts::record_request(&parts.extensions, &request.request);
    }
    match destination {
        Ok(inbox) => enqueue(&inbox, message::with_parts(messages, &parts)).await?,
        Err((directory, holder)) => {
            let caller = parts.extensions.get::<Arc<Identity>>().map(Arc::as_ref);
            let outcome = directory
                .relay(&holder, &id, messages, caller)
                .await
                .map_err(|_| PostError::StoreUnavailable)?;
            match outcome {
                Outcome::Delivered => {}
                Outcome::NoRecipient => return Err(PostError::UnknownSession),
                Outcome::Busy => return Err(PostError::Overloaded),
                Outcome::Unanswered => return Err(PostError::HolderUnreachable),
            }
        }
    }
    Ok(StatusCode::ACCEPTED)
}

/// The instance holding session `id` when it is not this one, as `directory` says; the POST's
/// `404` when no instance holds it (or sessions are not shared).
async fn elsewhere<'a>(
    directory: Option<&'a LegacyDirectory>,
    id: &str,
) -> Result<(&'a LegacyDirectory, directory::Holder), PostError> {
    let directory = directory.ok_or(PostError::UnknownSession)?;
    match directory.holder(id).await {
        Ok(Some(holder)) if !directory.is_here(&holder) => Ok((directory, holder)),
        Ok(_) => Err(PostError::UnknownSession),
        Err(_) => Err(PostError::StoreUnavailable),
    }
}

/// Queues all of `messages` at once (a batch is never half-delivered), waiting at most
/// [`ENQUEUE_WAIT`] for room.
async fn enqueue(
    inbox: &mpsc::Sender<ClientJsonRpcMessage>,
    messages: Vec<ClientJsonRpcMessage>,
) -> Result<(), PostError> {
    let permits = tokio::time::timeout(ENQUEUE_WAIT, inbox.reserve_many(messages.len()))
        .await
        .map_err(|_| PostError::Overloaded)?
        .map_err(|_| PostError::UnknownSession)?;
    for (permit, message) in permits.zip(messages) {
        permit.send(message);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rmcp::model::{ClientRequest, PingRequest, RequestId};

    use super::*;

    fn ping(id: i64) -> ClientJsonRpcMessage {
        ClientJsonRpcMessage::request(
            ClientRequest::PingRequest(PingRequest::default()),
            RequestId::Number(id),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_inbox_answers_503_after_the_wait() {
        let (inbox, mut rx) = mpsc::channel(2);
        enqueue(&inbox, vec![ping(1)]).await.unwrap();
        // Two more do not fit together: nothing of the batch is queued.
        let error = enqueue(&inbox, vec![ping(2), ping(3)]).await.unwrap_err();
        assert!(matches!(error, PostError::Overloaded));
        assert_eq!(error.into_response().headers()["retry-after"], "1");
        assert!(rx.recv().await.is_some());
        assert!(rx.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_closed_session_answers_404() {
        let (inbox, rx) = mpsc::channel(2);
        drop(rx);
        let error = enqueue(&inbox, vec![ping(1)]).await.unwrap_err();
        assert!(matches!(error, PostError::UnknownSession));
    }
}
