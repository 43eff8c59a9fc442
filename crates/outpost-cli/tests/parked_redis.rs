//! Two `outpost serve --no-auth --store redis://…` processes on one Redis
//! share what the reference server keeps per session (`outpost::SessionData` in the record): a
//! `logging/setLevel` on one filters the log messages of a call on the other, and a
//! `resources/subscribe` on one is updated on the GET stream the other holds; and when the
//! instance running a tool that asked the client something is SIGKILLed, the client's answer
//! POSTed to the other is refused within moments, saying so; `--max-sessions` holds for both
//! together; a session the other instance holds in its cache is read again as soon as one
//! changes or ends it (the Redis bus' `P sessions`), not a second later.

mod common;

use std::{
    io::Read,
    time::{Duration, Instant},
};

use common::{Server, redis::Redis, start};
use serde_json::{Value, json};

const VERSION: &str = "2025-11-25";

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

fn parked(redis: &Redis) -> Server {
    start(&["--no-auth", "--store", &redis.url()])
}

/// Every JSON `data:` payload of an SSE body, in order.
fn messages(body: &str) -> Vec<Value> {
    body.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str(data.trim_start()).ok())
        .collect()
}

fn request(
    server: &Server,
    id: Option<&str>,
    method: reqwest::Method,
) -> reqwest::blocking::RequestBuilder {
    let builder = client()
        .request(method, format!("{}/mcp", server.base))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", VERSION);
    match id {
        Some(id) => builder.header("mcp-session-id", id),
        None => builder,
    }
}

/// POSTs `body` in session `id`: every message of the answer's stream.
fn post(server: &Server, id: &str, body: Value) -> Vec<Value> {
    let response = request(server, Some(id), reqwest::Method::POST)
        .json(&body)
        .send()
        .expect("POST");
    assert_eq!(response.status(), 200);
    messages(&response.text().expect("body"))
}

fn initialize(server: &Server) -> String {
    initialize_with(server, json!({}))
}

/// Like [`initialize`], declaring the client's `capabilities`.
fn initialize_with(server: &Server, capabilities: Value) -> String {
    let response = request(server, None, reqwest::Method::POST)
        .json(&json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": VERSION, "capabilities": capabilities,
                "clientInfo": { "name": "outpost-cli-tests", "version": "1.0.0" }
            }
        }))
        .send()
        .expect("initialize");
    assert_eq!(response.status(), 200);
    let id = response.headers()["mcp-session-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let ack = request(server, Some(&id), reqwest::Method::POST)
        .json(&json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))
        .send()
        .expect("initialized");
    assert_eq!(ack.status(), 202);
    id
}

#[test]
fn two_instances_on_one_redis_share_a_sessions_log_level_and_subscriptions() {
    let redis = Redis::start(None);
    let (first, second) = (parked(&redis), parked(&redis));
    let id = initialize(&first);

    set_level(&first, &id, "critical");
    let call = post(
        &second,
        &id,
        json!({
            "jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": { "name": "emitLogMessages", "arguments": {} }
        }),
    );
    let levels: Vec<&str> = call
        .iter()
        .filter(|m| m["method"] == "notifications/message")
        .filter_map(|m| m["params"]["level"].as_str())
        .collect();
    assert_eq!(levels, ["critical", "alert", "emergency"], "{call:?}");

    let uri = "test://static/resource/7";
    let subscribed = post(
        &first,
        &id,
        json!({
            "jsonrpc": "2.0", "id": 3, "method": "resources/subscribe",
            "params": { "uri": uri }
        }),
    );
    assert!(
        subscribed
            .iter()
            .any(|m| m["id"] == 3 && m["result"].is_object()),
        "{subscribed:?}"
    );
    // The GET stream on the other instance hears of the subscription as it opens.
    let mut stream = request(&second, Some(&id), reqwest::Method::GET)
        .send()
        .expect("GET");
    assert_eq!(stream.status(), 200);
    let (deadline, mut seen, mut buffer) = (
        Instant::now() + Duration::from_secs(10),
        String::new(),
        [0; 4096],
    );
    while !messages(&seen)
        .iter()
        .any(|m| m["method"] == "notifications/resources/updated" && m["params"]["uri"] == uri)
    {
        assert!(
            Instant::now() < deadline,
            "no update on the GET stream: {seen}"
        );
        let read = stream.read(&mut buffer).expect("read the GET stream");
        assert!(read > 0, "the GET stream ended: {seen}");
        seen.push_str(std::str::from_utf8(&buffer[..read]).expect("utf-8"));
    }
}

/// Sets session `id`'s log level on `server`.
fn set_level(server: &Server, id: &str, level: &str) {
    let set = post(
        server,
        id,
        json!({
            "jsonrpc": "2.0", "id": 1, "method": "logging/setLevel",
            "params": { "level": level }
        }),
    );
    assert!(
        set.iter().any(|m| m["id"] == 1 && m["result"].is_object()),
        "{set:?}"
    );
}

/// The levels of the log messages an `emitLogMessages` call in session `id` on `server` gets.
fn logged_levels(server: &Server, id: &str) -> Vec<String> {
    let call = post(
        server,
        id,
        json!({
            "jsonrpc": "2.0", "id": 9, "method": "tools/call",
            "params": { "name": "emitLogMessages", "arguments": {} }
        }),
    );
    call.iter()
        .filter(|m| m["method"] == "notifications/message")
        .filter_map(|m| m["params"]["level"].as_str().map(str::to_owned))
        .collect()
}

/// Calls `check` until it holds, and says how long that took: well under the second a cached
/// session is trusted for without news, so what made it hold is the change's notice.
fn held_within(what: &str, mut check: impl FnMut() -> bool) {
    const NOTICE: Duration = Duration::from_millis(500);
    let started = Instant::now();
    while !check() {
        assert!(
            started.elapsed() < NOTICE,
            "{what}: not seen within {NOTICE:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_session_held_by_one_instance_is_read_again_when_another_changes_or_ends_it() {
    let redis = Redis::start(None);
    let (first, second) = (parked(&redis), parked(&redis));
    let id = initialize(&first);
    let default_levels = logged_levels(&second, &id);
    assert!(default_levels.len() > 3, "{default_levels:?}");

    set_level(&first, &id, "critical");
    held_within("the new log level on the other instance", || {
        logged_levels(&second, &id) == ["critical", "alert", "emergency"]
    });

    let deleted = request(&first, Some(&id), reqwest::Method::DELETE)
        .send()
        .expect("DELETE");
    assert_eq!(deleted.status(), 204);
    held_within("the DELETE on the other instance", || {
        let call = request(&second, Some(&id), reqwest::Method::POST)
            .json(&json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" }))
            .send()
            .expect("POST");
        call.status() == 404
    });
}

#[test]
fn an_answer_for_a_tool_on_a_sigkilled_instance_is_refused_at_once() {
    let redis = Redis::start(None);
    let (mut first, second) = (parked(&redis), parked(&redis));
    let id = initialize_with(&first, json!({ "sampling": {} }));
    let mut call = request(&first, Some(&id), reqwest::Method::POST)
        .json(&json!({
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": { "name": "sampleLLM", "arguments": { "prompt": "hello" } }
        }))
        .send()
        .expect("call");
    assert_eq!(call.status(), 200);
    let (deadline, mut seen, mut buffer) = (
        Instant::now() + Duration::from_secs(10),
        String::new(),
        [0; 4096],
    );
    let ask = loop {
        if let Some(ask) = messages(&seen)
            .into_iter()
            .find(|m| m["method"] == "sampling/createMessage")
        {
            break ask;
        }
        assert!(Instant::now() < deadline, "no sampling request: {seen}");
        let read = call.read(&mut buffer).expect("read the call's stream");
        assert!(read > 0, "the call's stream ended: {seen}");
        seen.push_str(std::str::from_utf8(&buffer[..read]).expect("utf-8"));
    };
    first.child.kill().expect("SIGKILL the first instance");
    first.child.wait().expect("reap it");

    let started = Instant::now();
    let answered = request(&second, Some(&id), reqwest::Method::POST)
        .json(&json!({
            "jsonrpc": "2.0", "id": ask["id"],
            "result": {
                "role": "assistant", "model": "test",
                "content": { "type": "text", "text": "too late" }
            }
        }))
        .send()
        .expect("answer");
    let waited = started.elapsed();
    let status = answered.status();
    let body = answered.text().expect("body");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("instance") && body.contains("gone"), "{body}");
    assert!(waited < Duration::from_secs(5), "answered after {waited:?}");
}

#[test]
fn max_sessions_holds_across_two_instances_until_a_session_is_deleted() {
    let redis = Redis::start(None);
    let limited = || start(&["--no-auth", "--store", &redis.url(), "--max-sessions", "2"]);
    let (first, second) = (limited(), limited());
    initialize(&first);
    let ended = initialize(&second);

    let refused = request(&first, None, reqwest::Method::POST)
        .json(&json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": VERSION, "capabilities": {},
                "clientInfo": { "name": "outpost-cli-tests", "version": "1.0.0" }
            }
        }))
        .send()
        .expect("initialize");
    assert_eq!(refused.status(), 503, "two sessions in all, one on each");
    assert_eq!(refused.headers()["retry-after"], "5");
    let body: Value = refused.json().expect("a JSON-RPC error");
    assert_eq!(
        body["error"]["data"]["reason"], "session_capacity",
        "{body}"
    );

    let deleted = request(&first, Some(&ended), reqwest::Method::DELETE)
        .send()
        .expect("DELETE");
    assert_eq!(deleted.status(), 204, "ended on the other instance");
    let again = initialize(&first);
    let listed = post(
        &second,
        &again,
        json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }),
    );
    assert!(listed[0]["result"]["tools"].is_array(), "{listed:?}");
}
