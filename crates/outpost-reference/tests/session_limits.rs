//! `ServerConfig::session_limits` (`--max-sessions`): an instance holding as many 2024-11-05
//! `/sse` streams as it may refuses one more with `503`, `Retry-After` and a JSON-RPC error
//! body, and admits one again once a stream closes.

mod common;

use std::time::{Duration, Instant};

use outpost::{ServerConfig, SessionLimits};
use serde_json::Value;

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
