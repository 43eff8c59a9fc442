//! Tools that talk back to the client while they run: `longRunningOperation` (progress,
//! cancellation), `sampleLLM` (sampling), `book_table` (elicitation) and `emitLogMessages`
//! (a log message at every level).
//!
//! Sampling and elicitation use a server-to-client request up to 2025-11-25 and an
//! `InputRequiredResult` on 2026-07-28 (see [`crate::tools::input`]).

use std::time::Duration;

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
use tokio_util::sync::CancellationToken;

use crate::{
    ReferenceServer,
    logging::ALL_LEVELS,
    tools::input::{self, Answer, ClientFeature},
};

/// Arguments of `longRunningOperation`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct LongRunningArgs {
    /// Duration of the operation in seconds (0-300, default 10).
    #[serde(default = "default_duration")]
    pub duration: f64,
    /// Number of steps (1-100, default 5).
    #[serde(default = "default_steps")]
    pub steps: u32,
}

fn default_duration() -> f64 {
    10.0
}

fn default_steps() -> u32 {
    5
}

/// Arguments of `sampleLLM`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SampleArgs {
    /// The prompt to send to the LLM.
    pub prompt: String,
    /// Maximum number of tokens to generate (default 100).
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
}

fn default_max_tokens() -> u32 {
    100
}

/// Arguments of `book_table`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookTableArgs {
    /// The date of the booking, e.g. 2026-12-24.
    pub date: String,
    /// How many guests.
    pub party_size: u32,
}

const SAMPLE_KEY: &str = "sample";
const CONFIRM_KEY: &str = "confirm_booking";

#[tool_router(router = interactive_tools, vis = "pub(crate)")]
impl ReferenceServer {
    /// Sleeps through `steps` steps, reporting progress after each and logging what it does
    /// (at the level the client asked for); stops when cancelled.
    #[tool(
        name = "longRunningOperation",
        description = "Demonstrates a long running operation with progress updates"
    )]
    async fn long_running_operation(
        &self,
        Parameters(args): Parameters<LongRunningArgs>,
        context: RequestContext<RoleServer>,
        cancelled: CancellationToken,
    ) -> Result<CallToolResult, McpError> {
        // Out-of-range input is the tool's error (`isError`), which the model can correct,
        // not a protocol error.
        if !(0.0..=300.0).contains(&args.duration) || !(1..=100).contains(&args.steps) {
            return Ok(CallToolResult::error(vec![ContentBlock::text(
                "duration must be 0-300 seconds and steps 1-100",
            )]));
        }
        let step = Duration::from_secs_f64(args.duration / f64::from(args.steps));
        let token = context.meta.get_progress_token();
        let logger = "longRunningOperation";
        let started = format!(
            "started: {} steps over {} seconds",
            args.steps, args.duration
        );
        self.log(&context, LoggingLevel::Info, logger, json!(started))
            .await;
        for done in 1..=args.steps {
            tokio::select! {
                () = cancelled.cancelled() => {
                    self.log(&context, LoggingLevel::Warning, logger, json!("cancelled")).await;
                    return Err(McpError::internal_error("operation cancelled", None));
                }
                () = tokio::time::sleep(step) => {}
            }
            let message = format!("step {done} of {} done", args.steps);
            self.log(&context, LoggingLevel::Debug, logger, json!(message))
                .await;
            if let Some(token) = &token {
                let progress = ProgressNotificationParam::new(token.clone(), f64::from(done))
                    .with_total(f64::from(args.steps))
                    .with_message(format!("step {done} of {}", args.steps));
                if context.peer.notify_progress(progress).await.is_err() {
                    tracing::debug!("progress notification not delivered");
                }
            }
        }
        self.log(&context, LoggingLevel::Info, logger, json!("completed"))
            .await;
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "Long running operation completed. Duration: {} seconds, Steps: {}.",
            args.duration, args.steps
        ))]))
    }

    /// Asks the client's LLM to answer `prompt`.
    #[tool(
        name = "sampleLLM",
        description = "Samples from an LLM using MCP's sampling feature"
    )]
    async fn sample_llm(
        &self,
        Parameters(args): Parameters<SampleArgs>,
        InputResponses(responses): InputResponses,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        input::require(&context, ClientFeature::Sampling)?;
        let params = input::sampling_params(&args.prompt, args.max_tokens);
        let text = match input::sample(&context, responses.as_ref(), SAMPLE_KEY, params).await {
            Answer::Given(response) => response
                .as_object()
                .and_then(input::sampled_text)
                .unwrap_or_default()
                .to_owned(),
            Answer::Required(required) => return Ok(required.into()),
            Answer::Failed(reason) => {
                return Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                    "Sampling failed: {reason}"
                ))])
                .into());
            }
        };
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "LLM sampling result: {text}"
        ))])
        .into())
    }

    /// Books a table after the user confirms it (elicitation).
    #[tool(description = "Book a restaurant table; asks the user to confirm first")]
    async fn book_table(
        &self,
        Parameters(args): Parameters<BookTableArgs>,
        InputResponses(responses): InputResponses,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        input::require(&context, ClientFeature::Elicitation)?;
        let question = format!(
            "Book a table for {} on {}? You may add a note for the restaurant.",
            args.party_size, args.date
        );
        let properties = json!({
            "confirm": { "type": "boolean", "title": "Confirm booking" },
            "notes": { "type": "string", "title": "Notes for the restaurant" }
        });
        let params = input::elicitation_params(&question, properties, json!(["confirm"]));
        let answer = match input::elicit(&context, responses.as_ref(), CONFIRM_KEY, params).await {
            Answer::Given(answer) => answer,
            Answer::Required(required) => return Ok(required.into()),
            Answer::Failed(reason) => {
                return Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                    "Could not ask for confirmation: {reason}"
                ))])
                .into());
            }
        };
        Ok(booking_outcome(&args, &answer).into())
    }

    /// Sends one log message at each of the eight levels, filtered by the client's level.
    #[tool(
        name = "emitLogMessages",
        description = "Sends one log message at every level (debug to emergency); the client's log level filters them"
    )]
    async fn emit_log_messages(&self, context: RequestContext<RoleServer>) -> CallToolResult {
        for level in ALL_LEVELS {
            let data = json!(format!("a {level:?} message from emitLogMessages").to_lowercase());
            self.log(&context, level, "outpost-reference", data).await;
        }
        CallToolResult::success(vec![ContentBlock::text(
            "Sent a log message at every level",
        )])
    }
}

/// What the user's elicitation answer means for the booking.
fn booking_outcome(args: &BookTableArgs, answer: &Value) -> CallToolResult {
    let action = answer
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or("cancel");
    let content = answer.get("content");
    let confirmed = content
        .and_then(|c| c.get("confirm"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if action != "accept" || !confirmed {
        return CallToolResult::success(vec![ContentBlock::text(format!(
            "Booking not made: the user did not confirm ({action})."
        ))]);
    }
    let notes = content
        .and_then(|c| c.get("notes"))
        .and_then(Value::as_str)
        .filter(|notes| !notes.is_empty())
        .map(|notes| format!(" Notes: {notes}"))
        .unwrap_or_default();
    CallToolResult::success(vec![ContentBlock::text(format!(
        "Booked a table for {} on {}.{notes}",
        args.party_size, args.date
    ))])
}
