//! The fast path's parse: a borrowed envelope and only the typed params of the one method
//! named — instead of rmcp's untagged `ClientJsonRpcMessage`, which buffers the whole body
//! through serde's `Content` and tries up to 22 request variants. A stateless request's
//! `Mcp-Method` names the method before the body is read, so its params are typed in the same
//! pass ([`parse`]); a session request names it only in the body, which is read in two steps,
//! the params kept as raw JSON until the method is known ([`parse_session`]).
//!
//! The result must be exactly the `ClientRequest` rmcp would have built, or nothing (then rmcp
//! parses the body itself). Hence the rules below, each copied from rmcp 3.11's model:
//! - the body is a JSON object with `jsonrpc`, `id` and `method`, and no `result` or `error`
//!   key (rmcp's message-shape check);
//! - params end up as rmcp's `WithMeta<P>` leaves them: `_meta` in the request's extensions as
//!   a `RequestMetaObject`, the remaining keys in `P`, and `P.meta` empty;
//! - a method's typed params failing to parse is *not* an error here: rmcp would fall through
//!   to `CustomRequest`, so the request is left to rmcp.
//!
//! On top of rmcp's rules, the fast path takes only requests whose `_meta` has everything
//! 2026-07-28 requires, names 2026-07-28, and asks for no progress or log notifications (on
//! this path nothing can be streamed back).

use std::borrow::Cow;

use rmcp::model::{
    ClientRequest, DiscoverRequest, DiscoverRequestParams, JsonObject, ProtocolVersion, Request,
    RequestId, RequestMetaObject, RequestNoParam, RequestOptionalParam, RequestParamsMeta,
};
use serde::{Deserialize, Deserializer, de::DeserializeOwned};
use serde_json::value::RawValue;

use super::screen::is_session_method;

/// `_meta` keys that ask the server to send notifications while it works.
const STREAMING_META_KEYS: [&str; 2] = ["progressToken", "io.modelcontextprotocol/logLevel"];
/// The `_meta` key of a per-request protocol version.
const PROTOCOL_VERSION_META_KEY: &str = "io.modelcontextprotocol/protocolVersion";

/// A request the fast path can answer.
#[derive(Debug)]
pub(super) struct FastRequest {
    /// The JSON-RPC id, echoed in the answer.
    pub id: RequestId,
    /// The request as rmcp's parser would have built it.
    pub request: ClientRequest,
}

/// The JSON-RPC envelope, its `params` read as `P`: raw JSON (`&RawValue`) when only the
/// body names the method, or that method's params when the `Mcp-Method` header named it first.
#[derive(Deserialize)]
struct Envelope<'a, P> {
    #[serde(borrow)]
    jsonrpc: &'a RawValue,
    id: RequestId,
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(default = "absent")]
    params: Option<P>,
    #[serde(default, deserialize_with = "present")]
    result: bool,
    #[serde(default, deserialize_with = "present")]
    error: bool,
}

/// No params: what an envelope without a `params` key has (`#[serde(default)]` would ask
/// `P: Default` of every `P`).
fn absent<P>() -> Option<P> {
    None
}

/// `true` for a key that is there, whatever its value (`null` included).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(deserializer).map(|_| true)
}

/// rmcp's `WithMeta<P>`: `_meta` apart, every other key flattened into `P`.
#[derive(Deserialize)]
struct WithMeta<P> {
    #[serde(rename = "_meta")]
    meta: Option<JsonObject>,
    #[serde(flatten)]
    rest: P,
}

/// Parses `body` into a stateless request for `method` (its `Mcp-Method` header) that the
/// fast path answers, or `None` to leave it to rmcp (a body naming another method included).
///
/// One pass: the header names the method before the body is read, so the params are typed
/// while the envelope is read, instead of cut out as raw JSON first and read again.
pub(super) fn parse(method: &str, body: &[u8]) -> Option<FastRequest> {
    let mut source = OnePass {
        text: json_object_text(body)?,
        method,
        id: None,
    };
    let request = typed_request(method, &mut source)?;
    let id = source.id?;
    stateless_meta_is_complete(&request).then_some(FastRequest { id, request })
}

/// Parses `body` into a request of a session the fast path answers, or `None` to leave it to
/// rmcp: a session method (`screen::is_session_method`) whose `_meta` names no protocol
/// version (rmcp checks a version there against the header) and asks for no progress (which
/// streams). These clients send no `Mcp-Method`: the envelope is read first, with the params
/// as raw JSON, then the params of the method it names.
pub(super) fn parse_session(body: &[u8]) -> Option<FastRequest> {
    use rmcp::model::GetMeta;
    let envelope: Envelope<'_, &RawValue> = envelope(json_object_text(body)?)?;
    let request = typed_request(&envelope.method, envelope.params)?;
    let meta = request.get_meta();
    let acceptable = is_session_method(request.method())
        && !meta.contains_key(PROTOCOL_VERSION_META_KEY)
        && !STREAMING_META_KEYS
            .iter()
            .any(|key| meta.contains_key(*key));
    acceptable.then_some(FastRequest {
        id: envelope.id,
        request,
    })
}

/// `body` as text, when rmcp would read it as a JSON object: an object (serde would also read
/// a struct from a JSON array), UTF-8 (RFC 8259 §8.1; rmcp refuses other bytes even in a
/// member nothing reads, which serde_json skips unchecked), and with no number out of range.
fn json_object_text(body: &[u8]) -> Option<&str> {
    let first = body.iter().find(|byte| !byte.is_ascii_whitespace())?;
    if *first != b'{' {
        return None;
    }
    let text = std::str::from_utf8(body).ok()?;
    (!may_hold_an_out_of_range_number(text)).then_some(text)
}

/// The envelope of `text`, when it is a JSON-RPC 2.0 request: rmcp's message-shape check.
fn envelope<'a, P: Deserialize<'a>>(text: &'a str) -> Option<Envelope<'a, P>> {
    let envelope: Envelope<'a, P> = serde_json::from_str(text).ok()?;
    // The transport's JSON-RPC body check (`jsonrpc_body`) compares the raw text.
    (envelope.jsonrpc.get() == "\"2.0\"" && !envelope.result && !envelope.error).then_some(envelope)
}

/// Where a method's params are read from ([`typed_request`]): `None` when they do not parse
/// as `P` (rmcp would fall through to `CustomRequest`), `Some(None)` when they are absent.
trait ParamsSource {
    /// The params, read as `P`.
    fn read<P: DeserializeOwned>(self) -> Option<Option<P>>;
}

/// Raw JSON cut out of an envelope already read.
impl ParamsSource for Option<&RawValue> {
    fn read<P: DeserializeOwned>(self) -> Option<Option<P>> {
        match self {
            None => Some(None),
            Some(raw) => serde_json::from_str(raw.get()).ok().map(Some),
        }
    }
}

/// A whole body, read once the method is known: the envelope with the params typed, which
/// must name that method; its id is kept.
struct OnePass<'a> {
    text: &'a str,
    method: &'a str,
    id: Option<RequestId>,
}

impl ParamsSource for &mut OnePass<'_> {
    fn read<P: DeserializeOwned>(self) -> Option<Option<P>> {
        let envelope: Envelope<'_, P> = envelope(self.text)?;
        if envelope.method != self.method {
            return None;
        }
        self.id = Some(envelope.id);
        Some(envelope.params)
    }
}

/// Whether `text` may hold a number outside `f64`'s range: one with an exponent, or more than
/// 300 digits in a row, outside strings. rmcp reads every number of a body and refuses such a
/// body ("number out of range"); the typed parse skips the members it does not know without
/// reading their numbers, so it would accept it. The fast path leaves these to rmcp (found by
/// the `fast_path_envelope` fuzz target).
///
/// Most bodies are answered by a quick look at every byte, strings included: no `e` or `E`
/// after a digit anywhere, and too short for a run of more digits. The others get one pass over
/// the bytes outside strings; a string is skipped to its closing quote (`memchr`), so an `e`
/// after digits inside a string (a hex id) does not count.
fn may_hold_an_out_of_range_number(text: &str) -> bool {
    let bytes = text.as_bytes();
    (bytes.len() > LONGEST_DIGIT_RUN || has_a_digit_before_an_e(bytes))
        && holds_a_long_or_exponent_number(bytes)
}

/// Whether a number outside the strings of `bytes` has an exponent or more than
/// [`LONGEST_DIGIT_RUN`] digits in a row.
fn holds_a_long_or_exponent_number(bytes: &[u8]) -> bool {
    let (mut at, mut digits) = (0, 0usize);
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'"' => {
                at = past_string(bytes, at + 1);
                digits = 0;
                continue;
            }
            b'0'..=b'9' => {
                digits += 1;
                if digits > LONGEST_DIGIT_RUN {
                    return true;
                }
            }
            b'e' | b'E' if digits > 0 => return true,
            _ => digits = 0,
        }
        at += 1;
    }
    false
}

/// The most digits in a row a number in range is taken to have (`f64::MAX` has 309).
const LONGEST_DIGIT_RUN: usize = 300;

/// Whether an `e` or `E` follows a digit anywhere in `bytes`. Without an early exit, so that
/// the compiler compares many bytes at once.
fn has_a_digit_before_an_e(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .zip(bytes.iter().skip(1))
        .fold(false, |found, (&before, &after)| {
            found | (before.is_ascii_digit() & (after | 0x20 == b'e'))
        })
}

/// The index just past the closing quote of the string whose contents start at `from` (the
/// end of `bytes` for a string that never closes): a backslash escapes the byte after it.
fn past_string(bytes: &[u8], mut from: usize) -> usize {
    while let Some(offset) = bytes
        .get(from..)
        .and_then(|rest| memchr::memchr2(b'"', b'\\', rest))
    {
        let at = from + offset;
        if bytes[at] == b'"' {
            return at + 1;
        }
        from = at + 2;
    }
    bytes.len()
}

/// The typed request for `method`, built as rmcp's deserializers build it from the params
/// `params` reads; params absent only where rmcp's request type allows it (lists, `ping`).
fn typed_request(method: &str, params: impl ParamsSource) -> Option<ClientRequest> {
    use rmcp::model::ClientRequest as R;
    Some(match method {
        "tools/call" => R::CallToolRequest(with_params(params.read()??)),
        "resources/read" => R::ReadResourceRequest(with_params(params.read()??)),
        "prompts/get" => R::GetPromptRequest(with_params(params.read()??)),
        "completion/complete" => R::CompleteRequest(with_params(params.read()??)),
        "server/discover" => R::DiscoverRequest(discover(params.read()??)),
        "tools/list" => R::ListToolsRequest(with_optional_params(params.read()?)),
        "resources/list" => R::ListResourcesRequest(with_optional_params(params.read()?)),
        "resources/templates/list" => {
            R::ListResourceTemplatesRequest(with_optional_params(params.read()?))
        }
        "prompts/list" => R::ListPromptsRequest(with_optional_params(params.read()?)),
        "ping" => R::PingRequest(without_params(params.read()?)),
        "subscriptions/listen" => R::SubscriptionsListenRequest(with_params(params.read()??)),
        _ => return None,
    })
}

/// rmcp's `Request<M, P>` (params required). `P` was read directly, which puts `_meta` in
/// `P.meta`; moving it to the extensions gives what rmcp's flattened `WithMeta<P>` gives,
/// without buffering the params through serde's `Content`.
fn with_params<M, P>(mut params: P) -> Request<M, P>
where
    M: Default,
    P: RequestParamsMeta,
{
    let meta = params.meta_mut().take();
    let mut request = Request::new(params);
    if let Some(meta) = meta {
        request.extensions.insert(meta);
    }
    request
}

/// `server/discover`'s params have no `_meta` field and deny unknown ones, so they are read
/// exactly as rmcp reads them, through `WithMeta`.
fn discover(params: WithMeta<DiscoverRequestParams>) -> DiscoverRequest {
    let WithMeta { meta, rest } = params;
    let mut request = DiscoverRequest::new(rest);
    insert_meta(&mut request.extensions, meta);
    request
}

/// rmcp's `RequestOptionalParam<M, P>`; `params: null` reads as absent.
fn with_optional_params<M, P>(params: Option<P>) -> RequestOptionalParam<M, P>
where
    M: Default,
    P: RequestParamsMeta,
{
    let Some(params) = params else {
        return RequestOptionalParam {
            method: M::default(),
            params: None,
            extensions: Default::default(),
        };
    };
    let Request {
        params, extensions, ..
    } = with_params::<M, P>(params);
    let mut request = RequestOptionalParam::with_param(params);
    request.extensions = extensions;
    request
}

/// rmcp's `RequestNoParam<M>`: only `_meta` is kept, other keys must still form an object.
fn without_params<M: Default>(params: Option<WithMeta<Option<JsonObject>>>) -> RequestNoParam<M> {
    let mut request = RequestNoParam {
        method: M::default(),
        extensions: Default::default(),
    };
    if let Some(WithMeta { meta, rest: _ }) = params {
        insert_meta(&mut request.extensions, meta);
    }
    request
}

fn insert_meta(extensions: &mut rmcp::model::Extensions, meta: Option<JsonObject>) {
    if let Some(meta) = meta {
        extensions.insert(RequestMetaObject::from(meta));
    }
}

/// The request carries 2026-07-28 in `_meta` with every required key (so rmcp would route it
/// to its stateless path and never answer "malformed `_meta`"), and nothing that streams.
///
/// rmcp's `missing_required_keys(2026-07-28)` asks for a protocol version and client
/// capabilities that decode; a version equal to 2026-07-28 is one, so what is left to decode
/// is the capabilities (the version is compared as text: rmcp decodes it into a `String`
/// first, and only `"2026-07-28"` decodes to 2026-07-28).
fn stateless_meta_is_complete(request: &ClientRequest) -> bool {
    use rmcp::model::GetMeta;
    let meta = request.get_meta();
    meta.get(PROTOCOL_VERSION_META_KEY)
        .and_then(serde_json::Value::as_str)
        == Some(ProtocolVersion::V_2026_07_28.as_str())
        && meta.client_capabilities().is_some()
        && !STREAMING_META_KEYS
            .iter()
            .any(|key| meta.contains_key(*key))
}

#[cfg(test)]
mod tests {
    use rmcp::model::{ClientJsonRpcMessage, GetExtensions, GetMeta};

    use super::*;

    const META: &str = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"}}"#;

    fn body(method: &str, params: &str) -> String {
        format!(r#"{{"jsonrpc":"2.0","id":7,"method":"{method}","params":{{{params}}}}}"#)
    }

    /// What rmcp's own parser makes of `body`.
    fn rmcp_request(body: &str) -> ClientRequest {
        match serde_json::from_str::<ClientJsonRpcMessage>(body).unwrap() {
            ClientJsonRpcMessage::Request(request) => request.request,
            other => panic!("not a request: {other:?}"),
        }
    }

    #[test]
    fn every_fast_method_parses_to_what_rmcp_builds() {
        let cases = [
            (
                "tools/call",
                format!(r#""name":"echo","arguments":{{"message":"hi"}},{META}"#),
            ),
            ("tools/list", format!(r#""cursor":"2",{META}"#)),
            ("resources/list", META.to_owned()),
            ("resources/templates/list", META.to_owned()),
            (
                "resources/read",
                format!(r#""uri":"test://static/resource/1",{META}"#),
            ),
            ("prompts/list", META.to_owned()),
            ("prompts/get", format!(r#""name":"simple_prompt",{META}"#)),
            (
                "completion/complete",
                format!(
                    r#""ref":{{"type":"ref/prompt","name":"p"}},"argument":{{"name":"a","value":"x"}},{META}"#
                ),
            ),
            ("server/discover", META.to_owned()),
            // flattening ignores `deny_unknown_fields`, in rmcp too
            ("server/discover", format!(r#""extra":1,{META}"#)),
            ("ping", META.to_owned()),
            (
                "subscriptions/listen",
                format!(
                    r#""notifications":{{"toolsListChanged":true,"resourceSubscriptions":["a://b"]}},{META}"#
                ),
            ),
        ];
        for (method, params) in cases {
            let text = body(method, &params);
            let ours =
                parse(method, text.as_bytes()).unwrap_or_else(|| panic!("{method} not parsed"));
            let theirs = rmcp_request(&text);
            assert_eq!(ours.id, RequestId::Number(7));
            assert_eq!(ours.request.method(), theirs.method(), "{method}");
            assert_eq!(
                serde_json::to_value(&ours.request).unwrap(),
                serde_json::to_value(&theirs).unwrap(),
                "{method}"
            );
            assert_eq!(ours.request.get_meta(), theirs.get_meta(), "{method}");
            assert_eq!(
                ours.request.extensions().len(),
                theirs.extensions().len(),
                "{method}"
            );
        }
    }

    #[test]
    fn session_requests_parse_to_what_rmcp_builds_and_leave_the_rest() {
        let parsed = [
            r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"_meta":{"k":1}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":null}"#,
            r#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}"#,
        ];
        for text in parsed {
            let ours = parse_session(text.as_bytes()).unwrap_or_else(|| panic!("{text}"));
            let theirs = rmcp_request(text);
            assert_eq!(
                serde_json::to_value(&ours.request).unwrap(),
                serde_json::to_value(&theirs).unwrap(),
                "{text}"
            );
            assert_eq!(ours.request.get_meta(), theirs.get_meta(), "{text}");
        }
        let left = [
            // Required params, absent.
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
            // Progress streams; a version in `_meta` is checked against the header by rmcp.
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"e","_meta":{"progressToken":1}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2025-11-25"}}}"#,
            // Not a session method here.
            r#"{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"logging/setLevel","params":{"level":"info"}}"#,
        ];
        for text in left {
            assert!(parse_session(text.as_bytes()).is_none(), "{text}");
        }
    }

    #[test]
    fn a_body_that_is_not_utf8_is_declined() {
        // Found by the `fast_path_envelope` fuzz target: a byte that is not UTF-8 in a member
        // the envelope ignores. rmcp refuses the body, so the fast path must not answer it.
        let mut text = br#"{"x":""#.to_vec();
        text.push(0xd4);
        text.extend_from_slice(b"\",");
        text.extend_from_slice(&body("ping", META).as_bytes()[1..]);
        assert!(serde_json::from_slice::<ClientJsonRpcMessage>(&text).is_err());
        assert!(parse("ping", &text).is_none());
    }

    #[test]
    fn a_number_out_of_range_in_an_ignored_member_is_declined() {
        // Found by the `fast_path_envelope` fuzz target (10M-run): a member the typed parse
        // ignores held `333313.33333333E13363`. rmcp reads every number and refuses the body.
        for number in ["333313.33333333E13363", "1e400", &"9".repeat(400)] {
            let text = body("ping", &format!(r#""x":{number},{META}"#));
            assert!(serde_json::from_str::<ClientJsonRpcMessage>(&text).is_err());
            assert!(parse("ping", text.as_bytes()).is_none(), "{number}");
        }
        // Digits and an `e` inside a string are not a number: still the fast path's.
        let hex = body("ping", &format!(r#""x":"3f8e5a52e9","y":12.5,{META}"#));
        assert!(parse("ping", hex.as_bytes()).is_some());
        // An escaped quote does not end a string; an escaped backslash before a quote does.
        let escaped = body("ping", &format!(r#""x":"a\"1e9\\","y":1,{META}"#));
        assert!(parse("ping", escaped.as_bytes()).is_some());
        let after = body("ping", &format!(r#""x":"a\\",  "y":1e400,{META}"#));
        assert!(parse("ping", after.as_bytes()).is_none());
    }

    #[test]
    fn the_quick_look_at_numbers_agrees_with_the_full_pass() {
        // Every text of up to six bytes from digits, exponents, quotes, backslashes and others.
        let alphabet = [b'1', b'e', b'E', b'"', b'\\', b'x'];
        let mut texts = vec![Vec::new()];
        for _ in 0..6 {
            let longer: Vec<Vec<u8>> = texts
                .iter()
                .filter(|text| text.len() == texts.last().map_or(0, Vec::len))
                .flat_map(|text| {
                    alphabet.iter().map(move |byte| {
                        let mut text = text.clone();
                        text.push(*byte);
                        text
                    })
                })
                .collect();
            texts.extend(longer);
        }
        for text in texts {
            let text = std::str::from_utf8(&text).unwrap();
            assert_eq!(
                may_hold_an_out_of_range_number(text),
                holds_a_long_or_exponent_number(text.as_bytes()),
                "{text:?}"
            );
        }
    }

    #[test]
    fn requests_rmcp_would_treat_differently_are_declined() {
        let call = format!(r#""name":"echo","arguments":{{"message":"hi"}},{META}"#);
        let declined = [
            // not an object, not a request, not 2.0
            ("tools/list", format!("[{}]", body("tools/list", META))),
            (
                "tools/list",
                r#"{"jsonrpc":"2.0","method":"tools/list","params":{}}"#.to_owned(),
            ),
            (
                "tools/list",
                body("tools/list", META).replace(r#""id":7"#, r#""id":7,"result":null"#),
            ),
            (
                "tools/list",
                body("tools/list", META).replace(r#""2.0""#, r#""2\u002e0""#),
            ),
            // typed params rmcp would not accept (it falls back to CustomRequest)
            ("tools/call", body("tools/call", META)),
            ("subscriptions/listen", body("subscriptions/listen", META)),
            // `_meta` incomplete, older, streaming
            ("tools/list", body("tools/list", "")),
            (
                "tools/list",
                body("tools/list", &META.replace("2026-07-28", "2025-11-25")),
            ),
            (
                "tools/list",
                body(
                    "tools/list",
                    &META.replace("\"_meta\":{", "\"_meta\":{\"progressToken\":1,"),
                ),
            ),
            (
                "tools/list",
                body(
                    "tools/list",
                    &META.replace(
                        "\"_meta\":{",
                        "\"_meta\":{\"io.modelcontextprotocol/logLevel\":\"info\",",
                    ),
                ),
            ),
            // not a fast method
            ("initialize", body("initialize", META)),
            // the body names another method than `Mcp-Method`, with params both would take
            ("tools/list", body("tools/call", &call)),
            ("tools/call", body("tools/list", &call)),
            ("ping", body("tools/list", META)),
        ];
        assert!(parse("tools/call", body("tools/call", &call).as_bytes()).is_some());
        for (method, text) in declined {
            assert!(parse(method, text.as_bytes()).is_none(), "{method}: {text}");
        }
    }
}
