//! What a handler keeps per parked session (`outpost::SessionData`) outlives the handler: a
//! `logging/setLevel` filters the log messages of later requests, served by fresh handlers on
//! another instance sharing the SQLite file; a `resources/subscribe` made through one
//! instance has its updates sent on the GET stream another instance holds; log messages ride
//! the request's own stream.

mod common;

use std::time::Duration;

use common::{
    TestApp,
    parked::{initialize, post, read_until, session_request, sqlite_store},
    sse_messages,
};
use outpost::{Outpost, store::McpSessionStore};
use outpost_reference::ReferenceServer;
use serde_json::{Value, json};

/// How often a subscribed resource reports an update in these tests.
const UPDATE_INTERVAL: Duration = Duration::from_millis(300);

/// A parked-session reference server on `store`, with its resource updates beside GET streams.
async fn spawn_parked(store: std::sync::Arc<dyn McpSessionStore>) -> TestApp {
    let reference = ReferenceServer::with_resource_update_interval(UPDATE_INTERVAL);
    let updates = reference.resource_update_task();
    let outpost = Outpost::with_factory(move || reference.for_session())
        .with_session_store(store)
        .with_standalone_stream_task(updates);
    common::spawn_outpost(outpost).await
}

/// The answer to a request of session `id` on `app`, with every message of its stream.
async fn call(app: &TestApp, id: &str, body: Value) -> Vec<Value> {
    let response = post(app, id, body).await;
    assert_eq!(response.status(), 200);
    sse_messages(&response.text().await.expect("body"))
}

fn emit_log_messages(request: u32) -> Value {
    json!({
        "jsonrpc": "2.0", "id": request, "method": "tools/call",
        "params": { "name": "emitLogMessages", "arguments": {} }
    })
}

fn log_levels(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .filter(|m| m["method"] == "notifications/message")
        .map(|m| m["params"]["level"].as_str().expect("a level").to_owned())
        .collect()
}

#[tokio::test]
async fn set_level_filters_the_logs_of_later_requests_on_every_instance() {
    let store = sqlite_store("state-level").await;
    let first = spawn_parked(store.mcp_sessions.clone()).await;
    let second = spawn_parked(store.mcp_sessions.clone()).await;
    let id = initialize(&first).await;

    // Before any setLevel, every level rides the call's own stream, before its answer.
    let messages = call(&second, &id, emit_log_messages(1)).await;
    assert_eq!(log_levels(&messages).len(), 8, "{messages:?}");
    assert!(
        messages.last().is_some_and(|m| m["id"] == 1),
        "{messages:?}"
    );

    let set = call(
        &first,
        &id,
        json!({
            "jsonrpc": "2.0", "id": 2, "method": "logging/setLevel",
            "params": { "level": "error" }
        }),
    )
    .await;
    assert!(
        set.iter().any(|m| m["id"] == 2 && m["result"].is_object()),
        "{set:?}"
    );

    // The other instance read the session a moment before the setLevel: its next request
    // reads it again.
    for (app, request) in [(&second, 3), (&first, 4)] {
        let messages = call(app, &id, emit_log_messages(request)).await;
        assert_eq!(
            log_levels(&messages),
            ["error", "critical", "alert", "emergency"],
            "{messages:?}"
        );
    }
    let record = store
        .mcp_sessions
        .get(&id, 0)
        .await
        .expect("get")
        .expect("live");
    assert_eq!(record.data.as_deref(), Some(r#"{"logLevel":"error"}"#));
}

#[tokio::test]
async fn long_running_operation_logs_each_step_on_its_own_stream() {
    let store = outpost::store::Store::memory();
    let app = spawn_parked(store.mcp_sessions.clone()).await;
    let id = initialize(&app).await;
    let call_with = |request: u32| {
        json!({
            "jsonrpc": "2.0", "id": request, "method": "tools/call",
            "params": {
                "name": "longRunningOperation",
                "arguments": { "duration": 0.2, "steps": 2 }
            }
        })
    };
    let messages = call(&app, &id, call_with(1)).await;
    let logged: Vec<&str> = messages
        .iter()
        .filter(|m| m["method"] == "notifications/message")
        .map(|m| m["params"]["data"].as_str().expect("text"))
        .collect();
    assert_eq!(
        logged,
        [
            "started: 2 steps over 0.2 seconds",
            "step 1 of 2 done",
            "step 2 of 2 done",
            "completed"
        ]
    );
    call(
        &app,
        &id,
        json!({
            "jsonrpc": "2.0", "id": 2, "method": "logging/setLevel",
            "params": { "level": "info" }
        }),
    )
    .await;
    let messages = call(&app, &id, call_with(3)).await;
    assert_eq!(log_levels(&messages), ["info", "info"], "{messages:?}");
}

fn subscribe(request: u32, uri: &str) -> Value {
    json!({
        "jsonrpc": "2.0", "id": request, "method": "resources/subscribe",
        "params": { "uri": uri }
    })
}

fn is_update_of(uri: &'static str) -> impl Fn(&Value) -> bool {
    move |m: &Value| m["method"] == "notifications/resources/updated" && m["params"]["uri"] == uri
}

#[tokio::test]
async fn a_subscription_made_on_one_instance_is_updated_on_the_get_stream_of_another() {
    const FIRST: &str = "test://static/resource/1";
    const SECOND: &str = "test://static/resource/2";
    let store = sqlite_store("state-subscribe").await;
    let first = spawn_parked(store.mcp_sessions.clone()).await;
    let second = spawn_parked(store.mcp_sessions.clone()).await;
    let id = initialize(&first).await;

    // The first update comes at once, on the subscribe request's own stream.
    let answer = call(&first, &id, subscribe(1, FIRST)).await;
    assert!(answer.iter().any(is_update_of(FIRST)), "{answer:?}");
    assert!(
        answer
            .iter()
            .any(|m| m["id"] == 1 && m["result"].is_object())
    );

    // A GET stream opened on the other instance hears of it at once, then every interval.
    let mut stream = session_request(&second, &id, reqwest::Method::GET)
        .send()
        .await
        .expect("GET");
    assert_eq!(stream.status(), 200);
    let mut seen = String::new();
    read_until(&mut stream, &mut seen, is_update_of(FIRST)).await;
    // Subscribed meanwhile through the first instance: the next round includes it.
    call(&first, &id, subscribe(2, SECOND)).await;
    read_until(&mut stream, &mut seen, is_update_of(SECOND)).await;
    let updates = sse_messages(&seen)
        .iter()
        .filter(|m| is_update_of(FIRST)(m))
        .count();
    assert!(updates >= 1, "{seen}");

    let unsubscribed = call(
        &first,
        &id,
        json!({
            "jsonrpc": "2.0", "id": 3, "method": "resources/unsubscribe",
            "params": { "uri": FIRST }
        }),
    )
    .await;
    assert!(
        unsubscribed
            .iter()
            .any(|m| m["id"] == 3 && m["result"].is_object())
    );
    let record = store
        .mcp_sessions
        .get(&id, 0)
        .await
        .expect("get")
        .expect("live");
    assert_eq!(
        record.data.as_deref(),
        Some(format!(r#"{{"resourceSubscriptions":["{SECOND}"]}}"#).as_str())
    );
}

#[tokio::test]
async fn a_session_keeps_no_more_state_than_its_bound() {
    let store = outpost::store::Store::memory();
    let app = spawn_parked(store.mcp_sessions.clone()).await;
    let id = initialize(&app).await;
    let mut refused = None;
    for n in 1..=100 {
        let messages = call(
            &app,
            &id,
            subscribe(n, &format!("test://static/resource/{n}")),
        )
        .await;
        let answer = messages
            .into_iter()
            .find(|m| m["id"] == n)
            .expect("an answer");
        if answer.get("error").is_some() {
            refused = Some(answer);
            break;
        }
    }
    let refused = refused.expect("some subscription is refused");
    assert_eq!(refused["error"]["code"], -32600, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("too much state")),
        "{refused}"
    );
}
