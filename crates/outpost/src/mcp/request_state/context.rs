//! How a handler reaches the server's [`RequestStateKeys`]: Outpost puts them in the HTTP
//! extensions of every MCP request, and rmcp (and the fast path, which mirrors it) hands the
//! request's `http::request::Parts` to the handler in the `RequestContext`, the same route the
//! caller's identity takes.

use std::sync::Arc;

use http::request::Parts;
use rmcp::{
    ErrorData, RoleServer,
    handler::server::common::{AsRequestContext, FromContextPart},
    model::RequestStateCodec,
    service::RequestContext,
};

use super::RequestStateKeys;

impl RequestStateKeys {
    /// The keys of the server that received the request `context` belongs to; `None` when the
    /// request did not come through Outpost.
    pub fn from_context(context: &RequestContext<RoleServer>) -> Option<Self> {
        context
            .extensions
            .get::<Parts>()
            .and_then(|parts| parts.extensions.get::<Self>())
            .cloned()
    }
}

/// A `#[tool]` / `#[prompt]` argument: the codec that seals and opens this server's
/// `requestState` (rmcp's [`RequestStateCodec`], current as of this request). Extraction fails
/// with an internal error only when the request did not come through Outpost.
#[derive(Debug, Clone)]
pub struct StateCodec(pub Arc<RequestStateCodec>);

impl<C: AsRequestContext> FromContextPart<C> for StateCodec {
    fn from_context_part(context: &mut C) -> Result<Self, ErrorData> {
        RequestStateKeys::from_context(context.as_request_context())
            .map(|keys| Self(keys.codec()))
            .ok_or_else(|| {
                ErrorData::internal_error(
                    "no requestState keys: the request did not come through Outpost",
                    None,
                )
            })
    }
}
