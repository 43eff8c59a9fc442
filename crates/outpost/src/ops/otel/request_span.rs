//! A request's server span: started when the request arrives, parented by the client's trace
//! context, named and labelled when the answer's head is ready, ended then — or, for an SSE
//! answer, when its stream ends (the span rides in the body, as the open-stream gauge does).
//!
//! Names and attributes follow OpenTelemetry's conventions: an MCP request is `{mcp method}`
//! or `tools/call {tool}` with `mcp.method.name` and `gen_ai.tool.name`; any other request is
//! `{HTTP method} {route}`; every span has `http.request.method`, `http.route` (a matched
//! pattern), `http.response.status_code` and Outpost's `outpost.request.id`. A 5xx answer
//! sets the span's status to error. Nothing from headers, queries or bodies beyond these.

use std::{borrow::Cow, time::SystemTime};

use http::{HeaderMap, Method, StatusCode};
use opentelemetry::{
    Context, KeyValue,
    trace::{SpanContext, SpanKind, Status, TraceContextExt, Tracer},
};
use opentelemetry_sdk::trace::Span;

use super::{trace_context, tracer};

/// What a request's span needs from its arrival.
#[derive(Debug)]
pub(crate) struct RequestTrace {
    started: SystemTime,
    header_parent: Option<SpanContext>,
}

/// What a request's span says about it, known when its answer's head is ready.
pub(crate) struct Answered<'a> {
    /// The HTTP method.
    pub method: &'a Method,
    /// The route pattern that matched, if any.
    pub route: Option<&'a str>,
    /// The MCP method, when known.
    pub mcp_method: Option<&'a str>,
    /// The tool of a `tools/call`, when known.
    pub tool: Option<&'a str>,
    /// The `_meta` trace context of an MCP request, which wins over the header's.
    pub meta_parent: Option<&'a SpanContext>,
    /// Outpost's request id.
    pub request_id: &'a str,
    /// The answer's status.
    pub status: StatusCode,
}

impl RequestTrace {
    /// When tracing is installed: now, and the parent the `traceparent` header names.
    pub(crate) fn begin(headers: &HeaderMap) -> Option<Self> {
        tracer()?;
        Some(Self {
            started: SystemTime::now(),
            header_parent: trace_context::from_headers(headers),
        })
    }

    /// The request's span, from its arrival; it ends when dropped.
    pub(crate) fn span(&self, answered: &Answered<'_>) -> Option<Span> {
        let tracer = tracer()?;
        let parent = answered
            .meta_parent
            .or(self.header_parent.as_ref())
            .map_or_else(Context::new, |parent| {
                Context::new().with_remote_span_context(parent.clone())
            });
        let mut attributes = vec![
            KeyValue::new("http.request.method", answered.method.as_str().to_owned()),
            KeyValue::new(
                "http.response.status_code",
                i64::from(answered.status.as_u16()),
            ),
            KeyValue::new("outpost.request.id", answered.request_id.to_owned()),
        ];
        if let Some(route) = answered.route {
            attributes.push(KeyValue::new("http.route", route.to_owned()));
        }
        if let Some(method) = answered.mcp_method {
            attributes.push(KeyValue::new("mcp.method.name", method.to_owned()));
        }
        if let Some(tool) = answered.tool {
            attributes.push(KeyValue::new("gen_ai.tool.name", tool.to_owned()));
        }
        let mut span = tracer
            .span_builder(span_name(answered))
            .with_kind(SpanKind::Server)
            .with_start_time(self.started)
            .with_attributes(attributes)
            .start_with_context(tracer, &parent);
        if answered.status.is_server_error() {
            opentelemetry::trace::Span::set_status(&mut span, Status::error(""));
        }
        Some(span)
    }
}

/// `tools/call echo`, `initialize`, `GET /health`, or the method alone for an unmatched path.
fn span_name(answered: &Answered<'_>) -> Cow<'static, str> {
    match (answered.mcp_method, answered.tool, answered.route) {
        (Some(method), Some(tool), _) => format!("{method} {tool}").into(),
        (Some(method), None, _) => method.to_owned().into(),
        (None, _, Some(route)) => format!("{} {route}", answered.method).into(),
        (None, _, None) => answered.method.as_str().to_owned().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered<'a>(
        mcp_method: Option<&'a str>,
        tool: Option<&'a str>,
        route: Option<&'a str>,
    ) -> Answered<'a> {
        Answered {
            method: &Method::POST,
            route,
            mcp_method,
            tool,
            meta_parent: None,
            request_id: "r-1",
            status: StatusCode::OK,
        }
    }

    #[test]
    fn spans_are_named_by_mcp_method_and_tool_else_by_route() {
        assert_eq!(
            span_name(&answered(Some("tools/call"), Some("echo"), Some("/mcp"))),
            "tools/call echo"
        );
        assert_eq!(
            span_name(&answered(Some("initialize"), None, Some("/mcp"))),
            "initialize"
        );
        assert_eq!(
            span_name(&answered(None, None, Some("/token"))),
            "POST /token"
        );
        assert_eq!(span_name(&answered(None, None, None)), "POST");
    }
}
