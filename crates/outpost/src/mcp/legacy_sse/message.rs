//! `POST /message`: finding the session, reading and parsing the body, and the HTTP answer for
//! every way that can fail.
//!
//! Everything here runs before a message reaches rmcp, so errors are answered on the POST
//! itself: transport problems as short plain-text bodies, JSON problems as JSON-RPC error
//! objects (`-32700` parse error, `-32600` invalid request) with `"id": null` when the id is
//! unknown, as JSON-RPC 2.0 requires. A `503` (the session busy, the instance holding its
//! stream or the store not answering) is a JSON-RPC error too, `-32603` with `data.reason` and
//! `data.retryAfter`, as the `503`s of a store outage on every other route.

use axum::{
    body::{Body, Bytes},
    response::{IntoResponse, Response},
};
use http::{HeaderMap, StatusCode, header};
use rmcp::{
    ErrorData,
    model::{ClientJsonRpcMessage, GetExtensions, RequestId},
};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::{
    http::body_read::{BodyReadError, read_limited},
    mcp::jsonrpc_body::error_response,
    ops::degraded::{retry_after_response, unavailable_for},
};

/// The `Retry-After` of a `503`, seconds: the session's queue drains, or another instance is
/// tried, within a second.
const RETRY_AFTER_SECONDS: u64 = 1;

/// Why a `POST /message` was refused.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// The query has no `sessionId`.
    #[error("Bad Request: missing sessionId query parameter")]
    MissingSessionId,
    /// No live session has this id (never existed, or its SSE stream closed).
    #[error("Not Found: unknown or expired session")]
    UnknownSession,
    /// A `Content-Type` other than `application/json`.
    #[error("Unsupported Media Type: Content-Type must be application/json")]
    UnsupportedMediaType,
    /// The body is larger than the configured limit.
    #[error("Payload Too Large: request body exceeds {0} bytes")]
    BodyTooLarge(usize),
    /// The body could not be read from the connection.
    #[error("Bad Request: cannot read request body: {0}")]
    BodyRead(String),
    /// The body is not JSON.
    #[error("Parse error: {0}")]
    Parse(String),
    /// The body is JSON but not a JSON-RPC message (or batch) this server understands.
    #[error("Invalid Request: {reason}")]
    InvalidMessage {
        /// The id of the offending request, when it could be read.
        id: Option<RequestId>,
        /// What is wrong.
        reason: String,
    },
    /// The session's inbox stayed full for the whole wait: retry later.
    #[error("Service Unavailable: session is busy, retry later")]
    Overloaded,
    /// The session's stream is held by another instance that did not take the message in
    /// time (it has stopped, or the store cannot reach it): retry later.
    #[error("Service Unavailable: the instance holding this session's stream did not answer")]
    HolderUnreachable,
    /// The store, needed to find the session's instance, did not answer.
    #[error("Service Unavailable: the session store cannot answer")]
    StoreUnavailable,
}

impl From<BodyReadError> for PostError {
    fn from(error: BodyReadError) -> Self {
        match error {
            BodyReadError::TooLarge(limit) => Self::BodyTooLarge(limit),
            BodyReadError::TimedOut => Self::BodyRead(error.to_string()),
            BodyReadError::Read(reason) => Self::BodyRead(reason),
        }
    }
}

impl PostError {
    fn status(&self) -> StatusCode {
        match self {
            Self::MissingSessionId
            | Self::BodyRead(_)
            | Self::Parse(_)
            | Self::InvalidMessage { .. } => StatusCode::BAD_REQUEST,
            Self::UnknownSession => StatusCode::NOT_FOUND,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Overloaded | Self::HolderUnreachable | Self::StoreUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// The JSON-RPC error for errors about the message itself, with the request's id, and for
    /// a `503` (no id: the messages were not answered).
    fn json_rpc_error(&self) -> Option<(Option<&RequestId>, ErrorData)> {
        let unavailable = |reason: &str| {
            Some((
                None,
                unavailable_for(&self.to_string(), reason, RETRY_AFTER_SECONDS),
            ))
        };
        match self {
            Self::Parse(_) => Some((None, ErrorData::parse_error(self.to_string(), None))),
            Self::InvalidMessage { id, .. } => Some((
                id.as_ref(),
                ErrorData::invalid_request(self.to_string(), None),
            )),
            Self::Overloaded => unavailable("session_busy"),
            Self::HolderUnreachable => unavailable("holder_unreachable"),
            Self::StoreUnavailable => unavailable("store_unavailable"),
            _ => None,
        }
    }
}

impl IntoResponse for PostError {
    fn into_response(self) -> Response {
        let status = self.status();
        match self.json_rpc_error() {
            Some((id, error)) if status == StatusCode::SERVICE_UNAVAILABLE => {
                retry_after_response(status, id, RETRY_AFTER_SECONDS, error)
            }
            Some((id, error)) => error_response(status, id, error),
            None => (status, self.to_string()).into_response(),
        }
    }
}

/// `messages` carrying the HTTP request's `parts`, as rmcp's Streamable HTTP service gives
/// them: handlers read the caller (`auth::resource::Identity`) there on every transport.
pub(crate) fn with_parts(
    mut messages: Vec<ClientJsonRpcMessage>,
    parts: &http::request::Parts,
) -> Vec<ClientJsonRpcMessage> {
    for message in &mut messages {
        match message {
            ClientJsonRpcMessage::Request(request) => {
                request.request.extensions_mut().insert(parts.clone());
            }
            ClientJsonRpcMessage::Notification(notification) => {
                notification
                    .notification
                    .extensions_mut()
                    .insert(parts.clone());
            }
            _ => {}
        }
    }
    messages
}

/// The `sessionId` query parameter.
pub(crate) fn session_id(query: Option<&str>) -> Result<String, PostError> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(name, _)| name == "sessionId")
        .map(|(_, value)| value.into_owned())
        .filter(|value| !value.is_empty())
        .ok_or(PostError::MissingSessionId)
}

/// Refuses a declared `Content-Type` that is not JSON; a missing one is accepted.
pub(crate) fn check_content_type(headers: &HeaderMap) -> Result<(), PostError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    match essence {
        Some(mime) if mime.eq_ignore_ascii_case("application/json") => Ok(()),
        _ => Err(PostError::UnsupportedMediaType),
    }
}

/// Reads the whole body, refusing more than `limit` bytes.
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, PostError> {
    Ok(read_limited(headers, body, limit).await?)
}

/// Parses one JSON-RPC message, or a batch of at most `max_batch` messages, in order.
pub(crate) fn parse_messages(
    body: &[u8],
    max_batch: usize,
) -> Result<Vec<ClientJsonRpcMessage>, PostError> {
    let is_batch = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    if !is_batch {
        return parse_one(body).map(|message| vec![message]);
    }
    let items: Vec<&RawValue> = serde_json::from_slice(body).map_err(classify(body))?;
    if items.is_empty() || items.len() > max_batch {
        return Err(PostError::InvalidMessage {
            id: None,
            reason: format!("a batch must hold 1 to {max_batch} messages"),
        });
    }
    items
        .into_iter()
        .map(|item| parse_one(item.get().as_bytes()))
        .collect()
}

fn parse_one(json: &[u8]) -> Result<ClientJsonRpcMessage, PostError> {
    serde_json::from_slice(json).map_err(classify(json))
}

/// Syntax errors are parse errors; well-formed JSON of the wrong shape is an invalid request,
/// answered with the request's id when it has a readable one.
fn classify(json: &[u8]) -> impl Fn(serde_json::Error) -> PostError + '_ {
    move |error| {
        if error.is_syntax() || error.is_eof() {
            return PostError::Parse(error.to_string());
        }
        // A shape error can come before a syntax error later in the input (`{} trailing`).
        if let Err(syntax) = serde_json::from_slice::<serde::de::IgnoredAny>(json) {
            return PostError::Parse(syntax.to_string());
        }
        #[derive(Deserialize)]
        struct IdOnly {
            id: Option<RequestId>,
        }
        let id = serde_json::from_slice::<IdOnly>(json)
            .ok()
            .and_then(|m| m.id);
        PostError::InvalidMessage {
            id,
            reason: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;
    use crate::mcp::jsonrpc_body::error_body;

    const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    const PING: &str = r#"{"jsonrpc":"2.0","id":"p1","method":"ping"}"#;

    fn body_json(error: PostError) -> (StatusCode, serde_json::Value) {
        let status = error.status();
        let (id, json_rpc) = error.json_rpc_error().expect("a JSON-RPC error");
        let json = error_body(id, json_rpc);
        (status, serde_json::from_slice(&json).unwrap())
    }

    #[test]
    fn unavailable_answers_are_json_rpc_errors_with_a_reason() {
        for (error, reason) in [
            (PostError::Overloaded, "session_busy"),
            (PostError::HolderUnreachable, "holder_unreachable"),
            (PostError::StoreUnavailable, "store_unavailable"),
        ] {
            let (status, json) = body_json(error);
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert!(json["id"].is_null(), "{json}");
            assert_eq!(json["error"]["code"], -32603, "{json}");
            assert_eq!(json["error"]["data"]["reason"], reason, "{json}");
            assert_eq!(json["error"]["data"]["retryAfter"], 1, "{json}");
        }
    }

    #[test]
    fn single_message_and_batch_parse_in_order() {
        assert_eq!(parse_messages(PING.as_bytes(), 8).unwrap().len(), 1);
        let batch = format!(" [{PING}, {INITIALIZED}]");
        let messages = parse_messages(batch.as_bytes(), 8).unwrap();
        assert!(matches!(messages[0], ClientJsonRpcMessage::Request(_)));
        assert!(matches!(messages[1], ClientJsonRpcMessage::Notification(_)));
    }

    #[test]
    fn malformed_json_is_a_parse_error_with_null_id() {
        for bad in ["{not json", "", "[1,", "{} trailing"] {
            let error = parse_messages(bad.as_bytes(), 8).unwrap_err();
            assert!(matches!(error, PostError::Parse(_)), "{bad}: {error:?}");
            let (status, json) = body_json(error);
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert_eq!(json["id"], serde_json::Value::Null);
            assert_eq!(json["error"]["code"], -32700);
            assert_eq!(json["jsonrpc"], "2.0");
        }
    }

    #[test]
    fn wrong_shape_is_an_invalid_request_keeping_the_id() {
        let error = parse_messages(br#"{"jsonrpc":"2.0","id":5}"#, 8).unwrap_err();
        let (status, json) = body_json(error);
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(json["id"], 5);
        assert_eq!(json["error"]["code"], -32600);
    }

    #[test]
    fn empty_or_oversized_batches_are_refused() {
        assert!(matches!(
            parse_messages(b"[]", 8),
            Err(PostError::InvalidMessage { id: None, .. })
        ));
        let batch = format!("[{PING},{PING},{PING}]");
        assert!(matches!(
            parse_messages(batch.as_bytes(), 2),
            Err(PostError::InvalidMessage { .. })
        ));
    }

    #[test]
    fn session_id_comes_from_the_query() {
        assert_eq!(session_id(Some("sessionId=ab12")).unwrap(), "ab12");
        assert_eq!(session_id(Some("x=1&sessionId=a%20b")).unwrap(), "a b");
        for missing in [None, Some(""), Some("sessionId="), Some("session=1")] {
            assert!(matches!(
                session_id(missing),
                Err(PostError::MissingSessionId)
            ));
        }
    }

    #[test]
    fn content_type_must_be_json_when_present() {
        let mut headers = HeaderMap::new();
        assert!(check_content_type(&headers).is_ok());
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert!(check_content_type(&headers).is_ok());
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(matches!(
            check_content_type(&headers),
            Err(PostError::UnsupportedMediaType)
        ));
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_refused() {
        let headers = HeaderMap::new();
        let ok = read_body(&headers, Body::from("12345"), 5).await.unwrap();
        assert_eq!(&ok[..], b"12345");
        assert!(matches!(
            read_body(&headers, Body::from("123456"), 5).await,
            Err(PostError::BodyTooLarge(5))
        ));
        let mut declared = HeaderMap::new();
        declared.insert(header::CONTENT_LENGTH, HeaderValue::from_static("6"));
        assert!(matches!(
            read_body(&declared, Body::empty(), 5).await,
            Err(PostError::BodyTooLarge(5))
        ));
    }
}
