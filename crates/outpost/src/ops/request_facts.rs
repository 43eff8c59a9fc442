//! What the layers inside the MCP stack learn about a request, for its log line and metrics.
//!
//! The request log ([`super::request_log`]) wraps every route, so it sees a request before
//! anyone has classified it or checked its token, and its answer after the request itself
//! has been moved down the stack. It puts one [`RequestFacts`] slot into the request's
//! extensions; the classification writes the MCP method and tool its headers name, the
//! resource server writes the caller, and the log reads them back when the answer comes.
//! Each fact is written at most once, without a lock.

use std::sync::{Arc, OnceLock};

use http::{Extensions, HeaderValue};

use crate::{
    auth::resource::Identity,
    mcp::classify::{Era, RequestClass},
};

/// The facts one request gathers on its way down the stack.
#[derive(Debug, Default)]
pub(crate) struct RequestFacts {
    call: OnceLock<McpCall>,
    identity: OnceLock<Arc<Identity>>,
}

/// The MCP method and tool a request names.
#[derive(Debug)]
struct McpCall {
    method: HeaderValue,
    tool: Option<HeaderValue>,
}

impl RequestFacts {
    /// Records the method and tool `class` names, when the transport holds the body to them:
    /// on 2026-07-28 requests, whose `Mcp-Method` / `Mcp-Name` rmcp checks against the body.
    /// Session requests name theirs in the body only, which is not read twice for a log line.
    pub(crate) fn record_call(extensions: &Extensions, class: &RequestClass) {
        if class.era() != Era::Stateless {
            return;
        }
        let (Some(facts), Some(method)) = (Self::of(extensions), class.method_header()) else {
            return;
        };
        let tool = (method.as_bytes() == b"tools/call")
            .then(|| class.tool_header().cloned())
            .flatten();
        let _ = facts.call.set(McpCall {
            method: method.clone(),
            tool,
        });
    }

    /// Records the caller a verified token names (the request may still be refused for its
    /// grant, session or scope).
    pub(crate) fn record_identity(extensions: &Extensions, identity: &Arc<Identity>) {
        if let Some(facts) = Self::of(extensions) {
            let _ = facts.identity.set(identity.clone());
        }
    }

    /// The MCP method, when known.
    pub(crate) fn method(&self) -> Option<&str> {
        self.call.get().and_then(|call| call.method.to_str().ok())
    }

    /// The tool of a `tools/call`, when known.
    pub(crate) fn tool(&self) -> Option<&str> {
        self.call
            .get()
            .and_then(|call| call.tool.as_ref())
            .and_then(|tool| tool.to_str().ok())
    }

    /// The caller, when the request carried a verified token.
    pub(crate) fn identity(&self) -> Option<&Identity> {
        self.identity.get().map(Arc::as_ref)
    }

    fn of(extensions: &Extensions) -> Option<&Self> {
        extensions.get::<Arc<Self>>().map(Arc::as_ref)
    }
}
