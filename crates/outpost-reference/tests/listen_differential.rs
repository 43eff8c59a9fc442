//! Outpost serves 2026-07-28 `subscriptions/listen` streams on one shared rmcp serve loop
//! (`outpost::mcp::fast_path`, its `listen` module); on the wire they must be what rmcp's
//! stateless path sends. The same requests go over real HTTP on loopback to Outpost's router
//! and to a plain rmcp `StreamableHttpService` configured as Outpost configures it, over the
//! same handler: the same status, the same headers (minus framing and the headers Outpost's
//! router adds to every answer), the same bytes on the stream — acknowledgement, keep-alive,
//! a list-changed or resource-updated notification, the final result — the end on disconnect,
//! and refused listens answered alike, but for one deliberate difference: a filter that is
//! not one is answered `-32602` by Outpost's body check (`outpost::mcp::jsonrpc_body`), where
//! rmcp says the method does not exist.

mod common;

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use common::plain_rmcp::{PlainRmcp, ServeLoopCounter, spawn_plain_rmcp};
use outpost::{HandlerFactory, Outpost, ServerConfig};
use outpost_reference::ReferenceServer;
use rmcp::{
    ErrorData, ServerHandler,
    model::{ServerCapabilities, ServerConfig as ServerInfo, SubscriptionFilter},
    service::SubscriptionContext,
};
use serde_json::{Value, json};

/// Headers every Outpost answer has and rmcp's bare service does not, and framing.
const NOT_COMPARED: [&str; 6] = [
    "date",
    "transfer-encoding",
    "content-length",
    "x-request-id",
    "x-content-type-options",
    "referrer-policy",
];

/// Keep-alive on both servers, short enough to see one.
const KEEP_ALIVE: Duration = Duration::from_millis(300);

fn config() -> ServerConfig {
    ServerConfig {
        sse_keep_alive: KEEP_ALIVE,
        ..ServerConfig::default()
    }
}

/// A listen request body with `id` and `notifications`, and its `_meta`.
fn listen_body(id: Value, notifications: Value) -> String {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "subscriptions/listen",
        "params": { "notifications": notifications, "_meta": common::meta_2026() }
    })
    .to_string()
}

/// An open answer: what a client sees of its head, and its body as read so far.
struct Opened {
    status: u16,
    headers: BTreeMap<String, String>,
    response: reqwest::Response,
    text: String,
}

/// A whole answer: status, headers, body.
type Ended = (u16, BTreeMap<String, String>, String);

impl Opened {
    async fn post(http: &reqwest::Client, url: &str, body: String) -> Self {
        Self::post_with(http, url, body, "2026-07-28").await
    }

    async fn post_with(http: &reqwest::Client, url: &str, body: String, version: &str) -> Self {
        let response = http
            .post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", version)
            .header("mcp-method", "subscriptions/listen")
            .body(body)
            .send()
            .await
            .expect("send");
        let headers = response
            .headers()
            .iter()
            .filter(|(name, _)| !NOT_COMPARED.contains(&name.as_str()))
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    value.to_str().unwrap_or("?").to_owned(),
                )
            })
            .collect();
        Self {
            status: response.status().as_u16(),
            headers,
            response,
            text: String::new(),
        }
    }

    /// Reads until the body holds `needle` (within 5 s).
    async fn read_until(&mut self, needle: &str) -> &str {
        while !self.text.contains(needle) {
            let chunk = tokio::time::timeout(Duration::from_secs(5), self.response.chunk())
                .await
                .unwrap_or_else(|_| panic!("no {needle:?} within 5 s: {:?}", self.text))
                .expect("read")
                .unwrap_or_else(|| panic!("the stream ended before {needle:?}: {:?}", self.text));
            self.text
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
        &self.text
    }

    /// Reads the rest of the body (within 5 s).
    async fn read_to_end(mut self) -> Ended {
        loop {
            let chunk = tokio::time::timeout(Duration::from_secs(5), self.response.chunk())
                .await
                .unwrap_or_else(|_| panic!("the answer did not end within 5 s: {:?}", self.text))
                .expect("read");
            match chunk {
                Some(chunk) => self
                    .text
                    .push_str(std::str::from_utf8(&chunk).expect("UTF-8")),
                None => return (self.status, self.headers, self.text),
            }
        }
    }
}

/// Both servers over the reference handler (one `SharedState`, so a change announced on one
/// reaches the listeners of both).
async fn reference_pair(reference: ReferenceServer) -> (common::TestApp, PlainRmcp) {
    let outpost = common::spawn_reference(reference.clone(), config()).await;
    let factory: HandlerFactory<ReferenceServer> = Arc::new(move || reference.for_session());
    let rmcp = spawn_plain_rmcp(factory, config()).await;
    (outpost, rmcp)
}

/// One test, the cases in turn: rmcp's services are counted through a tracing subscriber, and
/// tests on other threads would race it for the interest of rmcp's callsites.
#[tokio::test]
async fn listen_streams_answer_as_rmcps_do() {
    let serve_loops = ServeLoopCounter::default();
    let _subscriber = tracing::subscriber::set_default(serve_loops.clone());
    streams_are_rmcps_on_the_wire(&serve_loops).await;
    resource_updates_reach_the_stream_as_rmcp_sends_them().await;
    listens_rmcp_refuses_are_answered_as_rmcp_answers_them().await;
    a_listen_ends_as_rmcps_does().await;
}

async fn streams_are_rmcps_on_the_wire(serve_loops: &ServeLoopCounter) {
    let (outpost, rmcp) = reference_pair(ReferenceServer::new()).await;
    let ours_url = outpost.url("/mcp");
    let http = &outpost.http;

    for (first, id) in [(true, json!(1)), (false, json!("listen-a"))] {
        let body = listen_body(id.clone(), json!({ "toolsListChanged": true }));
        let before = serve_loops.count();
        let mut ours = Opened::post(http, &ours_url, body.clone()).await;
        // Outpost's streams share one serve loop, started by the first of them.
        assert_eq!(
            serve_loops.count() - before,
            usize::from(first),
            "Outpost built a service for a listen stream"
        );
        let after_ours = serve_loops.count();
        let mut theirs = Opened::post(http, &rmcp.url, body).await;
        // The probe works: rmcp built a service for its stream.
        assert!(serve_loops.count() > after_ours, "rmcp built no service");
        assert_eq!(
            (ours.status, &ours.headers),
            (theirs.status, &theirs.headers)
        );
        assert_eq!(ours.status, 200);
        // The acknowledgement, then a keep-alive: byte for byte.
        let acknowledged = ours.read_until(":\n\n").await.to_owned();
        assert_eq!(acknowledged, theirs.read_until(":\n\n").await);
        let ack = &common::sse_messages(&acknowledged)[0];
        assert_eq!(ack["method"], "notifications/subscriptions/acknowledged");
        assert_eq!(
            ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], id,
            "the client's own id: {ack}"
        );

        // A list change reaches both streams, tagged with the client's id.
        let trigger = outpost
            .call_2026(
                "tools/call",
                Some("test_trigger_tool_change"),
                json!({ "name": "test_trigger_tool_change", "arguments": {} }),
            )
            .await;
        assert!(trigger.get("result").is_some(), "{trigger}");
        let changed = "notifications/tools/list_changed";
        let ours_text = ours.read_until(changed).await.to_owned();
        let theirs_text = theirs.read_until(changed).await.to_owned();
        let last = |text: &str| common::sse_messages(text).pop().expect("a message");
        assert_eq!(last(&ours_text), last(&theirs_text));
        assert_eq!(
            last(&ours_text)["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
            id
        );
    }
}

async fn resource_updates_reach_the_stream_as_rmcp_sends_them() {
    let reference = ReferenceServer::with_resource_update_interval(Duration::from_millis(100));
    let (outpost, rmcp) = reference_pair(reference).await;
    let body = listen_body(
        json!(7),
        json!({ "resourceSubscriptions": ["test://static/resource/2", "test://nope"] }),
    );
    let mut ours = Opened::post(&outpost.http, &outpost.url("/mcp"), body.clone()).await;
    let mut theirs = Opened::post(&outpost.http, &rmcp.url, body).await;
    assert_eq!(
        (ours.status, &ours.headers),
        (theirs.status, &theirs.headers)
    );
    let updated = "notifications/resources/updated";
    let ours_messages = common::sse_messages(ours.read_until(updated).await);
    let theirs_messages = common::sse_messages(theirs.read_until(updated).await);
    assert_eq!(ours_messages[..2], theirs_messages[..2]);
    assert_eq!(
        ours_messages[1]["params"]["uri"],
        "test://static/resource/2"
    );
}

async fn listens_rmcp_refuses_are_answered_as_rmcp_answers_them() {
    let (outpost, rmcp) = reference_pair(ReferenceServer::new()).await;
    let cases = [
        // a version rmcp does not know, in the header or in `_meta`
        (
            listen_body(json!(1), json!({ "toolsListChanged": true })),
            "2099-01-01",
        ),
        (
            listen_body(json!(1), json!({ "toolsListChanged": true }))
                .replace("\"2026-07-28\"", "\"2099-01-01\""),
            "2026-07-28",
        ),
    ];
    for (body, version) in cases {
        let (ours, theirs) = both_to_end(&outpost, &rmcp, body.clone(), version).await;
        assert_eq!(ours, theirs, "{body} ({version})");
        assert_ne!(ours.0, 200, "{body} ({version}): {ours:?}");
    }
    // A filter that is not one: rmcp reads a custom request and says the method does not
    // exist (`404`, `-32601`); Outpost's body check says what is wrong (`-32602`).
    for filter in [json!({ "toolsListChanged": "yes" }), json!("everything")] {
        let body = listen_body(json!(1), filter);
        let (ours, theirs) = both_to_end(&outpost, &rmcp, body.clone(), "2026-07-28").await;
        assert_eq!(theirs.0, 404, "{body}: {theirs:?}");
        assert!(theirs.2.contains("-32601"), "{body}: {theirs:?}");
        assert_eq!(ours.0, 200, "{body}: {ours:?}");
        assert!(ours.2.contains("-32602"), "{body}: {ours:?}");
        assert!(
            ours.2
                .contains("Invalid params for subscriptions/listen: invalid type"),
            "the reason: {ours:?}"
        );
    }
}

/// A handler whose listens show the three ways a stream ends: refused (a filter asking for
/// resource list changes), ended by the server (prompt list changes: one notification, then
/// the final result), or held until the client goes (anything else; counted when cancelled).
#[derive(Clone, Default)]
struct Probe {
    cancelled: Arc<AtomicUsize>,
}

impl ServerHandler for Probe {
    fn get_info(&self) -> ServerInfo {
        ServerInfo::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .enable_prompts()
                .enable_prompts_list_changed()
                .enable_resources()
                .enable_resources_list_changed()
                .build(),
        )
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        (requested.resources_list_changed != Some(true)).then(|| requested.clone())
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        if context.accepted().prompts_list_changed == Some(true) {
            let _ = context.sink().notify_prompt_list_changed().await;
            return Ok(());
        }
        context.cancelled().await;
        self.cancelled.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// The same listen (`body`, with `version` in the header) sent to Outpost and to plain rmcp,
/// each answer read to its end.
async fn both_to_end(
    outpost: &common::TestApp,
    rmcp: &PlainRmcp,
    body: String,
    version: &str,
) -> (Ended, Ended) {
    let ours = Opened::post_with(&outpost.http, &outpost.url("/mcp"), body.clone(), version)
        .await
        .read_to_end()
        .await;
    let theirs = Opened::post_with(&outpost.http, &rmcp.url, body, version)
        .await
        .read_to_end()
        .await;
    (ours, theirs)
}

async fn probe_pair(probe: &Probe) -> (common::TestApp, PlainRmcp) {
    let ours = probe.clone();
    let outpost =
        common::spawn_generic(Outpost::with_factory(move || ours.clone()).with_config(config()))
            .await;
    let theirs = probe.clone();
    let factory: HandlerFactory<Probe> = Arc::new(move || theirs.clone());
    let rmcp = spawn_plain_rmcp(factory, config()).await;
    (outpost, rmcp)
}

async fn a_listen_ends_as_rmcps_does() {
    let probe = Probe::default();
    let (outpost, rmcp) = probe_pair(&probe).await;
    let url = outpost.url("/mcp");

    // Refused by the handler: rmcp's JSON error alone.
    let refused = listen_body(json!(3), json!({ "resourcesListChanged": true }));
    let (ours, theirs) = both_to_end(&outpost, &rmcp, refused, "2026-07-28").await;
    assert_eq!(ours, theirs);
    assert_eq!(ours.0, 404, "{ours:?}");

    // Ended by the server: acknowledgement, notification, final result, end of stream.
    let ended = listen_body(json!("done"), json!({ "promptsListChanged": true }));
    let (ours, theirs) = both_to_end(&outpost, &rmcp, ended, "2026-07-28").await;
    assert_eq!(ours, theirs);
    let messages = common::sse_messages(&ours.2);
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert_eq!(
        messages[2]["result"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        "done"
    );
    assert_eq!(messages[2]["id"], "done");

    // Ended by the client: going away cancels the listen on both.
    for url in [&url, &rmcp.url] {
        let before = probe.cancelled.load(Ordering::SeqCst);
        let held = listen_body(json!(4), json!({ "toolsListChanged": true }));
        let mut stream = Opened::post(&outpost.http, url, held).await;
        stream.read_until("acknowledged").await;
        drop(stream);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while probe.cancelled.load(Ordering::SeqCst) == before {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{url}: the listen was not cancelled when its client went away"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // Ended by the server's shutdown: with the final result rmcp writes when a listen
    // returns (rmcp's own stateless stream ends without one).
    let held = listen_body(json!("done"), json!({ "toolsListChanged": true }));
    let mut stream = Opened::post(&outpost.http, &url, held).await;
    stream.read_until("acknowledged").await;
    outpost.shut_down();
    let (status, _, text) = stream.read_to_end().await;
    assert_eq!(status, 200);
    let at_shutdown = common::sse_messages(&text);
    assert_eq!(at_shutdown.last(), messages.last(), "{at_shutdown:?}");
}
