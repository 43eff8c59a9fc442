//! 2026-07-28, stateless: every request stands alone on `POST /mcp`. Driven by rmcp's own
//! client (discover lifecycle) and by raw HTTP where a wire detail matters.

mod common;

use common::{read_jsonrpc, spawn_app, spawn_app_with, sse_messages};
use outpost::ServerConfig;
use rmcp::{
    ClientLifecycleMode, ClientServiceExt,
    model::{
        CallToolRequestParams, ClientConfig, GetPromptRequestParams, ProtocolVersion,
        ReadResourceRequestParams, ResourceContents,
    },
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};

async fn rmcp_client(
    app: &common::TestApp,
) -> rmcp::service::RunningService<rmcp::RoleClient, ClientConfig> {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(app.url("/mcp")),
    );
    ClientConfig::default()
        .serve_with_lifecycle(
            transport,
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("discover lifecycle starts")
}

#[tokio::test]
async fn rmcp_client_lists_and_calls_tools_statelessly() {
    let app = spawn_app().await;
    let client = rmcp_client(&app).await;

    let tools = client.list_all_tools().await.expect("tools/list");
    let names: Vec<&str> = tools.iter().map(|tool| tool.name.as_ref()).collect();
    for expected in [
        "echo",
        "add",
        "longRunningOperation",
        "sampleLLM",
        "getTinyImage",
        "annotatedMessage",
        "getResourceReference",
        "roll_dice",
        "book_table",
        "greeting_card",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "tools/list order is deterministic");

    let echo = client
        .call_tool(
            CallToolRequestParams::new("echo").with_arguments(
                json!({ "message": "hello" })
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            ),
        )
        .await
        .expect("tools/call echo");
    assert_eq!(
        echo.content[0].as_text().map(|t| t.text.as_str()),
        Some("Echo: hello")
    );

    let sum = client
        .call_tool(
            CallToolRequestParams::new("add").with_arguments(
                json!({ "a": 2, "b": 40 })
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            ),
        )
        .await
        .expect("tools/call add");
    assert_eq!(sum.structured_content, Some(json!({ "sum": 42.0 })));

    let card = client
        .call_tool(
            CallToolRequestParams::new("greeting_card").with_arguments(
                json!({ "message": "Happy birthday", "name": "Ada" })
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            ),
        )
        .await
        .expect("tools/call greeting_card");
    assert_eq!(
        card.structured_content,
        Some(json!({ "username": "Ada", "message": "Happy birthday" }))
    );
    client.cancel().await.expect("client stops");
}

#[tokio::test]
async fn resources_page_through_all_hundred_and_read_text_and_binary() {
    let app = spawn_app().await;
    let client = rmcp_client(&app).await;

    let resources = client.list_all_resources().await.expect("resources/list");
    let numbered = resources
        .iter()
        .filter(|r| r.uri.starts_with("test://static/resource/"))
        .count();
    assert_eq!(numbered, 100);

    let even = client
        .read_resource(ReadResourceRequestParams::new("test://static/resource/2"))
        .await
        .expect("read even");
    assert!(matches!(
        even.contents[0],
        ResourceContents::TextResourceContents { .. }
    ));
    let odd = client
        .read_resource(ReadResourceRequestParams::new("test://static/resource/3"))
        .await
        .expect("read odd");
    assert!(matches!(
        odd.contents[0],
        ResourceContents::BlobResourceContents { .. }
    ));

    let app_template = client
        .read_resource(ReadResourceRequestParams::new("ui://outpost/greeting-card"))
        .await
        .expect("read the MCP App template");
    let ResourceContents::TextResourceContents {
        mime_type, text, ..
    } = &app_template.contents[0]
    else {
        panic!("the app template is text");
    };
    assert_eq!(mime_type.as_deref(), Some("text/html;profile=mcp-app"));
    assert!(text.starts_with("<!doctype html>"));

    let prompt = client
        .get_prompt(
            GetPromptRequestParams::new("complex_prompt").with_arguments(
                json!({ "temperature": "0.7", "style": "formal" })
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            ),
        )
        .await
        .expect("prompts/get complex_prompt");
    let kinds: Vec<Value> = prompt
        .messages
        .iter()
        .map(|m| serde_json::to_value(&m.content).unwrap()["type"].clone())
        .collect();
    assert!(
        kinds.contains(&json!("image")) && kinds.contains(&json!("resource")),
        "{kinds:?}"
    );
    client.cancel().await.expect("client stops");
}

#[tokio::test]
async fn discover_lists_every_revision_and_lists_carry_cache_hints() {
    let app = spawn_app().await;
    let discover = app.call_2026("server/discover", None, json!({})).await;
    let versions = &discover["result"]["supportedVersions"];
    for version in [
        "2024-11-05",
        "2025-03-26",
        "2025-06-18",
        "2025-11-25",
        "2026-07-28",
    ] {
        assert!(
            versions.as_array().unwrap().contains(&json!(version)),
            "{version} not in {versions}"
        );
    }
    let tools = app.call_2026("tools/list", None, json!({})).await;
    assert!(tools["result"]["ttlMs"].is_u64(), "{tools}");
    assert!(tools["result"]["cacheScope"].is_string(), "{tools}");
}

#[tokio::test]
async fn the_mcp_apps_extension_is_advertised_and_its_template_asks_for_no_border() {
    let app = spawn_app().await;
    let advertised = json!({ "mimeTypes": ["text/html;profile=mcp-app"] });
    let discover = app.call_2026("server/discover", None, json!({})).await;
    assert_eq!(
        discover["result"]["capabilities"]["extensions"]["io.modelcontextprotocol/ui"], advertised,
        "{discover}"
    );
    let initialize = read_jsonrpc(app.initialize_2025().await).await;
    assert_eq!(
        initialize["result"]["capabilities"]["extensions"]["io.modelcontextprotocol/ui"],
        advertised,
        "{initialize}"
    );
    let uri = "ui://outpost/greeting-card";
    let read = app
        .call_2026("resources/read", Some(uri), json!({ "uri": uri }))
        .await;
    assert_eq!(
        read["result"]["contents"][0]["_meta"]["ui"],
        json!({ "prefersBorder": false }),
        "{read}"
    );
}

/// Input a tool cannot work with is the tool's error (`isError`, which a model can correct),
/// never a result that breaks the tool's own output schema.
#[tokio::test]
async fn out_of_range_input_and_an_overflowing_sum_are_tool_errors() {
    let app = spawn_app().await;
    let call = |name: &'static str, arguments: Value| {
        let app = &app;
        async move {
            app.call_2026(
                "tools/call",
                Some(name),
                json!({ "name": name, "arguments": arguments }),
            )
            .await
        }
    };
    let huge = call("add", json!({ "a": 1e308, "b": 1e308 })).await;
    assert_eq!(huge["result"]["isError"], true, "{huge}");
    assert!(huge["result"].get("structuredContent").is_none(), "{huge}");
    let sum = call("add", json!({ "a": 2, "b": 3 })).await;
    assert_eq!(sum["result"]["structuredContent"]["sum"], 5.0, "{sum}");
    let negative = call(
        "longRunningOperation",
        json!({ "duration": -1, "steps": 1 }),
    )
    .await;
    assert_eq!(negative["result"]["isError"], true, "{negative}");
    assert!(
        negative["result"]["content"][0]["text"]
            .as_str()
            .is_some_and(|text| text.contains("0-300 seconds")),
        "{negative}"
    );
}

#[tokio::test]
async fn elicitation_is_asked_with_input_required_and_completed_on_retry() {
    let app = spawn_app().await;
    let args = json!({ "date": "2026-12-24", "partySize": 4 });
    let meta = json!({ "io.modelcontextprotocol/clientCapabilities": { "elicitation": {} } });
    let first = app
        .call_2026(
            "tools/call",
            Some("book_table"),
            json!({ "name": "book_table", "arguments": args, "_meta": meta }),
        )
        .await;
    assert_eq!(first["result"]["resultType"], "input_required", "{first}");
    let request = &first["result"]["inputRequests"]["confirm_booking"];
    assert_eq!(request["method"], "elicitation/create");

    let answer =
        json!({ "action": "accept", "content": { "confirm": true, "notes": "window seat" } });
    let second = app
        .call_2026(
            "tools/call",
            Some("book_table"),
            json!({ "name": "book_table", "arguments": args, "inputResponses": { "confirm_booking": answer }, "_meta": meta }),
        )
        .await;
    let text = second["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(
        text,
        "Booked a table for 4 on 2026-12-24. Notes: window seat"
    );
}

#[tokio::test]
async fn a_client_is_never_asked_for_what_it_did_not_declare() {
    let app = spawn_app().await;
    for (tool, arguments, capability) in [
        (
            "book_table",
            json!({ "date": "2026-12-24", "partySize": 4 }),
            "elicitation",
        ),
        ("sampleLLM", json!({ "prompt": "hi" }), "sampling"),
    ] {
        // meta_2026() declares no capability at all.
        let answer = app
            .call_2026(
                "tools/call",
                Some(tool),
                json!({ "name": tool, "arguments": arguments }),
            )
            .await;
        assert_eq!(answer["error"]["code"], -32021, "{tool}: {answer}");
        assert!(
            answer["error"]["data"].to_string().contains(capability),
            "{tool}: {answer}"
        );
    }
}

#[tokio::test]
async fn progress_notifications_stream_on_the_request() {
    let app = spawn_app().await;
    let reply = app
        .request_2026(
            "tools/call",
            Some("longRunningOperation"),
            json!({
                "name": "longRunningOperation",
                "arguments": { "duration": 0.3, "steps": 3 },
                "_meta": { "progressToken": "tok" },
            }),
        )
        .send()
        .await
        .expect("send");
    assert!(
        reply.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let messages = sse_messages(&reply.text().await.unwrap());
    let progress: Vec<&Value> = messages
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .collect();
    assert_eq!(progress.len(), 3, "{messages:?}");
    assert_eq!(progress[2]["params"]["progress"], json!(3.0));
    let last = messages.last().unwrap();
    assert!(
        last["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("completed")
    );
}

#[tokio::test]
async fn listen_acknowledges_the_accepted_filter() {
    let app = spawn_app().await;
    let response = app
        .request_2026(
            "subscriptions/listen",
            None,
            json!({ "notifications": { "toolsListChanged": true, "promptsListChanged": true } }),
        )
        .send()
        .await
        .expect("listen");
    assert_eq!(response.status(), 200);
    let mut stream = response;
    let first = tokio::time::timeout(std::time::Duration::from_secs(5), stream.chunk())
        .await
        .expect("acknowledgement within 5s")
        .expect("read")
        .expect("a chunk");
    let messages = sse_messages(std::str::from_utf8(&first).unwrap());
    let ack = messages
        .iter()
        .find(|m| m["method"] == "notifications/subscriptions/acknowledged")
        .unwrap_or_else(|| panic!("no acknowledgement in {messages:?}"));
    assert_eq!(ack["params"]["notifications"]["toolsListChanged"], true);
}

/// The 2026-07-28 schema's final result for a server's teardown: a listen stream open when
/// the server stops ends with it, so the client knows to listen elsewhere rather than retry.
#[tokio::test]
async fn listen_streams_end_with_their_final_result_at_shutdown() {
    let app = spawn_app().await;
    let mut stream = app
        .request_2026(
            "subscriptions/listen",
            None,
            json!({ "notifications": { "toolsListChanged": true } }),
        )
        .send()
        .await
        .expect("listen");
    let mut body = String::new();
    while !body.contains("notifications/subscriptions/acknowledged") {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(5), stream.chunk())
            .await
            .expect("acknowledgement within 5s")
            .expect("read")
            .expect("a chunk");
        body.push_str(std::str::from_utf8(&chunk).unwrap());
    }

    app.shut_down();
    while let Some(chunk) = tokio::time::timeout(std::time::Duration::from_secs(5), stream.chunk())
        .await
        .expect("the stream ends within 5s")
        .expect("read")
    {
        body.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let messages = sse_messages(&body);
    let last = messages.last().expect("messages");
    assert_eq!(last["id"], 1, "{messages:?}");
    assert_eq!(last["result"]["resultType"], "complete", "{last}");
    assert_eq!(
        last["result"]["_meta"]["io.modelcontextprotocol/subscriptionId"], 1,
        "{last}"
    );
}

#[tokio::test]
async fn unknown_resource_is_invalid_params_in_2026() {
    let app = spawn_app().await;
    let reply = app
        .call_2026(
            "resources/read",
            Some("test://nope"),
            json!({ "uri": "test://nope" }),
        )
        .await;
    assert_eq!(reply["error"]["code"], -32602, "{reply}");
}

#[tokio::test]
async fn listen_reports_updates_of_watched_resources() {
    let reference = outpost_reference::ReferenceServer::with_resource_update_interval(
        std::time::Duration::from_millis(100),
    );
    let app = common::spawn_reference(reference, outpost::ServerConfig::default()).await;
    let mut stream = app
        .request_2026(
            "subscriptions/listen",
            None,
            json!({ "notifications": {
                "resourceSubscriptions": ["test://static/resource/2", "test://no-such-resource"]
            } }),
        )
        .send()
        .await
        .expect("listen");
    let mut body = String::new();
    let messages = loop {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(5), stream.chunk())
            .await
            .unwrap_or_else(|_| panic!("no update within 5s: {body}"))
            .expect("read")
            .expect("stream open");
        body.push_str(std::str::from_utf8(&chunk).unwrap());
        let messages = sse_messages(&body);
        if messages
            .iter()
            .any(|m| m["method"] == "notifications/resources/updated")
        {
            break messages;
        }
    };
    let ack = messages
        .iter()
        .find(|m| m["method"] == "notifications/subscriptions/acknowledged")
        .expect("acknowledgement first");
    assert_eq!(
        ack["params"]["notifications"]["resourceSubscriptions"],
        json!(["test://static/resource/2"]),
        "only existing resources are watched"
    );
    let update = messages
        .iter()
        .find(|m| m["method"] == "notifications/resources/updated")
        .unwrap();
    assert_eq!(update["params"]["uri"], "test://static/resource/2");
    assert!(
        update["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"].is_number()
            || update["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"].is_string(),
        "{update}"
    );
}

#[tokio::test]
async fn responses_carry_security_headers() {
    let app = spawn_app().await;
    let mcp = app
        .request_2026("tools/list", None, json!({}))
        .send()
        .await
        .unwrap();
    let refused = app
        .request_2026("tools/list", None, json!({}))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    let health = app.http.get(app.url("/health")).send().await.unwrap();
    for response in [mcp, refused, health] {
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert_eq!(response.headers()["referrer-policy"], "no-referrer");
        assert!(
            !response.headers().contains_key("strict-transport-security"),
            "no HSTS behind a plain-http URL"
        );
    }
}

/// Behind an https public URL (TLS ends at a proxy in front), browsers are told to keep to
/// https: every response carries `Strict-Transport-Security`.
#[tokio::test]
async fn an_https_public_url_adds_strict_transport_security() {
    let app = spawn_app_with(ServerConfig {
        public_url: Some("https://mcp.example.com".parse().unwrap()),
        ..ServerConfig::default()
    })
    .await;
    let mcp = app
        .request_2026("tools/list", None, json!({}))
        .send()
        .await
        .unwrap();
    let health = app.http.get(app.url("/health")).send().await.unwrap();
    let unknown = app.http.get(app.url("/nowhere")).send().await.unwrap();
    for response in [mcp, health, unknown] {
        assert_eq!(
            response.headers()["strict-transport-security"],
            "max-age=31536000"
        );
    }
}

/// A browser client on an allowed origin (here a loopback inspector) gets its preflight and
/// CORS headers without authentication too.
#[tokio::test]
async fn browser_clients_get_cors_without_authentication() {
    let app = spawn_app().await;
    let origin = "http://localhost:6274";
    let preflight = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/mcp"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,mcp-protocol-version",
        )
        .send()
        .await
        .expect("preflight");
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(preflight.headers()["access-control-allow-origin"], origin);
    let call = app
        .request_2026("tools/list", None, json!({}))
        .header("origin", origin)
        .send()
        .await
        .expect("call");
    assert_eq!(call.status(), 200);
    assert_eq!(call.headers()["access-control-allow-origin"], origin);
}

/// Completing an argument of a prompt or template the server does not have is `-32602`
/// (the completion spec's "invalid prompt name"); an unknown argument completes to nothing.
#[tokio::test]
async fn completion_of_an_unknown_reference_is_invalid_params() {
    let app = spawn_app().await;
    for reference in [
        json!({ "type": "ref/prompt", "name": "nope" }),
        json!({ "type": "ref/resource", "uri": "test://nope/{id}" }),
    ] {
        let reply = app
            .call_2026(
                "completion/complete",
                None,
                json!({ "ref": reference, "argument": { "name": "x", "value": "" } }),
            )
            .await;
        assert_eq!(reply["error"]["code"], -32602, "{reply}");
    }
    let reply = app
        .call_2026(
            "completion/complete",
            None,
            json!({
                "ref": { "type": "ref/prompt", "name": "complex_prompt" },
                "argument": { "name": "unknown", "value": "" }
            }),
        )
        .await;
    assert_eq!(
        reply["result"]["completion"]["values"],
        json!([]),
        "{reply}"
    );
}

/// The single-page lists give no cursor, so a cursor sent back is one they never gave:
/// `-32602` (pagination: "Invalid cursors SHOULD result in an error"), as `resources/list`
/// answers a cursor it cannot read.
#[tokio::test]
async fn a_cursor_a_list_never_gave_is_invalid_params() {
    let app = spawn_app().await;
    for method in [
        "tools/list",
        "prompts/list",
        "resources/templates/list",
        "resources/list",
    ] {
        let reply = app
            .call_2026(method, None, json!({ "cursor": "zzz" }))
            .await;
        assert_eq!(reply["error"]["code"], -32602, "{method}: {reply}");
        let reply = app.call_2026(method, None, json!({})).await;
        assert!(reply["result"].is_object(), "{method}: {reply}");
    }
}

/// 2026-07-28 removed `logging/setLevel` (the level rides in each request's `_meta`): it is an
/// unknown method there, `404` with `-32601`, as `ping` is.
#[tokio::test]
async fn set_level_is_no_method_in_2026_07_28() {
    let app = spawn_app().await;
    for (method, params) in [
        ("logging/setLevel", json!({ "level": "debug" })),
        ("ping", json!({})),
    ] {
        let response = app
            .request_2026(method, None, params)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 404, "{method}");
        let reply = read_jsonrpc(response).await;
        assert_eq!(reply["error"]["code"], -32601, "{method}: {reply}");
    }
}

/// Dice the tool cannot roll are a tool error the model reads (`isError`), not a protocol
/// error; the tool keeps its output schema, and a roll it can make matches it.
#[tokio::test]
async fn roll_dice_reports_bad_arguments_as_a_tool_error() {
    let app = spawn_app().await;
    let tools = app.call_2026("tools/list", None, json!({})).await;
    let dice = tools["result"]["tools"]
        .as_array()
        .and_then(|tools| tools.iter().find(|tool| tool["name"] == "roll_dice"))
        .cloned()
        .expect("roll_dice listed");
    assert!(dice["outputSchema"].is_object(), "{dice}");
    let call = |arguments: Value| {
        app.call_2026(
            "tools/call",
            Some("roll_dice"),
            json!({ "name": "roll_dice", "arguments": arguments }),
        )
    };
    let refused = call(json!({ "sides": 1, "count": 1 })).await;
    assert_eq!(refused["result"]["isError"], true, "{refused}");
    let text = refused["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(text.contains("sides must be 2-1000"), "{refused}");
    let rolled = call(json!({ "sides": 6, "count": 2 })).await;
    assert_eq!(
        rolled["result"]["structuredContent"]["rolls"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "{rolled}"
    );
}
