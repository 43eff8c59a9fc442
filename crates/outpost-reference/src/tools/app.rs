//! `greeting_card`: an MCP App. The tool's `_meta.ui.resourceUri` names the `ui://` template
//! that hosts render; the result carries the data as `structuredContent`, a plain-text line
//! for the model, and the card pre-rendered for hosts that show embedded HTML directly.

use rmcp::{handler::server::wrapper::Parameters, model::*, schemars, tool, tool_router};
use serde::Deserialize;
use serde_json::json;

use crate::{
    ReferenceServer,
    resources::app::{GREETING_CARD_URI, render_card, ui_meta},
};

/// Arguments of `greeting_card`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct GreetingCardArgs {
    /// The greeting to put on the card.
    pub message: String,
    /// Who the card is for (default: "friend").
    #[serde(default)]
    pub name: Option<String>,
}

fn app_meta() -> MetaObject {
    ui_meta(json!({ "resourceUri": GREETING_CARD_URI }))
}

#[tool_router(router = app_tools, vis = "pub(crate)")]
impl ReferenceServer {
    /// Shows a greeting card in the host's UI.
    #[tool(
        description = "Show a greeting card with a message, rendered as an interactive UI (MCP App)",
        meta = app_meta()
    )]
    fn greeting_card(&self, Parameters(args): Parameters<GreetingCardArgs>) -> CallToolResult {
        let name = args.name.unwrap_or_else(|| "friend".to_owned());
        let mut result = CallToolResult::success(vec![
            ContentBlock::text(format!("A greeting card for {name}: {}", args.message)),
            ContentBlock::resource(render_card(&name, &args.message)),
        ]);
        result.structured_content = Some(json!({ "username": name, "message": args.message }));
        result
    }
}
