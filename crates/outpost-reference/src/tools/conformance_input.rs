//! The conformance suite's fixtures that ask the client for input: `test_sampling`,
//! `test_elicitation`, `test_elicitation_sep1034_defaults` (defaults for every primitive type)
//! and `test_elicitation_sep1330_enums` (every enum form).
//!
//! Up to 2025-11-25 they send the request to the client on the call's stream; on 2026-07-28
//! the same tool returns an `InputRequiredResult` and finishes when the client retries (see
//! [`crate::tools::input`]), so one fixture serves both revisions.

use rmcp::{
    ErrorData as McpError, RoleServer,
    handler::server::{tool::InputResponses, wrapper::Parameters},
    model::*,
    schemars,
    service::RequestContext,
    tool, tool_router,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    ReferenceServer,
    tools::input::{self, Answer},
};

/// Arguments of `test_sampling`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct SamplingArgs {
    /// The prompt to send.
    pub prompt: String,
}

/// Arguments of `test_elicitation`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ElicitationArgs {
    /// The message to show.
    pub message: String,
}

/// Key of the single input each fixture asks for on 2026-07-28.
const KEY: &str = "input";

/// SEP-1034: a default for a string, an integer, a number, an enum and a boolean.
pub fn sep1034_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": { "type": "string", "description": "User's name", "default": "John Doe" },
            "age": { "type": "integer", "description": "User's age", "default": 30 },
            "score": { "type": "number", "description": "User's score", "default": 95.5 },
            "status": {
                "type": "string",
                "description": "User's status",
                "enum": ["active", "inactive", "pending"],
                "default": "active"
            },
            "verified": {
                "type": "boolean",
                "description": "Whether user is verified",
                "default": true
            }
        }
    })
}

/// SEP-1330: untitled and titled single-select, the legacy `enumNames` form, and untitled and
/// titled multi-select.
pub fn sep1330_schema() -> Value {
    let titled = |label: &str| {
        json!([
            { "const": "value1", "title": format!("First {label}") },
            { "const": "value2", "title": format!("Second {label}") },
            { "const": "value3", "title": format!("Third {label}") }
        ])
    };
    json!({
        "type": "object",
        "properties": {
            "untitledSingle": { "type": "string", "enum": ["option1", "option2", "option3"] },
            "titledSingle": { "type": "string", "oneOf": titled("Option") },
            "legacyEnum": {
                "type": "string",
                "enum": ["opt1", "opt2", "opt3"],
                "enumNames": ["Option One", "Option Two", "Option Three"]
            },
            "untitledMulti": {
                "type": "array",
                "items": { "type": "string", "enum": ["option1", "option2", "option3"] }
            },
            "titledMulti": { "type": "array", "items": { "anyOf": titled("Choice") } }
        }
    })
}

#[tool_router(router = conformance_input_tools, vis = "pub(crate)")]
impl ReferenceServer {
    /// Asks the client's LLM to answer `prompt`.
    #[tool(description = "Requests LLM sampling from client")]
    async fn test_sampling(
        &self,
        Parameters(args): Parameters<SamplingArgs>,
        InputResponses(responses): InputResponses,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let params = input::sampling_params(&args.prompt, 100);
        let answer = input::sample(&context, responses.as_ref(), KEY, params).await;
        Ok(respond(answer, "Sampling", |response| {
            let text = response
                .as_object()
                .and_then(input::sampled_text)
                .unwrap_or("No text response");
            format!("LLM response: {text}")
        }))
    }

    /// Asks the user for a username and an email address.
    #[tool(description = "Requests user input from client")]
    async fn test_elicitation(
        &self,
        Parameters(args): Parameters<ElicitationArgs>,
        InputResponses(responses): InputResponses,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let schema = json!({
            "type": "object",
            "properties": {
                "username": { "type": "string", "description": "User's response" },
                "email": { "type": "string", "description": "User's email address" }
            },
            "required": ["username", "email"]
        });
        let params = input::form(&args.message, schema)?;
        let answer = input::elicit(&context, responses.as_ref(), KEY, params).await;
        Ok(respond(answer, "Elicitation", |response| {
            format!("User response: {}", describe(response))
        }))
    }

    /// Asks for five values, each with a default (SEP-1034).
    #[tool(description = "Tests elicitation with default values (SEP-1034)")]
    async fn test_elicitation_sep1034_defaults(
        &self,
        InputResponses(responses): InputResponses,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let params = input::form(
            "Please provide values (all have defaults)",
            sep1034_schema(),
        )?;
        let answer = input::elicit(&context, responses.as_ref(), KEY, params).await;
        Ok(respond(answer, "Elicitation", |response| {
            format!("Elicitation completed: {}", describe(response))
        }))
    }

    /// Asks for one value of each enum form (SEP-1330).
    #[tool(description = "Tests enum schema improvements (SEP-1330)")]
    async fn test_elicitation_sep1330_enums(
        &self,
        InputResponses(responses): InputResponses,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let params = input::form("Test enum schema improvements", sep1330_schema())?;
        let answer = input::elicit(&context, responses.as_ref(), KEY, params).await;
        Ok(respond(answer, "Elicitation", |response| {
            format!("Enum elicitation completed: {}", describe(response))
        }))
    }
}

/// The tool's response for `answer`: `complete` applied to a given answer, the
/// `InputRequiredResult` itself, or a tool error naming what (`what`) failed.
fn respond(
    answer: Answer,
    what: &str,
    complete: impl FnOnce(&Value) -> String,
) -> CallToolResponse {
    match answer {
        Answer::Given(response) => {
            CallToolResult::success(vec![ContentBlock::text(complete(&response))]).into()
        }
        Answer::Required(required) => required.into(),
        Answer::Failed(reason) => {
            CallToolResult::error(vec![ContentBlock::text(format!("{what} error: {reason}"))])
                .into()
        }
    }
}

/// `action=..., content=...` of an `ElicitResult`.
fn describe(response: &Value) -> String {
    let action = response
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    let content = response.get("content").unwrap_or(&Value::Null);
    format!("action={action}, content={content}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requested(schema: Value) -> Value {
        let params = input::form("test", schema).expect("a valid elicitation schema");
        serde_json::to_value(params).expect("serializable")["requestedSchema"].clone()
    }

    #[test]
    fn sep1034_defaults_survive_the_elicitation_types() {
        let schema = requested(sep1034_schema());
        assert_eq!(
            schema.pointer("/properties/name/default"),
            Some(&json!("John Doe"))
        );
        assert_eq!(schema.pointer("/properties/age/default"), Some(&json!(30)));
        assert_eq!(
            schema.pointer("/properties/score/default"),
            Some(&json!(95.5))
        );
        assert_eq!(
            schema.pointer("/properties/status/default"),
            Some(&json!("active"))
        );
        assert_eq!(
            schema.pointer("/properties/verified/default"),
            Some(&json!(true))
        );
    }

    #[test]
    fn sep1330_enum_forms_survive_the_elicitation_types() {
        let schema = requested(sep1330_schema());
        assert!(
            schema
                .pointer("/properties/titledSingle/oneOf/0/title")
                .is_some()
        );
        assert!(schema.pointer("/properties/legacyEnum/enumNames").is_some());
        assert!(
            schema
                .pointer("/properties/untitledMulti/items/enum")
                .is_some()
        );
        assert!(
            schema
                .pointer("/properties/titledMulti/items/anyOf")
                .is_some()
        );
    }
}
