//! Outpost's stateless fast path (`outpost::mcp::fast_path`) must answer exactly as rmcp does.
//!
//! Every request in `fast_path_differential/corpus.rs` goes over real HTTP on loopback to
//! (1) Outpost's router, fast path on, and (2) a plain rmcp `StreamableHttpService` built by
//! `outpost::mcp::streamable::streamable_service` (so configured exactly as Outpost configures
//! it), both over the same reference handler. The answers must have the same HTTP status, the
//! same content-type class and JSON-equal bodies (SSE bodies: the same sequence of messages).
//!
//! The test also proves the fast path is really taken where it should be: rmcp's per-request
//! service logs "Service initialized as server" each time it is built; for a `fast` case
//! Outpost must answer without that event, while plain rmcp logs it for the same request.
//!
//! Deliberate differences, none of them from the fast path:
//! - bodies that are not JSON-RPC, or not MCP messages: Outpost's body check
//!   (`outpost::mcp::jsonrpc_body`) answers `400` with `-32700`/`-32600`, rmcp `415` in plain
//!   text (asserted separately below);
//! - requests for an MCP method with params it cannot take: the body check answers `-32602`,
//!   rmcp `-32601` with `404` (asserted separately below);
//! - headers Outpost adds to every answer (security headers) and session ids are not compared.

mod common;
#[path = "fast_path_differential/corpus.rs"]
mod corpus;

use std::sync::Arc;

use common::plain_rmcp::{ServeLoopCounter, spawn_plain_rmcp};
use corpus::Case;
use outpost::{HandlerFactory, ServerConfig};
use outpost_reference::ReferenceServer;
use serde_json::Value;

/// What a client can observe of one answer.
#[derive(Debug, PartialEq)]
struct Answer {
    status: u16,
    /// `json`, `sse`, `text` (any other declared type) or `untyped`.
    content_type: &'static str,
    /// JSON bodies as JSON, SSE bodies as the array of their messages, others as a string.
    body: Value,
}

/// rmcp's plain service over `reference`, configured as Outpost's default.
async fn plain_rmcp(reference: ReferenceServer) -> common::plain_rmcp::PlainRmcp {
    let factory: HandlerFactory<ReferenceServer> = Arc::new(move || reference.for_session());
    spawn_plain_rmcp(factory, ServerConfig::default()).await
}

async fn send(http: &reqwest::Client, url: &str, case: &Case) -> Answer {
    let mut request = http.post(url);
    for (name, value) in &case.headers {
        request = request.header(name, value);
    }
    request = if case.chunked {
        let chunks = [Ok::<_, std::io::Error>(case.body.clone())];
        request.body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
    } else {
        request.body(case.body.clone())
    };
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    let declared = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let text = response.text().await.expect("body");
    let (content_type, body) = match declared.as_deref() {
        Some(t) if t.starts_with("application/json") => (
            "json",
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad JSON ({e}): {text}")),
        ),
        Some(t) if t.starts_with("text/event-stream") => {
            ("sse", Value::Array(common::sse_messages(&text)))
        }
        Some(_) => ("text", Value::String(text)),
        None => ("untyped", Value::String(text)),
    };
    Answer {
        status,
        content_type,
        body,
    }
}

#[tokio::test]
async fn fast_path_answers_as_rmcp_does() {
    let serve_loops = ServeLoopCounter::default();
    let _subscriber = tracing::subscriber::set_default(serve_loops.clone());
    let reference = ReferenceServer::new();
    let outpost = common::spawn_reference(reference.clone(), ServerConfig::default()).await;
    let rmcp = plain_rmcp(reference).await;
    let outpost_url = outpost.url("/mcp");
    let cases = corpus::equal_answers();

    // The fast path builds its template `Peer` with one `serve_directly`, on first use.
    send(&outpost.http, &outpost_url, &cases[0]).await;

    for case in &cases {
        let before = serve_loops.count();
        let ours = send(&outpost.http, &outpost_url, case).await;
        let after_outpost = serve_loops.count();
        let theirs = send(&outpost.http, &rmcp.url, case).await;
        assert_eq!(
            ours, theirs,
            "{}: Outpost (left) and rmcp (right) differ on {case:#?}",
            case.name
        );
        if case.fast {
            assert_eq!(
                before, after_outpost,
                "not answered on the fast path: {case:#?}"
            );
            // The probe itself works: rmcp built a service for the same request.
            assert!(
                serve_loops.count() > after_outpost,
                "rmcp built no service: {case:#?}"
            );
        }
    }
}

#[tokio::test]
async fn malformed_bodies_differ_only_by_outposts_body_check() {
    let reference = ReferenceServer::new();
    let outpost = common::spawn_reference(reference.clone(), ServerConfig::default()).await;
    let rmcp = plain_rmcp(reference).await;
    for (case, code) in corpus::body_check_differences() {
        let ours = send(&outpost.http, &outpost.url("/mcp"), &case).await;
        assert_eq!((ours.status, ours.content_type), (400, "json"), "{case:#?}");
        assert_eq!(ours.body["error"]["code"], code, "{case:#?}");
        let theirs = send(&outpost.http, &rmcp.url, &case).await;
        assert_eq!(theirs.status, 415, "{case:#?}: {theirs:?}");
    }
}

#[tokio::test]
async fn params_a_method_cannot_take_are_invalid_params_not_an_unknown_method() {
    let reference = ReferenceServer::new();
    let outpost = common::spawn_reference(reference.clone(), ServerConfig::default()).await;
    let rmcp = plain_rmcp(reference).await;
    for case in corpus::invalid_params() {
        let ours = send(&outpost.http, &outpost.url("/mcp"), &case).await;
        assert_eq!((ours.status, ours.content_type), (200, "json"), "{case:#?}");
        assert_eq!(ours.body["error"]["code"], -32602, "{case:#?}: {ours:?}");
        assert_eq!(ours.body["id"], 1, "{case:#?}: {ours:?}");
        let theirs = send(&outpost.http, &rmcp.url, &case).await;
        assert_eq!(theirs.status, 404, "{case:#?}: {theirs:?}");
        assert_eq!(
            theirs.body["error"]["code"], -32601,
            "{case:#?}: {theirs:?}"
        );
    }
}
