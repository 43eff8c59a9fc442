//! The conformance suite's prompts: `test_simple_prompt`, `test_prompt_with_arguments`,
//! `test_prompt_with_embedded_resource`, `test_prompt_with_image`, and
//! `test_input_required_result_prompt`, which shows that an `InputRequiredResult` (SEP-2322)
//! is not limited to tools.

use rmcp::{
    ErrorData as McpError, RoleServer,
    handler::server::{
        prompt::{Extension, IntoGetPromptResult},
        wrapper::Parameters,
    },
    model::{
        ContentBlock, GetPromptResponse, GetPromptResult, ImageContent, InputRequiredResult,
        PromptMessage, ResourceContents, Role,
    },
    prompt, prompt_router, schemars,
    service::RequestContext,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    ReferenceServer,
    prompts::PromptInputs,
    resources,
    tools::{
        input::{self, Answer},
        media::TINY_PNG_BASE64,
    },
};

/// Example values offered as completions of `test_prompt_with_arguments`' arguments.
pub const ARGUMENT_EXAMPLES: [&str; 2] = ["testValue1", "testValue2"];

/// Arguments of `test_prompt_with_arguments`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct PromptArgs {
    /// First test argument.
    pub arg1: String,
    /// Second test argument.
    #[serde(default)]
    pub arg2: Option<String>,
}

/// Arguments of `test_prompt_with_embedded_resource`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmbeddedResourceArgs {
    /// URI of the resource to embed (default: test://static-text).
    #[serde(default)]
    pub resource_uri: Option<String>,
}

/// A prompt that is either complete or still needs input from the client.
pub enum PromptOutcome {
    /// The prompt's messages.
    Complete(GetPromptResult),
    /// What the client must answer first (2026-07-28).
    Required(InputRequiredResult),
}

impl IntoGetPromptResult for PromptOutcome {
    fn into_get_prompt_result(self) -> Result<GetPromptResponse, McpError> {
        match self {
            Self::Complete(result) => result.into_get_prompt_result(),
            Self::Required(required) => required.into_get_prompt_result(),
        }
    }
}

const USER_CONTEXT: &str = "user_context";

// `#[prompt]` generates a public, undocumented `*_prompt_attr` function per prompt.
#[allow(missing_docs)]
#[prompt_router(router = "conformance_prompts", vis = "pub(crate)")]
impl ReferenceServer {
    /// One user message, no arguments.
    #[prompt(
        name = "test_simple_prompt",
        description = "A simple test prompt with no arguments"
    )]
    fn test_simple_prompt(&self) -> GetPromptResult {
        GetPromptResult::new(vec![PromptMessage::new_text(
            Role::User,
            "This is a simple test prompt.",
        )])
        .with_description("A simple test prompt")
    }

    /// Substitutes both arguments into its message.
    #[prompt(
        name = "test_prompt_with_arguments",
        description = "A test prompt that accepts arguments"
    )]
    fn test_prompt_with_arguments(
        &self,
        Parameters(args): Parameters<PromptArgs>,
    ) -> GetPromptResult {
        let arg2 = args.arg2.unwrap_or_default();
        GetPromptResult::new(vec![PromptMessage::new_text(
            Role::User,
            format!("Prompt with arguments: arg1='{}', arg2='{arg2}'", args.arg1),
        )])
        .with_description("A prompt with arguments")
    }

    /// Embeds a resource: ours if the URI names one, a placeholder text otherwise.
    #[prompt(
        name = "test_prompt_with_embedded_resource",
        description = "A test prompt that includes an embedded resource"
    )]
    fn test_prompt_with_embedded_resource(
        &self,
        Parameters(args): Parameters<EmbeddedResourceArgs>,
    ) -> GetPromptResult {
        let uri = args
            .resource_uri
            .unwrap_or_else(|| "test://static-text".to_owned());
        let contents = resources::read(&uri)
            .ok()
            .and_then(|read| read.contents.into_iter().next())
            .unwrap_or_else(|| {
                ResourceContents::text("Resource content for prompt", uri)
                    .with_mime_type("text/plain")
            });
        GetPromptResult::new(vec![
            PromptMessage::new_text(Role::User, "Here is a resource:"),
            PromptMessage::new(Role::User, ContentBlock::resource(contents)),
        ])
        .with_description("A prompt with an embedded resource")
    }

    /// A text message and a PNG image.
    #[prompt(
        name = "test_prompt_with_image",
        description = "A test prompt that includes an image"
    )]
    fn test_prompt_with_image(&self) -> GetPromptResult {
        GetPromptResult::new(vec![
            PromptMessage::new_text(Role::User, "Here is an image:"),
            PromptMessage::new(
                Role::User,
                ContentBlock::Image(ImageContent::new(TINY_PNG_BASE64, "image/png")),
            ),
        ])
        .with_description("A prompt with an image")
    }

    /// Asks the user for context (MRTR on 2026-07-28, `elicitation/create` before), then
    /// builds its message from the answer.
    #[prompt(
        name = "test_input_required_result_prompt",
        description = "A prompt that requires elicitation input via InputRequiredResult (SEP-2322)"
    )]
    async fn test_input_required_result_prompt(
        &self,
        Extension(PromptInputs(responses)): Extension<PromptInputs>,
        context: RequestContext<RoleServer>,
    ) -> Result<PromptOutcome, McpError> {
        let params = input::elicitation_params(
            "What context should the prompt use?",
            json!({ "context": { "type": "string" } }),
            json!(["context"]),
        );
        match input::elicit(&context, responses.as_ref(), USER_CONTEXT, params).await {
            Answer::Given(answer) => {
                let text = answer
                    .pointer("/content/context")
                    .and_then(Value::as_str)
                    .unwrap_or("(no context)");
                Ok(PromptOutcome::Complete(
                    GetPromptResult::new(vec![PromptMessage::new_text(
                        Role::User,
                        format!("Prompt with elicited context: {text}"),
                    )])
                    .with_description("A prompt built from elicited context"),
                ))
            }
            Answer::Required(required) => Ok(PromptOutcome::Required(required)),
            Answer::Failed(reason) => Err(McpError::internal_error(
                format!("Could not ask for the prompt's context: {reason}"),
                None,
            )),
        }
    }
}
