//! The fast path's parsers, for [`crate::fuzzing`] (feature `fuzzing`).

use std::sync::Arc;

use http::HeaderMap;
use rmcp::model::{ClientRequest, JsonObject, RequestId};

use super::{envelope, screen::stateless_fast_method, standard_headers};
use crate::mcp::classify::RequestClass;

/// The method a `POST /mcp` with `headers` takes the fast path with, if it passes the
/// header-only screen, with a body limit of `max_body` bytes.
pub fn screen(headers: &HeaderMap, max_body: usize) -> Option<&'static str> {
    stateless_fast_method(&RequestClass::of("/mcp", None, headers), headers, max_body)
}

/// The id and request the fast path parses from the `body` of a stateless request whose
/// `Mcp-Method` is `method`, or `None` when it leaves the body to rmcp.
pub fn parse_envelope(method: &str, body: &[u8]) -> Option<(RequestId, ClientRequest)> {
    envelope::parse(method, body).map(|parsed| (parsed.id, parsed.request))
}

/// The id and request the fast path parses from the `body` of a session's request, or `None`
/// when it leaves the body to rmcp.
pub fn parse_session_envelope(body: &[u8]) -> Option<(RequestId, ClientRequest)> {
    envelope::parse_session(body).map(|parsed| (parsed.id, parsed.request))
}

/// Whether the SEP-2243 headers (`Mcp-Method`, `Mcp-Name`, `Mcp-Param-*`) agree with
/// `request`, the called tool having `input_schema`.
pub fn standard_headers_match(
    headers: &HeaderMap,
    request: &ClientRequest,
    input_schema: Option<Arc<JsonObject>>,
) -> bool {
    standard_headers::standard_headers_match(headers, request, |_| input_schema)
}
