//! The header-only first look: could this request be answered on the fast path at all?
//!
//! Runs before the body is read, so everything that fails here reaches rmcp untouched (body
//! included). Each check mirrors what rmcp 3.11's `StreamableHttpService::handle_post` accepts
//! (`tower.rs`: `accepted_media_types`, the Content-Type essence check,
//! `validate_protocol_version_header`); a request that passes is one rmcp would route to its
//! stateless 2026-07-28 path, *provided* the body agrees (checked later).
//!
//! The screen is deliberately narrower than rmcp where mirroring would cost more than it saves:
//! requests with an `Origin` header (browsers; rmcp's origin parsing differs from the transport
//! guard's in corner cases), an `Mcp-Session-Id`, or no `Content-Length` take the rmcp path.

use http::{HeaderMap, HeaderName, header};
use rmcp::transport::common::http_header::{EVENT_STREAM_MIME_TYPE, JSON_MIME_TYPE};

use crate::mcp::classify::{Era, PROTOCOL_VERSION, RequestClass};

// rmcp's header names (`transport::common::http_header`), pre-parsed: looking a mixed-case
// `&str` up in a `HeaderMap` lower-cases it on every request.
/// `Mcp-Method` (SEP-2243).
pub(super) static MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
/// `Mcp-Name` (SEP-2243).
pub(super) static MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");

/// Methods the fast path answers inline: the ones whose 2026-07-28 handling never streams and
/// never needs a session (SEP-2567). With [`LISTEN_METHOD`] (answered by the shared listen
/// loop), everything else (`initialize`, `logging/setLevel`, `tasks/*`, notifications,
/// responses) goes to rmcp.
pub(crate) const FAST_METHODS: [&str; 10] = [
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "server/discover",
    "ping",
];

/// Whether a session request may take the fast path with `method`: the stateless ones but
/// `server/discover` (2026-07-28 only). The body names the method: clients of these revisions
/// send no `Mcp-Method`.
pub(super) fn is_session_method(method: &str) -> bool {
    method != "server/discover" && FAST_METHODS.contains(&method)
}

/// The method whose streams the fast path serves on one shared serve loop (`listen`).
pub(crate) const LISTEN_METHOD: &str = "subscriptions/listen";

/// `method` as the static name it is among [`FAST_METHODS`] and [`LISTEN_METHOD`].
pub(crate) fn fast_method(method: &[u8]) -> Option<&'static str> {
    FAST_METHODS
        .into_iter()
        .chain([LISTEN_METHOD])
        .find(|known| known.as_bytes() == method)
}

/// `Accept` values clients commonly send that list both media types without weights.
const COMMON_ACCEPT: [&[u8]; 2] = [
    b"application/json, text/event-stream",
    b"text/event-stream, application/json",
];

/// The method a request of `class` with `headers` may take the fast path with, as one of
/// [`FAST_METHODS`] or [`LISTEN_METHOD`]; `max_body` is the configured POST body limit. The
/// class says stateless (a version rmcp knows, no session) and names that method in
/// `Mcp-Method`; the headers must be ones rmcp would accept as they are.
pub(super) fn stateless_fast_method(
    class: &RequestClass,
    headers: &HeaderMap,
    max_body: usize,
) -> Option<&'static str> {
    if class.era() != Era::Stateless || !class.is_known_version() || class.session().is_some() {
        return None;
    }
    let method = fast_method(class.method()?.as_bytes())?;
    let headers_as_rmcp_takes_them = accepts_json_and_sse(headers)
        && content_type_is_json(headers)
        && !headers.contains_key(header::ORIGIN)
        && declared_length(headers).is_some_and(|length| length <= max_body);
    headers_as_rmcp_takes_them.then_some(method)
}

/// The session a request of `class` with `headers` names, when it may take the session fast
/// path (`session`): a 2025-03-26 … 2025-11-25 request naming a version rmcp knows and a
/// session, with headers rmcp would accept as they are (as for [`headers_allow_fast_path`]).
/// rmcp assumes 2025-03-26 for a request without `MCP-Protocol-Version`: those are left to it.
pub(super) fn session_allowing_fast_path<'a>(
    class: &'a RequestClass,
    headers: &HeaderMap,
    max_body: usize,
) -> Option<&'a str> {
    let allowed = class.era() == Era::Session
        && class.is_known_version()
        && headers.contains_key(&PROTOCOL_VERSION)
        && accepts_json_and_sse(headers)
        && content_type_is_json(headers)
        && !headers.contains_key(header::ORIGIN)
        && declared_length(headers).is_some_and(|length| length <= max_body);
    allowed.then(|| class.session()).flatten()
}

/// The `Content-Length`, when there is exactly one and it is a number. Chunked bodies are left
/// to rmcp, which enforces the limit while streaming.
fn declared_length(headers: &HeaderMap) -> Option<usize> {
    let mut values = headers.get_all(header::CONTENT_LENGTH).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    value.to_str().ok()?.parse().ok()
}

/// The sole value of `name` as text, as rmcp's `mcp_headers::header_str` reads SEP-2243
/// headers: a duplicate or non-text value is an error there, so `None` here.
pub(super) fn single_value<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    value.to_str().ok()
}

/// rmcp: the essence before `;`, trimmed, must be `application/json` (any case).
pub(crate) fn content_type_is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            let essence = value.split_once(';').map_or(value, |(essence, _)| essence);
            essence.trim().eq_ignore_ascii_case(JSON_MIME_TYPE)
        })
}

/// rmcp: `Accept` must list both `application/json` and `text/event-stream` (exact essences,
/// any case), neither with an explicit zero weight. No wildcards.
fn accepts_json_and_sse(headers: &HeaderMap) -> bool {
    // What MCP clients send, recognised without parsing (the parser would accept it too).
    let mut values = headers.get_all(header::ACCEPT).iter();
    if let (Some(only), None) = (values.next(), values.next())
        && COMMON_ACCEPT.contains(&only.as_bytes())
    {
        return true;
    }
    let mut json = false;
    let mut sse = false;
    for essence in accepted_media_types(headers) {
        json |= essence.eq_ignore_ascii_case(JSON_MIME_TYPE);
        sse |= essence.eq_ignore_ascii_case(EVENT_STREAM_MIME_TYPE);
    }
    json && sse
}

/// The media-range essences of every `Accept` value, minus those weighted `q=0`; a copy of
/// rmcp's private `accepted_media_types`.
fn accepted_media_types(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| split_unquoted(value, ','))
        .filter_map(|entry| {
            let mut parts = split_unquoted(entry, ';');
            let essence = parts.next()?.trim();
            parts
                .all(|parameter| {
                    let Some((name, value)) = parameter.split_once('=') else {
                        return true;
                    };
                    !name.trim().eq_ignore_ascii_case("q") || quality_is_acceptable(value.trim())
                })
                .then_some(essence)
        })
}

/// Splits on `delimiter` outside quoted strings (a quoted-pair keeps an escaped quote from
/// ending the string); rmcp's `split_unquoted`.
fn split_unquoted(value: &str, delimiter: char) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    let mut escaped = false;
    value.split(move |character| {
        if escaped {
            escaped = false;
        } else if quoted && character == '\\' {
            escaped = true;
        } else if character == '"' {
            quoted = !quoted;
        } else if !quoted && character == delimiter {
            return true;
        }
        false
    })
}

/// RFC 9110 §12.4.2: only an explicit zero weight excludes a range; a malformed weight is
/// ignored (rmcp's `quality_is_acceptable`).
fn quality_is_acceptable(quality: &str) -> bool {
    let (whole, fraction) = quality.split_once('.').unwrap_or((quality, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|digit| digit.is_ascii_digit()) {
        return true;
    }
    whole != "0" || fraction.bytes().any(|digit| digit != b'0')
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn allowed(headers: &HeaderMap) -> bool {
        taken(headers).is_some()
    }

    fn taken(headers: &HeaderMap) -> Option<&'static str> {
        stateless_fast_method(&RequestClass::of("/mcp", None, headers), headers, 1000)
    }

    fn valid() -> Vec<(&'static str, &'static str)> {
        vec![
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("content-length", "100"),
        ]
    }

    #[test]
    fn a_plain_stateless_call_passes_with_its_method() {
        assert_eq!(taken(&headers(&valid())), Some("tools/call"));
    }

    #[test]
    fn a_stateless_listen_passes_for_the_shared_loop() {
        let pairs: Vec<_> = valid()
            .into_iter()
            .map(|(n, v)| (n, if n == "mcp-method" { LISTEN_METHOD } else { v }))
            .collect();
        assert_eq!(taken(&headers(&pairs)), Some(LISTEN_METHOD));
    }

    #[test]
    fn anything_rmcp_might_answer_differently_is_left_to_rmcp() {
        let cases: &[(&str, &str)] = &[
            ("mcp-session-id", "abc"),
            ("origin", "http://localhost:1234"),
            ("mcp-method", "tools/list"),
        ];
        for extra in cases {
            let mut pairs = valid();
            pairs.push(*extra);
            assert!(!allowed(&headers(&pairs)), "{extra:?}");
        }
        let replaced: &[(&str, &str)] = &[
            ("content-type", "text/plain"),
            ("accept", "application/json"),
            ("accept", "*/*"),
            ("accept", "application/json, text/event-stream;q=0"),
            ("mcp-protocol-version", "2025-11-25"),
            ("mcp-method", "initialize"),
            ("content-length", "5000"),
        ];
        for (name, value) in replaced {
            let pairs: Vec<_> = valid()
                .into_iter()
                .map(|(n, v)| if n == *name { (n, *value) } else { (n, v) })
                .collect();
            assert!(!allowed(&headers(&pairs)), "{name}: {value}");
        }
    }

    #[test]
    fn accept_parsing_matches_rmcp() {
        let map = headers(&[(
            "accept",
            r#"text/plain;q=0, application/json;profile="a;q=0", text/event-stream;q=abc"#,
        )]);
        let accepted: Vec<&str> = accepted_media_types(&map).collect();
        assert_eq!(
            accepted,
            vec!["application/json", "text/event-stream"],
            "quoted parameters and malformed weights keep a range"
        );
        assert!(!quality_is_acceptable("0.000"));
        for common in COMMON_ACCEPT {
            let map = headers(&[("accept", std::str::from_utf8(common).unwrap())]);
            let mut json_and_sse: Vec<&str> = accepted_media_types(&map).collect();
            json_and_sse.sort_unstable();
            assert_eq!(json_and_sse, ["application/json", "text/event-stream"]);
        }
        assert!(quality_is_acceptable("0.001"));
    }
}
