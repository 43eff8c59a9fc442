//! Client messages for a parked session's request running on another instance (`mcp::relay`):
//! a `notifications/cancelled` POSTed to B cancels the request running on A, an answer to
//! a server→client request whose instance is gone is refused at once instead of vanishing,
//! and a `DELETE` on B ends the GET stream A holds at once.
//! Two instances in one process on one memory store (the in-process bus), and two on one real
//! Redis.

mod common;
#[path = "../../outpost-cli/tests/common/redis.rs"]
#[allow(dead_code)]
mod redis;

use std::{
    net::TcpListener,
    time::{Duration, Instant},
};

use common::{
    TestApp,
    parked::{
        get_stream_ends_after_delete, initialize, initialize_with, post, read_until, stores_at,
    },
};
use outpost::{Outpost, store::Store};
use outpost_reference::ReferenceServer;
use serde_json::{Value, json};

/// A loopback port nobody listens on (for the redis-server launcher).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A parked-session server of the reference server on `store`.
async fn instance(store: &Store) -> TestApp {
    let reference = ReferenceServer::new();
    let outpost = Outpost::with_factory(move || reference.for_session())
        .with_session_store(store.mcp_sessions.clone())
        .with_event_store(store.events.clone());
    common::spawn_generic(outpost).await
}

/// A long `longRunningOperation` started on A, cancelled by a POST to B: A's request stream
/// ends early, with no result, and its progress stops.
async fn a_cancellation_posted_to_b_cancels_the_request_on_a(a: &Store, b: &Store) {
    let (app_a, app_b) = (instance(a).await, instance(b).await);
    let session = initialize(&app_a).await;
    let started = Instant::now();
    let mut call = post(
        &app_a,
        &session,
        json!({
            "jsonrpc": "2.0", "id": 8, "method": "tools/call",
            "params": {
                "name": "longRunningOperation",
                "arguments": { "duration": 30, "steps": 60 },
                "_meta": { "progressToken": "p" }
            }
        }),
    )
    .await;
    assert_eq!(call.status(), 200);
    let mut seen = String::new();
    read_until(&mut call, &mut seen, |m| {
        m["method"] == "notifications/progress"
    })
    .await;
    let cancelled = post(
        &app_b,
        &session,
        json!({
            "jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": { "requestId": 8, "reason": "cancelled on B" }
        }),
    )
    .await;
    assert_eq!(cancelled.status(), 202);
    let rest = tokio::time::timeout(Duration::from_secs(10), call.text())
        .await
        .expect("the cancelled request's stream ends")
        .expect("body");
    seen.push_str(&rest);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "ended by the cancellation, not by the 30 s operation"
    );
    let messages = common::sse_messages(&seen);
    assert!(
        !messages.iter().any(|m| m["id"] == 8),
        "a cancelled request is not answered: {seen}"
    );
    let progress = messages
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .count();
    assert!(progress < 30, "progress stopped early: {seen}");
}

#[tokio::test]
async fn a_cancellation_posted_to_another_instance_cancels_the_request_in_one_process() {
    let store = Store::memory();
    a_cancellation_posted_to_b_cancels_the_request_on_a(&store, &store).await;
}

#[tokio::test]
async fn a_cancellation_posted_to_another_instance_cancels_the_request_over_redis() {
    let redis = redis::Redis::start(None);
    let (a, b) = stores_at(&redis.url()).await;
    a_cancellation_posted_to_b_cancels_the_request_on_a(&a, &b).await;
}

/// A tool on A asks the client to sample; A stops; the client's answer POSTed to B is refused
/// within moments, saying the instance is gone, and the POST does not hang.
async fn an_answer_for_a_gone_instance_is_refused_at_once(a: &Store, b: &Store) {
    let (app_a, app_b) = (instance(a).await, instance(b).await);
    let session = initialize_with(&app_a, json!({ "sampling": {} })).await;
    let mut call = post(
        &app_a,
        &session,
        json!({
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": { "name": "sampleLLM", "arguments": { "prompt": "hello" } }
        }),
    )
    .await;
    let mut seen = String::new();
    let ask = read_until(&mut call, &mut seen, |m| {
        m["method"] == "sampling/createMessage"
    })
    .await;
    drop(call);
    drop(app_a);
    let answered_at = Instant::now();
    let answered = post(&app_b, &session, sampled(&ask["id"])).await;
    let waited = answered_at.elapsed();
    let status = answered.status();
    let body = answered.text().await.expect("body");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("instance") && body.contains("gone"), "{body}");
    assert!(body.contains(r#""reason":"instance_gone""#), "{body}");
    assert!(waited < Duration::from_secs(5), "answered in {waited:?}");
}

fn sampled(id: &Value) -> Value {
    json!({
        "jsonrpc": "2.0", "id": id,
        "result": {
            "role": "assistant", "model": "test",
            "content": { "type": "text", "text": "too late" }
        }
    })
}

#[tokio::test]
async fn an_answer_for_a_gone_instance_is_refused_at_once_in_one_process() {
    let store = Store::memory();
    an_answer_for_a_gone_instance_is_refused_at_once(&store, &store).await;
}

#[tokio::test]
async fn an_answer_for_a_gone_instance_is_refused_at_once_over_redis() {
    let redis = redis::Redis::start(None);
    let (a, b) = stores_at(&redis.url()).await;
    an_answer_for_a_gone_instance_is_refused_at_once(&a, &b).await;
}

/// An answer to a request that has ended on the instance receiving it, or with an id this
/// server never gives, is refused at once too.
#[tokio::test]
async fn an_answer_nothing_awaits_is_refused_at_once() {
    let store = Store::memory();
    let app = instance(&store).await;
    let session = initialize(&app).await;
    for id in [json!("nobody-0"), json!(42)] {
        let started = Instant::now();
        let answered = post(&app, &session, sampled(&id)).await;
        assert_eq!(answered.status(), 400, "{id}");
        let body = answered.text().await.expect("body");
        assert!(body.contains("no request"), "{id}: {body}");
        assert!(
            body.contains(r#""reason":"unknown_request""#),
            "{id}: {body}"
        );
        assert!(started.elapsed() < Duration::from_secs(1), "{id}");
    }
}

/// A `DELETE` on B ends the GET stream A holds when the relay's announcement arrives, well
/// before A's next look at the store (every 10 s), which would end it too.
async fn a_delete_on_b_ends_the_get_stream_on_a(a: &Store, b: &Store) {
    let (app_a, app_b) = (instance(a).await, instance(b).await);
    let session = initialize(&app_a).await;
    get_stream_ends_after_delete(&app_a, &app_b, &session, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_delete_on_another_instance_ends_the_get_stream_in_one_process() {
    let store = Store::memory();
    a_delete_on_b_ends_the_get_stream_on_a(&store, &store).await;
}

#[tokio::test]
async fn a_delete_on_another_instance_ends_the_get_stream_over_redis() {
    let redis = redis::Redis::start(None);
    let (a, b) = stores_at(&redis.url()).await;
    a_delete_on_b_ends_the_get_stream_on_a(&a, &b).await;
}
