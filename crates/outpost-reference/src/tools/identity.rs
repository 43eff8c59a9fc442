//! Tools about the caller, as the bearer layer established it.
//!
//! - `whoami` shows how a tool reads the authenticated caller: the `Caller` argument extracts
//!   `outpost::auth::resource::Identity` from the request (on every transport revision).
//!   Without authentication (`outpost serve --no-auth`) there is none, and the tool says so.
//! - `serverStatus` shows a tool that needs more than the baseline scope: it declares
//!   [`ADMIN_SCOPE`] in its definition ([`requires_scope`]), so a token without it gets `403
//!   insufficient_scope` naming it, and MCP clients step up (authorize again for that scope).

use outpost::auth::resource::{Caller, requires_scope};
use rmcp::{
    model::{CallToolResult, ContentBlock},
    tool, tool_router,
};
use serde_json::json;

use crate::ReferenceServer;

/// The scope `serverStatus` requires, beyond the baseline `mcp`.
pub const ADMIN_SCOPE: &str = "mcp:admin";

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

    /// The server's version and uptime; requires the `mcp:admin` scope.
    #[tool(
        name = "serverStatus",
        description = "Returns the server's version and uptime (requires the mcp:admin scope)",
        annotations(read_only_hint = true),
        meta = requires_scope(ADMIN_SCOPE)
    )]
    fn server_status(&self, Caller(identity): Caller) -> CallToolResult {
        CallToolResult::structured(json!({
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_seconds": self.shared.started_at.elapsed().as_secs(),
            "caller": identity.and_then(|identity| identity.username),
        }))
    }
}
