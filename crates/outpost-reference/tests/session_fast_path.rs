//! Session requests on the fast path (`outpost::mcp::fast_path`'s `session`, served inline
//! through the session's hot peer) answer exactly as the per-request path does (a serve loop
//! per request, behind rmcp's `StreamableHttpService`), and keep what a session offers:
//! notifications before the answer, server→client requests answered by a later POST,
//! cancellation, a second request of the session at the same time — and a client notification
//! reaching the session's handler, whose request to the client rides the GET stream.
//!
//! Each request is sent twice with the same body: with a `Content-Length` (the fast path takes
//! it) and chunked (the fast path leaves bodies without a declared length to rmcp). The two
//! answers must be byte for byte the same: status, the SSE headers, the body. rmcp's "Service
//! initialized as server" events show which path answered: the per-request path builds a
//! serve loop per request, the fast path none (but the one that makes a session hot).

mod common;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use common::{
    TestApp,
    parked::{initialize, initialize_with, post, read_until, session_request},
    plain_rmcp::ServeLoopCounter,
    sse_messages,
};
use outpost::{Outpost, ServerConfig};
use outpost_reference::ReferenceServer;
use rmcp::{
    RoleServer, ServerHandler, model::ServerConfig as ServerInfo, service::NotificationContext,
};
use serde_json::{Value, json};

/// What a client can observe of one answer, headers that vary per response aside.
#[derive(Debug, PartialEq)]
struct Answer {
    status: u16,
    content_type: Option<String>,
    cache_control: Option<String>,
    accel_buffering: Option<String>,
    body: String,
}

async fn send(app: &TestApp, session: &str, body: &Value, chunked: bool) -> Answer {
    let bytes = serde_json::to_vec(body).expect("a JSON body");
    let request = session_request(app, session, reqwest::Method::POST)
        .header("content-type", "application/json");
    let request = if chunked {
        let chunks = [Ok::<_, std::io::Error>(bytes)];
        request.body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
    } else {
        request.body(bytes)
    };
    let response = request.send().await.expect("send");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|value| value.to_str().expect("text").to_owned())
    };
    Answer {
        status: response.status().as_u16(),
        content_type: header("content-type"),
        cache_control: header("cache-control"),
        accel_buffering: header("x-accel-buffering"),
        body: response.text().await.expect("body"),
    }
}

/// Waits on `stream` (its text so far in `seen`) for the server's request `method`, and POSTs
/// `result` as the client's answer, which the server must accept.
async fn answer_request(
    app: &TestApp,
    session: &str,
    (stream, seen): (&mut reqwest::Response, &mut String),
    method: &str,
    result: Value,
) {
    let asked = read_until(stream, seen, |message| message["method"] == method).await;
    let answer = post(
        app,
        session,
        json!({ "jsonrpc": "2.0", "id": asked["id"], "result": result }),
    )
    .await;
    assert_eq!(answer.status(), 202, "the answer to {asked}");
}

fn call(id: u64, name: &str, arguments: Value) -> Value {
    json!({
        "jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": { "name": name, "arguments": arguments }
    })
}

fn request(id: u64, method: &str, params: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
}

#[tokio::test]
async fn inline_answers_as_the_per_request_path_does() {
    let serve_loops = ServeLoopCounter::default();
    let _subscriber = tracing::subscriber::set_default(serve_loops.clone());
    let app = common::spawn_reference(ReferenceServer::new(), ServerConfig::default()).await;
    let session = initialize(&app).await;
    let level = post(
        &app,
        &session,
        request(1, "logging/setLevel", json!({ "level": "debug" })),
    )
    .await;
    assert_eq!(level.status(), 200);
    level.text().await.expect("the setLevel answer");

    let cases = [
        request(2, "tools/list", json!({})),
        call(3, "echo", json!({ "message": "hi" })),
        call(4, "add", json!({ "a": 2, "b": 3 })),
        call(5, "no_such_tool", json!({})),
        call(6, "add", json!({ "a": "two" })),
        call(7, "test_error_handling", json!({})),
        call(8, "test_tool_with_logging", json!({})),
        request(9, "resources/list", json!({})),
        request(10, "resources/templates/list", json!({})),
        request(
            11,
            "resources/read",
            json!({ "uri": "test://static/resource/1" }),
        ),
        request(12, "resources/read", json!({ "uri": "test://nowhere" })),
        request(13, "prompts/list", json!({})),
        request(14, "prompts/get", json!({ "name": "simple_prompt" })),
        request(15, "prompts/get", json!({ "name": "complex_prompt" })),
        request(
            16,
            "completion/complete",
            json!({
                "ref": { "type": "ref/prompt", "name": "complex_prompt" },
                "argument": { "name": "style", "value": "f" }
            }),
        ),
        json!({ "jsonrpc": "2.0", "id": 17, "method": "ping" }),
    ];
    // The session's first inline request makes it hot: one serve loop, once.
    send(&app, &session, &cases[0], false).await;
    for case in &cases {
        let before = serve_loops.count();
        let inline = send(&app, &session, case, false).await;
        let after_inline = serve_loops.count();
        let per_request = send(&app, &session, case, true).await;
        assert_eq!(
            inline, per_request,
            "inline (left) and per-request (right) differ on {case}"
        );
        assert_eq!(before, after_inline, "not answered inline: {case}");
        assert!(
            serve_loops.count() > after_inline,
            "the per-request path built no serve loop: {case}"
        );
    }
    // The logging tool's messages came before its answer, on the request's own stream.
    let logged = send(&app, &session, &cases[6], false).await;
    let messages = sse_messages(&logged.body);
    assert_eq!(messages.len(), 4, "{messages:?}");
    assert_eq!(messages[0]["method"], "notifications/message");
    assert_eq!(messages[3]["id"], 8);
}

#[tokio::test]
async fn an_inline_request_asks_the_client_and_gets_its_answer() {
    let app = common::spawn_reference(ReferenceServer::new(), ServerConfig::default()).await;
    let session = initialize_with(&app, json!({ "sampling": {} })).await;
    let mut response = post(
        &app,
        &session,
        call(2, "test_sampling", json!({ "prompt": "What is 6 x 7?" })),
    )
    .await;
    assert_eq!(response.status(), 200);
    let mut seen = String::new();
    answer_request(
        &app,
        &session,
        (&mut response, &mut seen),
        "sampling/createMessage",
        json!({
            "role": "assistant", "model": "test-model", "stopReason": "endTurn",
            "content": { "type": "text", "text": "42" }
        }),
    )
    .await;
    let result = read_until(&mut response, &mut seen, |message| message["id"] == 2).await;
    assert_eq!(
        result["result"]["content"][0]["text"], "LLM response: 42",
        "{result}"
    );
}

#[tokio::test]
async fn a_cancelled_inline_request_ends_without_an_answer() {
    let app = common::spawn_reference(ReferenceServer::new(), ServerConfig::default()).await;
    let session = initialize(&app).await;
    let response = post(
        &app,
        &session,
        call(
            2,
            "longRunningOperation",
            json!({ "duration": 30, "steps": 3 }),
        ),
    )
    .await;
    // The stream starts within a second although nothing was sent yet.
    assert_eq!(response.status(), 200);
    let cancelled = post(
        &app,
        &session,
        json!({
            "jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": { "requestId": 2, "reason": "changed my mind" }
        }),
    )
    .await;
    assert_eq!(cancelled.status(), 202);
    let body = tokio::time::timeout(Duration::from_secs(10), response.text())
        .await
        .expect("the stream ends soon after the cancellation")
        .expect("body");
    assert!(
        sse_messages(&body).iter().all(|message| message["id"] != 2),
        "a cancelled request is not answered: {body}"
    );
}

#[tokio::test]
async fn a_second_request_of_a_session_runs_beside_the_first() {
    let app =
        Arc::new(common::spawn_reference(ReferenceServer::new(), ServerConfig::default()).await);
    let session = initialize(&app).await;
    let slow = {
        let (app, session) = (app.clone(), session.clone());
        tokio::spawn(async move {
            send(
                &app,
                &session,
                &call(
                    2,
                    "longRunningOperation",
                    json!({ "duration": 1, "steps": 1 }),
                ),
                false,
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let quick = send(
        &app,
        &session,
        &call(3, "echo", json!({ "message": "hi" })),
        false,
    )
    .await;
    assert_eq!(quick.status, 200);
    assert_eq!(
        sse_messages(&quick.body)[0]["result"]["content"][0]["text"],
        "Echo: hi"
    );
    let slow = slow.await.expect("the slow call");
    assert_eq!(sse_messages(&slow.body).last().expect("an answer")["id"], 2);
}

/// The reference server, asking the client for its roots whenever it says they changed, and
/// keeping what it answered.
#[derive(Clone)]
struct RootsWatcher {
    inner: ReferenceServer,
    roots: Arc<Mutex<Vec<String>>>,
}

impl ServerHandler for RootsWatcher {
    fn get_info(&self) -> ServerInfo {
        self.inner.get_info()
    }

    // Roots are deprecated by SEP-2577 from 2026-07-28 on; 2025-11-25 sessions still have them.
    #[allow(deprecated)]
    async fn on_roots_list_changed(&self, context: NotificationContext<RoleServer>) {
        let listed = context.peer.list_roots().await.expect("the client's roots");
        let mut roots = self.roots.lock().expect("roots");
        roots.extend(listed.roots.into_iter().map(|root| root.uri));
    }
}

#[tokio::test]
async fn a_client_notification_reaches_the_handler_which_asks_on_the_get_stream() {
    let roots = Arc::new(Mutex::new(Vec::new()));
    let watcher = RootsWatcher {
        inner: ReferenceServer::new(),
        roots: roots.clone(),
    };
    let app = common::spawn_generic(Outpost::with_factory(move || watcher.clone())).await;
    let session = initialize_with(&app, json!({ "roots": { "listChanged": true } })).await;
    let mut get = session_request(&app, &session, reqwest::Method::GET)
        .send()
        .await
        .expect("GET stream");
    assert_eq!(get.status(), 200);
    let changed = post(
        &app,
        &session,
        json!({ "jsonrpc": "2.0", "method": "notifications/roots/list_changed" }),
    )
    .await;
    assert_eq!(changed.status(), 202);
    let mut seen = String::new();
    answer_request(
        &app,
        &session,
        (&mut get, &mut seen),
        "roots/list",
        json!({ "roots": [{ "uri": "file:///work", "name": "work" }] }),
    )
    .await;
    for _ in 0..100 {
        if !roots.lock().expect("roots").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(*roots.lock().expect("roots"), ["file:///work"]);
}
