//! `outpost serve --otlp-endpoint URL`: request spans reach an OTLP/HTTP receiver this test
//! runs (hyper on loopback, decoding the protobuf export requests with the official OTLP
//! message types), each carrying the trace id the client sent — in the `traceparent` header,
//! or in the MCP request's `params._meta.traceparent`, which wins, on the fast path and on
//! rmcp's path alike.

mod common;

use std::{
    convert::Infallible,
    net::SocketAddr,
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use common::{OUTPOST, Server, free_port, wait_healthy};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    common::v1::any_value::Value as AnyValue,
    trace::v1::{Span, span::SpanKind},
};
use prost::Message;
use serde_json::{Value, json};

const HEADER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const HEADER_PARENT: &str = "00f067aa0ba902b7";
const META_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const META_PARENT: &str = "b7ad6b7169203331";
const SESSION_TRACE: &str = "5b8efff798038103d269b633813fc60c";

/// The spans an OTLP/HTTP receiver got, with the paths they were posted to.
#[derive(Default)]
struct Received {
    spans: Vec<Span>,
    paths: Vec<String>,
}

/// Runs an OTLP/HTTP receiver on a free loopback port, on a thread of its own.
fn start_receiver() -> (SocketAddr, Arc<Mutex<Received>>) {
    let received = Arc::new(Mutex::new(Received::default()));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
    listener.set_nonblocking(true).expect("non-blocking");
    let addr = listener.local_addr().expect("its address");
    let shared = received.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let shared = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| receive(request, shared.clone()));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    (addr, received)
}

/// Decodes one export request (`application/x-protobuf`) and keeps its spans.
async fn receive(
    request: Request<Incoming>,
    received: Arc<Mutex<Received>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    let decoded = match request.into_body().collect().await {
        Ok(body) => ExportTraceServiceRequest::decode(body.to_bytes()).ok(),
        Err(_) => None,
    };
    let Some(export) = decoded else {
        return Ok(Response::builder()
            .status(400)
            .body(Full::default())
            .unwrap());
    };
    let mut received = received.lock().unwrap();
    received.paths.push(path);
    received.spans.extend(
        export
            .resource_spans
            .into_iter()
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans),
    );
    let answer = ExportTraceServiceRequest::default().encode_to_vec();
    Ok(Response::builder()
        .header("content-type", "application/x-protobuf")
        .body(Full::new(Bytes::from(answer)))
        .unwrap())
}

/// `outpost serve --no-auth --otlp-endpoint http://{receiver}`, exporting every 100 ms.
fn start_traced(receiver: SocketAddr) -> Server {
    let bind = format!("127.0.0.1:{}", free_port());
    let child = Command::new(OUTPOST)
        .args(["serve", "--no-auth", "--bind", &bind])
        .args(["--otlp-endpoint", &format!("http://{receiver}")])
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .env_remove("OTEL_SERVICE_NAME")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start outpost");
    let mut server = Server {
        child,
        base: format!("http://{bind}"),
    };
    wait_healthy(&format!("{}/health", server.base), &mut server.child);
    server
}

/// A 2026-07-28 `tools/call echo` (the fast path), with `meta` added to `_meta` and
/// `traceparent` as a header when given.
fn echo(base: &str, traceparent: Option<&str>, meta: Value) -> u16 {
    let mut meta_object = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "otlp-test", "version": "1.0.0"},
    });
    meta_object
        .as_object_mut()
        .unwrap()
        .extend(meta.as_object().unwrap().clone());
    let mut request = reqwest::blocking::Client::new()
        .post(format!("{base}/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "echo")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "echo", "arguments": {"message": "hi"}, "_meta": meta_object}}));
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    request.send().expect("a response").status().as_u16()
}

/// A 2025-11-25 `initialize` (rmcp's path) naming its parent in `_meta`.
fn initialize_session(base: &str) -> u16 {
    reqwest::blocking::Client::new()
        .post(format!("{base}/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "otlp-test", "version": "1.0.0"},
            "_meta": {"traceparent": format!("00-{SESSION_TRACE}-{META_PARENT}-01")}}}),
        )
        .send()
        .expect("a response")
        .status()
        .as_u16()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn string_attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .and_then(|value| match value {
            AnyValue::StringValue(text) => Some(text.clone()),
            _ => None,
        })
}

/// Waits (10 s at most) for a span of trace `trace_id`.
fn span_of_trace(received: &Mutex<Received>, trace_id: &str) -> Span {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        {
            let received = received.lock().unwrap();
            if let Some(span) = received
                .spans
                .iter()
                .find(|span| hex(&span.trace_id) == trace_id)
            {
                return span.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "no span of trace {trace_id} exported within 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn request_spans_carry_the_client_s_trace_context() {
    let (receiver, received) = start_receiver();
    let server = start_traced(receiver);

    let header = format!("00-{HEADER_TRACE}-{HEADER_PARENT}-01");
    assert_eq!(echo(&server.base, Some(&header), json!({})), 200);
    let meta = json!({"traceparent": format!("00-{META_TRACE}-{META_PARENT}-01")});
    // `_meta` wins over the header.
    let other = "00-11111111111111111111111111111111-2222222222222222-01";
    assert_eq!(echo(&server.base, Some(other), meta), 200);
    assert_eq!(initialize_session(&server.base), 200);

    let from_header = span_of_trace(&received, HEADER_TRACE);
    assert_eq!(hex(&from_header.parent_span_id), HEADER_PARENT);
    assert_eq!(from_header.name, "tools/call echo");
    assert_eq!(from_header.kind, SpanKind::Server as i32);
    assert_eq!(
        string_attribute(&from_header, "gen_ai.tool.name").as_deref(),
        Some("echo")
    );
    assert_eq!(
        string_attribute(&from_header, "http.route").as_deref(),
        Some("/mcp")
    );
    assert!(string_attribute(&from_header, "outpost.request.id").is_some());

    let from_meta = span_of_trace(&received, META_TRACE);
    assert_eq!(hex(&from_meta.parent_span_id), META_PARENT);

    let session = span_of_trace(&received, SESSION_TRACE);
    assert_eq!(hex(&session.parent_span_id), META_PARENT);
    assert!(from_meta.end_time_unix_nano >= from_meta.start_time_unix_nano);

    let received = received.lock().unwrap();
    assert!(
        received.paths.iter().all(|path| path == "/v1/traces"),
        "{:?}",
        received.paths
    );
    assert!(
        !received
            .spans
            .iter()
            .any(|span| hex(&span.trace_id) == "11111111111111111111111111111111"),
        "the header's trace was used although `_meta` named one"
    );
}
