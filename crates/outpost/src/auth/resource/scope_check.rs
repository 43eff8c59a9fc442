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
//! **Checking.** The check is a layer behind the bearer layer, before both MCP paths (the
//! fast path and rmcp's service), so it is written once. It knows the caller's scopes from
//! the [`Identity`] and must learn the tool name from the body. To keep that off the hot
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
//! ([`tool_from_headers`]). The legacy `/message` endpoint does not check those headers: its
//! bodies are always read.

use std::{
    borrow::Cow,
    collections::HashMap,
    convert::Infallible,
    sync::Arc,
    task::{Context, Poll},
};

use axum::{
    body::Body,
    extract::Request,
    response::{IntoResponse, Response},
};
use futures::future::Either;
use http::{HeaderName, Method, StatusCode};
use rmcp::model::Tool;
use serde::Deserialize;
use tower::{Layer, Service};

use super::{challenge::Challenge, identity::Identity};
use crate::{
    auth::scope::{Scope, ScopeError},
    http::early_answer::{BoxedResponse, refuse, take_ready},
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

/// The `403`: what the token has plus what the tool needs, so that a client that replaces its
/// scope with the challenge's keeps what it had (MCP 2025-11-25 step-up).
fn insufficient(layer: &ScopeCheckLayer, granted: &Scope, needed: &Scope) -> Response {
    Challenge::InsufficientScope(granted.union(needed))
        .into_response(&layer.resource_metadata, &Scope::empty())
}

// The headers `tool_from_headers` reads, pre-parsed (a `&str` name is parsed per lookup).
static PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
static METHOD: HeaderName = HeaderName::from_static("mcp-method");
static NAME: HeaderName = HeaderName::from_static("mcp-name");

/// What the SEP-2243 headers of a request say, when they can be trusted.
#[derive(Debug, PartialEq, Eq)]
enum NamedInHeaders {
    /// `Mcp-Method` is something other than `tools/call`.
    NotAToolCall,
    /// A `tools/call` of this tool (`Mcp-Name`).
    Tool(String),
}

/// The method and tool a request names in its headers, when the transport will refuse a body
/// that disagrees: a `POST /mcp` of revision 2026-07-28 or later (rmcp's
/// `validate_standard_headers`) with exactly one `Mcp-Method` and, for `tools/call`, exactly
/// one plain (not Base64-encoded) `Mcp-Name`. `None`: the body must be read.
fn tool_from_headers(request: &Request) -> Option<NamedInHeaders> {
    if request.uri().path() != super::MCP_PATH {
        return None;
    }
    let headers = request.headers();
    let version = single(headers, &PROTOCOL_VERSION)?;
    if version < rmcp::model::ProtocolVersion::STANDARD_HEADERS.as_str() {
        return None;
    }
    if single(headers, &METHOD)? != "tools/call" {
        return Some(NamedInHeaders::NotAToolCall);
    }
    let name = single(headers, &NAME)?;
    if name.starts_with("=?") {
        return None;
    }
    Some(NamedInHeaders::Tool(name.to_owned()))
}

/// The value of a header present exactly once, as text.
fn single<'a>(headers: &'a http::HeaderMap, name: &HeaderName) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    value.to_str().ok()
}

/// Refuses `tools/call` of tools whose required scope the caller's token lacks.
#[derive(Clone)]
pub struct ScopeCheckLayer {
    required: RequiredScopes,
    resource_metadata: Arc<str>,
    max_body: usize,
}

impl ScopeCheckLayer {
    /// A check of `required`; refusals name `resource_metadata`; bodies over `max_body`
    /// bytes are refused with `413` as the MCP service would.
    pub fn new(required: RequiredScopes, resource_metadata: &str, max_body: usize) -> Self {
        Self {
            required,
            resource_metadata: resource_metadata.into(),
            max_body,
        }
    }
}

impl<S> Layer<S> for ScopeCheckLayer {
    type Service = ScopeCheck<S>;

    fn layer(&self, inner: S) -> ScopeCheck<S> {
        ScopeCheck {
            layer: self.clone(),
            inner,
        }
    }
}

/// A service behind a [`ScopeCheckLayer`].
#[derive(Clone)]
pub struct ScopeCheck<S> {
    layer: ScopeCheckLayer,
    inner: S,
}

impl<S> Service<Request> for ScopeCheck<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<S::Future, BoxedResponse>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let granted = request.extensions().get::<Arc<Identity>>().cloned();
        let sufficient = granted
            .as_ref()
            .is_some_and(|identity| identity.scopes.contains_all(&self.layer.required.union));
        if self.layer.required.is_empty() || sufficient || request.method() != Method::POST {
            return Either::Left(self.inner.call(request));
        }
        let granted = granted
            .map(|identity| identity.scopes.clone())
            .unwrap_or_default();
        match tool_from_headers(&request) {
            Some(NamedInHeaders::NotAToolCall) => return Either::Left(self.inner.call(request)),
            Some(NamedInHeaders::Tool(name)) => {
                let needed = self.layer.required.for_tool(&name);
                return match needed.filter(|needed| !granted.contains_all(needed)) {
                    None => Either::Left(self.inner.call(request)),
                    Some(needed) => {
                        let response = insufficient(&self.layer, &granted, needed);
                        Either::Right(refuse(request, response))
                    }
                };
            }
            None => {}
        }
        let mut inner = take_ready(&mut self.inner);
        let layer = self.layer.clone();
        Either::Right(Box::pin(async move {
            let (parts, body) = request.into_parts();
            let bytes = match axum::body::to_bytes(body, layer.max_body).await {
                Ok(bytes) => bytes,
                Err(_) => {
                    let message = "Payload Too Large: request body exceeds the limit";
                    return Ok((StatusCode::PAYLOAD_TOO_LARGE, message).into_response());
                }
            };
            if let Some(needed) = missing_scope(&bytes, &layer.required, &granted) {
                return Ok(insufficient(&layer, &granted, &needed));
            }
            inner
                .call(Request::from_parts(parts, Body::from(bytes)))
                .await
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(value: &str) -> Scope {
        Scope::parse(value).unwrap()
    }

    fn request(path: &str, headers: &[(&str, &str)]) -> Request {
        let mut builder = Request::builder().method(Method::POST).uri(path);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::empty()).unwrap()
    }

    #[test]
    fn only_checked_headers_name_the_tool() {
        let modern = [
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "admin"),
        ];
        assert_eq!(
            tool_from_headers(&request("/mcp", &modern)),
            Some(NamedInHeaders::Tool("admin".into()))
        );
        let listing = [
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/list"),
        ];
        assert_eq!(
            tool_from_headers(&request("/mcp", &listing)),
            Some(NamedInHeaders::NotAToolCall)
        );
        // The legacy endpoint does not check the headers against the body.
        assert_eq!(tool_from_headers(&request("/message", &modern)), None);
        // Older revisions do not either.
        let older = [
            ("mcp-protocol-version", "2025-11-25"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "admin"),
        ];
        assert_eq!(tool_from_headers(&request("/mcp", &older)), None);
        // Base64-encoded names and repeated headers: read the body.
        let encoded = [
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "=?base64?YWRtaW4=?="),
        ];
        assert_eq!(tool_from_headers(&request("/mcp", &encoded)), None);
        let repeated = [
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/list"),
            ("mcp-method", "tools/call"),
        ];
        assert_eq!(tool_from_headers(&request("/mcp", &repeated)), None);
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
