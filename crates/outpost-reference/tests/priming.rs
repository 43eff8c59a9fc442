//! SSE priming events (an id with empty data, SEP-1699) go only to the sessions of clients
//! that know them: a 2025-11-25 session gets them on its `initialize` answer and its GET
//! stream; a 2025-03-26 or 2025-06-18 session, whose clients read every event as a message,
//! gets none, and the messages on its GET stream still arrive with ids to resume from. Event
//! ids never repeat within a session.

mod common;

use std::time::Duration;

use outpost::Outpost;
use outpost_reference::ReferenceServer;
use rmcp::model::{Notification, ResourceUpdatedNotificationParam, ServerNotification};
use serde_json::{Value, json};

/// The SSE events of `body` that carry an id but no data.
fn priming_events(body: &str) -> Vec<String> {
    body.replace("\r\n", "\n")
        .split("\n\n")
        .filter(|event| {
            let lines: Vec<&str> = event.lines().collect();
            lines.iter().any(|line| line.starts_with("id:"))
                && lines
                    .iter()
                    .filter_map(|line| line.strip_prefix("data:"))
                    .all(|data| data.trim().is_empty())
        })
        .map(str::to_owned)
        .collect()
}

/// Opens a session at `version` on `app`: its id and the `initialize` answer's raw body.
async fn open(app: &common::TestApp, version: &str) -> (String, String) {
    let response = common::parked::post_initialize(app, version, json!({})).await;
    assert_eq!(response.status(), 200, "{version}");
    let id = response.headers()["mcp-session-id"]
        .to_str()
        .expect("session id")
        .to_owned();
    let body = response.text().await.expect("initialize answer");
    let ack = session_request(app, &id, version, reqwest::Method::POST)
        .header("content-type", "application/json")
        .json(&json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))
        .send()
        .await
        .expect("initialized");
    assert_eq!(ack.status(), 202, "{version}");
    (id, body)
}

/// A request of session `id` as a `version` client sends it: 2025-03-26 clients send no
/// `MCP-Protocol-Version`.
fn session_request(
    app: &common::TestApp,
    id: &str,
    version: &str,
    method: reqwest::Method,
) -> reqwest::RequestBuilder {
    let request = app
        .http
        .request(method, app.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", id);
    if version == "2025-03-26" {
        request
    } else {
        request.header("mcp-protocol-version", version)
    }
}

/// What session `id`'s GET stream sends in its first 500 ms, after `trigger` has run.
async fn get_stream_start(
    app: &common::TestApp,
    id: &str,
    version: &str,
    trigger: impl std::future::Future<Output = ()>,
) -> String {
    let mut stream = session_request(app, id, version, reqwest::Method::GET)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("GET /mcp");
    assert_eq!(stream.status(), 200, "{version}");
    trigger.await;
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline, stream.chunk()).await {
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    text
}

#[tokio::test]
async fn only_sessions_from_2025_11_25_on_get_priming_events() {
    let reference = ReferenceServer::new();
    let outpost = Outpost::with_factory(move || reference.for_session());
    let notifier = outpost.session_notifier();
    let app = common::spawn_generic(outpost).await;
    for (version, primed) in [
        ("2025-03-26", false),
        ("2025-06-18", false),
        ("2025-11-25", true),
    ] {
        let (id, initialized) = open(&app, version).await;
        assert_eq!(
            !priming_events(&initialized).is_empty(),
            primed,
            "{version}: {initialized}"
        );
        // The session's GET stream, with a message for it.
        let notify = async {
            let updated = ServerNotification::ResourceUpdatedNotification(Notification::new(
                ResourceUpdatedNotificationParam::new("test://static/resource/1"),
            ));
            notifier.notify(&id, updated).await.expect("notify");
        };
        let streamed = get_stream_start(&app, &id, version, notify).await;
        assert_eq!(
            !priming_events(&streamed).is_empty(),
            primed,
            "{version}: {streamed}"
        );
        let events = streamed.replace("\r\n", "\n");
        let messages: Vec<(bool, Value)> = events
            .split("\n\n")
            .filter_map(|event| {
                let data = event.lines().find_map(|line| line.strip_prefix("data:"))?;
                let has_id = event.lines().any(|line| line.starts_with("id:"));
                (!data.trim().is_empty())
                    .then(|| (has_id, serde_json::from_str(data.trim()).expect("JSON")))
            })
            .collect();
        assert_eq!(messages.len(), 1, "{version}: {streamed}");
        // Event ids are unique within the session (2025-11-25 transports).
        let both = format!("{initialized}\n{streamed}").replace("\r\n", "\n");
        let ids: Vec<&str> = both
            .lines()
            .filter_map(|line| line.strip_prefix("id:"))
            .map(str::trim)
            .collect();
        let unique: std::collections::HashSet<&str> = ids.iter().copied().collect();
        assert_eq!(unique.len(), ids.len(), "{version}: ids {ids:?}");
        let (has_id, message) = &messages[0];
        assert_eq!(message["method"], "notifications/resources/updated");
        assert!(has_id, "{version}: resumable: {streamed}");
    }
}
