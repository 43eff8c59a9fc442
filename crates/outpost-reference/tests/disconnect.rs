//! A client that goes away in the middle of a request: in a 2025-11-25 session the request runs
//! on to its end (MCP 2025-11-25, "Sending Messages to the Server": a disconnection SHOULD NOT
//! be taken for a cancellation; the client cancels with `notifications/cancelled`), on each of
//! the three ways a session request is served — inline in the connection's task, inline then
//! streaming, and on a serve loop of its own. On 2026-07-28, closing the response stream is
//! the cancellation (MUST): the request stops. Ending the session (`DELETE`) cancels its
//! running requests.

// The tool's log message: logging is deprecated by SEP-2577 in 2026-07-28, and this test is
// about a session revision that has it.
#![allow(deprecated)]

mod common;

use std::{sync::Arc, time::Duration};

use common::{
    TestApp,
    parked::{initialize, session_request},
};
use outpost::Outpost;
use rmcp::{
    RoleServer, ServerHandler,
    handler::server::router::tool::ToolRouter,
    model::{LoggingLevel, LoggingMessageNotificationParam, ServerCapabilities, ServerConfig},
    service::RequestContext,
    tool, tool_handler, tool_router,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How a `slow` call ended.
#[derive(Debug, PartialEq)]
enum End {
    Finished,
    Cancelled,
}

/// A server whose `slow` tool takes a while and reports how it ended.
#[derive(Clone)]
struct Slow {
    ends: mpsc::UnboundedSender<End>,
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Slow {
    fn new(ends: mpsc::UnboundedSender<End>) -> Self {
        Self {
            ends,
            tool_router: Self::tool_router(),
        }
    }

    /// Sleeps 600 ms (after a log message first, when `_meta.chatty`), then reports
    /// `Finished`; reports `Cancelled` if its request is cancelled or dropped first.
    #[tool(description = "Takes 600 ms")]
    async fn slow(
        &self,
        context: RequestContext<RoleServer>,
        cancelled: CancellationToken,
    ) -> String {
        let mut report = Report {
            ends: self.ends.clone(),
            finished: false,
        };
        let chatty = context
            .meta
            .get("chatty")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if chatty {
            let said = LoggingMessageNotificationParam::new(LoggingLevel::Info, json!("started"));
            let _ = context.peer.notify_logging_message(said).await;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(600)) => {
                report.finished = true;
                "done".into()
            }
            () = cancelled.cancelled() => "cancelled".into(),
        }
    }
}

/// Tells how a `slow` call ended when it ends, however it does.
struct Report {
    ends: mpsc::UnboundedSender<End>,
    finished: bool,
}

impl Drop for Report {
    fn drop(&mut self) {
        let end = if self.finished {
            End::Finished
        } else {
            End::Cancelled
        };
        let _ = self.ends.send(end);
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Slow {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_logging()
                .build(),
        )
    }
}

async fn serve() -> (TestApp, mpsc::UnboundedReceiver<End>) {
    let (ends, ended) = mpsc::unbounded_channel();
    let server = Arc::new(Slow::new(ends));
    let app = common::spawn_generic(Outpost::with_factory(move || (*server).clone())).await;
    (app, ended)
}

/// How the session request is sent.
#[derive(Clone, Copy, Debug)]
enum Path {
    /// With a `Content-Length`: served inline, answered after the tool is done.
    Inline,
    /// Inline, the tool sending a log message first: the answer streams.
    InlineStreaming,
    /// Chunked: served on a serve loop of its own.
    ServeLoop,
}

/// `tools/call slow` in session `id`, sent as `path` wants.
fn call_slow(app: &TestApp, id: &str, path: Path) -> reqwest::RequestBuilder {
    let chatty = matches!(path, Path::InlineStreaming);
    let body = serde_json::to_vec(&json!({
        "jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": { "name": "slow", "arguments": {}, "_meta": { "chatty": chatty } }
    }))
    .expect("a JSON body");
    let request =
        session_request(app, id, reqwest::Method::POST).header("content-type", "application/json");
    match path {
        Path::ServeLoop => {
            let chunks = [Ok::<_, std::io::Error>(body)];
            request.body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        }
        Path::Inline | Path::InlineStreaming => request.body(body),
    }
}

async fn next_end(ended: &mut mpsc::UnboundedReceiver<End>) -> End {
    tokio::time::timeout(Duration::from_secs(10), ended.recv())
        .await
        .expect("the call ends within 10 s")
        .expect("the server lives")
}

#[tokio::test]
async fn a_session_request_runs_on_after_its_client_goes_away() {
    let (app, mut ended) = serve().await;
    let session = initialize(&app).await;
    for path in [Path::Inline, Path::InlineStreaming, Path::ServeLoop] {
        // The client gives up after 200 ms, before the answer (or after the first event).
        let sent = call_slow(&app, &session, path).send();
        match tokio::time::timeout(Duration::from_millis(200), sent).await {
            Err(_gave_up) => {}
            Ok(response) => {
                let mut response = response.expect("send");
                assert_eq!(response.status(), 200, "{path:?}");
                let first = tokio::time::timeout(Duration::from_millis(200), response.chunk())
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .flatten();
                drop((first, response));
            }
        }
        assert_eq!(next_end(&mut ended).await, End::Finished, "{path:?}");
    }

    // The session is still served.
    let answer = call_slow(&app, &session, Path::Inline)
        .send()
        .await
        .expect("send");
    assert_eq!(answer.status(), 200);
    let body = answer.text().await.expect("the answer");
    assert!(body.contains("done"), "{body}");
    assert_eq!(next_end(&mut ended).await, End::Finished);
}

#[tokio::test]
async fn a_2026_request_is_cancelled_when_its_client_goes_away() {
    let (app, mut ended) = serve().await;
    let sent = app
        .request_2026(
            "tools/call",
            Some("slow"),
            json!({ "name": "slow", "arguments": {} }),
        )
        .send();
    assert!(
        tokio::time::timeout(Duration::from_millis(200), sent)
            .await
            .is_err(),
        "no answer within 200 ms"
    );
    assert_eq!(next_end(&mut ended).await, End::Cancelled);
}

#[tokio::test]
async fn a_delete_cancels_the_session_requests_running() {
    let (app, mut ended) = serve().await;
    for path in [Path::Inline, Path::ServeLoop] {
        let session = initialize(&app).await;
        let call = tokio::spawn(call_slow(&app, &session, path).send());
        tokio::time::sleep(Duration::from_millis(150)).await;
        let deleted = session_request(&app, &session, reqwest::Method::DELETE)
            .send()
            .await
            .expect("delete");
        assert_eq!(deleted.status(), 204, "{path:?}");
        assert_eq!(next_end(&mut ended).await, End::Cancelled, "{path:?}");
        call.abort();
    }
}
