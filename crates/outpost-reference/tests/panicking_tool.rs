//! A tool that panics (a library user's `expect` on something absent) gets its caller an
//! answer — `500` with a JSON-RPC `-32603` error — instead of a connection closed without a
//! word, and the server goes on serving.

mod common;

use outpost::Outpost;
use rmcp::{
    ServerHandler,
    handler::server::router::tool::ToolRouter,
    model::{ServerCapabilities, ServerConfig},
    tool, tool_handler, tool_router,
};
use serde_json::json;

#[derive(Clone)]
struct Fragile {
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Fragile {
    fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
    }

    #[tool(description = "Panics")]
    fn boom(&self) -> String {
        panic!("a tool bug")
    }

    #[tool(description = "Answers")]
    fn fine(&self) -> String {
        "fine".into()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Fragile {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

#[tokio::test]
async fn a_panicking_tool_is_answered_500_and_the_server_goes_on() {
    let app = common::spawn_generic(Outpost::with_factory(Fragile::new)).await;
    let response = app
        .request_2026("tools/call", Some("boom"), json!({ "name": "boom" }))
        .send()
        .await
        .expect("an answer, not a dropped connection");
    assert_eq!(response.status(), 500);
    let body: serde_json::Value = response.json().await.expect("a JSON body");
    assert_eq!(body["error"]["code"], -32603, "{body}");

    let fine = app
        .call_2026("tools/call", Some("fine"), json!({ "name": "fine" }))
        .await;
    assert_eq!(fine["result"]["content"][0]["text"], "fine", "{fine}");
}
