//! Helpers for the tests of parked sessions (the default): a 2025-11-25
//! session over raw HTTP, its SSE streams, and stores on a fresh SQLite file.

use std::{path::PathBuf, time::Duration};

use outpost::store::Store;
use serde_json::{Value, json};

use super::{TestApp, read_jsonrpc, sse_messages};

/// The session revision these tests speak.
pub const VERSION: &str = "2025-11-25";

/// A fresh SQLite file path for `name`, under cargo's per-target temp dir.
pub fn sqlite_file(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("parked-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the temp dir");
    dir.join("outpost.db")
}

/// A SQLite store on a fresh file for `name`.
pub async fn sqlite_store(name: &str) -> Store {
    let url = format!("sqlite://{}", sqlite_file(name).display());
    outpost::store::open(&url).await.expect("open SQLite")
}

/// Two stores opened on `url`: two instances' views of one shared store.
pub async fn stores_at(url: &str) -> (Store, Store) {
    let open = || async { outpost::store::open(url).await.expect("open the store") };
    (open().await, open().await)
}

/// A request naming session `id`, as a 2025-11-25 client sends it.
pub fn session_request(
    app: &TestApp,
    id: &str,
    method: reqwest::Method,
) -> reqwest::RequestBuilder {
    app.http
        .request(method, app.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", id)
        .header("mcp-protocol-version", VERSION)
}

/// POSTs an `initialize` (id 0) asking for `version`, declaring `capabilities`; the answer.
pub async fn post_initialize(
    app: &TestApp,
    version: &str,
    capabilities: Value,
) -> reqwest::Response {
    app.http
        .post(app.url("/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .json(&json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": version,
                "capabilities": capabilities,
                "clientInfo": { "name": "outpost-tests", "version": "1.0.0" }
            }
        }))
        .send()
        .await
        .expect("initialize")
}

/// Opens a session on `app` (initialize, then initialized); its id.
pub async fn initialize(app: &TestApp) -> String {
    initialize_with(app, json!({})).await
}

/// Like [`initialize`], declaring the client's `capabilities`.
pub async fn initialize_with(app: &TestApp, capabilities: Value) -> String {
    let response = post_initialize(app, VERSION, capabilities).await;
    assert_eq!(response.status(), 200);
    let id = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let init = read_jsonrpc(response).await;
    assert_eq!(init["result"]["protocolVersion"], VERSION, "{init}");
    let ack = post(
        app,
        &id,
        json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }),
    )
    .await;
    assert_eq!(ack.status(), 202);
    id
}

/// POSTs `body` in session `id`.
pub async fn post(app: &TestApp, id: &str, body: Value) -> reqwest::Response {
    session_request(app, id, reqwest::Method::POST)
        .header("content-type", "application/json")
        .json(&body)
        .send()
        .await
        .expect("post")
}

/// Reads `response`'s SSE stream until a message satisfies `wanted`.
pub async fn read_until(
    response: &mut reqwest::Response,
    seen: &mut String,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    loop {
        if let Some(found) = sse_messages(seen).into_iter().find(&wanted) {
            return found;
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
            .await
            .unwrap_or_else(|_| panic!("nothing wanted within 10 s: {seen}"))
            .expect("read")
            .unwrap_or_else(|| panic!("the stream ended: {seen}"));
        seen.push_str(std::str::from_utf8(&chunk).expect("utf-8"));
    }
}

/// Opens a GET stream of session `id` on `holder`, deletes the session on `deleter`, and
/// waits for the GET stream to end, at most `within`.
pub async fn get_stream_ends_after_delete(
    holder: &TestApp,
    deleter: &TestApp,
    id: &str,
    within: Duration,
) {
    let stream = session_request(holder, id, reqwest::Method::GET)
        .send()
        .await
        .expect("GET");
    assert_eq!(stream.status(), 200);
    let deleted = session_request(deleter, id, reqwest::Method::DELETE)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(deleted.status(), 204);
    tokio::time::timeout(within, stream.text())
        .await
        .unwrap_or_else(|_| panic!("the GET stream still open {within:?} after the DELETE"))
        .expect("body");
}
