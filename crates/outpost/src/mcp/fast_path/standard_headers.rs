//! SEP-2243 routing headers (`Mcp-Method`, `Mcp-Name`, `Mcp-Param-*`) checked against the
//! parsed body, as rmcp 3.11 checks them (`validate_standard_headers` in `tower.rs`,
//! `validate_request_headers` in `transport/common/mcp_headers.rs`) — but on the typed request,
//! without re-serialising the whole message to a `serde_json::Value` first.
//!
//! A mismatch is not answered here: the request goes to rmcp, which answers it with its own
//! `-32020` header-mismatch error, so the error bodies stay rmcp's word for word. Base64-wrapped
//! values (`=?base64?…?=`, used for non-ASCII names) are left to rmcp as well.

use http::HeaderMap;
use rmcp::{
    model::{ClientRequest, JsonObject},
    transport::common::http_header::{
        BASE64_HEADER_PREFIX, BASE64_HEADER_SUFFIX, HEADER_MCP_PARAM_PREFIX,
    },
};
use serde_json::Value;

use super::screen::{MCP_METHOD, MCP_NAME, single_value};

/// Whether rmcp would accept `headers` for `request`. `input_schema` looks up the called
/// tool's input schema (asked only for `tools/call`, as rmcp asks the handler's `get_tool`).
pub(super) fn standard_headers_match(
    headers: &HeaderMap,
    request: &ClientRequest,
    input_schema: impl FnOnce(&str) -> Option<std::sync::Arc<JsonObject>>,
) -> bool {
    if single_value(headers, &MCP_METHOD) != Some(request.method()) {
        return false;
    }
    match request {
        ClientRequest::CallToolRequest(call) => {
            let name = call.params.name.as_ref();
            name_matches(headers, name)
                && input_schema(name).is_none_or(|schema| {
                    param_headers_match(headers, &schema, call.params.arguments.as_ref())
                })
        }
        ClientRequest::GetPromptRequest(get) => name_matches(headers, &get.params.name),
        ClientRequest::ReadResourceRequest(read) => name_matches(headers, &read.params.uri),
        _ => true,
    }
}

/// `Mcp-Name` is present once, plain, and equal to the body's name or URI.
fn name_matches(headers: &HeaderMap, expected: &str) -> bool {
    single_value(headers, &MCP_NAME).is_some_and(|raw| plain_equals(raw, expected))
}

/// A header value equals `expected` without Base64 decoding.
fn plain_equals(raw: &str, expected: &str) -> bool {
    !is_base64_wrapped(raw) && raw == expected
}

fn is_base64_wrapped(raw: &str) -> bool {
    raw.strip_prefix(BASE64_HEADER_PREFIX)
        .is_some_and(|inner| inner.ends_with(BASE64_HEADER_SUFFIX))
}

/// Every `x-mcp-header` property of the tool's input schema has a matching
/// `Mcp-Param-<header>`: present exactly when the argument is a non-null value, equal to its
/// string form.
fn param_headers_match(
    headers: &HeaderMap,
    input_schema: &JsonObject,
    arguments: Option<&JsonObject>,
) -> bool {
    let mut path = Vec::new();
    annotations_match(
        input_schema.get("properties"),
        &mut path,
        &mut |path, header| {
            let full = format!("{HEADER_MCP_PARAM_PREFIX}{header}");
            let mut values = headers.get_all(full.as_str()).iter();
            let header_value = match (values.next(), values.next()) {
                (None, _) => None,
                (Some(value), None) => match value.to_str() {
                    Ok(text) => Some(text),
                    Err(_) => return false,
                },
                (Some(_), Some(_)) => return false,
            };
            let body_value = arguments
                .and_then(|arguments| value_at(arguments, path))
                .filter(|value| !value.is_null())
                .and_then(primitive_to_string);
            match (header_value, body_value) {
                (None, None) => true,
                (Some(raw), Some(expected)) => plain_equals(raw, &expected),
                _ => false,
            }
        },
    )
}

/// Walks `properties` chains like rmcp's `collect_property_annotations`, calling `check` for
/// each non-empty string `x-mcp-header`; stops at the first failure.
fn annotations_match<'a>(
    properties: Option<&'a Value>,
    path: &mut Vec<&'a str>,
    check: &mut impl FnMut(&[&str], &str) -> bool,
) -> bool {
    let Some(Value::Object(properties)) = properties else {
        return true;
    };
    for (name, schema) in properties {
        path.push(name);
        let annotated = match schema.get("x-mcp-header") {
            Some(Value::String(header)) if !header.is_empty() => check(path, header),
            _ => true,
        };
        if !annotated || !annotations_match(schema.get("properties"), path, check) {
            return false;
        }
        path.pop();
    }
    true
}

/// The argument at `path` (object keys from the root), if every step is there.
fn value_at<'a>(arguments: &'a JsonObject, path: &[&str]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    rest.iter()
        .try_fold(arguments.get(*first)?, |value, key| value.get(key))
}

/// SEP-2243's string form of a JSON primitive; objects and arrays have none.
fn primitive_to_string(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use http::HeaderValue;
    use rmcp::model::{CallToolRequest, CallToolRequestParams, ListToolsRequest};
    use serde_json::json;

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

    fn call(arguments: serde_json::Value) -> ClientRequest {
        let mut params = CallToolRequestParams::new("book");
        params.arguments = arguments.as_object().cloned();
        ClientRequest::CallToolRequest(CallToolRequest::new(params))
    }

    fn schema() -> Arc<JsonObject> {
        let schema = json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "party": {"type": "object", "properties": {
                "size": {"type": "integer", "x-mcp-header": "Size"}
            }},
            "note": {"type": "string"}
        }});
        Arc::new(schema.as_object().cloned().unwrap())
    }

    #[test]
    fn method_and_name_must_match_the_body() {
        let list = ClientRequest::ListToolsRequest(ListToolsRequest::default());
        assert!(standard_headers_match(
            &headers(&[("mcp-method", "tools/list")]),
            &list,
            |_| None
        ));
        assert!(!standard_headers_match(
            &headers(&[("mcp-method", "tools/call")]),
            &list,
            |_| None
        ));
        let call = call(json!({}));
        let named = |name| headers(&[("mcp-method", "tools/call"), ("mcp-name", name)]);
        assert!(standard_headers_match(&named("book"), &call, |_| None));
        assert!(!standard_headers_match(&named("echo"), &call, |_| None));
        assert!(!standard_headers_match(
            &named("=?base64?Ym9vaw==?="),
            &call,
            |_| None
        ));
        assert!(!standard_headers_match(
            &headers(&[("mcp-method", "tools/call")]),
            &call,
            |_| None
        ));
    }

    #[test]
    fn param_headers_follow_the_annotated_arguments() {
        let base = [("mcp-method", "tools/call"), ("mcp-name", "book")];
        let with = |extra: &[(&str, &str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            headers(&pairs)
        };
        let both = call(json!({"region": "eu", "party": {"size": 4}, "note": "x"}));
        assert!(standard_headers_match(
            &with(&[("mcp-param-region", "eu"), ("mcp-param-size", "4")]),
            &both,
            |_| Some(schema())
        ));
        assert!(!standard_headers_match(
            &with(&[("mcp-param-region", "eu")]),
            &both,
            |_| Some(schema())
        ));
        assert!(!standard_headers_match(
            &with(&[("mcp-param-region", "us"), ("mcp-param-size", "4")]),
            &both,
            |_| Some(schema())
        ));
        let none = call(json!({"region": null}));
        assert!(standard_headers_match(
            &with(&[]),
            &none,
            |_| Some(schema())
        ));
        assert!(!standard_headers_match(
            &with(&[("mcp-param-region", "eu")]),
            &none,
            |_| Some(schema())
        ));
    }
}
