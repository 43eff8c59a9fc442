//! What goes over the wire: the `tools/call echo` requests each target is measured with, the
//! session handshake, and the check that an answer really is `Echo: hi`.
//!
//! Requests are built from a template (headers + a shared body) so the load generator spends
//! its time waiting on the server, not formatting JSON.

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::Full;
use serde_json::Value;

/// The revision the session target negotiates.
pub const SESSION_VERSION: &str = "2025-11-25";

/// The stateless (2026-07-28) `tools/call echo` body: every required `_meta` field present.
pub(crate) const STATELESS_CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"}}}}"#;

/// The same call inside a session: no `_meta`, the session carries the context.
pub(crate) const SESSION_CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}"#;

pub(crate) const SESSION_INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#;

pub(crate) const SESSION_INITIALIZED: &str =
    r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

/// A 2026-07-28 `subscriptions/listen` asking for tool list changes: a stream the server
/// holds open until the client goes.
pub(crate) const LISTEN: &str = r#"{"jsonrpc":"2.0","id":1,"method":"subscriptions/listen","params":{"notifications":{"toolsListChanged":true},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"}}}}"#;

/// The notification that opens every `subscriptions/listen` stream.
pub const LISTEN_ACKNOWLEDGED: &str = "notifications/subscriptions/acknowledged";

/// The text a correct answer carries.
pub const EXPECTED_TEXT: &str = "Echo: hi";

/// One request, ready to be stamped out many times.
#[derive(Clone)]
pub struct RequestTemplate {
    headers: HeaderMap,
    body: Bytes,
}

impl RequestTemplate {
    /// The 2026-07-28 stateless call, with the SEP-2243 routing headers.
    pub fn stateless(authority: &str) -> anyhow::Result<Self> {
        let mut headers = base_headers(authority)?;
        headers.insert(
            "mcp-protocol-version",
            HeaderValue::from_static("2026-07-28"),
        );
        headers.insert("mcp-method", HeaderValue::from_static("tools/call"));
        headers.insert("mcp-name", HeaderValue::from_static("echo"));
        Ok(Self {
            headers,
            body: Bytes::from_static(STATELESS_CALL.as_bytes()),
        })
    }

    /// The call on an initialized session.
    pub fn in_session(authority: &str, session_id: &HeaderValue) -> anyhow::Result<Self> {
        let mut headers = session_headers(authority)?;
        headers.insert("mcp-session-id", session_id.clone());
        Ok(Self {
            headers,
            body: Bytes::from_static(SESSION_CALL.as_bytes()),
        })
    }

    /// The same request carrying `Authorization: Bearer <token>`.
    pub fn with_bearer(mut self, token: &str) -> anyhow::Result<Self> {
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .context("the token is not a valid header value")?;
        self.headers.insert(header::AUTHORIZATION, value);
        Ok(self)
    }

    /// A fresh `POST /mcp` with this template's headers and body.
    pub fn build(&self) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = http::Uri::from_static("/mcp");
        *request.headers_mut() = self.headers.clone();
        request
    }
}

/// The 2026-07-28 `subscriptions/listen` request ([`LISTEN`]).
pub fn listen(authority: &str) -> anyhow::Result<RequestTemplate> {
    let mut headers = base_headers(authority)?;
    headers.insert(
        "mcp-protocol-version",
        HeaderValue::from_static("2026-07-28"),
    );
    headers.insert(
        "mcp-method",
        HeaderValue::from_static("subscriptions/listen"),
    );
    Ok(RequestTemplate {
        headers,
        body: Bytes::from_static(LISTEN.as_bytes()),
    })
}

/// The `DELETE /mcp` that ends a session.
pub fn session_delete(
    authority: &str,
    session_id: &HeaderValue,
) -> anyhow::Result<Request<Full<Bytes>>> {
    let mut request = Request::new(Full::new(Bytes::new()));
    *request.method_mut() = Method::DELETE;
    *request.uri_mut() = http::Uri::from_static("/mcp");
    let mut headers = session_headers(authority)?;
    headers.insert("mcp-session-id", session_id.clone());
    headers.remove(header::CONTENT_TYPE);
    *request.headers_mut() = headers;
    Ok(request)
}

/// The session-opening `initialize` request.
pub fn session_initialize(authority: &str) -> anyhow::Result<RequestTemplate> {
    Ok(RequestTemplate {
        headers: session_headers(authority)?,
        body: Bytes::from_static(SESSION_INITIALIZE.as_bytes()),
    })
}

/// The `notifications/initialized` that completes the session handshake.
pub fn session_initialized(
    authority: &str,
    session_id: &HeaderValue,
) -> anyhow::Result<RequestTemplate> {
    let mut headers = session_headers(authority)?;
    headers.insert("mcp-session-id", session_id.clone());
    Ok(RequestTemplate {
        headers,
        body: Bytes::from_static(SESSION_INITIALIZED.as_bytes()),
    })
}

fn base_headers(authority: &str) -> anyhow::Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::HOST,
        HeaderValue::from_str(authority).context("server address is not a valid Host")?,
    );
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::ACCEPT,
        HeaderValue::from_static("application/json, text/event-stream"),
    );
    Ok(headers)
}

fn session_headers(authority: &str) -> anyhow::Result<HeaderMap> {
    let mut headers = base_headers(authority)?;
    headers.insert(
        "mcp-protocol-version",
        HeaderValue::from_static(SESSION_VERSION),
    );
    Ok(headers)
}

/// Checks that a response is a 200 whose JSON-RPC result (plain JSON or one SSE `data:` event)
/// carries [`EXPECTED_TEXT`].
pub fn expect_echo(status: StatusCode, body: &[u8]) -> anyhow::Result<()> {
    let text = String::from_utf8_lossy(body);
    if status != StatusCode::OK {
        bail!("expected 200 with `{EXPECTED_TEXT}`, got {status}: {text}");
    }
    let echoed = jsonrpc_messages(&text)
        .filter_map(|message| {
            message
                .pointer("/result/content/0/text")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .any(|echoed| echoed == EXPECTED_TEXT);
    if !echoed {
        bail!("the answer does not carry `{EXPECTED_TEXT}`: {text}");
    }
    Ok(())
}

/// The JSON-RPC messages in a body: the whole body if it is JSON, else each SSE `data:` line.
fn jsonrpc_messages(text: &str) -> impl Iterator<Item = Value> + '_ {
    let whole = serde_json::from_str::<Value>(text).ok();
    let events = text
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok());
    whole.into_iter().chain(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_sse_answers_are_recognised() {
        let json =
            br#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"Echo: hi"}]}}"#;
        assert!(expect_echo(StatusCode::OK, json).is_ok());
        let sse = b"id: 0\nretry: 3000\ndata:\n\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"Echo: hi\"}]}}\n\n";
        assert!(expect_echo(StatusCode::OK, sse).is_ok());
    }

    #[test]
    fn errors_and_other_texts_are_rejected() {
        assert!(expect_echo(StatusCode::BAD_REQUEST, b"{}").is_err());
        let other =
            br#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"Echo: ho"}]}}"#;
        assert!(expect_echo(StatusCode::OK, other).is_err());
    }
}
