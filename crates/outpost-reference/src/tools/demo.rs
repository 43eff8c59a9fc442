//! The seed servers' simple demo tools: `echo`, `add`, `getTinyImage`, `annotatedMessage`,
//! `getResourceReference`, `roll_dice`.

use rand::RngExt;
use rmcp::{
    ErrorData as McpError,
    handler::server::wrapper::{Json, Parameters},
    model::*,
    schemars, tool, tool_router,
};
use serde::{Deserialize, Serialize};

use crate::{
    ReferenceServer,
    resources::{self, NUMBERED_RESOURCE_COUNT, numbered_uri},
    tools::media::TINY_PNG_BASE64,
};

/// Arguments of `echo`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct EchoArgs {
    /// The message to echo back.
    pub message: String,
}

/// Arguments of `add`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct AddArgs {
    /// First number.
    pub a: f64,
    /// Second number.
    pub b: f64,
}

/// Result of `add` (structured output).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Sum {
    /// `a + b`.
    pub sum: f64,
}

/// Which kind of message `annotatedMessage` returns.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageType {
    /// An error, for the user, top priority.
    Error,
    /// A success, for user and assistant.
    Success,
    /// Debug output, for the assistant, low priority.
    Debug,
}

/// Arguments of `annotatedMessage`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnnotatedMessageArgs {
    /// Type of message to demonstrate different annotation patterns.
    pub message_type: MessageType,
    /// Whether to include an example image.
    #[serde(default)]
    pub include_image: bool,
}

/// Arguments of `getResourceReference`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceReferenceArgs {
    /// ID of the resource to reference (1-100).
    pub resource_id: usize,
}

/// Arguments of `roll_dice`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct RollDiceArgs {
    /// Number of sides per die (2-1000, default 6).
    #[serde(default = "default_sides")]
    pub sides: u32,
    /// Number of dice (1-100, default 1).
    #[serde(default = "default_count")]
    pub count: u32,
}

fn default_sides() -> u32 {
    6
}

fn default_count() -> u32 {
    1
}

/// Result of `roll_dice` (structured output).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct DiceRoll {
    /// Each die's value.
    pub rolls: Vec<u32>,
    /// Their sum.
    pub total: u32,
}

#[tool_router(router = demo_tools, vis = "pub(crate)")]
impl ReferenceServer {
    /// Echoes back the input.
    #[tool(description = "Echoes back the input")]
    fn echo(&self, Parameters(args): Parameters<EchoArgs>) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::text(format!("Echo: {}", args.message))])
    }

    /// Adds two numbers; the sum is structured output. A sum too large for a number (JSON has
    /// no infinity, so it would break the output schema) is the tool's error.
    #[tool(description = "Adds two numbers", annotations(read_only_hint = true))]
    fn add(&self, Parameters(AddArgs { a, b }): Parameters<AddArgs>) -> Result<Json<Sum>, String> {
        let sum = a + b;
        if !sum.is_finite() {
            return Err(format!("{a} + {b} is too large for a number"));
        }
        Ok(Json(Sum { sum }))
    }

    /// Returns a tiny PNG between two texts.
    #[tool(name = "getTinyImage", description = "Returns the MCP_TINY_IMAGE")]
    fn get_tiny_image(&self) -> CallToolResult {
        CallToolResult::success(vec![
            ContentBlock::text("This is a tiny image:"),
            ContentBlock::image(TINY_PNG_BASE64, "image/png"),
            ContentBlock::text("The image above is the MCP tiny image."),
        ])
    }

    /// Shows how content annotations carry audience and priority.
    #[tool(
        name = "annotatedMessage",
        description = "Demonstrates how annotations can be used to provide metadata about content"
    )]
    fn annotated_message(
        &self,
        Parameters(args): Parameters<AnnotatedMessageArgs>,
    ) -> CallToolResult {
        let (text, audience, priority) = match args.message_type {
            MessageType::Error => (
                "Error: Operation failed",
                vec![Role::User, Role::Assistant],
                1.0,
            ),
            MessageType::Success => ("Operation completed successfully", vec![Role::User], 0.7),
            MessageType::Debug => (
                "Debug: Cache hit ratio 0.95, latency 150ms",
                vec![Role::Assistant],
                0.3,
            ),
        };
        let mut content = vec![ContentBlock::Text(
            TextContent::new(text).with_annotations(annotations(audience, priority)),
        )];
        if args.include_image {
            content.push(ContentBlock::Image(
                ImageContent::new(TINY_PNG_BASE64, "image/png")
                    .with_annotations(annotations(vec![Role::User], 0.5)),
            ));
        }
        CallToolResult::success(content)
    }

    /// Embeds one of the numbered resources in the result.
    #[tool(
        name = "getResourceReference",
        description = "Returns a resource reference that can be used by MCP clients"
    )]
    fn get_resource_reference(
        &self,
        Parameters(args): Parameters<ResourceReferenceArgs>,
    ) -> Result<CallToolResult, McpError> {
        let id = args.resource_id;
        if !(1..=NUMBERED_RESOURCE_COUNT).contains(&id) {
            return Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                "resourceId must be between 1 and {NUMBERED_RESOURCE_COUNT}, got {id}"
            ))]));
        }
        let uri = numbered_uri(id);
        let contents = resources::read(&uri)?.contents;
        let mut blocks = vec![ContentBlock::text(format!(
            "Returning resource reference for Resource {id}:"
        ))];
        blocks.extend(contents.into_iter().map(ContentBlock::resource));
        blocks.push(ContentBlock::text(format!(
            "You can access this resource using the URI: {uri}"
        )));
        Ok(CallToolResult::success(blocks))
    }

    /// Rolls dice; the rolls are structured output. Arguments out of range are a tool error
    /// (`isError`), which the model reads and can correct, not a protocol error.
    #[tool(description = "Roll one or more dice and return the results")]
    fn roll_dice(
        &self,
        Parameters(args): Parameters<RollDiceArgs>,
    ) -> Result<Json<DiceRoll>, String> {
        if !(2..=1000).contains(&args.sides) || !(1..=100).contains(&args.count) {
            return Err(format!(
                "sides must be 2-1000 and count 1-100, got sides {} and count {}",
                args.sides, args.count
            ));
        }
        let mut rng = rand::rng();
        let rolls: Vec<u32> = (0..args.count)
            .map(|_| rng.random_range(1..=args.sides))
            .collect();
        let total = rolls.iter().sum();
        Ok(Json(DiceRoll { rolls, total }))
    }
}

fn annotations(audience: Vec<Role>, priority: f32) -> Annotations {
    Annotations::default()
        .with_audience(audience)
        .with_priority(priority)
}
