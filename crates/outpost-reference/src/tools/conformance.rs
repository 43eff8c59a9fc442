//! The fixtures the official MCP conformance suite calls by name: content of every kind,
//! logging, progress, errors, the SEP-2243 custom-header tool, the JSON Schema 2020-12 tool and
//! the SEP-2575 diagnostic hooks (`test_missing_capability`, `test_trigger_*_change`,
//! `test_streaming_elicitation`, `test_logging_tool`).
//!
//! They live in the reference server, not in a separate test binary, so the suite exercises
//! Outpost's real serving path. Names, texts and schemas are the suite's; the tools that ask
//! the client for input are in [`crate::tools::conformance_input`] and [`crate::tools::mrtr`].

use std::{sync::Arc, time::Duration};

use rmcp::{
    ErrorData as McpError, RoleServer,
    handler::server::{tool::InputResponses, wrapper::Parameters},
    model::*,
    schemars,
    service::RequestContext,
    tool, tool_router,
};
use serde::Deserialize;
use serde_json::json;

use crate::{
    ReferenceServer,
    tools::{
        input::{self, Answer, ClientFeature, uses_input_required},
        media::{SILENT_WAV_BASE64, TINY_PNG_BASE64},
    },
};

/// The logger name of the fixtures' `notifications/message`.
const LOGGER: &str = "conformance";

/// Pause between the steps of the logging and progress fixtures, so the notifications arrive
/// while the call is visibly in flight.
const STEP: Duration = Duration::from_millis(50);

/// Arguments of `test_custom_header`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct CustomHeaderArgs {
    /// Echoed back; the client also sends it as the `Mcp-Param-Value` header (SEP-2243), which
    /// the transport checks against this argument before the tool runs.
    #[schemars(extend("x-mcp-header" = "Value"))]
    pub value: String,
}

/// Arguments of `json_schema_2020_12_tool` (its advertised schema is [`json_schema_2020_12`]).
#[derive(Debug, Deserialize)]
pub struct JsonSchemaArgs {
    /// Who to greet.
    #[serde(default)]
    pub name: Option<String>,
}

/// The input schema of `json_schema_2020_12_tool`: `$schema`, `$defs` with an `$anchor`,
/// `allOf`/`anyOf`, `if`/`then`/`else` and `additionalProperties`, which the suite checks are
/// listed verbatim (SEP-1613, SEP-2106).
pub fn json_schema_2020_12() -> Arc<JsonObject> {
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {
            "address": {
                "$anchor": "address",
                "type": "object",
                "properties": {
                    "street": { "type": "string" },
                    "city": { "type": "string" }
                }
            }
        },
        "properties": {
            "name": { "type": "string" },
            "address": { "$ref": "#/$defs/address" }
        },
        "allOf": [{ "anyOf": [{ "required": ["name"] }, { "required": ["address"] }] }],
        "if": { "required": ["address"] },
        "then": { "properties": { "address": { "required": ["street"] } } },
        "else": { "required": ["name"] },
        "additionalProperties": false
    });
    Arc::new(schema.as_object().cloned().unwrap_or_default())
}

/// Which list a `test_trigger_*_change` tool announces as changed.
#[derive(Clone, Copy, Debug)]
enum ListChange {
    Tools,
    Prompts,
}

#[tool_router(router = conformance_tools, vis = "pub(crate)")]
impl ReferenceServer {
    /// One text block.
    #[tool(description = "Returns simple text content")]
    fn test_simple_text(&self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::text(
            "This is a simple text response for testing.",
        )])
    }

    /// One PNG image block.
    #[tool(description = "Returns image content")]
    fn test_image_content(&self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::image(TINY_PNG_BASE64, "image/png")])
    }

    /// One WAV audio block.
    #[tool(description = "Returns audio content")]
    fn test_audio_content(&self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::audio(SILENT_WAV_BASE64, "audio/wav")])
    }

    /// One embedded text resource.
    #[tool(description = "Returns embedded resource content")]
    fn test_embedded_resource(&self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::resource(
            ResourceContents::text(
                "This is an embedded resource content.",
                "test://embedded-resource",
            )
            .with_mime_type("text/plain"),
        )])
    }

    /// Text, an image and an embedded resource in one result.
    #[tool(description = "Returns multiple content types")]
    fn test_multiple_content_types(&self) -> CallToolResult {
        CallToolResult::success(vec![
            ContentBlock::text("Multiple content types test:"),
            ContentBlock::image(TINY_PNG_BASE64, "image/png"),
            ContentBlock::resource(
                ResourceContents::text(
                    json!({ "test": "data", "value": 123 }).to_string(),
                    "test://mixed-content-resource",
                )
                .with_mime_type("application/json"),
            ),
        ])
    }

    /// Three info-level log messages while it runs (filtered by the client's log level).
    #[tool(description = "Sends logging notifications during execution")]
    async fn test_tool_with_logging(&self, context: RequestContext<RoleServer>) -> CallToolResult {
        for message in [
            "Tool execution started",
            "Tool processing data",
            "Tool execution completed",
        ] {
            self.log(&context, LoggingLevel::Info, LOGGER, json!(message))
                .await;
            tokio::time::sleep(STEP).await;
        }
        CallToolResult::success(vec![ContentBlock::text("Logging test completed")])
    }

    /// A tool execution error (`isError: true`), not a protocol error.
    #[tool(description = "Always returns an error")]
    fn test_error_handling(&self) -> CallToolResult {
        CallToolResult::error(vec![ContentBlock::text(
            "This tool intentionally returns an error for testing",
        )])
    }

    /// Progress 0, 50 and 100 of 100, when the request carries a progress token.
    #[tool(description = "Reports progress notifications")]
    async fn test_tool_with_progress(&self, context: RequestContext<RoleServer>) -> CallToolResult {
        let token = context.meta.get_progress_token();
        for (progress, message) in [(0.0, "Starting"), (50.0, "Halfway"), (100.0, "Complete")] {
            if let Some(token) = &token {
                let param = ProgressNotificationParam::new(token.clone(), progress)
                    .with_total(100.0)
                    .with_message(message);
                if let Err(error) = context.peer.notify_progress(param).await {
                    tracing::debug!(%error, "progress notification not delivered");
                }
            }
            tokio::time::sleep(STEP).await;
        }
        CallToolResult::success(vec![ContentBlock::text("Progress test completed")])
    }

    /// Answers after a short delay, for the SSE polling scenario (SEP-1699).
    #[tool(description = "Tests SSE reconnection behavior")]
    async fn test_reconnection(&self) -> CallToolResult {
        tokio::time::sleep(Duration::from_millis(100)).await;
        CallToolResult::success(vec![ContentBlock::text("Reconnection test completed")])
    }

    /// Echoes `value`, which is also promoted to an `Mcp-Param-Value` header (SEP-2243).
    #[tool(description = "Validates SEP-2243 custom parameter headers")]
    fn test_custom_header(&self, Parameters(args): Parameters<CustomHeaderArgs>) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::text(args.value)])
    }

    /// Greets `name`; exists for its JSON Schema 2020-12 input schema.
    #[tool(
        name = "json_schema_2020_12_tool",
        description = "Tool with JSON Schema 2020-12 features",
        input_schema = json_schema_2020_12()
    )]
    fn json_schema_2020_12_tool(
        &self,
        Parameters(args): Parameters<JsonSchemaArgs>,
    ) -> CallToolResult {
        let name = args.name.unwrap_or_else(|| "world".to_owned());
        CallToolResult::success(vec![ContentBlock::text(format!("Hello, {name}!"))])
    }

    /// Announces `notifications/tools/list_changed` to every listener that accepted it.
    #[tool(description = "Triggers a tools/list_changed notification on matching subscriptions")]
    async fn test_trigger_tool_change(
        &self,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.announce_list_change(&context, ListChange::Tools).await;
        CallToolResult::success(vec![ContentBlock::text("Tool list change triggered")])
    }

    /// Announces `notifications/prompts/list_changed` to every listener that accepted it.
    #[tool(description = "Triggers a prompts/list_changed notification on matching subscriptions")]
    async fn test_trigger_prompt_change(
        &self,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.announce_list_change(&context, ListChange::Prompts)
            .await;
        CallToolResult::success(vec![ContentBlock::text("Prompt list change triggered")])
    }

    /// Fails with `-32021` (HTTP 400 on 2026-07-28) unless the client declared sampling.
    #[tool(description = "Requires the sampling client capability")]
    fn test_missing_capability(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        input::require(&context, ClientFeature::Sampling)?;
        Ok(CallToolResult::success(vec![ContentBlock::text(
            "Required capability declared",
        )]))
    }

    /// Asks for one value. On 2026-07-28 the request stream carries only the
    /// `InputRequiredResult`, never a server-to-client request.
    #[tool(description = "Returns an input_required result containing an elicitation request")]
    async fn test_streaming_elicitation(
        &self,
        InputResponses(responses): InputResponses,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let params = input::elicitation_params(
            "Provide a value",
            json!({ "value": { "type": "string" } }),
            json!(["value"]),
        );
        let answer = input::elicit(
            &context,
            responses.as_ref(),
            "streaming_elicitation",
            params,
        );
        Ok(match answer.await {
            Answer::Given(answer) => {
                CallToolResult::success(vec![ContentBlock::text(format!("Received: {answer}"))])
                    .into()
            }
            Answer::Required(required) => required.into(),
            Answer::Failed(reason) => CallToolResult::error(vec![ContentBlock::text(format!(
                "Elicitation error: {reason}"
            ))])
            .into(),
        })
    }

    /// Logs one message, only if the client asked for log messages (SEP-2575: without
    /// `_meta` logLevel a 2026-07-28 request gets none).
    #[tool(description = "Emits notifications/message only when logLevel is requested")]
    async fn test_logging_tool(&self, context: RequestContext<RoleServer>) -> CallToolResult {
        self.log(
            &context,
            LoggingLevel::Info,
            LOGGER,
            json!("logLevel was requested"),
        )
        .await;
        CallToolResult::success(vec![ContentBlock::text("Logging tool completed")])
    }
}

impl ReferenceServer {
    /// Sends a list-changed notification to every `subscriptions/listen` stream (each sink
    /// drops it unless its client asked for it) and, in a session, to the caller.
    async fn announce_list_change(&self, context: &RequestContext<RoleServer>, change: ListChange) {
        for sink in self.shared.listeners.sinks() {
            let sent = match change {
                ListChange::Tools => sink.notify_tool_list_changed().await,
                ListChange::Prompts => sink.notify_prompt_list_changed().await,
            };
            if let Err(error) = sent {
                tracing::debug!(%error, ?change, "list change not sent to a listener");
            }
        }
        if !uses_input_required(context) {
            let sent = match change {
                ListChange::Tools => context.peer.notify_tool_list_changed().await,
                ListChange::Prompts => context.peer.notify_prompt_list_changed().await,
            };
            if let Err(error) = sent {
                tracing::debug!(%error, ?change, "list change not sent to the session");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    #[test]
    fn custom_header_argument_is_annotated() {
        let tool = ReferenceServer::test_custom_header_tool_attr();
        let schema = Value::Object((*tool.input_schema).clone());
        assert_eq!(
            schema.pointer("/properties/value/x-mcp-header"),
            Some(&json!("Value"))
        );
        assert_eq!(schema.pointer("/required/0"), Some(&json!("value")));
    }

    #[test]
    fn json_schema_2020_12_keywords_survive_listing() {
        let tool = ReferenceServer::json_schema_2020_12_tool_tool_attr();
        for keyword in ["$schema", "$defs", "allOf", "if", "then", "else"] {
            assert!(tool.input_schema.contains_key(keyword), "{keyword} missing");
        }
        assert_eq!(
            tool.input_schema.get("additionalProperties"),
            Some(&json!(false))
        );
    }
}
