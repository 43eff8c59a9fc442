//! The one spawn helper every integration test uses: the reference server on a random
//! loopback port, served by Outpost exactly as `outpost serve --no-auth` serves it.
#![allow(dead_code)]

pub mod parked;
pub mod plain_rmcp;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use outpost::{Outpost, ServerConfig, store::McpSessionStore};
use outpost_reference::ReferenceServer;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// A running server; shut down when dropped.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// The bound address.
    pub addr: SocketAddr,
    /// A client with a request timeout, so a hang fails the test instead of stalling it.
    pub http: reqwest::Client,
    shutdown: CancellationToken,
}

impl TestApp {
    /// The server listening at `addr`, stopped by cancelling `shutdown`.
    fn at(addr: SocketAddr, shutdown: CancellationToken) -> Self {
        Self {
            base_url: format!("http://{addr}"),
            addr,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("http client"),
            shutdown,
        }
    }

    /// Stops the server as SIGTERM does: what is in flight finishes, then streams close.
    #[allow(dead_code, reason = "not every test binary stops its server early")]
    pub fn shut_down(&self) {
        self.shutdown.cancel();
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Starts the reference server with the default configuration.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(ServerConfig::default()).await
}

/// Starts the reference server with `config` (its `bind` is replaced by a random port).
pub async fn spawn_app_with(config: ServerConfig) -> TestApp {
    spawn_reference(ReferenceServer::new(), config).await
}

/// Starts `reference` with `config` (its `bind` is replaced by a random port), its resource
/// updates running beside parked sessions' GET streams as `outpost serve` runs them.
pub async fn spawn_reference(reference: ReferenceServer, config: ServerConfig) -> TestApp {
    let updates = reference.resource_update_task();
    spawn_outpost(
        Outpost::with_factory(move || reference.for_session())
            .with_config(config)
            .with_standalone_stream_task(updates),
    )
    .await
}

/// Starts the reference server keeping its sessions in `sessions` (a store another
/// [`spawn_with_session_store`] server may share).
pub async fn spawn_with_session_store(sessions: Arc<dyn McpSessionStore>) -> TestApp {
    let reference = ReferenceServer::new();
    spawn_outpost(
        Outpost::with_factory(move || reference.for_session()).with_session_store(sessions),
    )
    .await
}

/// A listener on a free loopback port, and its address.
pub async fn loopback_listener() -> (tokio::net::TcpListener, std::net::SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("local addr");
    (listener, addr)
}

/// Serves `outpost` on a random loopback port (its configured `bind` is replaced).
pub async fn spawn_outpost(outpost: Outpost<ReferenceServer>) -> TestApp {
    spawn_generic(outpost).await
}

/// Like [`spawn_outpost`], for any handler type.
pub async fn spawn_generic<H>(outpost: Outpost<H>) -> TestApp
where
    H: rmcp::ServerHandler + Send + Sync + 'static,
{
    let (listener, addr) = loopback_listener().await;
    let mut config = outpost.config().clone();
    config.bind = addr;
    let outpost = outpost.with_config(config);
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        if let Err(error) = outpost
            .serve_on(listener, async move { stop.cancelled().await })
            .await
        {
            panic!("test server failed: {error}");
        }
    });
    TestApp::at(addr, shutdown)
}

/// Serves `outpost` the way an application embedding it does: its [`Outpost::router`] merged
/// into the application's own axum router (which adds `/app`), on the application's own
/// `axum::serve`, with `outpost`'s shutdown token as the graceful-shutdown signal.
pub async fn spawn_embedded(outpost: Outpost<ReferenceServer>) -> TestApp {
    let (listener, addr) = loopback_listener().await;
    let shutdown = outpost.shutdown_token();
    let app = axum::Router::new()
        .route("/app", axum::routing::get(|| async { "the application" }))
        .merge(outpost.router());
    let stop = shutdown.clone();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
        .expect("embedding application failed");
    });
    TestApp::at(addr, shutdown)
}

/// The `_meta` every 2026-07-28 request carries.
pub fn meta_2026() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": { "name": "outpost-tests", "version": "1.0.0" }
    })
}

impl TestApp {
    /// `{base_url}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The JSON document at `url`.
    pub async fn json_at(&self, url: &str) -> Value {
        let response = self.http.get(url).send().await.expect("get");
        response.json().await.expect("a JSON document")
    }

    /// A 2026-07-28 stateless request for `method` with `params` and the standard headers;
    /// the required `_meta` fields are merged into any `_meta` in `params`. `name` fills
    /// `Mcp-Name` for tools/call, resources/read and prompts/get.
    pub fn request_2026(
        &self,
        method: &str,
        name: Option<&str>,
        mut params: Value,
    ) -> reqwest::RequestBuilder {
        let mut meta = meta_2026();
        if let Some(extra) = params.get("_meta").and_then(Value::as_object) {
            for (key, value) in extra {
                meta[key] = value.clone();
            }
        }
        params["_meta"] = meta;
        let mut request = self
            .http
            .post(self.url("/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", method);
        if let Some(name) = name {
            request = request.header("mcp-name", name);
        }
        request.json(&json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }))
    }

    /// `POST /mcp` of a 2025-11-25 `initialize` (a new session), answered.
    #[allow(
        dead_code,
        reason = "not every test binary that shares `common` opens sessions"
    )]
    pub async fn initialize_2025(&self) -> reqwest::Response {
        self.http
            .post(self.url("/mcp"))
            .header("accept", "application/json, text/event-stream")
            .json(&json!({
                "jsonrpc": "2.0", "id": 0, "method": "initialize",
                "params": { "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "t", "version": "1" } }
            }))
            .send()
            .await
            .expect("initialize")
    }

    /// Sends [`TestApp::request_2026`] and returns the JSON-RPC response body.
    pub async fn call_2026(&self, method: &str, name: Option<&str>, params: Value) -> Value {
        let response = self
            .request_2026(method, name, params)
            .send()
            .await
            .expect("send");
        read_jsonrpc(response).await
    }
}

/// The first JSON-RPC response in a body that is JSON or an SSE stream.
pub async fn read_jsonrpc(response: reqwest::Response) -> Value {
    let is_sse = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let body = response.text().await.expect("body");
    if !is_sse {
        return serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    }
    sse_messages(&body)
        .into_iter()
        .find(|message| message.get("id").is_some() && message.get("method").is_none())
        .unwrap_or_else(|| panic!("no JSON-RPC response in SSE body: {body}"))
}

/// Every JSON `data:` payload of an SSE body, in order.
pub fn sse_messages(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter_map(|event| {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .map(str::trim_start)
                .collect();
            serde_json::from_str(&data.join("\n")).ok()
        })
        .collect()
}
