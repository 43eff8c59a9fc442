//! Outpost's session manager and rmcp's `LocalSessionManager`, behind the same router, give the
//! same answers to the same session requests: status, content type and JSON-RPC messages
//! (SSE framing, event ids and the session id's value aside).

mod common;

use common::{TestApp, spawn_outpost, sse_messages};
use outpost::Outpost;
use outpost_reference::ReferenceServer;
use serde_json::{Value, json};

const VERSION: &str = "2025-11-25";

/// One request of the script: its method, whether it names the session (or a bogus one),
/// and its body.
struct Step {
    method: reqwest::Method,
    session: Naming,
    body: Option<Value>,
}

#[derive(Clone, Copy)]
enum Naming {
    None,
    Own,
    Bogus,
}

/// What a client sees of an answer.
#[derive(Debug, PartialEq)]
struct Answer {
    status: u16,
    content_type: String,
    messages: Vec<Value>,
}

async fn spawn(parked: bool) -> TestApp {
    let reference = ReferenceServer::new();
    let outpost = Outpost::with_factory(move || reference.for_session());
    spawn_outpost(if parked {
        outpost
    } else {
        outpost.with_in_memory_sessions()
    })
    .await
}

async fn play(app: &TestApp, script: &[Step]) -> Vec<Answer> {
    let mut session = None::<String>;
    let mut answers = Vec::new();
    for step in script {
        let mut request = app
            .http
            .request(step.method.clone(), app.url("/mcp"))
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", VERSION);
        match step.session {
            Naming::None => {}
            Naming::Own => {
                request = request.header("mcp-session-id", session.clone().expect("initialized"))
            }
            Naming::Bogus => request = request.header("mcp-session-id", "not-a-session"),
        }
        if let Some(body) = &step.body {
            request = request
                .header("content-type", "application/json")
                .json(body);
        }
        let response = request.send().await.expect("send");
        if let Some(id) = response.headers().get("mcp-session-id") {
            session = Some(id.to_str().expect("id").to_owned());
        }
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .to_owned();
        let text = if step.method == reqwest::Method::GET {
            // The GET stream stays open: its status and type are the answer.
            String::new()
        } else {
            response.text().await.expect("body")
        };
        let messages = match content_type.as_str() {
            "text/event-stream" => sse_messages(&text),
            "application/json" => vec![serde_json::from_str(&text).expect("JSON")],
            _ => vec![Value::String(text)],
        };
        answers.push(Answer {
            status,
            content_type,
            messages,
        });
    }
    answers
}

fn post(session: Naming, body: Value) -> Step {
    Step {
        method: reqwest::Method::POST,
        session,
        body: Some(body),
    }
}

fn without_body(method: reqwest::Method, session: Naming) -> Step {
    Step {
        method,
        session,
        body: None,
    }
}

#[tokio::test]
async fn parked_sessions_answer_as_rmcps_local_sessions_do() {
    let script = [
        post(
            Naming::None,
            json!({
                "jsonrpc": "2.0", "id": 0, "method": "initialize",
                "params": {
                    "protocolVersion": VERSION, "capabilities": {},
                    "clientInfo": { "name": "differential", "version": "1.0.0" }
                }
            }),
        ),
        post(
            Naming::Own,
            json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }),
        ),
        post(
            Naming::Own,
            json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }),
        ),
        post(
            Naming::Own,
            json!({
                "jsonrpc": "2.0", "id": 2, "method": "tools/call",
                "params": { "name": "echo", "arguments": { "message": "same" } }
            }),
        ),
        post(
            Naming::Own,
            json!({
                "jsonrpc": "2.0", "id": 3, "method": "tools/call",
                "params": { "name": "add", "arguments": { "a": 2, "b": 3 } }
            }),
        ),
        post(
            Naming::Own,
            json!({
                "jsonrpc": "2.0", "id": 4, "method": "tools/call",
                "params": { "name": "no-such-tool", "arguments": {} }
            }),
        ),
        post(
            Naming::Own,
            json!({ "jsonrpc": "2.0", "id": 5, "method": "no/such/method" }),
        ),
        post(
            Naming::Own,
            json!({ "jsonrpc": "2.0", "id": 6, "method": "prompts/list" }),
        ),
        post(
            Naming::Own,
            json!({
                "jsonrpc": "2.0", "id": 7, "method": "resources/read",
                "params": { "uri": "test://static/resource/2" }
            }),
        ),
        post(
            Naming::Own,
            json!({ "jsonrpc": "2.0", "id": 8, "method": "ping" }),
        ),
        post(
            Naming::Bogus,
            json!({ "jsonrpc": "2.0", "id": 9, "method": "tools/list" }),
        ),
        post(
            Naming::None,
            json!({ "jsonrpc": "2.0", "id": 10, "method": "tools/list" }),
        ),
        without_body(reqwest::Method::GET, Naming::Own),
        without_body(reqwest::Method::GET, Naming::Bogus),
        without_body(reqwest::Method::DELETE, Naming::Bogus),
        without_body(reqwest::Method::DELETE, Naming::Own),
        post(
            Naming::Own,
            json!({ "jsonrpc": "2.0", "id": 11, "method": "tools/list" }),
        ),
        without_body(reqwest::Method::DELETE, Naming::Own),
    ];
    let local = play(&spawn(false).await, &script).await;
    let parked = play(&spawn(true).await, &script).await;
    for (index, (local, parked)) in local.iter().zip(&parked).enumerate() {
        assert_eq!(local, parked, "step {index} answered differently");
    }
    assert_eq!(local.len(), parked.len());
}
