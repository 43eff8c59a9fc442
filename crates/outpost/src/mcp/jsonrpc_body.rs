//! Rejects POST bodies that are not JSON-RPC with the errors JSON-RPC 2.0 names.
//!
//! rmcp answers a body its message type cannot read with `415 Unsupported Media Type` and a
//! plain-text message, which clients cannot act on. JSON-RPC 2.0 §5.1 defines `-32700 Parse
//! error` for invalid JSON and `-32600 Invalid Request` for JSON that is not a request, and the
//! MCP transport answers both with `400 Bad Request`. This layer reads the body with rmcp's own
//! message type first ([`check_mcp_message`]) and answers what it refuses:
//! - not JSON (or JSON serde cannot hold: nested too deep, a number out of range): `-32700`;
//! - JSON that is not one JSON-RPC message, or one whose `id`, `params` or `_meta` has a shape
//!   MCP does not allow (an `id` that is `null`, a boolean, an object or a fraction; `params`
//!   or `_meta` that is no object): `-32600`;
//! - a request naming an MCP method whose params that method cannot take (a `tools/call`
//!   without a `name`): `-32602 Invalid params`, answered `200` as any request's error. rmcp
//!   reads such a request as a custom one and answers `-32601 Method not found` (on 2026-07-28
//!   with `404`, which tells a client the server lacks the method).
//!
//! Each answer carries the request's `id` when it is readable (a string or an integer).
//! Valid messages pass unchanged, the body re-attached.

use std::borrow::Cow;

use axum::{
    body::Body,
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http::{Method, StatusCode, header};

use crate::{
    http::body_read::read_limited,
    mcp::{
        classify::{Era, RequestClass},
        fast_path::content_type_is_json,
    },
    ops::request_facts::RequestFacts,
};
use rmcp::{
    ErrorData,
    model::{
        CallToolRequest, CallToolRequestMethod, CancelTaskMethod, CancelTaskRequest,
        ClientJsonRpcMessage, ClientRequest, CompleteRequest, CompleteRequestMethod, ConstString,
        DiscoverRequest, DiscoverRequestMethod, GetPromptRequest, GetPromptRequestMethod,
        GetSkillRequest, GetSkillRequestMethod, GetTaskMethod, GetTaskRequest, InitializeRequest,
        InitializeResultMethod, JsonRpcMessage, ListPromptsRequest, ListPromptsRequestMethod,
        ListResourceTemplatesRequest, ListResourceTemplatesRequestMethod, ListResourcesRequest,
        ListResourcesRequestMethod, ListSkillsRequest, ListSkillsRequestMethod, ListToolsRequest,
        ListToolsRequestMethod, PingRequest, PingRequestMethod, ReadResourceDirectoryRequest,
        ReadResourceDirectoryRequestMethod, ReadResourceRequest, ReadResourceRequestMethod,
        Request as McpRequest, RequestId, SetLevelRequestMethod, SubscribeRequestMethod,
        SubscribeRequestParams, SubscriptionsListenRequest, SubscriptionsListenRequestMethod,
        UnsubscribeRequestMethod, UnsubscribeRequestParams, UpdateTaskMethod, UpdateTaskRequest,
    },
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Value, value::RawValue};

/// Why a body is not a JSON-RPC message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonRpcBodyError {
    /// Not JSON at all.
    #[error("Parse error: {0}")]
    Parse(String),
    /// JSON, but not a JSON-RPC 2.0 request, notification or response.
    #[error("Invalid Request: {0}")]
    InvalidRequest(&'static str),
    /// A JSON-RPC message that is not an MCP message: rmcp's message type cannot read it.
    #[error("Invalid Request: not an MCP message: {0}")]
    NotMcp(String),
    /// A request for an MCP method, with params that method cannot take.
    #[error("Invalid params for {method}: {reason}")]
    InvalidParams {
        /// The method the request names.
        method: String,
        /// What is wrong with its params.
        reason: String,
    },
}

impl JsonRpcBodyError {
    /// The answer to the request whose id is `id` (`null` in the answer when unknown):
    /// `400` for a body that is no (MCP) JSON-RPC message, `200` for a request's invalid
    /// params.
    pub fn answer_for(self, id: Option<&RequestId>) -> Response {
        let message = self.to_string();
        let (status, error) = match self {
            JsonRpcBodyError::Parse(_) => (
                StatusCode::BAD_REQUEST,
                ErrorData::parse_error(message, None),
            ),
            JsonRpcBodyError::InvalidRequest(_) | JsonRpcBodyError::NotMcp(_) => (
                StatusCode::BAD_REQUEST,
                ErrorData::invalid_request(message, None),
            ),
            JsonRpcBodyError::InvalidParams { .. } => {
                (StatusCode::OK, ErrorData::invalid_params(message, None))
            }
        };
        error_response(status, id, error)
    }
}

impl IntoResponse for JsonRpcBodyError {
    fn into_response(self) -> Response {
        self.answer_for(None)
    }
}

/// A JSON-RPC error response body. Unlike rmcp's `JsonRpcError`, `id` is always present:
/// `null` when the request's id could not be read (JSON-RPC 2.0 §5).
#[derive(Serialize)]
struct ErrorBody<'a> {
    jsonrpc: &'static str,
    id: Option<&'a RequestId>,
    error: ErrorData,
}

/// The bytes of a JSON-RPC error response for request `id` (`null` when unknown).
pub fn error_body(id: Option<&RequestId>, error: ErrorData) -> Vec<u8> {
    let body = ErrorBody {
        jsonrpc: "2.0",
        id,
        error,
    };
    serde_json::to_vec(&body)
        .unwrap_or_else(|error| unreachable!("a JSON-RPC error object always serializes: {error}"))
}

/// A JSON-RPC error answered with HTTP `status`.
pub fn error_response(status: StatusCode, id: Option<&RequestId>, error: ErrorData) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        error_body(id, error),
    )
        .into_response()
}

/// The parts of a JSON-RPC message that decide whether it is one.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    jsonrpc: Option<&'a RawValue>,
    #[serde(borrow)]
    method: Option<&'a RawValue>,
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    result: Option<&'a RawValue>,
    #[serde(borrow)]
    error: Option<&'a RawValue>,
}

/// Checks that `body` is one JSON-RPC 2.0 message.
pub fn check_message(body: &[u8]) -> Result<(), JsonRpcBodyError> {
    let value: &RawValue =
        serde_json::from_slice(body).map_err(|e| JsonRpcBodyError::Parse(e.to_string()))?;
    let envelope: Envelope<'_> = serde_json::from_str(value.get())
        .map_err(|_| JsonRpcBodyError::InvalidRequest("expected a JSON-RPC object"))?;
    if envelope.jsonrpc.map(RawValue::get) != Some("\"2.0\"") {
        return Err(JsonRpcBodyError::InvalidRequest(
            "`jsonrpc` must be \"2.0\"",
        ));
    }
    let is_call = envelope
        .method
        .is_some_and(|method| method.get().starts_with('"'));
    let is_response =
        envelope.id.is_some() && (envelope.result.is_some() || envelope.error.is_some());
    if is_call || is_response {
        Ok(())
    } else {
        Err(JsonRpcBodyError::InvalidRequest(
            "a message needs a string `method`, or an `id` with `result` or `error`",
        ))
    }
}

/// Methods 2026-07-28 removed: a stateless request for one is rmcp's to answer `-32601`
/// (with `404`), whatever its params.
const REMOVED_IN_2026_07_28: [&str; 5] = [
    InitializeResultMethod::VALUE,
    PingRequestMethod::VALUE,
    SetLevelRequestMethod::VALUE,
    SubscribeRequestMethod::VALUE,
    UnsubscribeRequestMethod::VALUE,
];

/// Checks that `body`, already one JSON-RPC 2.0 message ([`check_message`]), is one rmcp reads
/// as an MCP message, and that a request for an MCP method — one the request's revision has:
/// a `stateless` (2026-07-28) request has lost some — has params that method takes.
pub fn check_mcp_message(body: &[u8], stateless: bool) -> Result<(), JsonRpcBodyError> {
    let message = serde_json::from_slice::<ClientJsonRpcMessage>(body).map_err(|error| {
        if error.is_data() {
            JsonRpcBodyError::NotMcp(error.to_string())
        } else {
            JsonRpcBodyError::Parse(error.to_string())
        }
    })?;
    let JsonRpcMessage::Request(request) = message else {
        return Ok(());
    };
    let ClientRequest::CustomRequest(custom) = request.request else {
        return Ok(());
    };
    // rmcp reads a request it cannot read as its method's as a custom one: for a method MCP
    // defines, reading it as that method's request says why.
    let method = custom.method;
    if stateless && REMOVED_IN_2026_07_28.contains(&method.as_str()) {
        return Ok(());
    }
    let mut request = serde_json::json!({ "method": method });
    if let Some(params) = custom.params {
        request["params"] = params;
    }
    match why_unreadable(&method, request) {
        Some(reason) => Err(JsonRpcBodyError::InvalidParams { method, reason }),
        None => Ok(()),
    }
}

/// Why `request` (`{"method", "params"}`) is not the request of the MCP method `method`, in
/// serde's words; `None` for a method MCP does not define (a custom request) or a request
/// that reads.
fn why_unreadable(method: &str, request: Value) -> Option<String> {
    fn error_of<R: DeserializeOwned>(request: Value) -> Option<String> {
        serde_json::from_value::<R>(request)
            .err()
            .map(|error| error.to_string())
    }
    match method {
        PingRequestMethod::VALUE => error_of::<PingRequest>(request),
        InitializeResultMethod::VALUE => error_of::<InitializeRequest>(request),
        DiscoverRequestMethod::VALUE => error_of::<DiscoverRequest>(request),
        CompleteRequestMethod::VALUE => error_of::<CompleteRequest>(request),
        // Deprecated by SEP-2577, but rmcp still serves it to sessions: its params are read.
        #[allow(deprecated)]
        SetLevelRequestMethod::VALUE => error_of::<
            McpRequest<SetLevelRequestMethod, rmcp::model::SetLevelRequestParams>,
        >(request),
        GetPromptRequestMethod::VALUE => error_of::<GetPromptRequest>(request),
        ListPromptsRequestMethod::VALUE => error_of::<ListPromptsRequest>(request),
        ListResourcesRequestMethod::VALUE => error_of::<ListResourcesRequest>(request),
        ListResourceTemplatesRequestMethod::VALUE => {
            error_of::<ListResourceTemplatesRequest>(request)
        }
        ReadResourceRequestMethod::VALUE => error_of::<ReadResourceRequest>(request),
        SubscriptionsListenRequestMethod::VALUE => error_of::<SubscriptionsListenRequest>(request),
        SubscribeRequestMethod::VALUE => {
            error_of::<McpRequest<SubscribeRequestMethod, SubscribeRequestParams>>(request)
        }
        UnsubscribeRequestMethod::VALUE => {
            error_of::<McpRequest<UnsubscribeRequestMethod, UnsubscribeRequestParams>>(request)
        }
        CallToolRequestMethod::VALUE => error_of::<CallToolRequest>(request),
        ListToolsRequestMethod::VALUE => error_of::<ListToolsRequest>(request),
        GetTaskMethod::VALUE => error_of::<GetTaskRequest>(request),
        UpdateTaskMethod::VALUE => error_of::<UpdateTaskRequest>(request),
        CancelTaskMethod::VALUE => error_of::<CancelTaskRequest>(request),
        ListSkillsRequestMethod::VALUE => error_of::<ListSkillsRequest>(request),
        GetSkillRequestMethod::VALUE => error_of::<GetSkillRequest>(request),
        ReadResourceDirectoryRequestMethod::VALUE => {
            error_of::<ReadResourceDirectoryRequest>(request)
        }
        _ => None,
    }
}

/// The members `T` reads of the JSON-RPC message in `body`, when it is an object: a struct also
/// reads from an array (`[1]` would give the first field 1), and only an object is a message.
fn members_of<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Option<T> {
    let starts_an_object = body.trim_ascii_start().first() == Some(&b'{');
    starts_an_object
        .then(|| serde_json::from_slice(body).ok())
        .flatten()
}

/// The `id` of the JSON-RPC message in `body`, when it has one that MCP allows (a string or
/// an integer): what an error answering it must carry.
pub fn request_id_of(body: &[u8]) -> Option<RequestId> {
    #[derive(Deserialize)]
    struct IdOnly<'a> {
        #[serde(borrow)]
        id: Option<&'a RawValue>,
    }
    let id = members_of::<IdOnly<'_>>(body)?.id?;
    serde_json::from_str(id.get()).ok()
}

/// The method a message names, and the tool a `tools/call` names, for the request's log line
/// and metrics.
#[derive(Deserialize)]
struct NamedCall<'a> {
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(borrow, default)]
    params: Option<NamedParams<'a>>,
}

#[derive(Deserialize)]
struct NamedParams<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
}

impl NamedCall<'_> {
    fn tool(&self) -> Option<&str> {
        self.params.as_ref()?.name.as_deref()
    }
}

fn call_of(body: &[u8]) -> Option<NamedCall<'_>> {
    members_of(body)
}

/// Whether `body` is a JSON-RPC request: a message with a `method` and an `id` (not a
/// notification, not a response).
pub(crate) fn is_request(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Shape<'a> {
        #[serde(borrow)]
        method: Option<&'a RawValue>,
        #[serde(borrow)]
        id: Option<&'a RawValue>,
    }
    members_of::<Shape<'_>>(body)
        .is_some_and(|message| message.method.is_some() && message.id.is_some())
}

/// Whether `body` is an `initialize` request (the only message that creates a session, and
/// one no batch may hold).
pub(crate) fn is_initialize(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Method<'a> {
        #[serde(borrow)]
        method: Option<Cow<'a, str>>,
    }
    members_of::<Method<'_>>(body)
        .is_some_and(|message| message.method.as_deref() == Some("initialize"))
}

/// The protocol revision an `initialize` in `body` asks for (what rmcp negotiates from).
pub(crate) fn initialize_version(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Initialize<'a> {
        #[serde(borrow)]
        method: Cow<'a, str>,
        params: Params<'a>,
    }
    #[derive(Deserialize)]
    struct Params<'a> {
        #[serde(borrow, rename = "protocolVersion")]
        protocol_version: Cow<'a, str>,
    }
    let message = members_of::<Initialize<'_>>(body)?;
    (message.method == "initialize").then(|| message.params.protocol_version.into_owned())
}

/// axum middleware: checks JSON POST bodies up to `limit` bytes; oversized bodies get 413.
/// Other requests (GET, DELETE, non-JSON content types, which rmcp answers with 415) pass
/// untouched.
pub async fn reject_malformed_jsonrpc(
    State(limit): State<usize>,
    request: Request,
    next: Next,
) -> Response {
    // The Content-Type rmcp reads a body under (the fast path's screen applies the same).
    let is_json_post = request.method() == Method::POST && content_type_is_json(request.headers());
    if !is_json_post {
        return next.run(request).await;
    }
    let stateless = RequestClass::from_request(&request).era() == Era::Stateless;
    let (parts, body) = request.into_parts();
    let bytes = match read_limited(&parts.headers, body, limit).await {
        Ok(bytes) => bytes,
        Err(error) => return error.into_response(),
    };
    if let Err(error) = check_message(&bytes).and_then(|()| check_mcp_message(&bytes, stateless)) {
        return error.answer_for(request_id_of(&bytes).as_ref());
    }
    if let Some(call) = call_of(&bytes) {
        RequestFacts::record_body_call(&parts.extensions, &call.method, call.tool());
    }
    #[cfg(feature = "opentelemetry")]
    if crate::ops::otel::tracer().is_some()
        && let Some(parent) = crate::ops::otel::trace_context::from_body(&bytes)
    {
        crate::ops::request_facts::RequestFacts::record_meta_parent(&parts.extensions, parent);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    use super::*;

    #[test]
    fn an_initialize_names_the_revision_it_asks_for() {
        let asked = |body: &str| initialize_version(body.as_bytes());
        assert_eq!(
            asked(
                r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{}}}"#
            ),
            Some("2025-06-18".to_owned())
        );
        assert_eq!(
            asked(
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"protocolVersion":"2025-06-18"}}"#
            ),
            None
        );
        assert_eq!(
            asked(r#"["initialize",{"protocolVersion":"2025-06-18"}]"#),
            None
        );
        assert_eq!(asked(r#"{"method":"initialize"}"#), None);
    }

    #[test]
    fn only_initialize_is_recognised() {
        assert!(is_initialize(
            br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#
        ));
        assert!(is_initialize(br#"{"method":"initiali\u007ae"}"#));
        assert!(!is_initialize(
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#
        ));
        assert!(!is_initialize(br#"["initialize"]"#));
    }

    #[test]
    fn requests_notifications_and_responses_pass() {
        for body in [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            r#"{"jsonrpc":"2.0","id":"a","result":{}}"#,
            r#"{"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"x"}}"#,
        ] {
            assert_eq!(check_message(body.as_bytes()), Ok(()), "{body}");
        }
    }

    #[test]
    fn broken_json_is_a_parse_error() {
        assert!(matches!(
            check_message(b"{\"jsonrpc\":"),
            Err(JsonRpcBodyError::Parse(_))
        ));
    }

    #[test]
    fn mcp_messages_pass() {
        for body in [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
            r#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"echo"}}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"vendor/custom","params":{"x":1}}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            r#"{"jsonrpc":"2.0","id":3,"result":{}}"#,
        ] {
            assert_eq!(check_mcp_message(body.as_bytes(), false), Ok(()), "{body}");
        }
    }

    #[test]
    fn ids_and_params_mcp_does_not_allow_are_invalid_requests() {
        for body in [
            r#"{"jsonrpc":"2.0","id":true,"method":"tools/list"}"#,
            r#"{"jsonrpc":"2.0","id":{},"method":"tools/list"}"#,
            r#"{"jsonrpc":"2.0","id":1.5,"method":"tools/list"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":"x"}"#,
            r#"{"jsonrpc":"2.0","id":1,"params":{},"method":"tools/list","params":{}}"#,
        ] {
            assert!(
                matches!(
                    check_mcp_message(body.as_bytes(), false),
                    Err(JsonRpcBodyError::NotMcp(_))
                ),
                "{body}: {:?}",
                check_mcp_message(body.as_bytes(), false)
            );
        }
    }

    #[test]
    fn json_too_deep_or_too_large_for_serde_is_a_parse_error() {
        let deep = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"x","params":{{"a":{}{}}}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        let huge = r#"{"jsonrpc":"2.0","id":1,"method":"x","params":{"a":1e400}}"#;
        for body in [deep.as_str(), huge] {
            assert!(
                matches!(
                    check_mcp_message(body.as_bytes(), false),
                    Err(JsonRpcBodyError::Parse(_))
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn an_mcp_method_with_params_it_cannot_take_is_invalid_params() {
        for (body, method, why) in [
            (
                r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"arguments":{}}}"#,
                "tools/call",
                "missing field `name`",
            ),
            (
                r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":5}}"#,
                "tools/call",
                "invalid type",
            ),
            (
                r#"{"jsonrpc":"2.0","id":4,"method":"subscriptions/listen","params":{}}"#,
                "subscriptions/listen",
                "notifications",
            ),
            (
                r#"{"jsonrpc":"2.0","id":5,"method":"initialize"}"#,
                "initialize",
                "params",
            ),
        ] {
            match check_mcp_message(body.as_bytes(), false) {
                Err(JsonRpcBodyError::InvalidParams {
                    method: named,
                    reason,
                }) => {
                    assert_eq!(named, method, "{body}");
                    assert!(reason.contains(why), "{body}: {reason}");
                }
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn methods_2026_07_28_removed_are_left_to_rmcp_on_that_revision() {
        for body in [
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"logging/setLevel","params":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{}}"#,
        ] {
            assert_eq!(check_mcp_message(body.as_bytes(), true), Ok(()), "{body}");
            assert!(
                matches!(
                    check_mcp_message(body.as_bytes(), false),
                    Err(JsonRpcBodyError::InvalidParams { .. })
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn a_readable_id_is_kept_for_the_answer() {
        assert_eq!(
            request_id_of(br#"{"id":1,"method":"initialize"}"#),
            Some(RequestId::Number(1))
        );
        assert_eq!(
            request_id_of(br#"{"id":"a","method":"x"}"#),
            Some(RequestId::String("a".into()))
        );
        for body in [
            &br#"{"id":null}"#[..],
            br#"{"id":true}"#,
            br#"{"method":"x"}"#,
            b"[1]",
            b"{bad",
        ] {
            assert_eq!(request_id_of(body), None);
        }
    }

    #[test]
    fn media_types_are_read_case_insensitively() {
        let content_type = |value: &'static str| {
            HeaderMap::from_iter([(header::CONTENT_TYPE, value.parse().unwrap())])
        };
        for json in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
        ] {
            assert!(content_type_is_json(&content_type(json)), "{json}");
        }
        for other in ["text/plain", "application/jsonx", "application/json-seq"] {
            assert!(!content_type_is_json(&content_type(other)), "{other}");
        }
    }

    #[test]
    fn other_json_is_an_invalid_request() {
        for body in [
            r#"[1,2]"#,
            r#"{"a":1}"#,
            r#""x""#,
            r#"{"jsonrpc":"1.0","method":"m"}"#,
            r#"{"jsonrpc":"2.0","method":5}"#,
        ] {
            assert!(
                matches!(
                    check_message(body.as_bytes()),
                    Err(JsonRpcBodyError::InvalidRequest(_))
                ),
                "{body}"
            );
        }
    }
}
