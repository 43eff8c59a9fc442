//! The legacy 2024-11-05 HTTP+SSE transport over real HTTP on loopback: `GET /sse`, then
//! `POST /message?sessionId=…`, answers read back from the event stream.
//!
//! Every stream read has a timeout, and every "eventually" is polled against a deadline, so a
//! regression fails fast instead of hanging the suite.

mod common;

use std::{
    pin::Pin,
    time::{Duration, Instant},
};

use common::{TestApp, spawn_app, spawn_app_with};
use futures::{Stream, StreamExt};
use outpost::ServerConfig;
use serde_json::{Value, json};

/// Longest wait for one chunk of the event stream.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// One parsed SSE event.
#[derive(Debug)]
struct SseEvent {
    event: String,
    data: String,
}

/// A minimal SSE reader over a `GET /sse` response.
struct SseStream {
    chunks: Pin<Box<dyn Stream<Item = reqwest::Result<Vec<u8>>> + Send>>,
    buffer: String,
}

impl SseStream {
    async fn open(app: &TestApp) -> (Self, reqwest::header::HeaderMap) {
        let response = app
            .http
            .get(app.url("/sse"))
            .header("accept", "text/event-stream")
            .send()
            .await
            .expect("GET /sse");
        assert_eq!(response.status(), 200);
        let headers = response.headers().clone();
        let chunks = response
            .bytes_stream()
            .map(|chunk| chunk.map(|b| b.to_vec()));
        (
            Self {
                chunks: Box::pin(chunks),
                buffer: String::new(),
            },
            headers,
        )
    }

    /// The next event with data (keep-alive comments are skipped); `None` when the stream ends.
    async fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let raw: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent {
                    event: "message".into(),
                    data: String::new(),
                };
                let mut has_data = false;
                for line in raw.lines() {
                    if let Some(name) = line.strip_prefix("event:") {
                        event.event = name.trim().into();
                    } else if let Some(data) = line.strip_prefix("data:") {
                        if has_data {
                            event.data.push('\n');
                        }
                        event.data.push_str(data.strip_prefix(' ').unwrap_or(data));
                        has_data = true;
                    }
                }
                if has_data {
                    return Some(event);
                }
                continue;
            }
            let chunk = tokio::time::timeout(READ_TIMEOUT, self.chunks.next())
                .await
                .expect("SSE read timed out")?;
            let chunk = chunk.ok()?;
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8 SSE"));
        }
    }

    /// The `endpoint` event's URI.
    async fn endpoint(&mut self) -> String {
        let event = self.next_event().await.expect("an endpoint event");
        assert_eq!(event.event, "endpoint");
        event.data
    }

    /// The next `message` event, as JSON.
    async fn message(&mut self) -> Value {
        let event = self.next_event().await.expect("a message event");
        assert_eq!(event.event, "message");
        serde_json::from_str(&event.data).expect("JSON message")
    }
}

/// POSTs `body` as JSON to the session's endpoint URI.
async fn post(app: &TestApp, endpoint: &str, body: &Value) -> reqwest::Response {
    app.http
        .post(app.url(endpoint))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("POST /message")
}

async fn post_accepted(app: &TestApp, endpoint: &str, body: Value) {
    let response = post(app, endpoint, &body).await;
    assert_eq!(response.status(), 202, "POST {body}");
    assert_eq!(response.text().await.expect("body"), "");
}

/// Opens a session and completes the 2024-11-05 handshake; returns the stream and endpoint.
async fn initialized_session(app: &TestApp, capabilities: Value) -> (SseStream, String) {
    let (mut sse, _) = SseStream::open(app).await;
    let endpoint = sse.endpoint().await;
    post_accepted(
        app,
        &endpoint,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2024-11-05",
            "capabilities": capabilities,
            "clientInfo": {"name": "legacy-sse-test", "version": "1.0.0"}
        }}),
    )
    .await;
    let init = sse.message().await;
    assert_eq!(init["id"], 1, "{init}");
    assert_eq!(init["result"]["protocolVersion"], "2024-11-05", "{init}");
    post_accepted(
        app,
        &endpoint,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    (sse, endpoint)
}

/// Polls until a POST to `endpoint` answers 404, or fails after `within`.
async fn assert_session_gone(app: &TestApp, endpoint: &str, within: Duration) {
    let deadline = Instant::now() + within;
    let ping = json!({"jsonrpc": "2.0", "id": 99, "method": "ping"});
    loop {
        let status = post(app, endpoint, &ping).await.status();
        if status == 404 {
            return;
        }
        assert!(Instant::now() < deadline, "session still answers {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn initialize_list_and_call_over_sse() {
    let app = spawn_app().await;
    let (mut sse, headers) = SseStream::open(&app).await;
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["x-accel-buffering"], "no");

    let endpoint = sse.endpoint().await;
    let session_id = endpoint
        .strip_prefix("/message?sessionId=")
        .unwrap_or_else(|| panic!("relative endpoint URI, got {endpoint}"));
    assert_eq!(session_id.len(), 32);
    assert!(session_id.bytes().all(|b| b.is_ascii_hexdigit()));

    post_accepted(
        &app,
        &endpoint,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2024-11-05",
            "capabilities": {},
            "clientInfo": {"name": "legacy-sse-test", "version": "1.0.0"}
        }}),
    )
    .await;
    let init = sse.message().await;
    assert_eq!(init["jsonrpc"], "2.0");
    assert_eq!(init["id"], 1);
    assert_eq!(init["result"]["protocolVersion"], "2024-11-05");
    assert!(init["result"]["serverInfo"]["name"].is_string(), "{init}");
    assert!(
        init["result"]["capabilities"]["tools"].is_object(),
        "{init}"
    );

    post_accepted(
        &app,
        &endpoint,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;

    post_accepted(
        &app,
        &endpoint,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
    )
    .await;
    let list = sse.message().await;
    assert_eq!(list["id"], 2);
    let tools = list["result"]["tools"].as_array().expect("tools array");
    assert!(tools.iter().any(|tool| tool["name"] == "echo"), "{list}");

    post_accepted(
        &app,
        &endpoint,
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
               "params": {"name": "echo", "arguments": {"message": "hi"}}}),
    )
    .await;
    let call = sse.message().await;
    assert_eq!(call["id"], 3);
    assert_eq!(call["result"]["content"][0]["type"], "text");
    assert_eq!(call["result"]["content"][0]["text"], "Echo: hi");
    assert_ne!(call["result"]["isError"], true);
}

#[tokio::test]
async fn batches_are_answered_one_event_per_message() {
    let app = spawn_app().await;
    let (mut sse, endpoint) = initialized_session(&app, json!({})).await;
    post_accepted(
        &app,
        &endpoint,
        json!([
            {"jsonrpc": "2.0", "id": "a", "method": "ping"},
            {"jsonrpc": "2.0", "id": "b", "method": "tools/call",
             "params": {"name": "echo", "arguments": {"message": "batch"}}}
        ]),
    )
    .await;
    let mut answers = [sse.message().await, sse.message().await];
    answers.sort_by_key(|answer| answer["id"].as_str().map(str::to_owned));
    assert_eq!(answers[0]["id"], "a");
    assert_eq!(answers[0]["result"], json!({}));
    assert_eq!(answers[1]["result"]["content"][0]["text"], "Echo: batch");
}

#[tokio::test]
async fn server_to_client_sampling_round_trips() {
    let app = spawn_app().await;
    let (mut sse, endpoint) = initialized_session(&app, json!({"sampling": {}})).await;
    post_accepted(
        &app,
        &endpoint,
        json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
               "params": {"name": "sampleLLM", "arguments": {"prompt": "say hi"}}}),
    )
    .await;
    let request = sse.message().await;
    assert_eq!(request["method"], "sampling/createMessage", "{request}");
    post_accepted(
        &app,
        &endpoint,
        json!({"jsonrpc": "2.0", "id": request["id"], "result": {
            "role": "assistant",
            "content": {"type": "text", "text": "hello from the client"},
            "model": "test-model",
            "stopReason": "endTurn"
        }}),
    )
    .await;
    let result = sse.message().await;
    assert_eq!(result["id"], 7, "{result}");
    let text = result["result"]["content"][0]["text"]
        .as_str()
        .expect("text result");
    assert!(text.contains("hello from the client"), "{result}");
}

#[tokio::test]
async fn bad_posts_get_http_errors() {
    let app = spawn_app_with(ServerConfig {
        max_request_body_bytes: 64 * 1024,
        ..ServerConfig::default()
    })
    .await;
    let (mut sse, _) = SseStream::open(&app).await;
    let endpoint_uri = sse.endpoint().await;
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});

    let unknown = post(
        &app,
        "/message?sessionId=00000000000000000000000000000000",
        &ping,
    )
    .await;
    assert_eq!(unknown.status(), 404);

    let missing = post(&app, "/message", &ping).await;
    assert_eq!(missing.status(), 400);

    let malformed = app
        .http
        .post(app.url(&endpoint_uri))
        .header("content-type", "application/json")
        .body("{\"jsonrpc\": \"2.0\", \"id\": ")
        .send()
        .await
        .expect("POST");
    assert_eq!(malformed.status(), 400);
    let error: Value = malformed.json().await.expect("JSON-RPC error body");
    assert_eq!(error["jsonrpc"], "2.0");
    assert_eq!(error["id"], Value::Null);
    assert_eq!(error["error"]["code"], -32700);

    let oversized = app
        .http
        .post(app.url(&endpoint_uri))
        .header("content-type", "application/json")
        .body(vec![b' '; 64 * 1024 + 1])
        .send()
        .await
        .expect("POST");
    assert_eq!(oversized.status(), 413);

    let text = app
        .http
        .post(app.url(&endpoint_uri))
        .header("content-type", "text/plain")
        .body(ping.to_string())
        .send()
        .await
        .expect("POST");
    assert_eq!(text.status(), 415);

    // None of that reached or broke the session: a valid ping still works (pre-initialize).
    post_accepted(&app, &endpoint_uri, ping).await;
    assert_eq!(sse.message().await["id"], 1);
}

#[tokio::test]
async fn foreign_host_is_forbidden() {
    let app = spawn_app().await;
    let sse = app
        .http
        .get(app.url("/sse"))
        .header("host", "evil.example")
        .send()
        .await
        .expect("GET");
    assert_eq!(sse.status(), 403);
    let post = app
        .http
        .post(app.url("/message?sessionId=x"))
        .header("host", "evil.example")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("POST");
    assert_eq!(post.status(), 403);
    let origin = app
        .http
        .get(app.url("/sse"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("GET");
    assert_eq!(origin.status(), 403);
}

#[tokio::test]
async fn closing_the_stream_ends_the_session() {
    let app = spawn_app().await;
    let (mut sse, endpoint) = initialized_session(&app, json!({})).await;
    post_accepted(
        &app,
        &endpoint,
        json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}),
    )
    .await;
    assert_eq!(sse.message().await["id"], 2);
    drop(sse);
    assert_session_gone(&app, &endpoint, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn unused_session_ends_when_its_stream_closes() {
    let app = spawn_app().await;
    let (mut sse, _) = SseStream::open(&app).await;
    let endpoint = sse.endpoint().await;
    drop(sse);
    assert_session_gone(&app, &endpoint, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn shutdown_ends_open_streams() {
    let app = spawn_app().await;
    let (mut sse, _endpoint) = initialized_session(&app, json!({})).await;
    drop(app); // cancels the server's shutdown token
    assert!(
        sse.next_event().await.is_none(),
        "the stream ends on shutdown"
    );
}
