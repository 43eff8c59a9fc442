//! The W3C trace context (`traceparent`, `tracestate`) a client sent, parsed by the SDK's
//! `TraceContextPropagator`: from HTTP headers, or from an MCP request's `_meta` (SEP-414
//! reserves the same two keys there) — parsed already on the fast path, read from the body
//! (`params._meta` alone) by the JSON-RPC body check on rmcp's path.

use http::HeaderMap;
use opentelemetry::{
    propagation::{Extractor, TextMapPropagator},
    trace::{SpanContext, TraceContextExt},
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use rmcp::model::MetaObject;
use serde::Deserialize;

/// The remote parent named by `traceparent` / `tracestate` headers, if valid.
pub(crate) fn from_headers(headers: &HeaderMap) -> Option<SpanContext> {
    if !headers.contains_key("traceparent") {
        return None;
    }
    extract(&Headers(headers))
}

/// The remote parent named by `_meta.traceparent` / `_meta.tracestate`, if valid.
pub(crate) fn from_meta(meta: &MetaObject) -> Option<SpanContext> {
    meta.get_traceparent()?;
    extract(&Meta(meta))
}

/// The remote parent a JSON-RPC request's `params._meta` names, if any (a batch or a body
/// without one names none).
pub(crate) fn from_body(body: &[u8]) -> Option<SpanContext> {
    /// The one field read; every other is skipped.
    #[derive(Deserialize)]
    struct Message {
        params: Option<Params>,
    }
    #[derive(Deserialize)]
    struct Params {
        #[serde(rename = "_meta")]
        meta: Option<MetaObject>,
    }
    let message: Message = serde_json::from_slice(body).ok()?;
    from_meta(&message.params?.meta?)
}

fn extract(carrier: &dyn Extractor) -> Option<SpanContext> {
    let context = TraceContextPropagator::new().extract(carrier);
    let span = context.span();
    let parent = span.span_context();
    parent.is_valid().then(|| parent.clone())
}

/// Headers as the propagator reads them.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}

/// `_meta` as the propagator reads it: its string values.
struct Meta<'a>(&'a MetaObject);

impl Extractor for Meta<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            "traceparent" => self.0.get_traceparent(),
            "tracestate" => self.0.get_tracestate(),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent", "tracestate"]
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;
    use opentelemetry::trace::TraceId;

    use super::*;

    const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn a_valid_traceparent_is_the_parent() {
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", HeaderValue::from_static(TRACEPARENT));
        let parent = from_headers(&headers).expect("a parent");
        assert_eq!(
            parent.trace_id(),
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap()
        );
        assert!(parent.is_remote() && parent.is_sampled());

        let mut meta = MetaObject::new();
        meta.set_traceparent(TRACEPARENT);
        assert_eq!(from_meta(&meta), Some(parent));
    }

    #[test]
    fn a_body_names_its_parent_in_params_meta() {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{{"_meta":{{"traceparent":"{TRACEPARENT}"}}}}}}"#
        );
        let parent = from_body(body.as_bytes()).expect("a parent");
        assert_eq!(parent.span_id().to_string(), "b7ad6b7169203331");
        assert_eq!(
            from_body(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
            None
        );
        assert_eq!(from_body(b"[]"), None);
    }

    #[test]
    fn a_missing_or_malformed_traceparent_is_no_parent() {
        assert_eq!(from_headers(&HeaderMap::new()), None);
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", HeaderValue::from_static("00-zz-yy-01"));
        assert_eq!(from_headers(&headers), None);
        assert_eq!(from_meta(&MetaObject::new()), None);
    }
}
