//! The seed server's prompts: `simple_prompt` (no arguments) and `complex_prompt` (arguments,
//! an image and an embedded resource).

use rmcp::{
    handler::server::wrapper::Parameters,
    model::{ContentBlock, GetPromptResult, ImageContent, PromptMessage, Role},
    prompt, prompt_router, schemars,
};
use serde::Deserialize;

use crate::{
    ReferenceServer,
    resources::{self, numbered_uri},
    tools::media::TINY_PNG_BASE64,
};

/// Arguments of `complex_prompt` (prompt arguments are strings on the wire).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ComplexPromptArgs {
    /// Temperature setting, e.g. 0.7.
    pub temperature: String,
    /// Output style, e.g. formal.
    #[serde(default)]
    pub style: Option<String>,
}

/// Styles `complex_prompt` knows (also its `style` completions).
pub const STYLES: [&str; 4] = ["casual", "formal", "technical", "friendly"];

/// Temperatures offered as `temperature` completions.
pub const TEMPERATURES: [&str; 5] = ["0", "0.3", "0.5", "0.7", "1.0"];

// `#[prompt]` generates a public, undocumented `*_prompt_attr` function per prompt.
#[allow(missing_docs)]
#[prompt_router(router = "demo_prompts", vis = "pub(crate)")]
impl ReferenceServer {
    /// A prompt without arguments.
    #[prompt(name = "simple_prompt", description = "A prompt without arguments")]
    fn simple_prompt(&self) -> Vec<PromptMessage> {
        vec![PromptMessage::new_text(
            Role::User,
            "This is a simple prompt without arguments.",
        )]
    }

    /// A prompt with arguments, an image and an embedded resource.
    #[prompt(
        name = "complex_prompt",
        description = "A prompt with arguments, an image and an embedded resource"
    )]
    fn complex_prompt(&self, Parameters(args): Parameters<ComplexPromptArgs>) -> GetPromptResult {
        let style = args.style.as_deref().unwrap_or("casual");
        let uri = numbered_uri(2);
        let mut messages = vec![
            PromptMessage::new_text(
                Role::User,
                format!(
                    "This is a complex prompt with arguments: temperature={}, style={style}",
                    args.temperature
                ),
            ),
            PromptMessage::new_text(
                Role::Assistant,
                "I understand. You've provided a complex prompt with temperature and style arguments. How would you like me to proceed?",
            ),
            PromptMessage::new(
                Role::User,
                ContentBlock::Image(ImageContent::new(TINY_PNG_BASE64, "image/png")),
            ),
        ];
        if let Ok(read) = resources::read(&uri) {
            messages.extend(
                read.contents.into_iter().map(|contents| {
                    PromptMessage::new(Role::User, ContentBlock::resource(contents))
                }),
            );
        }
        GetPromptResult::new(messages)
            .with_description("A complex prompt with an image and a resource")
    }
}
