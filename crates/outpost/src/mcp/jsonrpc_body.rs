//! Rejects POST bodies that are not JSON-RPC with the errors JSON-RPC 2.0 names.
//!
//! rmcp answers an unparsable body with `415 Unsupported Media Type` and a plain-text message,
//! which clients cannot act on. JSON-RPC 2.0 §5.1 defines `-32700 Parse error` for invalid JSON
//! and `-32600 Invalid Request` for JSON that is not a request, and the MCP transport answers
//! both with `400 Bad Request`. This layer checks the body once, re-attaches it and lets valid
//! messages through unchanged.

use axum::{
    body::{Body, Bytes},
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http::{HeaderMap, Method, StatusCode, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::http::connection::body_deadline::BodyReadTimeout;
use rmcp::{ErrorData, model::RequestId};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Why a body is not a JSON-RPC message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonRpcBodyError {
    /// Not JSON at all.
    #[error("Parse error: {0}")]
    Parse(String),
    /// JSON, but not a JSON-RPC 2.0 request, notification or response.
    #[error("Invalid Request: {0}")]
    InvalidRequest(&'static str),
}

impl IntoResponse for JsonRpcBodyError {
    fn into_response(self) -> Response {
        let error = match &self {
            JsonRpcBodyError::Parse(_) => ErrorData::parse_error(self.to_string(), None),
            JsonRpcBodyError::InvalidRequest(_) => {
                ErrorData::invalid_request(self.to_string(), None)
            }
        };
        error_response(StatusCode::BAD_REQUEST, None, error)
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

/// Why a request body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyReadError {
    /// Longer than the limit (said by `Content-Length`, or found while reading).
    #[error("Payload Too Large: request body exceeds {0} bytes")]
    TooLarge(usize),
    /// The body did not arrive within the body read timeout.
    #[error("Request Timeout: the request body did not arrive in time")]
    TimedOut,
    /// The connection failed while the body was read.
    #[error("Bad Request: cannot read request body: {0}")]
    Read(String),
}

impl IntoResponse for BodyReadError {
    fn into_response(self) -> Response {
        let status = match self {
            BodyReadError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            BodyReadError::TimedOut => StatusCode::REQUEST_TIMEOUT,
            BodyReadError::Read(_) => StatusCode::BAD_REQUEST,
        };
        (status, self.to_string()).into_response()
    }
}

/// Reads a whole body, refusing more than `limit` bytes: at once when `Content-Length` says
/// so, else as soon as the limit is crossed while reading.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, BodyReadError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(BodyReadError::TooLarge(limit));
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
            Err(BodyReadError::TooLarge(limit))
        }
        Err(error) if BodyReadTimeout::is_cause_of(&*error) => Err(BodyReadError::TimedOut),
        Err(error) => Err(BodyReadError::Read(error.to_string())),
    }
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

/// axum middleware: checks JSON POST bodies up to `limit` bytes; oversized bodies get 413.
/// Other requests (GET, DELETE, non-JSON content types, which rmcp answers with 415) pass
/// untouched.
pub async fn reject_malformed_jsonrpc(
    State(limit): State<usize>,
    request: Request,
    next: Next,
) -> Response {
    let is_json_post = request.method() == Method::POST
        && request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
    if !is_json_post {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match read_limited(&parts.headers, body, limit).await {
        Ok(bytes) => bytes,
        Err(error) => return error.into_response(),
    };
    if let Err(error) = check_message(&bytes) {
        return error.into_response();
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
    use super::*;

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
