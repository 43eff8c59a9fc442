//! The requests the differential test sends: every fast-path method with valid and invalid
//! arguments, and every way a 2026-07-28 request can be malformed at the transport level.
//! Each case says whether Outpost must answer it on the fast path (`fast`) or leave it to rmcp.

use serde_json::{Value, json};

use super::common::meta_2026;

/// One POST to `/mcp`.
#[derive(Clone, Debug)]
pub struct Case {
    /// What the case exercises (shown on failure).
    pub name: &'static str,
    /// Request headers, in order (a name may repeat).
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: String,
    /// Outpost must answer this without rmcp's per-request service.
    pub fast: bool,
    /// Send the body chunked, without `Content-Length`.
    pub chunked: bool,
}

impl Case {
    /// A well-formed 2026-07-28 request with the SEP-2243 headers; `params` gets the required
    /// `_meta` merged in.
    fn stateless(name: &'static str, method: &str, mcp_name: Option<&str>, params: Value) -> Self {
        let mut params = params;
        let mut meta = meta_2026();
        if let Some(extra) = params.get("_meta").and_then(Value::as_object) {
            for (key, value) in extra {
                meta[key] = value.clone();
            }
        }
        params["_meta"] = meta;
        let mut headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            (
                "accept".to_owned(),
                "application/json, text/event-stream".to_owned(),
            ),
            ("mcp-protocol-version".to_owned(), "2026-07-28".to_owned()),
            ("mcp-method".to_owned(), method.to_owned()),
        ];
        if let Some(mcp_name) = mcp_name {
            headers.push(("mcp-name".to_owned(), mcp_name.to_owned()));
        }
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        Self {
            name,
            headers,
            body: body.to_string(),
            fast: true,
            chunked: false,
        }
    }

    /// A `tools/call` of `tool` with `arguments`.
    fn tool(name: &'static str, tool: &str, arguments: Value) -> Self {
        Self::stateless(
            name,
            "tools/call",
            Some(tool),
            json!({ "name": tool, "arguments": arguments }),
        )
    }

    /// Outpost must leave this one to rmcp.
    fn slow(mut self) -> Self {
        self.fast = false;
        self
    }

    /// Sends the body chunked.
    fn chunked(mut self) -> Self {
        self.chunked = true;
        self
    }

    /// Replaces every `name` header with one `value` (or removes it for `None`).
    fn header(mut self, name: &str, value: Option<&str>) -> Self {
        self.headers.retain(|(existing, _)| existing != name);
        if let Some(value) = value {
            self.headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    /// Adds one more `name` header.
    fn extra_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Edits the JSON body (whatever `edit` returns is ignored).
    fn edit<R>(mut self, edit: impl FnOnce(&mut Value) -> R) -> Self {
        let mut body: Value = serde_json::from_str(&self.body).expect("case bodies are JSON");
        let _ = edit(&mut body);
        self.body = body.to_string();
        self
    }

    /// Replaces the body with `raw`.
    fn raw(mut self, raw: &str) -> Self {
        self.body = raw.to_owned();
        self
    }
}

/// Requests both paths must answer identically.
pub fn equal_answers() -> Vec<Case> {
    let echo = || Case::tool("echo", "echo", json!({ "message": "hi" }));
    let list = || Case::stateless("tools/list", "tools/list", None, json!({}));
    vec![
        // Every fast-path method, valid and invalid arguments.
        list(),
        Case::stateless(
            "tools/list with cursor",
            "tools/list",
            None,
            json!({ "cursor": "x" }),
        ),
        echo(),
        Case::tool("add (structured)", "add", json!({ "a": 1, "b": 2.5 })),
        Case::tool("getTinyImage", "getTinyImage", json!({})),
        Case::tool("unknown tool", "nope", json!({})),
        Case::tool("echo, bad arguments", "echo", json!({ "message": 5 })),
        Case::stateless(
            "echo, no arguments",
            "tools/call",
            Some("echo"),
            json!({ "name": "echo" }),
        ),
        Case::tool("tool error result", "test_error_handling", json!({})),
        Case::tool(
            "missing client capability (-32021)",
            "test_missing_capability",
            json!({}),
        ),
        Case::tool(
            "Mcp-Param-Value matches",
            "test_custom_header",
            json!({ "value": "v1" }),
        )
        .extra_header("mcp-param-value", "v1"),
        Case::tool(
            "InputRequiredResult",
            "test_streaming_elicitation",
            json!({}),
        ),
        Case::tool(
            "logging tool without logLevel",
            "test_logging_tool",
            json!({}),
        ),
        Case::stateless("resources/list", "resources/list", None, json!({})),
        Case::stateless(
            "resources/list page 2",
            "resources/list",
            None,
            json!({ "cursor": "10" }),
        ),
        Case::stateless(
            "resources/list bad cursor",
            "resources/list",
            None,
            json!({ "cursor": "x" }),
        ),
        Case::stateless(
            "resources/templates/list",
            "resources/templates/list",
            None,
            json!({}),
        ),
        read("resources/read text", "test://static-text"),
        read("resources/read blob", "test://static-binary"),
        read("resources/read template", "test://template/7/data"),
        read("unknown resource", "test://nope"),
        Case::stateless("prompts/list", "prompts/list", None, json!({})),
        prompt("prompts/get", "simple_prompt", json!({})),
        prompt(
            "prompts/get with arguments",
            "complex_prompt",
            json!({ "temperature": "0.5", "style": "formal" }),
        ),
        prompt("prompts/get missing arguments", "complex_prompt", json!({})),
        prompt("unknown prompt", "nope", json!({})),
        Case::stateless(
            "completion/complete",
            "completion/complete",
            None,
            json!({ "ref": { "type": "ref/prompt", "name": "complex_prompt" },
                    "argument": { "name": "style", "value": "f" } }),
        ),
        Case::stateless("server/discover", "server/discover", None, json!({})),
        Case::stateless(
            "ping (method not found on 2026-07-28)",
            "ping",
            None,
            json!({}),
        ),
        // Envelope and header variations the fast path still takes.
        echo().edit(|body| body["id"] = json!("req-7")),
        echo().edit(|body| body["id"] = json!(2.0)),
        echo().edit(|body| body["extra"] = json!(true)),
        echo().edit(|body| body["params"]["_meta"]["traceparent"] = json!("00-abc-def-01")),
        echo().header("content-type", Some("application/json; charset=utf-8")),
        echo().header("accept", Some("text/event-stream;q=0.5, application/json")),
        // Transport-level rejections: rmcp answers them on both sides.
        echo()
            .edit(|body| body["params"].as_object_mut().map(|p| p.remove("_meta")))
            .slow(),
        echo()
            .edit(|body| {
                body["params"]["_meta"]
                    .as_object_mut()
                    .map(|m| m.remove("io.modelcontextprotocol/clientCapabilities"))
            })
            .slow(),
        echo()
            .edit(|body| {
                body["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] =
                    json!("2025-11-25")
            })
            .slow(),
        echo()
            .header("mcp-protocol-version", Some("2025-11-25"))
            .slow(),
        echo().header("mcp-protocol-version", None).slow(),
        echo()
            .header("mcp-protocol-version", Some("2099-01-01"))
            .edit(|body| {
                body["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] =
                    json!("2099-01-01")
            })
            .slow(),
        echo().header("mcp-method", None).slow(),
        echo().header("mcp-method", Some("tools/list")).slow(),
        echo().extra_header("mcp-method", "tools/call").slow(),
        echo().header("mcp-name", Some("add")).slow(),
        echo().header("mcp-name", None).slow(),
        read("resources/read, Mcp-Name differs", "test://static-text")
            .header("mcp-name", Some("test://static-binary"))
            .slow(),
        prompt("prompts/get, Mcp-Name differs", "simple_prompt", json!({}))
            .header("mcp-name", Some("complex_prompt"))
            .slow(),
        Case::tool(
            "Mcp-Param-Value missing",
            "test_custom_header",
            json!({ "value": "v1" }),
        )
        .slow(),
        Case::tool(
            "Mcp-Param-Value differs",
            "test_custom_header",
            json!({ "value": "v1" }),
        )
        .extra_header("mcp-param-value", "v2")
        .slow(),
        echo().header("content-type", Some("text/plain")).slow(),
        echo().header("accept", Some("application/json")).slow(),
        echo().header("accept", Some("*/*")).slow(),
        list().edit(|body| body["params"] = Value::Null).slow(),
        Case::stateless("unknown method", "foo/bar", None, json!({})).slow(),
        // Valid, but outside what the fast path takes: same answers through rmcp.
        echo()
            .header("mcp-name", Some("=?base64?ZWNobw==?="))
            .slow(),
        echo()
            .edit(|body| body["params"]["_meta"]["progressToken"] = json!("p1"))
            .slow(),
        Case::tool("logLevel (answer streams)", "test_logging_tool", json!({}))
            .edit(|body| {
                body["params"]["_meta"]["io.modelcontextprotocol/logLevel"] = json!("debug")
            })
            .slow(),
        echo()
            .extra_header("mcp-session-id", "not-a-session")
            .slow(),
        echo()
            .extra_header("origin", "http://localhost:6274")
            .slow(),
        echo().chunked().slow(),
        Case::stateless(
            "notification",
            "notifications/cancelled",
            None,
            json!({ "requestId": 9 }),
        )
        .edit(|body| body.as_object_mut().map(|b| b.remove("id")))
        .slow(),
        // Last: its session's serve loop starts (and logs) after the answer, which would be
        // mistaken for a slow answer to the case after it.
        legacy_initialize(),
    ]
}

/// Bodies Outpost's JSON-RPC body check (`outpost::mcp::jsonrpc_body`, not the fast path)
/// answers with `400` and a JSON-RPC error where rmcp says `415` in plain text.
pub fn body_check_differences() -> Vec<(Case, i64)> {
    let base = || Case::stateless("malformed body", "tools/list", None, json!({})).slow();
    vec![
        (base().raw(r#"{"jsonrpc":"2.0","id":1,"method":"#), -32700),
        (
            base().raw(r#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]"#),
            -32600,
        ),
        (base().edit(|body| body["jsonrpc"] = json!("1.0")), -32600),
        // JSON-RPC, but no MCP message: rmcp's message type cannot read these.
        (
            Case::tool("echo", "echo", json!({ "message": "hi" }))
                .edit(|body| body["result"] = json!({}))
                .slow(),
            -32600,
        ),
        (base().edit(|body| body["id"] = json!(true)), -32600),
        (base().edit(|body| body["params"] = json!("x")), -32600),
    ]
}

/// Requests naming an MCP method with params it cannot take: Outpost's body check answers
/// `-32602 Invalid params` (`200`), where rmcp reads a custom request and says `-32601`
/// (on 2026-07-28 with `404`, which tells a client the method does not exist).
pub fn invalid_params() -> Vec<Case> {
    vec![
        Case::tool("echo", "echo", json!({ "message": "hi" })).edit(|body| {
            body["params"]
                .as_object_mut()
                .map(|params| params.remove("name"))
        }),
        Case::stateless(
            "listen without notifications",
            "subscriptions/listen",
            None,
            json!({}),
        ),
    ]
    .into_iter()
    .map(Case::slow)
    .collect()
}

fn read(name: &'static str, uri: &str) -> Case {
    Case::stateless(name, "resources/read", Some(uri), json!({ "uri": uri }))
}

fn prompt(name: &'static str, prompt: &str, arguments: Value) -> Case {
    Case::stateless(
        name,
        "prompts/get",
        Some(prompt),
        json!({ "name": prompt, "arguments": arguments }),
    )
}

/// A 2025-11-25 `initialize`: opens a legacy session on both sides (the session ids differ,
/// the bodies do not).
fn legacy_initialize() -> Case {
    Case::stateless("legacy initialize", "initialize", None, json!({}))
        .header("mcp-protocol-version", Some("2025-11-25"))
        .header("mcp-method", None)
        .edit(|body| {
            body["params"] = json!({
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": { "name": "differential", "version": "1" }
            })
        })
        .slow()
}
