//! What the layers inside the MCP stack learn about a request, for its log line and metrics.
//!
//! The request log ([`super::request_log`]) wraps every route, so it sees a request before
//! anyone has classified it or checked its token, and its answer after the request itself
//! has been moved down the stack. It puts one [`RequestFacts`] slot into the request's
//! extensions; the classification writes the MCP method and tool its headers name (on
//! 2026-07-28, whose headers rmcp holds to the body) and whoever reads the body of any other
//! request writes what it names (the session fast path, the JSON-RPC body check, the
//! 2024-11-05 `/message` endpoint), the
//! resource server writes the caller, the fast path and a session request's transport write a
//! tool call's outcome, and the log
//! reads them back when the answer comes. Each fact is written at most once, without a lock.

use std::sync::{Arc, OnceLock};

use http::{Extensions, HeaderValue};
use rmcp::model::{ClientRequest, ErrorData, ServerJsonRpcMessage, ServerResult};

use crate::{
    auth::resource::Identity,
    mcp::{
        classify::{Era, RequestClass},
        fast_path::fast_method,
    },
};

/// The facts one request gathers on its way down the stack.
#[derive(Debug, Default)]
pub(crate) struct RequestFacts {
    call: OnceLock<McpCall>,
    identity: OnceLock<Arc<Identity>>,
    tool_outcome: OnceLock<ToolOutcome>,
    /// The trace context of an MCP request's `_meta`, read only while tracing is installed.
    #[cfg(feature = "opentelemetry")]
    meta_parent: OnceLock<opentelemetry::trace::SpanContext>,
}

/// How a `tools/call` ended, as the [`TOOL_CALLS_TOTAL`](super::metrics::TOOL_CALLS_TOTAL)
/// label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ToolOutcome {
    /// A result that is not an error.
    Ok,
    /// A result with `isError: true`: the tool ran and reported a failure.
    ToolError,
    /// A JSON-RPC error (unknown tool, bad arguments, …) or a refused HTTP request.
    Error,
}

impl ToolOutcome {
    /// How a tool call's `answer` ended: `isError` results are the tool's own failures.
    pub(crate) fn of(answer: &Result<ServerResult, ErrorData>) -> Self {
        match answer {
            Ok(result) => Self::of_result(result),
            Err(_) => Self::Error,
        }
    }

    /// How the tool call answered by `message` ended; `None` for a message that answers
    /// nothing (a notification, a server→client request).
    pub(crate) fn of_message(message: &ServerJsonRpcMessage) -> Option<Self> {
        match message {
            ServerJsonRpcMessage::Response(response) => Some(Self::of_result(&response.result)),
            ServerJsonRpcMessage::Error(_) => Some(Self::Error),
            _ => None,
        }
    }

    fn of_result(result: &ServerResult) -> Self {
        match result {
            ServerResult::CallToolResult(result) if result.is_error == Some(true) => {
                Self::ToolError
            }
            _ => Self::Ok,
        }
    }

    /// The label value.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::ToolError => "tool_error",
            Self::Error => "error",
        }
    }
}

/// Methods whose name is kept as a static value, beside the fast path's
/// ([`fast_method`]): the facts live as long as the answer (a `subscriptions/listen` stream:
/// hours), and a header value hyper parsed is a slice of the connection's read buffer, which a
/// clone would keep alive (8 KiB) for that long.
const OTHER_KNOWN_METHODS: [&str; 3] = ["initialize", "logging/setLevel", "resources/subscribe"];

/// `method` in memory of its own: a static value for a known method (no allocation), else a
/// copy. The tool name stays a slice: only `tools/call` names one, and it ends with its call.
fn detached(method: &HeaderValue) -> HeaderValue {
    let bytes = method.as_bytes();
    fast_method(bytes)
        .or_else(|| {
            OTHER_KNOWN_METHODS
                .into_iter()
                .find(|known| known.as_bytes() == bytes)
        })
        .map(HeaderValue::from_static)
        .or_else(|| HeaderValue::from_bytes(bytes).ok())
        .unwrap_or_else(|| method.clone())
}

/// The MCP method and tool a request names.
#[derive(Debug)]
struct McpCall {
    method: HeaderValue,
    tool: Option<HeaderValue>,
}

impl RequestFacts {
    /// Records the method and tool `class` names, when the transport holds the body to them:
    /// on 2026-07-28 requests, whose `Mcp-Method` / `Mcp-Name` rmcp checks against the body.
    /// Session requests name theirs in the body only, which is not read twice for a log line.
    pub(crate) fn record_call(extensions: &Extensions, class: &RequestClass) {
        if class.era() != Era::Stateless {
            return;
        }
        let (Some(facts), Some(method)) = (Self::of(extensions), class.method_header()) else {
            return;
        };
        let tool = (method.as_bytes() == b"tools/call")
            .then(|| class.tool_header().cloned())
            .flatten();
        let _ = facts.call.set(McpCall {
            method: detached(method),
            tool,
        });
    }

    /// Records the method of `request`, and the tool of a `tools/call`, for whoever parsed the
    /// body of a request without SEP-2243 headers into rmcp's type ([`Self::record_body_call`]).
    pub(crate) fn record_request(extensions: &Extensions, request: &ClientRequest) {
        let tool = match request {
            ClientRequest::CallToolRequest(call) => Some(call.params.name.as_ref()),
            _ => None,
        };
        Self::record_body_call(extensions, request.method(), tool);
    }

    /// Records the method and tool a body names, read by whoever read the body of a request
    /// without SEP-2243 headers (a session's: 2025-03-26 … 2025-11-25). The first record
    /// stands: a 2026-07-28 request keeps what its headers said.
    pub(crate) fn record_body_call(extensions: &Extensions, method: &str, tool: Option<&str>) {
        let Some(facts) = Self::of(extensions) else {
            return;
        };
        if facts.call.get().is_some() {
            return;
        }
        let Ok(method) = HeaderValue::from_str(method) else {
            return;
        };
        let tool = (method.as_bytes() == b"tools/call")
            .then(|| tool.and_then(|name| HeaderValue::from_str(name).ok()))
            .flatten();
        let _ = facts.call.set(McpCall {
            method: detached(&method),
            tool,
        });
    }

    /// Records the caller a verified token names (the request may still be refused for its
    /// grant, session or scope).
    pub(crate) fn record_identity(extensions: &Extensions, identity: &Arc<Identity>) {
        if let Some(facts) = Self::of(extensions) {
            let _ = facts.identity.set(identity.clone());
        }
    }

    /// The slot of the request whose extensions are `extensions`, shared, for a writer that
    /// outlives the extensions (the fast path moves them into the handler's context).
    pub(crate) fn shared(extensions: &Extensions) -> Option<Arc<Self>> {
        extensions.get::<Arc<Self>>().cloned()
    }

    /// Records how the request's tool call ended.
    pub(crate) fn record_tool_outcome(&self, outcome: ToolOutcome) {
        let _ = self.tool_outcome.set(outcome);
    }

    /// How the request's tool call ended, when the one who answered it said so.
    pub(crate) fn tool_outcome(&self) -> Option<ToolOutcome> {
        self.tool_outcome.get().copied()
    }

    /// Records the trace context an MCP request's `_meta` names (its span's parent).
    #[cfg(feature = "opentelemetry")]
    pub(crate) fn record_meta_parent(
        extensions: &Extensions,
        parent: opentelemetry::trace::SpanContext,
    ) {
        if let Some(facts) = Self::of(extensions) {
            let _ = facts.meta_parent.set(parent);
        }
    }

    /// The trace context the request's `_meta` named, when read.
    #[cfg(feature = "opentelemetry")]
    pub(crate) fn meta_parent(&self) -> Option<&opentelemetry::trace::SpanContext> {
        self.meta_parent.get()
    }

    /// The MCP method, when known.
    pub(crate) fn method(&self) -> Option<&str> {
        self.call.get().and_then(|call| call.method.to_str().ok())
    }

    /// The tool of a `tools/call`, when known.
    pub(crate) fn tool(&self) -> Option<&str> {
        self.call
            .get()
            .and_then(|call| call.tool.as_ref())
            .and_then(|tool| tool.to_str().ok())
    }

    /// The caller, when the request carried a verified token.
    pub(crate) fn identity(&self) -> Option<&Identity> {
        self.identity.get().map(Arc::as_ref)
    }

    fn of(extensions: &Extensions) -> Option<&Self> {
        extensions.get::<Arc<Self>>().map(Arc::as_ref)
    }
}
