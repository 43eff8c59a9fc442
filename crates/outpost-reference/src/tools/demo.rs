//! The seed documents' demo tools.

use rmcp::{
    ErrorData as McpError, handler::server::wrapper::Parameters, model::*, schemars, tool,
    tool_router,
};
use serde::Deserialize;

use crate::ReferenceServer;

/// Arguments of `echo`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct EchoArgs {
    /// The message to echo back.
    pub message: String,
}

#[tool_router(router = demo_tools, vis = "pub(crate)")]
impl ReferenceServer {
    /// Echoes back the input.
    #[tool(description = "Echoes back the input")]
    fn echo(&self, Parameters(args): Parameters<EchoArgs>) -> Result<CallToolResult, McpError> {
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "Echo: {}",
            args.message
        ))]))
    }
}
