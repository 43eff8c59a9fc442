//! The smallest Outpost server: one tool, no authentication, loopback only
//! (`http://127.0.0.1:8000/mcp`). Built with `default-features = false`, so it compiles
//! neither the SQLite store nor the authorization server (`scripts/no-auth-library-test.sh`
//! checks its dependency tree).

use outpost::Outpost;
use rmcp::{
    ServerHandler,
    handler::server::{router::tool::ToolRouter, wrapper::Parameters},
    model::{ServerCapabilities, ServerConfig},
    tool, tool_handler, tool_router,
};
use std::sync::Arc;

#[derive(Clone)]
struct Tools {
    tool_router: Arc<ToolRouter<Tools>>,
}

#[derive(serde::Deserialize, rmcp::schemars::JsonSchema)]
struct Greet {
    name: String,
}

#[tool_router]
impl Tools {
    #[tool(description = "Say hello")]
    fn greet(&self, Parameters(Greet { name }): Parameters<Greet>) -> String {
        format!("Hello, {name}!")
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

#[tokio::main]
async fn main() -> Result<(), outpost::OutpostError> {
    let tools = Tools {
        tool_router: Arc::new(Tools::tool_router()),
    };
    Outpost::new(tools).serve(outpost::shutdown_signal()).await
}
