//! The lean path for stateless 2026-07-28 requests on `POST /mcp` (`docs/hot-path.md` has
//! the measurements and rules behind it).
//!
//! rmcp's `StreamableHttpService` answers a stateless `tools/call` at about a third of what a
//! bare axum server does: it builds a service per request (serve loop, spawns, channels), parses
//! through an untagged enum and re-serialises the message to validate headers. This service
//! answers the requests where none of that machinery can matter — 2026-07-28, complete `_meta`,
//! no progress token or log level, a method that never streams (`tools/*`, `resources/list`,
//! `resources/read`, `resources/templates/list`, `prompts/*`, `completion/complete`,
//! `server/discover`, `ping`) — by calling rmcp's `Service::handle_request` directly.
//!
//! `subscriptions/listen` requests that pass the same screen are served by one shared rmcp
//! serve loop instead of one per stream (`listen`).
//!
//! Everything else reaches rmcp unchanged, body re-attached: `initialize` and sessions,
//! notifications, GET/DELETE, progress, and *every request rmcp would reject*. The fast path never invents an error: it only answers what rmcp would hand to the
//! handler, so every transport-level rejection (header mismatch, unsupported version, bad
//! `Accept`, malformed `_meta` …) keeps rmcp's exact status and body. Handler errors are
//! mapped to HTTP statuses as rmcp maps them. `crates/outpost-reference/tests/
//! fast_path_differential.rs` holds the two paths to the same answers.
//!
//! Layout: `service` is the tower service `/mcp` is routed to; `screen` looks at headers only,
//! before the body is read; `envelope` parses the body into rmcp's `ClientRequest` (a borrowed
//! envelope, then the one method's typed params); `standard_headers` checks SEP-2243 headers
//! against it; `dispatch` runs the handler inline and writes the answer; `listen` serves
//! listen streams on the shared loop.
//!
//! The checks copy private rmcp 3.11 code, which is why the workspace pins `rmcp = "=3.11.0"`.

mod dispatch;
mod envelope;
#[cfg(feature = "fuzzing")]
pub(crate) mod fuzzing;
mod listen;
mod screen;
mod service;
mod session;
mod standard_headers;

use std::{convert::Infallible, future::Future, pin::Pin, sync::Arc};

use axum::{
    body::Body,
    extract::Request,
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use http::{HeaderMap, Method, request::Parts};
use rmcp::{ServerHandler, model::ClientRequest, transport::streamable_http_server::SessionId};
use tokio_util::sync::CancellationToken;

pub(crate) use dispatch::{closed_peer, sse_response};
pub(crate) use screen::{content_type_is_json, fast_method};
pub use service::FastPathService;

use crate::{
    HandlerFactory,
    config::ServerConfig,
    http::body_read::read_limited,
    mcp::{classify::RequestClass, sessions::OutpostSessionManager},
};

/// The fast path for the handlers one factory makes; route `/mcp` to
/// [`FastPath::in_front_of`] rmcp's service.
pub struct FastPath<H> {
    inner: Arc<Inner<H>>,
}

struct Inner<H> {
    factory: HandlerFactory<H>,
    max_body: usize,
    template: dispatch::TemplatePeer,
    /// Parked sessions, whose requests the fast path serves too (`session`).
    sessions: Option<session::Sessions<H>>,
    /// The SSE keep-alive interval of a streaming session answer (rmcp's).
    keep_alive: std::time::Duration,
    listen: listen::ListenStreams,
}

impl<H> Clone for FastPath<H> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<H> FastPath<H>
where
    H: ServerHandler + Send + Sync + 'static,
{
    /// A fast path calling `factory` once per request, as rmcp's stateless path does (once
    /// for all listen streams), with `config`'s body limit and SSE keep-alive; `shutdown`
    /// ends the listen streams.
    pub fn new(
        factory: HandlerFactory<H>,
        config: &ServerConfig,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                factory,
                max_body: config.max_request_body_bytes,
                template: dispatch::TemplatePeer::default(),
                sessions: None,
                keep_alive: config.sse_keep_alive,
                listen: listen::ListenStreams::new(config.sse_keep_alive, shutdown),
            }),
        }
    }

    /// The same fast path also serving the requests of the parked sessions `manager` keeps.
    pub(crate) fn with_sessions(self, manager: Arc<OutpostSessionManager<H>>) -> Self {
        let inner = Arc::try_unwrap(self.inner)
            .unwrap_or_else(|_| unreachable!("a fast path is configured before it is cloned"));
        Self {
            inner: Arc::new(Inner {
                sessions: Some(manager),
                ..inner
            }),
        }
    }

    /// The `/mcp` service: this fast path, with `fallback` (rmcp's service and its layers)
    /// answering everything it leaves.
    pub fn in_front_of<S>(self, fallback: S) -> FastPathService<H, S> {
        FastPathService::new(self, fallback)
    }

    /// Answers `request` itself when it can, else hands it (body re-attached) to `fallback`.
    async fn answer<F, Fut>(&self, request: Request, fallback: F) -> Response
    where
        F: FnOnce(Request) -> Fut,
        Fut: Future<Output = Result<Response, Infallible>>,
    {
        let request = match self.try_answer(request).await {
            Ok(response) => return response,
            Err(request) => request,
        };
        match fallback(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }

    /// The fast path's answer, or the request back (unchanged but for a buffered body) when
    /// rmcp must answer it.
    async fn try_answer(&self, request: Request) -> Result<Response, Request> {
        if request.method() != Method::POST {
            return Err(request);
        }
        let class = RequestClass::from_request(&request);
        let (headers, max_body) = (request.headers(), self.inner.max_body);
        let taken = match screen::stateless_fast_method(&class, headers, max_body) {
            Some(method) => Taken::Stateless(method),
            None => match (
                &self.inner.sessions,
                screen::session_allowing_fast_path(&class, headers, max_body),
            ) {
                (Some(manager), Some(id)) => Taken::Session(manager, SessionId::from(id)),
                _ => return Err(request),
            },
        };
        let (parts, body) = request.into_parts();
        // The screen admitted a `Content-Length` within the limit; the limit here only guards
        // bodies that are not hyper's (hyper enforces the declared length).
        let bytes = match read_limited(&parts.headers, body, self.inner.max_body).await {
            Ok(bytes) => bytes,
            Err(error) => return Ok(error.into_response()),
        };
        self.answer_read(taken, parts, bytes).await
    }

    /// What answers a request taken as `taken` once its body is read: the fast path's answer,
    /// or the request back. Boxed: inline, the session, listen and dispatch futures (1–3 KiB
    /// each) would make the caller's future as big as all of them, and it is moved whole on
    /// every request; one allocation costs less than those copies.
    fn answer_read<'a>(
        &'a self,
        taken: Taken<'a, H>,
        parts: Parts,
        bytes: Bytes,
    ) -> Pin<Box<dyn Future<Output = Result<Response, Request>> + Send + 'a>> {
        let method = match taken {
            Taken::Stateless(method) => method,
            Taken::Session(manager, id) => {
                return Box::pin(async move {
                    session::answer(
                        manager,
                        &self.inner.factory,
                        self.inner.keep_alive,
                        &id,
                        parts,
                        bytes,
                    )
                    .await
                    .map_err(|(parts, bytes)| reattached(parts, bytes))
                });
            }
        };
        match self.classify(method, &parts.headers, &bytes) {
            Some((_, request))
                if matches!(
                    request.request,
                    ClientRequest::SubscriptionsListenRequest(_)
                ) =>
            {
                if !self.inner.listen.open() {
                    return Box::pin(std::future::ready(Err(reattached(parts, bytes))));
                }
                drop(bytes);
                let envelope::FastRequest { id, request } = request;
                let factory = &self.inner.factory;
                Box::pin(async move {
                    Ok(self
                        .inner
                        .listen
                        .answer(|| factory(), id, request, parts)
                        .await)
                })
            }
            Some((handler, request)) => {
                let peer = self.inner.template.get(|| (self.inner.factory)());
                Box::pin(async move { Ok(dispatch::answer(handler, peer, request, parts).await) })
            }
            None => Box::pin(std::future::ready(Err(reattached(parts, bytes)))),
        }
    }

    /// A handler and the request parsed for `method` (its `Mcp-Method`) when the fast path may
    /// answer; `None` leaves the request to rmcp.
    fn classify(
        &self,
        method: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Option<(H, envelope::FastRequest)> {
        let request = envelope::parse(method, body)?;
        let handler = (self.inner.factory)();
        let headers_match =
            standard_headers::standard_headers_match(headers, &request.request, |name| {
                handler.get_tool(name).map(|tool| tool.input_schema)
            });
        headers_match.then_some((handler, request))
    }
}

/// The request rmcp gets when the fast path leaves it: its head and the body already read.
fn reattached(parts: Parts, bytes: Bytes) -> Request {
    Request::from_parts(parts, Body::from(bytes))
}

/// The fast path a request was screened for.
enum Taken<'a, H> {
    /// A stateless 2026-07-28 request for this method (its `Mcp-Method`).
    Stateless(&'static str),
    /// A request of this parked session, which `manager` keeps.
    Session(&'a Arc<OutpostSessionManager<H>>, SessionId),
}
