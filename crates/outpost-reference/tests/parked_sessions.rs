//! Parked sessions (the default): a 2025-11-25 session is a record in the
//! store, served by whichever instance a request reaches, without the handler's `initialize`
//! being replayed; its owner holds on every instance; DELETE on one instance ends it on all;
//! a restart keeps it. Two in-process servers share one SQLite file (or one memory store).

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use common::{
    TestApp,
    parked::{
        get_stream_ends_after_delete, initialize, initialize_with, post, read_until,
        session_request, sqlite_file, sqlite_store,
    },
    read_jsonrpc,
};
use outpost::{
    Outpost,
    store::{McpSessionStore, Store},
};
use outpost_reference::ReferenceServer;
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, InitializeRequestParams, InitializeResult,
        ListToolsResult, PaginatedRequestParams, ServerConfig,
    },
    service::RequestContext,
};
use serde_json::{Value, json};

/// The reference server, counting how often a handler answers `initialize`.
#[derive(Clone)]
struct CountingInitialize {
    inner: ReferenceServer,
    initialized: Arc<AtomicUsize>,
}

impl ServerHandler for CountingInitialize {
    fn get_info(&self) -> ServerConfig {
        self.inner.get_info()
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        self.initialized.fetch_add(1, Ordering::SeqCst);
        self.inner.initialize(request, context).await
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.inner.list_tools(request, context).await
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.inner.call_tool(request, context).await
    }
}

/// A parked-session server on `store`, counting `initialize` answers in `initialized`.
async fn spawn_parked(store: Arc<dyn McpSessionStore>, initialized: Arc<AtomicUsize>) -> TestApp {
    let reference = ReferenceServer::new();
    let outpost = Outpost::with_factory(move || CountingInitialize {
        inner: reference.for_session(),
        initialized: initialized.clone(),
    })
    .with_session_store(store);
    common::spawn_generic(outpost).await
}

fn echo(message: &str) -> Value {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": { "name": "echo", "arguments": { "message": message } }
    })
}

async fn echoed(app: &TestApp, id: &str, message: &str) -> Value {
    let response = post(app, id, echo(message)).await;
    assert_eq!(response.status(), 200);
    read_jsonrpc(response).await
}

#[tokio::test]
async fn a_session_from_one_instance_is_served_by_another_without_initializing_again() {
    let store = sqlite_store("across").await;
    let initialized = Arc::new(AtomicUsize::new(0));
    let first = spawn_parked(store.mcp_sessions.clone(), initialized.clone()).await;
    let second = spawn_parked(store.mcp_sessions.clone(), initialized.clone()).await;

    let id = initialize(&first).await;
    let answer = echoed(&second, &id, "over there").await;
    assert_eq!(
        answer["result"]["content"][0]["text"], "Echo: over there",
        "{answer}"
    );
    let answer = echoed(&first, &id, "back here").await;
    assert_eq!(answer["result"]["content"][0]["text"], "Echo: back here");
    assert_eq!(
        initialized.load(Ordering::SeqCst),
        1,
        "only the client's own initialize reached a handler"
    );

    let unknown = post(&second, "no-such-session", echo("x")).await;
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn delete_on_one_instance_ends_the_session_on_the_other() {
    let store = sqlite_store("delete").await;
    let initialized = Arc::new(AtomicUsize::new(0));
    let first = spawn_parked(store.mcp_sessions.clone(), initialized.clone()).await;
    let second = spawn_parked(store.mcp_sessions.clone(), initialized).await;
    let id = initialize(&first).await;
    echoed(&second, &id, "cached over there").await;

    let deleted = session_request(&first, &id, reqwest::Method::DELETE)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(deleted.status(), 204);
    assert_eq!(
        session_request(&first, &id, reqwest::Method::DELETE)
            .send()
            .await
            .expect("DELETE")
            .status(),
        404,
        "deleting twice"
    );
    // At once, though the other instance read the session a moment ago (MCP: a terminated
    // session's id MUST get 404).
    assert_eq!(
        post(&second, &id, echo("gone?")).await.status(),
        404,
        "still served after a DELETE elsewhere"
    );
}

/// The GET stream held by one instance ends once a DELETE on another has ended the session,
/// at its next look at the store (every 10 s), rather than staying open for nothing. (These
/// instances share only the session store, so no relay announcement reaches the other: see
/// `parked_relay.rs` for that.)
#[tokio::test]
async fn delete_on_one_instance_ends_the_get_stream_held_by_the_other() {
    let store = sqlite_store("delete-get").await;
    let initialized = Arc::new(AtomicUsize::new(0));
    let first = spawn_parked(store.mcp_sessions.clone(), initialized.clone()).await;
    let second = spawn_parked(store.mcp_sessions.clone(), initialized).await;
    let id = initialize(&first).await;
    get_stream_ends_after_delete(&first, &second, &id, Duration::from_secs(15)).await;
}

#[tokio::test]
async fn a_restart_keeps_the_session() {
    let file = sqlite_file("restart");
    let url = format!("sqlite://{}", file.display());
    let initialized = Arc::new(AtomicUsize::new(0));
    let id = {
        let store = outpost::store::open(&url).await.expect("open");
        let app = spawn_parked(store.mcp_sessions.clone(), initialized.clone()).await;
        initialize(&app).await
    };
    let store = outpost::store::open(&url).await.expect("reopen");
    let app = spawn_parked(store.mcp_sessions.clone(), initialized.clone()).await;
    let answer = echoed(&app, &id, "after the restart").await;
    assert_eq!(
        answer["result"]["content"][0]["text"],
        "Echo: after the restart"
    );
    assert_eq!(initialized.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn progress_rides_the_request_stream_and_cancellation_reaches_the_request() {
    let store = Store::memory();
    let app = spawn_parked(store.mcp_sessions.clone(), Arc::new(AtomicUsize::new(0))).await;
    let id = initialize(&app).await;
    let response = post(
        &app,
        &id,
        json!({
            "jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {
                "name": "longRunningOperation",
                "arguments": { "duration": 0.3, "steps": 3 },
                "_meta": { "progressToken": "p" }
            }
        }),
    )
    .await;
    let body = response.text().await.expect("body");
    let messages = common::sse_messages(&body);
    let progress = messages
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .count();
    assert!(progress >= 2, "{body}");
    assert!(
        messages
            .iter()
            .any(|m| m["id"] == 7 && m["result"].is_object()),
        "{body}"
    );

    // A long call cancelled by the client ends early: its stream closes without an answer.
    let started = Instant::now();
    let call = post(
        &app,
        &id,
        json!({
            "jsonrpc": "2.0", "id": 8, "method": "tools/call",
            "params": { "name": "longRunningOperation", "arguments": { "duration": 30, "steps": 3 } }
        }),
    );
    let cancel = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let cancelled = post(
            &app,
            &id,
            json!({
                "jsonrpc": "2.0", "method": "notifications/cancelled",
                "params": { "requestId": 8, "reason": "test" }
            }),
        )
        .await;
        assert_eq!(cancelled.status(), 202);
    };
    let (response, ()) = tokio::join!(call, cancel);
    let body = tokio::time::timeout(Duration::from_secs(10), response.text())
        .await
        .expect("the cancelled request's stream ends")
        .expect("body");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        !common::sse_messages(&body)
            .iter()
            .any(|m| m["id"] == 8 && m["result"].is_object()),
        "{body}"
    );
}

#[tokio::test]
async fn the_get_stream_opens_for_a_live_session_only_and_ends_with_it() {
    let store = Store::memory();
    let app = spawn_parked(store.mcp_sessions.clone(), Arc::new(AtomicUsize::new(0))).await;
    let id = initialize(&app).await;
    let stream = session_request(&app, &id, reqwest::Method::GET)
        .send()
        .await
        .expect("GET");
    assert_eq!(stream.status(), 200);
    let deleted = session_request(&app, &id, reqwest::Method::DELETE)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(deleted.status(), 204);
    tokio::time::timeout(Duration::from_secs(5), stream.text())
        .await
        .expect("a DELETE ends the session's GET stream")
        .expect("body");
    let unknown = session_request(&app, "nope", reqwest::Method::GET)
        .send()
        .await
        .expect("GET");
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn a_server_to_client_request_rides_the_request_stream_and_its_answer_comes_back() {
    let store = Store::memory();
    let app = spawn_parked(store.mcp_sessions.clone(), Arc::new(AtomicUsize::new(0))).await;
    let id = initialize_with(&app, json!({ "sampling": {} })).await;
    // Two calls at once: each handler's peer numbers its requests from zero, the client
    // sees distinct ids and each answer reaches its own call.
    let mut first = post(
        &app,
        &id,
        json!({
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": { "name": "sampleLLM", "arguments": { "prompt": "one" } }
        }),
    )
    .await;
    let mut second = post(
        &app,
        &id,
        json!({
            "jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": { "name": "sampleLLM", "arguments": { "prompt": "two" } }
        }),
    )
    .await;
    let (mut seen_first, mut seen_second) = (String::new(), String::new());
    let is_sampling = |m: &Value| m["method"] == "sampling/createMessage";
    let ask_first = read_until(&mut first, &mut seen_first, is_sampling).await;
    let ask_second = read_until(&mut second, &mut seen_second, is_sampling).await;
    assert_ne!(
        ask_first["id"], ask_second["id"],
        "distinct ids on one session"
    );
    // Progress tokens too: they MUST be unique across the active requests.
    let token = |ask: &Value| ask["params"]["_meta"]["progressToken"].clone();
    assert!(!token(&ask_first).is_null(), "{ask_first}");
    assert_ne!(token(&ask_first), token(&ask_second));
    for (ask, text) in [(&ask_second, "sampled two"), (&ask_first, "sampled one")] {
        let answered = post(
            &app,
            &id,
            json!({
                "jsonrpc": "2.0", "id": ask["id"],
                "result": {
                    "role": "assistant", "model": "test",
                    "content": { "type": "text", "text": text }
                }
            }),
        )
        .await;
        assert_eq!(answered.status(), 202);
    }
    let done_first = read_until(&mut first, &mut seen_first, |m| m["id"] == 1).await;
    let done_second = read_until(&mut second, &mut seen_second, |m| m["id"] == 2).await;
    assert!(
        done_first.to_string().contains("sampled one"),
        "{done_first}"
    );
    assert!(
        done_second.to_string().contains("sampled two"),
        "{done_second}"
    );
}

/// The idle clock starts when a use ends: a tool call that runs longer than the idle timeout
/// keeps its session, and so does a GET stream held open that long.
#[tokio::test]
async fn a_use_longer_than_the_idle_timeout_keeps_the_session() {
    // The record lives 2 s past each push (1 s + the 1 s minimum slack).
    let config = outpost::ServerConfig {
        session_idle_timeout: Duration::from_secs(1),
        ..outpost::ServerConfig::default()
    };
    let app = common::spawn_app_with(config).await;
    let id = initialize(&app).await;
    let long_call = json!({
        "jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": { "name": "longRunningOperation", "arguments": { "duration": 4, "steps": 1 } }
    });
    let answer = read_jsonrpc(post(&app, &id, long_call).await).await;
    assert_eq!(answer["id"], 7, "{answer}");
    assert!(answer["result"]["content"].is_array(), "{answer}");
    let after = echoed(&app, &id, "after the long call").await;
    assert!(
        after["result"].is_object(),
        "the session outlived the call: {after}"
    );

    let stream = session_request(&app, &id, reqwest::Method::GET)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("GET /mcp");
    assert_eq!(stream.status(), 200);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let after = echoed(&app, &id, "after the held stream").await;
    assert!(
        after["result"].is_object(),
        "the session outlived the wait: {after}"
    );
    drop(stream);
}

#[tokio::test]
async fn an_initialize_inside_a_session_is_refused_and_the_session_keeps_what_it_negotiated() {
    let initialized = Arc::new(AtomicUsize::new(0));
    let app = spawn_parked(Store::memory().mcp_sessions, initialized.clone()).await;
    let id = initialize(&app).await;
    let again = post(
        &app,
        &id,
        json!({
            "jsonrpc": "2.0", "id": 9, "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": { "sampling": {} },
                "clientInfo": { "name": "again", "version": "2" }
            }
        }),
    )
    .await;
    assert_eq!(again.status(), 200);
    let answer = read_jsonrpc(again).await;
    assert_eq!(answer["id"], 9, "{answer}");
    assert_eq!(answer["error"]["code"], -32600, "{answer}");
    assert_eq!(initialized.load(Ordering::SeqCst), 1, "no handler saw it");

    let answer = echoed(&app, &id, "still here").await;
    assert_eq!(answer["result"]["content"][0]["text"], "Echo: still here");
}
