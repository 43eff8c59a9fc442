//! `whoami`: the caller's identity, as the bearer layer established it.
//!
//! Shows how a tool reads the authenticated caller: the `Caller` argument extracts
//! `outpost::auth::resource::Identity` from the request (on every transport revision). Without
//! authentication (`outpost serve --no-auth`) there is none, and the tool says so.

use outpost::auth::resource::Caller;
use rmcp::{
    model::{CallToolResult, ContentBlock},
    tool, tool_router,
};
use serde_json::json;

use crate::ReferenceServer;

#[tool_router(router = identity_tools, vis = "pub(crate)")]
impl ReferenceServer {
    /// Returns the caller's subject, username, client id and scopes.
    #[tool(
        description = "Returns who is calling: the user's subject and username, the OAuth \
                       client and the granted scopes",
        annotations(read_only_hint = true)
    )]
    fn whoami(&self, Caller(identity): Caller) -> CallToolResult {
        match identity {
            Some(identity) => CallToolResult::structured(json!({
                "subject": identity.subject,
                "username": identity.username,
                "client_id": identity.client_id,
                "scopes": identity.scopes.iter().collect::<Vec<_>>(),
            })),
            None => CallToolResult::success(vec![ContentBlock::text(
                "anonymous (server runs without authentication)",
            )]),
        }
    }
}
