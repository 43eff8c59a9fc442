//! JSON-RPC batches on 2025-03-26 sessions.
//!
//! 2025-03-26 lets a client POST an array batching requests and notifications (or responses),
//! and a server MUST accept it; 2025-06-18 removed batching, and rmcp reads one message per
//! POST. So [`Batches`] takes apart the POSTs of a 2025-03-26 session — `Mcp-Session-Id` and
//! no `MCP-Protocol-Version` but 2025-03-26 (a client of a later revision sends the header on
//! every request) — whose body is an array: each element goes through the rest of the `/mcp`
//! stack as a POST of its own with the batch's head, so every check (Host and Origin, the
//! bearer token, the session's owner, scopes, rate limits) applies to each as it would to it
//! alone. The answers are put together:
//! - when the checks refused every element (an HTTP error that is no JSON-RPC answer: the
//!   session is gone, the token or origin refused), that refusal answers the batch: nothing
//!   ran;
//! - when they refused some, the others ran and their answers stand: each refused request
//!   gets a `-32603` error whose `data` holds the HTTP status and challenge;
//! - a batch of notifications and responses only is answered `202` once each is accepted,
//!   else with the first answer that is not `202` (a response to no request of the server's
//!   gets its `400`): such a batch is no request, so it gets no JSON-RPC answer on a stream
//!   (2025-03-26 transport: `202`, or an HTTP error status);
//! - otherwise the answer is one SSE stream carrying every message of the elements' answers
//!   (a JSON-RPC error answered as JSON, the messages of an SSE answer) as they come, which
//!   ends when every element's answer has. Its events carry no id: the stream of a batch is
//!   not resumable (2025-03-26 makes resumability a MAY), and rmcp's keep-alive comments are
//!   replaced by its own. It carries the CORS headers the elements' answers got.
//!
//! Of any other POST of such a session only the bytes up to the first that is not whitespace
//! are read here (blank frames are dropped, and count against the body limit); the body goes
//! on, to be read after the checks as before. A batch is read whole here, before them (its
//! messages pass them one by one), within the body limit and the body read timeout — but
//! where a bearer token is required, a request without `Authorization` is left to the checks
//! unread, to be answered `401`.
//!
//! An empty array, or one of more than [`MAX_BATCH`] elements, is `-32600 Invalid Request`
//! (JSON-RPC 2.0 §6: one error for the whole batch). An `initialize` in a batch (2025-03-26
//! lifecycle: it MUST NOT be part of one) gets `-32600` of its own and does not run; the
//! other elements do. Elements are started [`STARTED_AT_ONCE`]
//! at a time; their answers then stream side by side.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::{Body, Bytes},
    extract::Request,
    response::{IntoResponse, Response},
};
use futures::{StreamExt, stream};
use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::BodyExt;
use rmcp::{
    ErrorData,
    model::{ProtocolVersion, RequestId},
    transport::common::http_header::{EVENT_STREAM_MIME_TYPE, JSON_MIME_TYPE},
};
use serde_json::value::RawValue;
use sse_stream::{KeepAlive, Sse, SseBody, SseStream};
use tower::{Layer, Service, ServiceExt};

use super::{
    jsonrpc_body::{error_body, error_response, is_initialize, is_request, request_id_of},
    sse_timer::TokioSleep,
};
use crate::http::body_read::{BodyReadError, read_limited, refuse_declared_past};
use crate::mcp::{
    classify::{PROTOCOL_VERSION, SESSION_ID},
    fast_path::sse_response,
};

/// The most messages one batch may hold.
pub const MAX_BATCH: usize = 100;

/// How many elements of a batch are started at once (each until its answer begins).
const STARTED_AT_ONCE: usize = 16;

/// Takes apart the batches of 2025-03-26 sessions for the service it wraps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchLayer {
    max_body: usize,
    keep_alive: Duration,
    bearer_required: bool,
}

impl BatchLayer {
    /// Batches of at most `max_body` bytes, their streams kept alive every `keep_alive`; when
    /// `bearer_required`, a request without `Authorization` is left unread to the checks
    /// (which answer it `401`).
    pub(crate) fn new(max_body: usize, keep_alive: Duration, bearer_required: bool) -> Self {
        Self {
            max_body,
            keep_alive,
            bearer_required,
        }
    }
}

impl<S> Layer<S> for BatchLayer {
    type Service = Batches<S>;

    fn layer(&self, inner: S) -> Batches<S> {
        Batches {
            inner,
            layer: *self,
        }
    }
}

/// `inner`, with the batches of 2025-03-26 sessions answered element by element.
#[derive(Debug, Clone)]
pub(crate) struct Batches<S> {
    inner: S,
    layer: BatchLayer,
}

impl<S> Service<Request> for Batches<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = futures::future::Either<
        S::Future,
        Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The session check first: it is what every stateless request fails.
        let unauthenticated =
            || self.layer.bearer_required && !request.headers().contains_key(header::AUTHORIZATION);
        if !may_be_batch(&request) || unauthenticated() {
            return futures::future::Either::Left(self.inner.call(request));
        }
        // The clone that was made ready answers; the fresh one waits for the next request.
        let ready = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, ready);
        let layer = self.layer;
        futures::future::Either::Right(Box::pin(
            async move { Ok(answer(inner, layer, request).await) },
        ))
    }
}

/// Whether `request` may carry a batch: a POST of a 2025-03-26 session.
fn may_be_batch(request: &Request) -> bool {
    let headers = request.headers();
    request.method() == Method::POST
        && headers.contains_key(&SESSION_ID)
        && headers.get(&PROTOCOL_VERSION).is_none_or(|version| {
            version.as_bytes() == ProtocolVersion::V_2025_03_26.as_str().as_bytes()
        })
}

/// The answer to a POST that may carry a batch: `inner`'s when it does not.
async fn answer<S>(inner: S, layer: BatchLayer, request: Request) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let (parts, body) = request.into_parts();
    // Only as far as the first byte that is not whitespace: a single message is read by the
    // stack below, after its checks (an unauthenticated request gets its 401 unread).
    let (opening, body) = match peek(&parts.headers, body, layer.max_body).await {
        Ok(peeked) => peeked,
        Err(error) => return error.into_response(),
    };
    if opening != Some(b'[') {
        return call(inner, Request::from_parts(parts, body)).await;
    }
    let bytes = match read_limited(&parts.headers, body, layer.max_body).await {
        Ok(bytes) => bytes,
        Err(error) => return error.into_response(),
    };
    let elements = match elements(&bytes) {
        Ok(elements) => elements,
        Err(refusal) => return *refusal,
    };
    let ids: Vec<Option<RequestId>> = elements
        .iter()
        .map(|element| request_id_of(element))
        .collect();
    let holds_a_request = elements.iter().any(|element| is_request(element));
    let element_requests: Vec<Result<Request, Box<Response>>> = elements
        .into_iter()
        .zip(&ids)
        .map(|(element, id)| {
            if is_initialize(&element) {
                return Err(Box::new(initialize_refused(id.as_ref())));
            }
            let mut head = http::Request::new(());
            *head.method_mut() = parts.method.clone();
            *head.uri_mut() = parts.uri.clone();
            *head.version_mut() = parts.version;
            *head.headers_mut() = parts.headers.clone();
            *head.extensions_mut() = parts.extensions.clone();
            head.headers_mut().remove(header::TRANSFER_ENCODING);
            head.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(element.len()));
            let (head, ()) = head.into_parts();
            Ok(Request::from_parts(head, Body::from(element)))
        })
        .collect();
    let answers: Vec<Response> =
        stream::iter(element_requests.into_iter().zip(std::iter::repeat(inner)))
            .map(|(request, inner)| async move {
                match request {
                    Ok(request) => call(inner, request).await,
                    Err(refused) => *refused,
                }
            })
            .buffered(STARTED_AT_ONCE)
            .collect()
            .await;
    if !holds_a_request {
        return accepted_or_first_refusal(answers);
    }
    combine(answers.into_iter().zip(ids).collect(), layer.keep_alive)
}

/// The answer to a batch of notifications and responses: `202` when each was accepted, else
/// the first element's answer that was not.
fn accepted_or_first_refusal(answers: Vec<Response>) -> Response {
    let mut cors = None;
    for answer in answers {
        if answer.status() != StatusCode::ACCEPTED {
            return answer;
        }
        cors.get_or_insert_with(|| cors_headers(answer.headers()));
    }
    let mut response = StatusCode::ACCEPTED.into_response();
    response.headers_mut().extend(cors.unwrap_or_default());
    response
}

/// The body's first byte that is not JSON whitespace (`None` for an empty or blank body),
/// and the body again from the frame that holds it: leading blank frames are dropped, not
/// kept, and count against `limit` (as does a declared `Content-Length`).
async fn peek(
    headers: &http::HeaderMap,
    mut body: Body,
    limit: usize,
) -> Result<(Option<u8>, Body), BodyReadError> {
    refuse_declared_past(headers, limit)?;
    let mut blank = 0usize;
    let (opening, first) = loop {
        match body.frame().await {
            None => break (None, None),
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                let opening = data
                    .iter()
                    .copied()
                    .find(|byte| !matches!(byte, b' ' | b'\t' | b'\n' | b'\r'));
                if opening.is_some() {
                    break (opening, Some(data));
                }
                blank += data.len();
                if blank > limit {
                    return Err(BodyReadError::TooLarge(limit));
                }
            }
            Some(Err(error)) => return Err(BodyReadError::of_failed_read(&error)),
        }
    };
    let again = stream::iter(first.map(Ok)).chain(body.into_data_stream());
    Ok((opening, Body::from_stream(again)))
}

/// The answer to an `initialize` with `id` found in a batch: `-32600`, as JSON-RPC answers a
/// message that is not a valid request.
fn initialize_refused(id: Option<&RequestId>) -> Response {
    let error = ErrorData::invalid_request(
        "Invalid Request: initialize must not be part of a JSON-RPC batch",
        None,
    );
    error_response(StatusCode::BAD_REQUEST, id, error)
}

/// `request` answered by `inner`.
async fn call<S>(inner: S, request: Request) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    match inner.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// The batch's elements, each the bytes of one JSON value; or the answer refusing the batch.
fn elements(body: &[u8]) -> Result<Vec<Bytes>, Box<Response>> {
    let refuse = |status, error| Box::new(error_response(status, None, error));
    let elements: Vec<&RawValue> = serde_json::from_slice(body).map_err(|error| {
        refuse(
            StatusCode::BAD_REQUEST,
            ErrorData::parse_error(format!("Parse error: {error}"), None),
        )
    })?;
    if elements.is_empty() || elements.len() > MAX_BATCH {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            ErrorData::invalid_request(
                format!("Invalid Request: a batch holds 1 to {MAX_BATCH} messages"),
                None,
            ),
        ));
    }
    Ok(elements
        .into_iter()
        .map(|element| Bytes::copy_from_slice(element.get().as_bytes()))
        .collect())
}

/// One answer for the batch from its elements' answers, each with the element's request id
/// (see the module docs). The batch's answer carries the CORS headers the elements' got.
fn combine(answers: Vec<(Response, Option<RequestId>)>, keep_alive: Duration) -> Response {
    let cors = answers
        .first()
        .map(|(answer, _)| cors_headers(answer.headers()))
        .unwrap_or_default();
    let total = answers.len();
    let (mut messages, mut refusals) = (Vec::new(), Vec::new());
    for (answer, id) in answers {
        match Answer::of(answer) {
            Answer::Accepted => {}
            Answer::Messages(body) => messages.push(body),
            Answer::Refusal(refusal) => refusals.push((refusal, id)),
        }
    }
    // Refused whole: every message met the same check, so nothing ran.
    if refusals.len() == total {
        let (refusal, _) = refusals.swap_remove(0);
        return refusal;
    }
    // Refused in part: the others ran, and their answers must not be lost; each refused
    // request gets an error naming the refusal.
    messages.extend(
        refusals
            .into_iter()
            .filter_map(|(refusal, id)| id.map(|id| MessageBody::refused(&refusal, id))),
    );
    let mut response = if messages.is_empty() {
        StatusCode::ACCEPTED.into_response()
    } else {
        let events = stream::select_all(messages.into_iter().map(|body| body.events()));
        let body = SseBody::new(events.map(Ok::<_, Infallible>))
            .with_keep_alive::<TokioSleep>(KeepAlive::new().interval(keep_alive));
        sse_response(Body::new(body))
    };
    response.headers_mut().extend(cors);
    response
}

/// The CORS headers of an element's answer (none when the request had no `Origin`).
fn cors_headers(headers: &http::HeaderMap) -> http::HeaderMap {
    headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("access-control-") || *name == header::VARY)
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// What one element's answer contributes to the batch's.
enum Answer {
    /// `202`: a notification or response, accepted.
    Accepted,
    /// JSON-RPC messages, in this body.
    Messages(MessageBody),
    /// An HTTP error that is no JSON-RPC answer.
    Refusal(Response),
}

/// The body of an element's answer that carries JSON-RPC messages.
enum MessageBody {
    /// One message as JSON.
    Json(Body),
    /// An SSE stream of messages.
    Sse(Body),
}

impl Answer {
    fn of(response: Response) -> Self {
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        let is = |mime: &str| content_type.starts_with(mime);
        // JSON-RPC answers come as `200` (an SSE stream, a request's error) or `400` (a
        // message that is none); any other status, or a challenge, is about the HTTP request.
        let challenged = response.headers().contains_key(header::WWW_AUTHENTICATE);
        match response.status() {
            StatusCode::ACCEPTED => Answer::Accepted,
            StatusCode::OK if is(EVENT_STREAM_MIME_TYPE) => {
                Answer::Messages(MessageBody::Sse(response.into_body()))
            }
            StatusCode::OK | StatusCode::BAD_REQUEST if is(JSON_MIME_TYPE) && !challenged => {
                Answer::Messages(MessageBody::Json(response.into_body()))
            }
            _ => Answer::Refusal(response),
        }
    }
}

impl MessageBody {
    /// The error for request `id` whose message the checks refused with `refusal` while
    /// others of its batch ran: `-32603` (as every refusal at the edge), its `data` the HTTP
    /// status and any challenge the refusal carried.
    fn refused(refusal: &Response, id: RequestId) -> Self {
        let status = refusal.status();
        let challenge = refusal
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|value| value.to_str().ok());
        let data = serde_json::json!({ "status": status.as_u16(), "wwwAuthenticate": challenge });
        let error = ErrorData::internal_error(
            format!("refused: HTTP {status} (the batch's other messages ran)"),
            Some(data),
        );
        MessageBody::Json(Body::from(error_body(Some(&id), error)))
    }

    /// The messages as SSE events with only their `data`, in the order they come.
    fn events(self) -> stream::BoxStream<'static, Sse> {
        match self {
            MessageBody::Json(body) => stream::once(async move {
                match axum::body::to_bytes(body, usize::MAX).await {
                    Ok(bytes) => Some(Sse::default().data(String::from_utf8_lossy(&bytes))),
                    Err(error) => {
                        tracing::warn!(%error, "cannot read a batch element's answer");
                        None
                    }
                }
            })
            .filter_map(std::future::ready)
            .boxed(),
            MessageBody::Sse(body) => SseStream::new(body)
                .take_while(|event| {
                    if let Err(error) = event {
                        tracing::warn!(%error, "a batch element's answer stream failed");
                    }
                    std::future::ready(event.is_ok())
                })
                .filter_map(|event| {
                    std::future::ready(
                        event
                            .ok()
                            .and_then(|event| event.data)
                            .filter(|data| !data.is_empty())
                            .map(|data| Sse::default().data(data)),
                    )
                })
                .boxed(),
        }
    }
}
