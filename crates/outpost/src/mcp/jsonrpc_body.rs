//! Rejects POST bodies that are not JSON-RPC with the errors JSON-RPC 2.0 names.
//!
//! rmcp answers an unparsable body with `415 Unsupported Media Type` and a plain-text message,
//! which clients cannot act on. JSON-RPC 2.0 §5.1 defines `-32700 Parse error` for invalid JSON
//! and `-32600 Invalid Request` for JSON that is not a request, and the MCP transport answers
//! both with `400 Bad Request`. This layer checks the body once, re-attaches it and lets valid
//! messages through unchanged.

use axum::{
    Json,
    body::{Body, Bytes},
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http::{Method, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Deserialize;
use serde_json::{json, value::RawValue};

/// JSON-RPC 2.0 `Parse error`.
pub const PARSE_ERROR: i32 = -32700;
/// JSON-RPC 2.0 `Invalid Request`.
pub const INVALID_REQUEST: i32 = -32600;

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

impl JsonRpcBodyError {
    fn code(&self) -> i32 {
        match self {
            JsonRpcBodyError::Parse(_) => PARSE_ERROR,
            JsonRpcBodyError::InvalidRequest(_) => INVALID_REQUEST,
        }
    }
}

impl IntoResponse for JsonRpcBodyError {
    fn into_response(self) -> Response {
        let body = json!({
            "jsonrpc": "2.0",
            "id": null,
            "error": { "code": self.code(), "message": self.to_string() }
        });
        (StatusCode::BAD_REQUEST, Json(body)).into_response()
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
    let bytes: Bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
            let message = format!("Payload Too Large: request body exceeds {limit} bytes");
            return (StatusCode::PAYLOAD_TOO_LARGE, message).into_response();
        }
        Err(error) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("cannot read request body: {error}"),
            )
                .into_response();
        }
    };
    if let Err(error) = check_message(&bytes) {
        return error.into_response();
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
