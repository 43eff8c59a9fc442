//! A session request still running when a deploy stops the server (SIGTERM, then the grace
//! period) gets an answer — a JSON-RPC error saying the server is shutting down and the
//! request can be sent again, the session going on — and its SSE body ends cleanly before the
//! connection is dropped, rather than being cut mid-chunk with no answer. On each way a
//! session request is served: inline then streaming, and on a serve loop of its own.

mod common;

use std::time::{Duration, Instant};

use common::parked::{initialize, post, read_until, session_request};
use outpost::{Outpost, ServerConfig};
use outpost_reference::ReferenceServer;
use serde_json::{Value, json};

/// A 30 s `longRunningOperation`, with a progress token (a serve loop of its own) or without
/// (inline, streaming after a second).
fn long_call(progress: bool) -> Value {
    let meta = if progress {
        json!({ "progressToken": "p" })
    } else {
        json!({})
    };
    json!({
        "jsonrpc": "2.0", "id": 5, "method": "tools/call",
        "params": {
            "name": "longRunningOperation",
            "arguments": { "duration": 30, "steps": 30 },
            "_meta": meta
        }
    })
}

#[tokio::test]
async fn a_session_request_cut_by_shutdown_is_answered_that_the_server_is_shutting_down() {
    for progress in [true, false] {
        let reference = ReferenceServer::new();
        let config = ServerConfig {
            shutdown_grace: Duration::from_secs(2),
            ..ServerConfig::default()
        };
        let app = common::spawn_generic(
            Outpost::with_factory(move || reference.for_session()).with_config(config),
        )
        .await;
        let session = initialize(&app).await;
        let mut call = if progress {
            post(&app, &session, long_call(true)).await
        } else {
            session_request(&app, &session, reqwest::Method::POST)
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&long_call(false)).expect("JSON"))
                .send()
                .await
                .expect("post")
        };
        assert_eq!(call.status(), 200);
        let mut seen = String::new();
        // Running: its first log line came.
        read_until(&mut call, &mut seen, |m| {
            m["method"] == "notifications/message"
        })
        .await;

        let signalled = Instant::now();
        app.shut_down();
        let rest = tokio::time::timeout(Duration::from_secs(10), call.text())
            .await
            .expect("the body ends within the grace period")
            .expect("the body ends cleanly, not cut");
        seen.push_str(&rest);
        assert!(
            signalled.elapsed() < Duration::from_secs(3),
            "within the 2 s grace period: {:?}",
            signalled.elapsed()
        );
        let answer = common::sse_messages(&seen)
            .into_iter()
            .find(|m| m["id"] == 5)
            .unwrap_or_else(|| panic!("an answer ({progress}): {seen}"));
        assert_eq!(answer["error"]["code"], -32603, "{answer}");
        assert_eq!(
            answer["error"]["data"]["reason"], "shutting_down",
            "{answer}"
        );
    }
}
