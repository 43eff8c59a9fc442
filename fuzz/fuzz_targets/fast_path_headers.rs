//! The fast path's header screen (`mcp/classify.rs`, `mcp/fast_path/screen.rs`) and the
//! SEP-2243 check of `Mcp-Method`, `Mcp-Name` and `Mcp-Param-*` against a `tools/call`
//! (`mcp/fast_path/standard_headers.rs`), on arbitrary header sets.
//!
//! Beyond "no panic": a screen that admits a request saw one known stateless protocol version,
//! one fast method (the one it answers with) and a declared length within the limit; a header check that passes saw
//! exactly the body's method and tool name, and each annotated argument's value in its
//! `Mcp-Param-*` header.
//!
//! Input, as text (so that seeds are real requests): the first line is the tool's name, then
//! `Name: value` header lines up to an empty line, then the call's `arguments` as JSON (the rest). The
//! body limit is 4096 bytes.

#![no_main]

use std::sync::{Arc, LazyLock};

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use rmcp::model::{CallToolRequest, CallToolRequestParams, ClientRequest, JsonObject};
use serde_json::{Value, json};

/// The body limit the screen is given.
const MAX_BODY: usize = 4096;

/// A request read from the input.
struct Input {
    tool: String,
    headers: HeaderMap,
    arguments: Option<JsonObject>,
}

/// A tool schema with `x-mcp-header` annotations at two depths, and one that is not a string.
static SCHEMA: LazyLock<Arc<JsonObject>> = LazyLock::new(|| {
    let schema = json!({"type": "object", "properties": {
        "region": {"type": "string", "x-mcp-header": "Region"},
        "flag": {"type": "boolean", "x-mcp-header": "Flag"},
        "party": {"type": "object", "properties": {
            "size": {"type": "integer", "x-mcp-header": "Size"},
            "odd": {"x-mcp-header": 7}
        }}
    }});
    Arc::new(schema.as_object().cloned().expect("an object"))
});

fn read(data: &[u8]) -> Input {
    let mut lines = data.split(|byte| *byte == b'\n');
    let tool = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let mut headers = HeaderMap::new();
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|byte| *byte == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            headers.append(name, value);
        }
    }
    let rest: Vec<&[u8]> = lines.collect();
    let arguments = serde_json::from_slice(&rest.join(&b'\n')).ok();
    Input {
        tool,
        headers,
        arguments,
    }
}

/// The only value of `name`, as text.
fn single<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    values
        .next()
        .is_none()
        .then(|| first.to_str().ok())
        .flatten()
}

fuzz_target!(|data: &[u8]| {
    let input = read(data);
    let headers = &input.headers;
    let max_body = MAX_BODY;
    if let Some(method) = outpost::fuzzing::screen(headers, max_body) {
        let version = single(headers, "mcp-protocol-version").expect("one version");
        assert!(version >= "2026-07-28", "stateless version {version:?}");
        assert_eq!(single(headers, "mcp-method"), Some(method), "one method, the one taken");
        assert!(!headers.contains_key("mcp-session-id"), "no session");
        let length: usize = single(headers, "content-length")
            .and_then(|length| length.parse().ok())
            .expect("one declared length");
        assert!(length <= max_body, "length {length} over {max_body}");
    }

    let mut params = CallToolRequestParams::new(input.tool.clone());
    params.arguments = input.arguments;
    let call = ClientRequest::CallToolRequest(CallToolRequest::new(params.clone()));
    if outpost::fuzzing::standard_headers_match(headers, &call, Some(SCHEMA.clone())) {
        assert_eq!(single(headers, "mcp-method"), Some("tools/call"));
        assert_eq!(single(headers, "mcp-name"), Some(input.tool.as_str()));
        let arguments = params.arguments.unwrap_or_default();
        let region = arguments.get("region").and_then(Value::as_str);
        if let Some(region) = region {
            assert_eq!(single(headers, "mcp-param-region"), Some(region));
        }
        let size = arguments.get("party").and_then(|party| party.get("size"));
        if let Some(size @ Value::Number(_)) = size {
            assert_eq!(
                single(headers, "mcp-param-size"),
                Some(size.to_string().as_str())
            );
        }
    }
});
