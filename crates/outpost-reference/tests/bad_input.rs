//! Bad input gets the error the spec names — a JSON-RPC error code, an HTTP status a client
//! acts on — and the server keeps serving afterwards.

mod common;

use std::time::{Duration, Instant};

use common::{TestApp, meta_2026, spawn_app, spawn_app_with};
use outpost::ServerConfig;
use serde_json::{Value, json};

/// The server still answers a well-formed request.
async fn assert_still_serving(app: &TestApp) {
    let reply = app
        .call_2026(
            "tools/call",
            Some("echo"),
            json!({ "name": "echo", "arguments": { "message": "ok" } }),
        )
        .await;
    assert_eq!(reply["result"]["content"][0]["text"], "Echo: ok", "{reply}");
}

/// POSTs `body` to /mcp with 2026-07-28 headers and `mcp-method: method`.
async fn post_raw(app: &TestApp, method: &str, body: impl Into<reqwest::Body>) -> (u16, String) {
    let response = app
        .http
        .post(app.url("/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method)
        .body(body)
        .send()
        .await
        .expect("send");
    (
        response.status().as_u16(),
        response.text().await.expect("body"),
    )
}

fn error_code(body: &str) -> Value {
    let value: Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    value["error"]["code"].clone()
}

#[tokio::test]
async fn malformed_json_is_a_parse_error() {
    let app = spawn_app().await;
    let (status, body) = post_raw(&app, "tools/list", r#"{"jsonrpc":"2.0","id":1,"method":"#).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_code(&body), -32700, "{body}");
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn json_that_is_not_json_rpc_is_an_invalid_request() {
    let app = spawn_app().await;
    for body in [r#"[1,2]"#, r#"{"hello":"world"}"#, r#""text""#] {
        let (status, reply) = post_raw(&app, "tools/list", body).await;
        assert_eq!(status, 400, "{body} → {reply}");
        assert_eq!(error_code(&reply), -32600, "{body} → {reply}");
    }
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn unknown_method_is_method_not_found() {
    let app = spawn_app().await;
    let reply = app.call_2026("foo/bar", None, json!({})).await;
    assert_eq!(reply["error"]["code"], -32601, "{reply}");
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn unknown_tool_is_invalid_params() {
    let app = spawn_app().await;
    let reply = app
        .call_2026(
            "tools/call",
            Some("no_such_tool"),
            json!({ "name": "no_such_tool" }),
        )
        .await;
    assert_eq!(reply["error"]["code"], -32602, "{reply}");
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn wrong_arguments_are_a_tool_error_the_model_can_read() {
    let app = spawn_app().await;
    let reply = app
        .call_2026(
            "tools/call",
            Some("add"),
            json!({ "name": "add", "arguments": { "a": "one" } }),
        )
        .await;
    assert_eq!(reply["result"]["isError"], true, "{reply}");
    let text = reply["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(text.contains("invalid type"), "{text}");
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn oversized_body_is_413() {
    let app = spawn_app_with(ServerConfig {
        max_request_body_bytes: 64 * 1024,
        ..ServerConfig::default()
    })
    .await;
    let padding = "x".repeat(128 * 1024);
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": { "name": "echo", "arguments": { "message": padding }, "_meta": meta_2026() }
    });
    let (status, _) = post_raw(&app, "tools/call", body.to_string()).await;
    assert_eq!(status, 413);
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn header_errors_get_their_codes() {
    let app = spawn_app().await;
    let list = |headers: &[(&str, &str)]| {
        let mut request = app
            .http
            .post(app.url("/mcp"))
            .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": { "_meta": meta_2026() } }));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send()
    };
    let json_and_sse = ("accept", "application/json, text/event-stream");

    // Mcp-Method missing, or naming another method: HeaderMismatch.
    let response = list(&[json_and_sse, ("mcp-protocol-version", "2026-07-28")])
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(&response.text().await.unwrap()), -32020);
    let response = list(&[
        json_and_sse,
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "prompts/list"),
    ])
    .await
    .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(&response.text().await.unwrap()), -32020);

    // The version header disagrees with _meta: HeaderMismatch.
    let response = list(&[
        json_and_sse,
        ("mcp-protocol-version", "2025-11-25"),
        ("mcp-method", "tools/list"),
    ])
    .await
    .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(&response.text().await.unwrap()), -32020);

    // A client that cannot take JSON and SSE: 406.
    let response = list(&[
        ("accept", "text/html"),
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/list"),
    ])
    .await
    .unwrap();
    assert_eq!(response.status(), 406);
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn unsupported_protocol_version_is_rejected_with_the_supported_list() {
    let app = spawn_app().await;
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/list",
        "params": { "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2099-01-01",
            "io.modelcontextprotocol/clientCapabilities": {}
        } }
    });
    let response = app
        .http
        .post(app.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2099-01-01")
        .header("mcp-method", "tools/list")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let reply: Value = response.json().await.unwrap();
    assert_eq!(reply["error"]["code"], -32022, "{reply}");
    assert!(
        reply["error"]["data"]["supported"]
            .as_array()
            .is_some_and(|v| v.contains(&json!("2026-07-28")))
    );
}

#[tokio::test]
async fn rebinding_host_and_foreign_origin_are_forbidden() {
    let app = spawn_app().await;
    for (header, value) in [("host", "evil.example"), ("origin", "http://evil.example")] {
        let response = app
            .request_2026("tools/list", None, json!({}))
            .header(header, value)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{header}: {value}");
    }
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn idle_session_expires_and_answers_404() {
    let app = spawn_app_with(ServerConfig {
        session_idle_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    })
    .await;
    let response = app.initialize_2025().await;
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    drop(response);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = app
            .http
            .post(app.url("/mcp"))
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", "2025-11-25")
            .json(&json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))
            .send()
            .await
            .unwrap()
            .status();
        if status == 404 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "session still alive after 10s (last status {status})"
        );
        // Each probe is activity too: wait longer than the idle timeout between probes.
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    assert_still_serving(&app).await;
}
