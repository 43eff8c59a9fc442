//! `ServerConfig::session_limits` (`--max-sessions`): an instance holding as many 2024-11-05
//! `/sse` streams as it may refuses one more with `503`, `Retry-After` and a JSON-RPC error
//! body, and admits one again once a stream closes; a server holding as many parked 2025-11-25
//! sessions as it may refuses one more `initialize` the same way, until one idles out or is
//! deleted.

mod common;

use std::time::{Duration, Instant};

use outpost::{ServerConfig, SessionLimits};
use serde_json::{Value, json};

#[tokio::test]
async fn one_stream_over_the_cap_is_refused_until_another_closes() {
    let config = ServerConfig {
        session_limits: SessionLimits {
            max_sessions: 2,
            ..SessionLimits::default()
        },
        // A closed stream is noticed at the next keep-alive write at the latest.
        sse_keep_alive: Duration::from_millis(200),
        ..ServerConfig::default()
    };
    let app = common::spawn_app_with(config).await;
    let open = || app.http.get(app.url("/sse")).send();
    let first = open().await.expect("GET /sse");
    let second = open().await.expect("GET /sse");
    assert_eq!(first.status(), 200);
    assert_eq!(second.status(), 200);

    let refused = open().await.expect("GET /sse");
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "5");
    let body: Value = refused.json().await.expect("a JSON-RPC error");
    assert_eq!(body["jsonrpc"], "2.0");
    assert_eq!(body["error"]["code"], -32603);
    assert_eq!(body["error"]["data"]["reason"], "session_capacity");
    assert_eq!(body["error"]["data"]["limit"], 2);

    drop(first);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let again = open().await.expect("GET /sse");
        if again.status() == 200 {
            break;
        }
        assert_eq!(again.status(), 503);
        assert!(
            Instant::now() < deadline,
            "the closed stream's slot never came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_initialize_over_the_cap_is_refused_until_a_session_idles_out() {
    let config = ServerConfig {
        session_limits: SessionLimits {
            max_sessions: 1,
            ..SessionLimits::default()
        },
        // The record expires 2 s after its last request (1 s + the 1 s minimum slack).
        session_idle_timeout: Duration::from_secs(1),
        ..ServerConfig::default()
    };
    let app = common::spawn_app_with(config).await;
    let initialize = || {
        app.http
            .post(app.url("/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .json(&serde_json::json!({
                "jsonrpc": "2.0", "id": 0, "method": "initialize",
                "params": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": { "name": "outpost-tests", "version": "1.0.0" }
                }
            }))
            .send()
    };
    let first = initialize().await.expect("initialize");
    assert_eq!(first.status(), 200);
    assert!(first.headers().contains_key("mcp-session-id"));

    let refused = initialize().await.expect("initialize");
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "5");
    assert!(
        !refused.headers().contains_key("mcp-session-id"),
        "no session is made"
    );
    let body: Value = refused.json().await.expect("a JSON-RPC error");
    assert_eq!(body["id"], 0, "the error answers the request: {body}");
    assert_eq!(body["error"]["code"], -32603);
    assert_eq!(body["error"]["data"]["reason"], "session_capacity");
    assert_eq!(body["error"]["data"]["limit"], 1);
    // Asked again at once, the instance repeats its refusal without a new handshake.
    let repeated = initialize().await.expect("initialize");
    assert_eq!(repeated.status(), 503);
    let body: Value = repeated.json().await.expect("a JSON-RPC error");
    assert_eq!(
        (body["id"].clone(), body["error"]["data"]["reason"].clone()),
        (json!(0), json!("session_capacity")),
        "{body}"
    );

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let again = initialize().await.expect("initialize");
        if again.status() == 200 {
            break;
        }
        assert_eq!(again.status(), 503);
        assert!(
            Instant::now() < deadline,
            "the idle session's slot never came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A refusal is repeated for a moment without a new handshake, but a `DELETE` on the same
/// instance frees the slot at once: the next `initialize` gets it.
#[tokio::test]
async fn a_delete_frees_the_slot_a_refusal_remembered() {
    let config = ServerConfig {
        session_limits: SessionLimits {
            max_sessions: 1,
            ..SessionLimits::default()
        },
        ..ServerConfig::default()
    };
    let app = common::spawn_app_with(config).await;
    let open = || common::parked::post_initialize(&app, "2025-11-25", json!({}));
    let first = open().await;
    assert_eq!(first.status(), 200);
    let session = first.headers()["mcp-session-id"]
        .to_str()
        .expect("session id")
        .to_owned();
    assert_eq!(open().await.status(), 503, "full");
    let deleted = app
        .http
        .delete(app.url("/mcp"))
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .expect("DELETE");
    assert_eq!(deleted.status(), 204);
    assert_eq!(open().await.status(), 200, "the freed slot, at once");
}
