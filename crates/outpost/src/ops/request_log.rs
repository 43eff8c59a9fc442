//! One log line per request, its metrics, and the `x-request-id` on every response.
//!
//! [`RequestLogLayer`] wraps every route. It gives the request its [`RequestId`] (the
//! client's, or a new one) — in the request's headers, so handlers see it in rmcp's `Parts`,
//! and on the response — and a [`RequestFacts`] slot the layers below fill. When the answer's
//! head is ready it logs one line at INFO, target `outpost::request`: request id, HTTP method,
//! route, MCP method and tool, subject and client id, status and latency in milliseconds (to
//! the answer's head: an SSE stream's line comes when the stream starts). A `tools/call`
//! answered on a stream is counted in the tool-call metrics when the stream ends, with the
//! outcome whoever ran the tool wrote into the facts by then.
//!
//! What is logged is chosen, never copied wholesale: no header, query string or body is
//! written, so no token, code, secret or password can reach the line. The route is the
//! path pattern that matched, or for an unmatched request its path, cut to 100 bytes.
//!
//! With OpenTelemetry installed (feature `opentelemetry`, [`super::otel`]) each request also
//! gets a server span, ended with the answer's head or its stream.
//!
//! A plain tower layer, composed once into the MCP stack: one small allocation (the facts
//! slot) and one id per request, nothing boxed. The line is a `tracing` event, formatted by
//! whatever subscriber the application installed — or, once [`super::json_lines`] was given a
//! log writer (as `outpost serve --log-format json` does), written straight into that
//! writer's batches as JSON.

use std::{
    convert::Infallible,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
    time::Instant,
};

use axum::{
    extract::{MatchedPath, Request},
    response::Response,
};
use http::Method;
use tower::{Layer, Service};

#[cfg(feature = "opentelemetry")]
use super::otel::request_span::{Answered, RequestTrace};
use super::{
    metrics::RequestMetrics,
    request_facts::{RequestFacts, ToolOutcome},
};
use crate::http::{
    held_body::{hold, is_event_stream},
    request_id::{REQUEST_ID, RequestId},
};

/// The target of the per-request lines: the bulk of a busy server's log, which the JSON
/// formatter and the log writer treat apart.
pub(crate) const REQUEST_LOG_TARGET: &str = "outpost::request";

/// The longest unmatched path written to a log line.
const MAX_LOGGED_PATH: usize = 100;

/// Adds `x-request-id` to every request and response, logs one line per request and counts
/// it in [`RequestMetrics`].
#[derive(Debug, Clone)]
pub struct RequestLogLayer {
    metrics: Arc<RequestMetrics>,
}

impl RequestLogLayer {
    /// Counts requests in `metrics`.
    pub(crate) fn new(metrics: Arc<RequestMetrics>) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for RequestLogLayer {
    type Service = RequestLog<S>;

    fn layer(&self, inner: S) -> RequestLog<S> {
        RequestLog {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// A service behind a [`RequestLogLayer`].
#[derive(Debug, Clone)]
pub struct RequestLog<S> {
    inner: S,
    metrics: Arc<RequestMetrics>,
}

impl<S> Service<Request> for RequestLog<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Logged<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let started = Instant::now();
        let id = RequestId::of(request.headers());
        request
            .headers_mut()
            .insert(REQUEST_ID.clone(), id.header_value().clone());
        let facts = Arc::new(RequestFacts::default());
        request.extensions_mut().insert(facts.clone());
        let route = match request.extensions().get::<MatchedPath>() {
            Some(matched) => Route::Matched(matched.clone()),
            None => Route::Unmatched(bounded(request.uri().path()).to_owned()),
        };
        let seen = Seen {
            #[cfg(feature = "opentelemetry")]
            trace: RequestTrace::begin(request.headers()),
            started,
            id,
            method: request.method().clone(),
            route,
            facts,
            metrics: self.metrics.clone(),
        };
        Logged {
            inner: self.inner.call(request),
            seen: Some(seen),
        }
    }
}

/// Counts a `tools/call` whose answer's status was not a success (`refused`) or was: as the
/// outcome the one who ran the tool wrote into its `facts`, else as the status says (a
/// refusal is an `error`, anything else `ok`).
fn count_tool_call(facts: &RequestFacts, metrics: &RequestMetrics, refused: bool) {
    let by_status = if refused {
        ToolOutcome::Error
    } else {
        ToolOutcome::Ok
    };
    metrics.count_tool_call(facts.tool(), facts.tool_outcome().unwrap_or(by_status));
}

/// A streamed `tools/call`'s count, made when its stream ends (is dropped): the outcome is
/// known only then.
struct ToolCallCount {
    facts: Arc<RequestFacts>,
    metrics: Arc<RequestMetrics>,
    /// The answer's status was not a success.
    refused: bool,
}

impl Drop for ToolCallCount {
    fn drop(&mut self) {
        count_tool_call(&self.facts, &self.metrics, self.refused);
    }
}

/// What a request's line needs from before its answer.
struct Seen {
    started: Instant,
    id: RequestId,
    method: Method,
    route: Route,
    facts: Arc<RequestFacts>,
    metrics: Arc<RequestMetrics>,
    #[cfg(feature = "opentelemetry")]
    trace: Option<RequestTrace>,
}

/// The route a request took.
enum Route {
    Matched(MatchedPath),
    Unmatched(String),
}

impl Route {
    fn as_str(&self) -> &str {
        match self {
            Route::Matched(matched) => matched.as_str(),
            Route::Unmatched(path) => path,
        }
    }

    fn matched(&self) -> Option<&str> {
        match self {
            Route::Matched(matched) => Some(matched.as_str()),
            Route::Unmatched(_) => None,
        }
    }
}

/// `path` cut to at most [`MAX_LOGGED_PATH`] bytes, on a character boundary.
fn bounded(path: &str) -> &str {
    let mut end = path.len().min(MAX_LOGGED_PATH);
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    &path[..end]
}

pin_project_lite::pin_project! {
    /// The response future of [`RequestLog`]: stamps the id and logs the line.
    pub struct Logged<F> {
        #[pin]
        inner: F,
        seen: Option<Seen>,
    }
}

impl<F> Future for Logged<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(mut response) = ready!(this.inner.poll(cx));
        if let Some(seen) = this.seen.take() {
            response
                .headers_mut()
                .insert(REQUEST_ID.clone(), seen.id.header_value().clone());
            log(&seen, &response);
            let tool_call = seen.facts.method() == Some("tools/call");
            let refused = !response.status().is_success();
            // Ends when dropped: now, or with the stream it rides in.
            #[cfg(feature = "opentelemetry")]
            let span = seen
                .trace
                .as_ref()
                .and_then(|trace| trace.span(&answered(&seen, &response)));
            #[cfg(not(feature = "opentelemetry"))]
            let span = ();
            if is_event_stream(&response) {
                let open = seen.metrics.stream_opened(
                    &seen.method,
                    seen.route.matched(),
                    seen.facts.method(),
                );
                // A streamed tool call's outcome is known only when its stream ends.
                let tool_call = tool_call.then(|| ToolCallCount {
                    facts: seen.facts.clone(),
                    metrics: seen.metrics.clone(),
                    refused,
                });
                response = hold(response, (open, span, tool_call));
            } else if tool_call {
                count_tool_call(&seen.facts, &seen.metrics, refused);
            }
        }
        Poll::Ready(Ok(response))
    }
}

/// What the request's span says about it.
#[cfg(feature = "opentelemetry")]
fn answered<'a>(seen: &'a Seen, response: &Response) -> Answered<'a> {
    Answered {
        method: &seen.method,
        route: seen.route.matched(),
        mcp_method: seen.facts.method(),
        tool: seen.facts.tool(),
        meta_parent: seen.facts.meta_parent(),
        request_id: seen.id.as_str(),
        status: response.status(),
    }
}

/// The one line of a request, and its counts.
fn log(seen: &Seen, response: &Response) {
    let latency = seen.started.elapsed();
    seen.metrics.record(
        seen.route.matched(),
        seen.facts.method(),
        response.status(),
        latency,
    );
    let identity = seen.facts.identity();
    let line = RequestLine {
        request_id: seen.id.as_str(),
        method: seen.method.as_str(),
        route: seen.route.as_str(),
        mcp_method: seen.facts.method(),
        tool: seen.facts.tool(),
        subject: identity.map(|identity| identity.subject.as_str()),
        client_id: identity.and_then(|identity| identity.client_id.as_deref()),
        status: response.status().as_u16(),
        latency_ms: latency.as_micros() as f64 / 1000.0,
    };
    #[cfg(feature = "json-lines")]
    if super::json_lines::write(&line) {
        return;
    }
    line.emit();
}

/// What a request's log line says: never a header, query string or body.
#[derive(Debug)]
pub(crate) struct RequestLine<'a> {
    pub(crate) request_id: &'a str,
    /// The HTTP method.
    pub(crate) method: &'a str,
    pub(crate) route: &'a str,
    pub(crate) mcp_method: Option<&'a str>,
    pub(crate) tool: Option<&'a str>,
    pub(crate) subject: Option<&'a str>,
    pub(crate) client_id: Option<&'a str>,
    pub(crate) status: u16,
    pub(crate) latency_ms: f64,
}

impl RequestLine<'_> {
    /// Logs the line as a `tracing` event at INFO, target [`REQUEST_LOG_TARGET`].
    pub(crate) fn emit(&self) {
        tracing::info!(
            target: REQUEST_LOG_TARGET,
            request_id = self.request_id,
            method = self.method,
            route = self.route,
            mcp_method = self.mcp_method,
            tool = self.tool,
            subject = self.subject,
            client_id = self.client_id,
            status = self.status,
            latency_ms = self.latency_ms,
            "request",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_paths_are_cut_on_a_character_boundary() {
        let path = format!("/{}", "é".repeat(80));
        let cut = bounded(&path);
        assert!(cut.len() <= MAX_LOGGED_PATH && path.starts_with(cut));
        assert_eq!(bounded("/mcp"), "/mcp");
    }
}
