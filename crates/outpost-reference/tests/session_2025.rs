//! 2025-11-25 sessions on `/mcp`: initialize, `Mcp-Session-Id`, the GET stream, DELETE,
//! resumption with `Last-Event-ID`, a stored session resumed by another instance. Driven by
//! rmcp's client and by raw HTTP where the wire matters.

mod common;

use std::time::Duration;

use common::{TestApp, read_jsonrpc, spawn_app, spawn_with_session_store, sse_messages};
use outpost::store::Store;
use rmcp::{
    ServiceExt,
    model::{CallToolRequestParams, ClientConfig},
    transport::StreamableHttpClientTransport,
};
use serde_json::{Value, json};

const VERSION: &str = "2025-11-25";

/// A raw HTTP session: initialized, with its id.
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
                    "protocolVersion": VERSION,
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
        let init = read_jsonrpc(response).await;
        assert_eq!(init["result"]["protocolVersion"], VERSION);
        let session = Session { app, id };
        let ack = session
            .post(json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))
            .await;
        assert_eq!(ack.status(), 202);
        session
    }

    fn request(&self, method: reqwest::Method) -> reqwest::RequestBuilder {
        self.app
            .http
            .request(method, self.app.url("/mcp"))
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &self.id)
            .header("mcp-protocol-version", VERSION)
    }

    async fn post(&self, body: Value) -> reqwest::Response {
        self.request(reqwest::Method::POST)
            .header("content-type", "application/json")
            .json(&body)
            .send()
            .await
            .expect("post")
    }

    async fn call(&self, body: Value) -> Value {
        read_jsonrpc(self.post(body).await).await
    }
}

#[tokio::test]
async fn rmcp_client_runs_a_session() {
    let app = spawn_app().await;
    let transport = StreamableHttpClientTransport::from_uri(app.url("/mcp"));
    let client = ClientConfig::default()
        .serve(transport)
        .await
        .expect("initialize");
    let info = client.peer_info().expect("server info");
    assert_eq!(
        info.server_info.as_ref().map(|i| i.name.as_str()),
        Some("outpost-reference")
    );
    let result = client
        .call_tool(
            CallToolRequestParams::new("echo").with_arguments(
                json!({ "message": "session" })
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            ),
        )
        .await
        .expect("tools/call");
    assert_eq!(
        result.content[0].as_text().map(|t| t.text.as_str()),
        Some("Echo: session")
    );
    client.cancel().await.expect("client stops");
}

/// A client that declared no capability is never sent a sampling or elicitation request: the
/// tools that would send one answer a tool error instead.
#[tokio::test]
async fn a_session_client_is_never_asked_for_what_it_did_not_declare() {
    let app = spawn_app().await;
    let session = Session::open(&app).await;
    for (id, tool, arguments) in [
        (1, "test_elicitation", json!({ "message": "hi" })),
        (2, "test_elicitation_sep1034_defaults", json!({})),
        (3, "test_sampling", json!({ "prompt": "hi" })),
    ] {
        let response = session
            .post(json!({ "jsonrpc": "2.0", "id": id, "method": "tools/call",
                          "params": { "name": tool, "arguments": arguments } }))
            .await;
        let messages = sse_messages(&response.text().await.unwrap());
        assert_eq!(messages.len(), 1, "only the answer: {messages:?}");
        let result = &messages[0]["result"];
        assert_eq!(result["isError"], true, "{tool}: {result}");
        assert!(
            result["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains("did not declare"),
            "{tool}: {result}"
        );
    }
}

#[tokio::test]
async fn session_lifecycle_get_stream_delete_then_404() {
    let app = spawn_app().await;
    let session = Session::open(&app).await;

    let tools = session
        .call(json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }))
        .await;
    assert!(
        tools["result"]["tools"]
            .as_array()
            .is_some_and(|t| !t.is_empty())
    );

    let stream = session
        .request(reqwest::Method::GET)
        .send()
        .await
        .expect("GET stream");
    assert_eq!(stream.status(), 200);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    drop(stream);

    let deleted = session
        .request(reqwest::Method::DELETE)
        .send()
        .await
        .expect("DELETE");
    assert!(
        deleted.status().is_success(),
        "DELETE answered {}",
        deleted.status()
    );

    let after = session
        .post(json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" }))
        .await;
    assert_eq!(after.status(), 404, "a deleted session is gone");
    let again = session
        .request(reqwest::Method::DELETE)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(again.status(), 404, "deleting an unknown session is 404");
}

#[tokio::test]
async fn a_stored_session_resumes_on_another_instance_until_deleted() {
    let store = Store::memory();
    let first = spawn_with_session_store(store.mcp_sessions.clone()).await;
    let id = Session::open(&first).await.id;
    // The first instance stops (its in-memory session ends); a second one shares the store.
    drop(first);
    let second = spawn_with_session_store(store.mcp_sessions.clone()).await;
    let resumed = Session {
        app: &second,
        id: id.clone(),
    };
    let call = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": { "name": "echo", "arguments": { "message": "still here" } }
    });
    let answer = resumed.call(call.clone()).await;
    assert!(answer["result"]["content"].is_array(), "{answer}");
    assert!(
        store.mcp_sessions.get(&id, 0).await.expect("get").is_some(),
        "a resumed session stays stored"
    );

    let deleted = resumed
        .request(reqwest::Method::DELETE)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(deleted.status(), 204);
    assert_eq!(store.mcp_sessions.get(&id, 0).await.expect("get"), None);
    let third = spawn_with_session_store(store.mcp_sessions.clone()).await;
    let gone = Session { app: &third, id };
    assert_eq!(gone.post(call).await.status(), 404, "deleted everywhere");
}

#[tokio::test]
async fn unknown_session_is_404_and_missing_session_is_400() {
    let app = spawn_app().await;
    let unknown = Session {
        app: &app,
        id: "no-such-session".into(),
    };
    let response = unknown
        .post(json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }))
        .await;
    assert_eq!(response.status(), 404);

    let response = app
        .http
        .post(app.url("/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", VERSION)
        .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }))
        .send()
        .await
        .expect("post");
    assert_eq!(
        response.status(),
        400,
        "a 2025-11-25 request without a session id"
    );
}

#[tokio::test]
async fn session_honours_log_level_on_the_request_s_own_stream() {
    let app = spawn_app().await;
    let session = Session::open(&app).await;
    let set = session
        .call(json!({ "jsonrpc": "2.0", "id": 1, "method": "logging/setLevel", "params": { "level": "error" } }))
        .await;
    assert!(set.get("result").is_some(), "{set}");
    // `notifications/message` is about a request: it rides that request's own stream, before
    // its answer (a client that never opens the GET stream still sees it).
    let response = session
        .post(json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": { "name": "emitLogMessages", "arguments": {} } }))
        .await;
    let body = tokio::time::timeout(Duration::from_secs(5), response.text())
        .await
        .expect("the answer within 5s")
        .expect("body");
    let messages = sse_messages(&body);
    let levels: Vec<Value> = messages
        .iter()
        .filter(|m| m["method"] == "notifications/message")
        .map(|m| m["params"]["level"].clone())
        .collect();
    assert_eq!(
        levels,
        vec![
            json!("error"),
            json!("critical"),
            json!("alert"),
            json!("emergency")
        ],
        "{body}"
    );
    assert!(
        messages
            .last()
            .is_some_and(|m| m["id"] == 2 && m.get("result").is_some()),
        "the answer comes last: {body}"
    );
}

/// rmcp's in-memory sessions keep a request's stream for `Last-Event-ID`; parked sessions
/// keep only the GET stream's events (`parked_events.rs`): a client that loses a request's
/// stream retries the request.
#[tokio::test]
async fn an_in_memory_session_s_interrupted_stream_resumes_with_last_event_id() {
    let reference = outpost_reference::ReferenceServer::new();
    let app = common::spawn_outpost(
        outpost::Outpost::with_factory(move || reference.for_session()).with_in_memory_sessions(),
    )
    .await;
    let session = Session::open(&app).await;
    let mut response = session
        .post(json!({
            "jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {
                "name": "longRunningOperation",
                "arguments": { "duration": 1.5, "steps": 3 },
                "_meta": { "progressToken": "resume-me" }
            }
        }))
        .await;
    // Read until the first progress notification, remember its event id, then drop the
    // connection as a client on a flaky network would.
    let mut seen = String::new();
    let last_event_id = loop {
        let chunk = tokio::time::timeout(Duration::from_secs(5), response.chunk())
            .await
            .expect("progress within 5s")
            .expect("read")
            .expect("stream still open");
        seen.push_str(std::str::from_utf8(&chunk).unwrap());
        let progress_event = seen
            .split("\n\n")
            .find(|event| event.contains("notifications/progress"));
        if let Some(event) = progress_event {
            let id = event
                .lines()
                .find_map(|l| l.strip_prefix("id:"))
                .map(str::trim);
            break id.expect("events carry ids").to_owned();
        }
    };
    drop(response);

    let resumed = session
        .request(reqwest::Method::GET)
        .header("last-event-id", &last_event_id)
        .send()
        .await
        .expect("resume");
    assert_eq!(resumed.status(), 200);
    let body = tokio::time::timeout(Duration::from_secs(10), resumed.text())
        .await
        .expect("the resumed stream ends with the response")
        .expect("body");
    let messages = sse_messages(&body);
    let final_response = messages
        .iter()
        .find(|m| m["id"] == 7)
        .unwrap_or_else(|| panic!("no response after resume: {body}"));
    assert!(
        final_response["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("completed")
    );
    let progress = messages
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .count();
    assert!(
        progress >= 2,
        "the missed progress notifications are replayed: {body}"
    );
}

#[tokio::test]
async fn subscribed_resource_reports_updates_until_unsubscribed() {
    let reference = outpost_reference::ReferenceServer::with_resource_update_interval(
        Duration::from_millis(100),
    );
    let app = common::spawn_reference(reference, outpost::ServerConfig::default()).await;
    let session = Session::open(&app).await;
    let mut stream = session
        .request(reqwest::Method::GET)
        .send()
        .await
        .expect("GET stream");

    let unknown = session
        .call(json!({ "jsonrpc": "2.0", "id": 1, "method": "resources/subscribe", "params": { "uri": "test://nope" } }))
        .await;
    assert_eq!(unknown["error"]["code"], -32002, "{unknown}");

    let subscribed = session
        .call(json!({ "jsonrpc": "2.0", "id": 2, "method": "resources/subscribe", "params": { "uri": "test://static/resource/4" } }))
        .await;
    assert!(subscribed.get("result").is_some(), "{subscribed}");
    let mut body = String::new();
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
            .await
            .unwrap_or_else(|_| panic!("no update within 5s: {body}"))
            .expect("read")
            .expect("stream open");
        body.push_str(std::str::from_utf8(&chunk).unwrap());
        let updated = sse_messages(&body)
            .into_iter()
            .find(|m| m["method"] == "notifications/resources/updated");
        if let Some(update) = updated {
            assert_eq!(update["params"]["uri"], "test://static/resource/4");
            break;
        }
    }

    let unsubscribed = session
        .call(json!({ "jsonrpc": "2.0", "id": 3, "method": "resources/unsubscribe", "params": { "uri": "test://static/resource/4" } }))
        .await;
    assert!(unsubscribed.get("result").is_some(), "{unsubscribed}");
}
