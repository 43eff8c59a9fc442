//! Per-tool required scopes and the `403 insufficient_scope` answer (RFC 6750 §3.1; the MCP
//! spec's scope challenge / step-up authorization).
//!
//! **Declaring.** The server author declares a tool's scope where the tool is defined, in its
//! `_meta` under [`REQUIRED_SCOPES_META_KEY`] (a space-delimited scope string), most simply
//! with [`requires_scope`]:
//!
//! ```ignore
//! #[tool(description = "Delete a file", meta = requires_scope("files:write"))]
//! ```
//!
//! and hands the tool list to [`RequiredScopes::from_tools`] once at start-up (e.g.
//! `RequiredScopes::from_tools(&MyServer::tool_router().list_all())`), or builds the map
//! directly with [`RequiredScopes::require`]. The map is fixed for the server's life.
//!
//! **Checking.** The check runs in the resource server's service (`service.rs`) after
//! the bearer token's, before both MCP paths (the fast path and rmcp's service), so it is
//! written once. It knows the caller's scopes from
//! the [`Identity`](super::Identity) and must learn the tool name from the body. To keep that off the hot
//! path, it first compares the token's scopes with the *union* of all required scopes: a
//! token holding them all (or a server requiring none) passes with no body read at all. Only
//! a token missing some required scope has its POST body buffered and parsed (`method`,
//! `params.name`; batches element by element); a `tools/call` of a tool whose scope the token
//! lacks gets `403` with `scope="<needed>"`, anything else goes on with the body re-attached.
//! Listing stays open: clients see every tool and learn its scope from the challenge.
//!
//! A 2026-07-28 request on `/mcp` needs no body read at all: it names its method and tool in
//! the SEP-2243 `Mcp-Method` / `Mcp-Name` headers, and rmcp (and the fast path, which mirrors
//! it) refuses any request whose body disagrees with them, so the headers decide
//! (`RequestClass::headers_name_the_call`). The legacy `/message` endpoint does not check
//! those headers: its bodies are always read.

use std::{borrow::Cow, collections::HashMap, sync::Arc};

use axum::{
    body::Body,
    extract::Request,
    response::{IntoResponse, Response},
};
use http::Method;
use rmcp::{
    ErrorData, ServerHandler,
    model::{PaginatedRequestParams, RequestId, Tool},
    service::RequestContext,
};
use serde::Deserialize;

use super::{challenge::Challenge, metadata::MetadataUrls};
use crate::{
    auth::scope::{Scope, ScopeError},
    http::body_read::read_limited,
    mcp::classify::{Era, RequestClass},
};

/// The `_meta` key of a tool definition that names the scope the tool requires.
pub const REQUIRED_SCOPES_META_KEY: &str = "outpost/requiredScopes";

/// A tool's `_meta` declaring that calling it requires `scope` (space-delimited), for the
/// `meta = …` argument of rmcp's `#[tool]`.
pub fn requires_scope(scope: &str) -> rmcp::model::MetaObject {
    let mut meta = rmcp::model::MetaObject::new();
    meta.0.insert(
        REQUIRED_SCOPES_META_KEY.to_owned(),
        serde_json::Value::String(scope.to_owned()),
    );
    meta
}

/// Why the scopes a handler's tools require could not be collected
/// ([`RequiredScopes::from_handler`]).
#[derive(Debug, thiserror::Error)]
pub enum ToolScopesError {
    /// The handler's `tools/list` failed.
    #[error("cannot list the handler's tools: {0}")]
    ListTools(ErrorData),
    /// A tool declares a malformed scope.
    #[error("a tool's required scope ({REQUIRED_SCOPES_META_KEY}): {0}")]
    Scope(#[from] ScopeError),
}

/// Which tools need which scopes (tool name → scope). Tools not listed need none.
#[derive(Debug, Clone, Default)]
pub struct RequiredScopes {
    by_tool: Arc<HashMap<String, Scope>>,
    union: Scope,
}

impl RequiredScopes {
    /// The same map with `tool` requiring `scope` (replacing an earlier entry).
    pub fn require(mut self, tool: impl Into<String>, scope: Scope) -> Self {
        let mut by_tool = HashMap::clone(&self.by_tool);
        by_tool.insert(tool.into(), scope);
        self.union = union(by_tool.values());
        self.by_tool = Arc::new(by_tool);
        self
    }

    /// The scopes declared in the tools' `_meta` ([`REQUIRED_SCOPES_META_KEY`]); a malformed
    /// scope string is an error that names it.
    pub fn from_tools<'a>(tools: impl IntoIterator<Item = &'a Tool>) -> Result<Self, ScopeError> {
        let mut by_tool = HashMap::new();
        for tool in tools {
            let declared = tool
                .meta
                .as_ref()
                .and_then(|meta| meta.0.get(REQUIRED_SCOPES_META_KEY))
                .and_then(serde_json::Value::as_str);
            if let Some(declared) = declared {
                by_tool.insert(tool.name.to_string(), Scope::parse(declared)?);
            }
        }
        Ok(Self {
            union: union(by_tool.values()),
            by_tool: Arc::new(by_tool),
        })
    }

    /// The scopes declared by the tools `handler` lists (`tools/list`, every page), as
    /// [`RequiredScopes::from_tools`] reads them: what a handler written with `#[tool_router]`
    /// declares with [`requires_scope`], found without naming its router.
    pub async fn from_handler<H: ServerHandler + Clone>(
        handler: H,
    ) -> Result<Self, ToolScopesError> {
        let peer = crate::mcp::fast_path::closed_peer(handler.clone());
        Self::listed_by(&handler, peer).await
    }

    /// [`RequiredScopes::from_handler`] for the handlers a factory makes.
    #[cfg(any(feature = "authorization-server", feature = "external-issuer"))]
    pub(crate) async fn from_factory<H: ServerHandler>(
        factory: &crate::HandlerFactory<H>,
    ) -> Result<Self, ToolScopesError> {
        let peer = crate::mcp::fast_path::closed_peer(factory());
        Self::listed_by(&factory(), peer).await
    }

    async fn listed_by<H: ServerHandler>(
        handler: &H,
        peer: rmcp::Peer<rmcp::RoleServer>,
    ) -> Result<Self, ToolScopesError> {
        let mut tools = Vec::new();
        let mut cursor = None;
        loop {
            let context = RequestContext::new(RequestId::Number(0), peer.clone());
            let request = PaginatedRequestParams::default().with_cursor(cursor);
            let page = handler
                .list_tools(Some(request), context)
                .await
                .map_err(ToolScopesError::ListTools)?;
            tools.extend(page.tools);
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        Ok(Self::from_tools(&tools)?)
    }

    /// Every scope some tool requires.
    pub fn all(&self) -> &Scope {
        &self.union
    }

    /// The scope `tool` requires (empty when none).
    pub fn for_tool(&self, tool: &str) -> Option<&Scope> {
        self.by_tool.get(tool)
    }

    /// Whether no tool requires a scope.
    pub fn is_empty(&self) -> bool {
        self.union.is_empty()
    }
}

fn union<'a>(scopes: impl Iterator<Item = &'a Scope>) -> Scope {
    let joined = scopes
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    Scope::parse(&joined).unwrap_or_default()
}

/// The JSON-RPC fields the check reads.
#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    params: Option<Params<'a>>,
}

#[derive(Deserialize)]
struct Params<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Messages<'a> {
    #[serde(borrow)]
    One(Message<'a>),
    #[serde(borrow)]
    Batch(Vec<Message<'a>>),
}

/// The first scope a `tools/call` in `body` needs that `granted` lacks. Bodies that do not
/// parse are left to the MCP service to refuse.
pub fn missing_scope(body: &[u8], required: &RequiredScopes, granted: &Scope) -> Option<Scope> {
    let messages = match serde_json::from_slice::<Messages<'_>>(body).ok()? {
        Messages::One(message) => vec![message],
        Messages::Batch(messages) => messages,
    };
    messages.iter().find_map(|message| {
        if message.method.as_deref() != Some("tools/call") {
            return None;
        }
        let name = message.params.as_ref()?.name.as_deref()?;
        required
            .for_tool(name)
            .filter(|needed| !granted.contains_all(needed))
            .cloned()
    })
}

/// What the scope check decided from the headers.
pub(crate) enum ScopeVerdict {
    /// The token holds every scope the request can need.
    Pass,
    /// A `tools/call` of a tool whose scope the token lacks: the `403`.
    Refuse(Response),
    /// Only the body can tell which tool is called.
    ReadBody,
}

/// Refuses `tools/call` of tools whose required scope the caller's token lacks.
pub(crate) struct ScopeCheck {
    required: RequiredScopes,
    resource_metadata: MetadataUrls,
    max_body: usize,
}

impl ScopeCheck {
    /// A check of `required`; refusals name the document of `resource_metadata` for the
    /// request's endpoint; bodies over `max_body` bytes are refused with `413` as the MCP
    /// service would.
    pub(crate) fn new(
        required: RequiredScopes,
        resource_metadata: MetadataUrls,
        max_body: usize,
    ) -> Self {
        Self {
            required,
            resource_metadata,
            max_body,
        }
    }

    /// The decision for a request (`class`, `method`) by a token holding `granted`.
    pub(crate) fn verdict(
        &self,
        class: &RequestClass,
        method: &Method,
        granted: &Scope,
    ) -> ScopeVerdict {
        if self.required.is_empty()
            || granted.contains_all(&self.required.union)
            || *method != Method::POST
        {
            return ScopeVerdict::Pass;
        }
        if !class.headers_name_the_call() {
            return ScopeVerdict::ReadBody;
        }
        if class.method() != Some("tools/call") {
            return ScopeVerdict::Pass;
        }
        let needed = class.tool().and_then(|tool| self.required.for_tool(tool));
        match needed.filter(|needed| !granted.contains_all(needed)) {
            None => ScopeVerdict::Pass,
            Some(needed) => ScopeVerdict::Refuse(self.insufficient(class.era(), granted, needed)),
        }
    }

    /// Reads the body of `request` to find the tools it calls: the request with its body
    /// re-attached, or the refusal (`403`; `413` past the body limit, `408` for a body that
    /// did not arrive in time, `400` for one that could not be read).
    pub(crate) async fn check_body(
        &self,
        request: Request,
        era: Era,
        granted: &Scope,
    ) -> Result<Request, Response> {
        let (parts, body) = request.into_parts();
        let bytes = read_limited(&parts.headers, body, self.max_body)
            .await
            .map_err(IntoResponse::into_response)?;
        if let Some(needed) = missing_scope(&bytes, &self.required, granted) {
            return Err(self.insufficient(era, granted, &needed));
        }
        Ok(Request::from_parts(parts, Body::from(bytes)))
    }

    /// The `403`: what the token has plus what the tool needs, so that a client that replaces
    /// its scope with the challenge's keeps what it had (MCP 2025-11-25 step-up).
    fn insufficient(&self, era: Era, granted: &Scope, needed: &Scope) -> Response {
        Challenge::InsufficientScope(granted.union(needed))
            .into_response(self.resource_metadata.for_era(era), &Scope::empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(value: &str) -> Scope {
        Scope::parse(value).unwrap()
    }

    fn class(headers: &[(&str, &str)]) -> RequestClass {
        let mut map = http::HeaderMap::new();
        for (name, value) in headers {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                http::HeaderValue::from_str(value).unwrap(),
            );
        }
        RequestClass::of("/mcp", None, &map)
    }

    #[test]
    fn checked_headers_decide_without_the_body() {
        let check = ScopeCheck::new(
            RequiredScopes::default().require("admin", scope("mcp:admin")),
            MetadataUrls::new("https://mcp.example"),
            1024,
        );
        let post = Method::POST;
        let held = scope("mcp");
        let call = |tool: &str| {
            class(&[
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "tools/call"),
                ("mcp-name", tool),
            ])
        };
        assert!(matches!(
            check.verdict(&call("admin"), &post, &held),
            ScopeVerdict::Refuse(_)
        ));
        assert!(matches!(
            check.verdict(&call("echo"), &post, &held),
            ScopeVerdict::Pass
        ));
        let admin = scope("mcp mcp:admin");
        assert!(matches!(
            check.verdict(&call("admin"), &post, &admin),
            ScopeVerdict::Pass
        ));
        let listing = class(&[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/list"),
        ]);
        assert!(matches!(
            check.verdict(&listing, &post, &held),
            ScopeVerdict::Pass
        ));
        let older = class(&[
            ("mcp-protocol-version", "2025-11-25"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "admin"),
        ]);
        assert!(matches!(
            check.verdict(&older, &post, &held),
            ScopeVerdict::ReadBody
        ));
        assert!(matches!(
            check.verdict(&older, &Method::GET, &held),
            ScopeVerdict::Pass
        ));
    }

    #[test]
    fn only_tools_call_of_a_listed_tool_needs_its_scope() {
        let required = RequiredScopes::default()
            .require("admin", scope("admin"))
            .require("write", scope("files:write"));
        assert_eq!(required.union, scope("admin files:write"));
        let call = |name: &str| {
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{name}"}}}}"#
            )
        };
        let granted = scope("files:write");
        assert_eq!(
            missing_scope(call("admin").as_bytes(), &required, &granted),
            Some(scope("admin"))
        );
        assert_eq!(
            missing_scope(call("write").as_bytes(), &required, &granted),
            None
        );
        assert_eq!(
            missing_scope(call("echo").as_bytes(), &required, &granted),
            None
        );
        let list = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
        assert_eq!(missing_scope(list, &required, &Scope::empty()), None);
        let batch = format!("[{},{}]", call("echo"), call("admin"));
        assert_eq!(
            missing_scope(batch.as_bytes(), &required, &granted),
            Some(scope("admin"))
        );
        assert_eq!(missing_scope(b"not json", &required, &granted), None);
    }

    #[test]
    fn scopes_are_read_from_tool_meta() {
        let mut tool = Tool::new("admin", "admin", Arc::new(serde_json::Map::new()));
        let mut meta = serde_json::Map::new();
        meta.insert(REQUIRED_SCOPES_META_KEY.into(), "admin audit".into());
        tool.meta = Some(rmcp::model::MetaObject(meta));
        let plain = Tool::new("echo", "echo", Arc::new(serde_json::Map::new()));
        let required = RequiredScopes::from_tools([&tool, &plain]).unwrap();
        assert_eq!(required.for_tool("admin"), Some(&scope("admin audit")));
        assert_eq!(required.for_tool("echo"), None);
        assert!(!required.is_empty());
        assert!(RequiredScopes::default().is_empty());
    }
}
