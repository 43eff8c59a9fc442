//! [`ReferenceServer`]: the handler, its capabilities, and the dispatch to tools, resources and
//! prompts.

use std::sync::Arc;

use rmcp::{
    ServerHandler,
    handler::server::router::tool::ToolRouter,
    model::{Implementation, ServerCapabilities, ServerConfig},
    tool_handler,
};

/// The reference MCP server. Cheap to clone: every session shares the routers and state.
#[derive(Clone)]
pub struct ReferenceServer {
    tool_router: Arc<ToolRouter<ReferenceServer>>,
}

impl Default for ReferenceServer {
    fn default() -> Self {
        Self::new()
    }
}

impl ReferenceServer {
    /// Builds the server and its routers, once.
    pub fn new() -> Self {
        Self {
            tool_router: Arc::new(Self::demo_tools()),
        }
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for ReferenceServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build()).with_server_info(
            Implementation::new("outpost-reference", env!("CARGO_PKG_VERSION")),
        )
    }
}
