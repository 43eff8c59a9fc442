//! JSON-RPC batches, which 2025-03-26 servers MUST accept (2025-06-18 removed them): a batch
//! posted on a 2025-03-26 session is answered message by message on one SSE stream, on both
//! session kinds (parked in a store, the default; rmcp's in memory).

mod common;

use common::{TestApp, spawn_app, spawn_outpost, sse_messages};
use serde_json::{Value, json};

/// The most messages the server takes in one batch.
const MAX_BATCH: usize = 100;

/// A raw 2025-03-26 session: initialized, with its id. Its requests carry no
/// `MCP-Protocol-Version`, as 2025-03-26 clients send none.
struct Session<'a> {
    app: &'a TestApp,
    id: String,
}

impl<'a> Session<'a> {
    async fn open(app: &'a TestApp) -> Session<'a> {
        let response = app
            .http
            .post(app.url("/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .json(&json!({
                "jsonrpc": "2.0", "id": 0, "method": "initialize",
                "params": {
                    "protocolVersion": "2025-03-26",
                    "capabilities": {},
                    "clientInfo": { "name": "outpost-tests", "version": "1.0.0" }
                }
            }))
            .send()
            .await
            .expect("initialize");
        assert_eq!(response.status(), 200);
        let id = response.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let session = Session { app, id };
        let (status, _) = session
            .post(json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))
            .await;
        assert_eq!(status, 202);
        session
    }

    /// Posts `body` on the session; the status and the messages of the answer.
    async fn post(&self, body: Value) -> (u16, Vec<Value>) {
        self.post_as(&self.id, None, body).await
    }

    async fn post_as(&self, id: &str, version: Option<&str>, body: Value) -> (u16, Vec<Value>) {
        let mut request = self
            .app
            .http
            .post(self.app.url("/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", id)
            .json(&body);
        if let Some(version) = version {
            request = request.header("mcp-protocol-version", version);
        }
        let response = request.send().await.expect("post");
        let status = response.status().as_u16();
        let is_json = response
            .headers()
            .get("content-type")
            .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
        let text = response.text().await.expect("body");
        let messages = if is_json {
            vec![serde_json::from_str(&text).expect("JSON")]
        } else {
            sse_messages(&text)
        };
        (status, messages)
    }
}

fn by_id(messages: &[Value], id: i64) -> &Value {
    messages
        .iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("no answer for {id} in {messages:?}"))
}

async fn batches_are_answered_message_by_message(app: &TestApp) {
    let session = Session::open(app).await;

    // Requests, a notification and a malformed element: one answer per request, in one
    // stream; the malformed element gets its own JSON-RPC error.
    let (status, messages) = session
        .post(json!([
            { "jsonrpc": "2.0", "id": 1, "method": "tools/list" },
            { "jsonrpc": "2.0", "method": "notifications/roots/list_changed" },
            { "jsonrpc": "2.0", "id": 2, "method": "tools/call",
              "params": { "name": "echo", "arguments": { "message": "batched" } } },
            { "jsonrpc": "2.0", "id": 3, "method": "ping" },
            { "not": "json-rpc" },
        ]))
        .await;
    assert_eq!(status, 200, "{messages:?}");
    assert!(by_id(&messages, 1)["result"]["tools"].is_array());
    assert_eq!(
        by_id(&messages, 2)["result"]["content"][0]["text"],
        "Echo: batched"
    );
    assert_eq!(by_id(&messages, 3)["result"], json!({}));
    let malformed = messages
        .iter()
        .find(|m| m["id"].is_null())
        .unwrap_or_else(|| panic!("no error for the malformed element: {messages:?}"));
    assert_eq!(malformed["error"]["code"], -32600);
    assert_eq!(messages.len(), 4, "{messages:?}");

    // A browser client reads the batch's answer: it carries the CORS headers.
    let origin = "http://localhost:6274";
    let response = app
        .http
        .post(app.url("/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &session.id)
        .header("origin", origin)
        .json(&json!([{ "jsonrpc": "2.0", "id": 4, "method": "ping" }]))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], origin);

    // `initialize` MUST NOT be part of a batch (2025-03-26 lifecycle): it gets an error of its
    // own and does not run; the rest of the batch does.
    let (status, messages) = session
        .post(json!([
            { "jsonrpc": "2.0", "id": 5, "method": "initialize",
              "params": { "protocolVersion": "2025-03-26", "capabilities": {},
                          "clientInfo": { "name": "again", "version": "1" } } },
            { "jsonrpc": "2.0", "id": 6, "method": "ping" },
        ]))
        .await;
    assert_eq!(status, 200, "{messages:?}");
    assert_eq!(by_id(&messages, 5)["error"]["code"], -32600, "{messages:?}");
    assert_eq!(by_id(&messages, 6)["result"], json!({}));

    // Notifications only: accepted.
    let (status, messages) = session
        .post(json!([
            { "jsonrpc": "2.0", "method": "notifications/roots/list_changed" },
            { "jsonrpc": "2.0", "method": "notifications/roots/list_changed" },
        ]))
        .await;
    assert_eq!((status, messages.len()), (202, 0));
    // Responses and notifications only, one answering no request of the server's: no
    // request, so no stream; the answer that response gets alone (parked sessions refuse it
    // `400`, rmcp's in-memory ones drop it with a `202`).
    let stray = json!({ "jsonrpc": "2.0", "id": 41, "result": {} });
    let alone = session.post(stray.clone()).await;
    let (status, messages) = session
        .post(json!([
            stray,
            { "jsonrpc": "2.0", "method": "notifications/roots/list_changed" },
        ]))
        .await;
    assert_eq!((status, &messages), (alone.0, &alone.1));
    assert!(
        status == 202 || messages[0]["error"]["code"] == -32600,
        "{messages:?}"
    );

    // An empty batch, or one too long: one error for the whole batch (JSON-RPC 2.0 §6).
    let long: Vec<Value> = (0..=MAX_BATCH)
        .map(|id| json!({ "jsonrpc": "2.0", "id": id, "method": "ping" }))
        .collect();
    for body in [json!([]), Value::Array(long)] {
        let (status, messages) = session.post(body).await;
        assert_eq!(status, 400);
        assert_eq!(messages[0]["error"]["code"], -32600, "{messages:?}");
    }

    // A batch on a session that is not there: the session's error, for the whole batch.
    let ping = json!([{ "jsonrpc": "2.0", "id": 9, "method": "ping" }]);
    let (status, _) = session.post_as("no-such-session", None, ping.clone()).await;
    assert_eq!(status, 404);

    // A later revision has no batches.
    let (status, messages) = session.post_as(&session.id, Some("2025-06-18"), ping).await;
    assert_eq!(status, 400);
    assert_eq!(messages[0]["error"]["code"], -32600, "{messages:?}");
}

#[tokio::test]
async fn parked_sessions_take_batches() {
    let app = spawn_app().await;
    batches_are_answered_message_by_message(&app).await;
}

#[tokio::test]
async fn in_memory_sessions_take_batches() {
    let reference = outpost_reference::ReferenceServer::new();
    let app = spawn_outpost(
        outpost::Outpost::with_factory(move || reference.for_session()).with_in_memory_sessions(),
    )
    .await;
    batches_are_answered_message_by_message(&app).await;
}
