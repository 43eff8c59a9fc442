//! What an MCP request is, decided once at the edge.
//!
//! Several steps behind the transport guard need to know the same things about a request: which
//! protocol era it belongs to (stateless 2026-07-28, a 2025-xx session, the 2024-11-05 HTTP+SSE
//! transport), the method and tool its SEP-2243 headers name, and the session it names. The
//! [`ClassifyLayer`] reads them once from the path and headers — never the body — into a
//! [`RequestClass`] in the request's extensions; the resource server, the fast path and the
//! session endpoints read that value instead of the headers.
//!
//! The era rule is rmcp's: a request is stateless when its `MCP-Protocol-Version` is
//! 2026-07-28 or later ([`ProtocolVersion::has_initialize`] is false; rmcp compares the dated
//! strings the same way), and a `/mcp` request without the header is a session request (rmcp
//! assumes 2025-03-26). Whether rmcp knows the version is kept apart
//! ([`RequestClass::is_known_version`]): an unknown one is rmcp's to refuse.

use std::{
    convert::Infallible,
    task::{Context, Poll},
};

use axum::{extract::Request, response::Response};
use http::{HeaderMap, HeaderName, HeaderValue};
use rmcp::model::ProtocolVersion;
use tower::{Layer, Service};

use crate::ops::request_facts::RequestFacts;

use super::legacy_sse::{MESSAGE_PATH, SSE_PATH, session_id as message_session_id};

// rmcp's header names (`transport::common::http_header`, SEP-2243), pre-parsed: a `&str` name
// is parsed on every lookup.
/// `MCP-Protocol-Version`.
pub(crate) static PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
/// `Mcp-Session-Id`.
pub(crate) static SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
static METHOD: HeaderName = HeaderName::from_static("mcp-method");
static NAME: HeaderName = HeaderName::from_static("mcp-name");

/// The protocol era of a request: what the transport does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// `/mcp` at 2026-07-28 or later: every request stands alone; no `initialize`, no session.
    Stateless,
    /// `/mcp` at 2025-03-26 … 2025-11-25, or without `MCP-Protocol-Version`: Streamable HTTP
    /// sessions (`Mcp-Session-Id`, the GET stream, `DELETE`).
    Session,
    /// `/sse` and `/message`: the 2024-11-05 HTTP+SSE transport.
    HttpSse,
}

/// What a request on an MCP route is, from its path and headers.
#[derive(Debug, Clone)]
pub struct RequestClass {
    era: Era,
    known_version: bool,
    method: Option<HeaderValue>,
    tool: Option<HeaderValue>,
    session: Option<String>,
}

impl RequestClass {
    /// Classifies a request for `path` with `query` and `headers`.
    pub fn of(path: &str, query: Option<&str>, headers: &HeaderMap) -> Self {
        if path == SSE_PATH || path == MESSAGE_PATH {
            return Self {
                era: Era::HttpSse,
                known_version: true,
                method: None,
                tool: None,
                // `/message` routes by its query, whatever the headers say.
                session: (path == MESSAGE_PATH)
                    .then(|| message_session_id(query).ok())
                    .flatten(),
            };
        }
        let version = single(headers, &PROTOCOL_VERSION);
        let version_text = version.and_then(|value| value.to_str().ok());
        let stateless =
            version_text.is_some_and(|version| version >= ProtocolVersion::NO_INITIALIZE.as_str());
        let known_version = match version {
            None => !headers.contains_key(&PROTOCOL_VERSION),
            Some(_) => version_text.is_some_and(|version| {
                ProtocolVersion::KNOWN_VERSIONS
                    .iter()
                    .any(|known| known.as_str() == version)
            }),
        };
        let method = single(headers, &METHOD)
            .filter(|value| value.to_str().is_ok())
            .cloned();
        let tool = single(headers, &NAME)
            .filter(|value| value.to_str().is_ok_and(|name| !name.starts_with("=?")))
            .cloned();
        Self {
            era: if stateless {
                Era::Stateless
            } else {
                Era::Session
            },
            known_version,
            method,
            tool,
            session: headers
                .get(&SESSION_ID)
                .map(|id| String::from_utf8_lossy(id.as_bytes()).into_owned()),
        }
    }

    /// Classifies `request` (what [`ClassifyLayer`] does).
    pub fn of_request(request: &Request) -> Self {
        Self::of(
            request.uri().path(),
            request.uri().query(),
            request.headers(),
        )
    }

    /// The class [`ClassifyLayer`] put into `request`, or computed now when it is missing.
    pub fn from_request(request: &Request) -> std::borrow::Cow<'_, Self> {
        match request.extensions().get::<Self>() {
            Some(class) => std::borrow::Cow::Borrowed(class),
            None => std::borrow::Cow::Owned(Self::of_request(request)),
        }
    }

    /// The protocol era.
    pub fn era(&self) -> Era {
        self.era
    }

    /// Whether the request declares exactly one `MCP-Protocol-Version` that rmcp knows, or
    /// none at all (rmcp then assumes 2025-03-26).
    pub fn is_known_version(&self) -> bool {
        self.known_version
    }

    /// The method its one `Mcp-Method` header names (SEP-2243).
    pub fn method(&self) -> Option<&str> {
        self.method.as_ref().and_then(|value| value.to_str().ok())
    }

    /// The tool its one plain `Mcp-Name` header names (a Base64-encoded `=?…` name is left to
    /// the body).
    pub fn tool(&self) -> Option<&str> {
        self.tool.as_ref().and_then(|value| value.to_str().ok())
    }

    /// The raw `Mcp-Method` header [`RequestClass::method`] reads.
    pub(crate) fn method_header(&self) -> Option<&HeaderValue> {
        self.method.as_ref()
    }

    /// The raw `Mcp-Name` header [`RequestClass::tool`] reads.
    pub(crate) fn tool_header(&self) -> Option<&HeaderValue> {
        self.tool.as_ref()
    }

    /// The session it names: `Mcp-Session-Id` on `/mcp`, the `sessionId` query parameter on
    /// `/message`.
    pub fn session(&self) -> Option<&str> {
        self.session.as_deref()
    }

    /// Whether its headers name its method (and, for `tools/call`, its tool) in a way the
    /// transport holds the body to: a stateless request with one `Mcp-Method` and, for
    /// `tools/call`, one plain `Mcp-Name`. rmcp (and the fast path, which mirrors it) refuse a
    /// body that disagrees, so these headers may decide in place of the body.
    pub fn headers_name_the_call(&self) -> bool {
        self.era == Era::Stateless
            && match self.method() {
                Some("tools/call") => self.tool.is_some(),
                Some(_) => true,
                None => false,
            }
    }
}

/// The value of a header present exactly once.
fn single<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a HeaderValue> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    values.next().is_none().then_some(value)
}

/// Puts each request's [`RequestClass`] into its extensions.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClassifyLayer;

impl<S> Layer<S> for ClassifyLayer {
    type Service = Classify<S>;

    fn layer(&self, inner: S) -> Classify<S> {
        Classify { inner }
    }
}

/// A service behind a [`ClassifyLayer`].
#[derive(Debug, Clone)]
pub struct Classify<S> {
    inner: S,
}

impl<S> Service<Request> for Classify<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let class = RequestClass::of_request(&request);
        RequestFacts::record_call(request.extensions(), &class);
        request.extensions_mut().insert(class);
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    #[test]
    fn the_era_follows_rmcp_version_rule() {
        let at = |version: &str| {
            RequestClass::of("/mcp", None, &headers(&[("mcp-protocol-version", version)]))
        };
        assert_eq!(at("2026-07-28").era(), Era::Stateless);
        assert!(at("2026-07-28").is_known_version());
        assert_eq!(at("2025-11-25").era(), Era::Session);
        assert_eq!(at("2024-11-05").era(), Era::Session);
        let future = at("2027-01-01");
        assert_eq!(future.era(), Era::Stateless);
        assert!(
            !future.is_known_version(),
            "rmcp refuses it; not ours to serve"
        );
        let none = RequestClass::of("/mcp", None, &headers(&[]));
        assert_eq!(none.era(), Era::Session);
        assert!(none.is_known_version(), "rmcp assumes 2025-03-26");
        let twice = headers(&[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-protocol-version", "2026-07-28"),
        ]);
        assert!(!RequestClass::of("/mcp", None, &twice).is_known_version());
        assert_eq!(
            RequestClass::of("/sse", None, &headers(&[])).era(),
            Era::HttpSse
        );
    }

    #[test]
    fn method_tool_and_session_come_from_single_headers() {
        let class = RequestClass::of(
            "/mcp",
            None,
            &headers(&[
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "tools/call"),
                ("mcp-name", "echo"),
            ]),
        );
        assert_eq!(
            (class.method(), class.tool()),
            (Some("tools/call"), Some("echo"))
        );
        assert!(class.headers_name_the_call());
        let encoded = RequestClass::of(
            "/mcp",
            None,
            &headers(&[
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "tools/call"),
                ("mcp-name", "=?base64?ZWNobw==?="),
            ]),
        );
        assert_eq!(encoded.tool(), None);
        assert!(!encoded.headers_name_the_call(), "the body decides");
        let session = RequestClass::of(
            "/mcp",
            None,
            &headers(&[
                ("mcp-protocol-version", "2025-11-25"),
                ("mcp-method", "tools/call"),
                ("mcp-name", "echo"),
                ("mcp-session-id", "s-1"),
            ]),
        );
        assert_eq!(session.session(), Some("s-1"));
        assert!(
            !session.headers_name_the_call(),
            "not enforced before 2026-07-28"
        );
    }

    #[test]
    fn message_posts_name_the_session_they_are_routed_to() {
        let header = headers(&[("mcp-session-id", "streamable-1")]);
        let class = RequestClass::of("/message", Some("sessionId=legacy%31"), &header);
        assert_eq!(class.session(), Some("legacy1"));
        assert_eq!(RequestClass::of("/message", None, &header).session(), None);
        assert_eq!(
            RequestClass::of("/mcp", Some("sessionId=legacy1"), &header).session(),
            Some("streamable-1")
        );
    }
}
