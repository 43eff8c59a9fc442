//! Two tools behind Outpost's OAuth authorization server, demo users alice / password123 and
//! bob / password456, on http://127.0.0.1:8000/mcp (OUTPOST_BIND, OUTPOST_STORE change it).
use outpost::{Outpost, auth::resource::Caller};
use rmcp::handler::server::{router::tool::ToolRouter, wrapper::Parameters};
use rmcp::{ServerHandler, tool, tool_handler, tool_router};

#[derive(Clone)]
struct Tools(std::sync::Arc<ToolRouter<Tools>>);

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Greet {
    name: String,
}

#[tool_router]
impl Tools {
    #[tool(description = "Say hello")]
    fn greet(&self, Parameters(Greet { name }): Parameters<Greet>) -> String {
        format!("Hello, {name}!")
    }

    #[tool(description = "Who is calling: the signed-in user and the scopes granted")]
    fn whoami(&self, Caller(me): Caller) -> String {
        let me = me.expect("without a valid token, Outpost answers 401 before any tool runs");
        format!("{} ({})", me.username.unwrap_or(me.subject), me.scopes)
    }
}

#[tool_handler(router = self.0)]
impl ServerHandler for Tools {}

#[tokio::main]
async fn main() -> Result<(), outpost::OutpostError> {
    tracing_subscriber::fmt::init();
    Outpost::builder(Tools(std::sync::Arc::new(Tools::tool_router())))
        .demo_users()
        .settings_from_env()
        .serve(outpost::shutdown_signal())
        .await
}
