//! `outpost serve --rate-limit` and `--rate-limit-client` over real HTTP: a caller over its
//! budget gets `429` with `Retry-After` and a JSON-RPC error carrying its request's id; other
//! callers are not affected; two instances on one SQLite file share the budget.

mod common;

use common::{Server, TempDir, free_port, spawn_on, token, wait_healthy};
use reqwest::blocking::Response;
use serde_json::{Value, json};

/// The URL every instance is known by (issuer, token audience), as behind a load balancer.
const PUBLIC_URL: &str = "http://localhost:9999";

/// Starts `outpost serve` on a free port, known as [`PUBLIC_URL`], with `args`.
fn start(args: &[&str]) -> Server {
    let mut args = args.to_vec();
    args.extend(["--public-url", PUBLIC_URL]);
    let mut server = spawn_on(&format!("127.0.0.1:{}", free_port()), &args);
    wait_healthy(&format!("{}/health", server.base), &mut server.child);
    server
}

/// A 2026-07-28 `tools/list` with the JSON-RPC id `id`.
fn list_tools(server: &Server, token: &str, id: u64) -> Response {
    reqwest::blocking::Client::new()
        .post(format!("{}/mcp", server.base))
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/list")
        .json(&json!({
            "jsonrpc": "2.0",
            "id": id,
            "method": "tools/list",
            "params": { "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": { "name": "rate-limit-tests", "version": "1.0.0" }
            } }
        }))
        .send()
        .expect("POST /mcp")
}

/// Asserts `response` is the 429 of the `limit` ("subject" or "client") of `rate`, answering
/// request `id`.
fn assert_limited(response: Response, id: u64, limit: &str, rate: &str) {
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("ASCII")
        .parse()
        .expect("Retry-After in seconds");
    assert!(
        (1..=60).contains(&retry_after),
        "Retry-After: {retry_after}"
    );
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "a JSON-RPC body"
    );
    let body: Value = response.json().expect("JSON");
    assert_eq!(body["jsonrpc"], "2.0");
    assert_eq!(body["id"], id, "{body}");
    assert_eq!(body["error"]["code"], -32603, "{body}");
    assert_eq!(body["error"]["data"]["reason"], "rate_limited", "{body}");
    assert_eq!(body["error"]["data"]["limit"], limit, "{body}");
    assert_eq!(body["error"]["data"]["rate"], rate, "{body}");
    assert_eq!(body["error"]["data"]["retryAfter"], retry_after, "{body}");
}

#[test]
fn a_subject_over_its_limit_gets_429_and_others_do_not() {
    let dir = TempDir::new("rate-limit-subject");
    let server = start(&["--store", &dir.store(), "--rate-limit", "3/m"]);
    let alice = token(&dir.store(), PUBLIC_URL, "alice");
    for id in 1..=3 {
        assert_eq!(
            list_tools(&server, &alice, id).status(),
            200,
            "request {id}"
        );
    }
    assert_limited(list_tools(&server, &alice, 4), 4, "subject", "3/m");
    // A new token of the same subject is the same principal.
    let again = token(&dir.store(), PUBLIC_URL, "alice");
    assert_limited(list_tools(&server, &again, 5), 5, "subject", "3/m");
    let bob = token(&dir.store(), PUBLIC_URL, "bob");
    assert_eq!(list_tools(&server, &bob, 6).status(), 200, "per subject");
}

#[test]
fn two_instances_on_one_file_share_the_budget() {
    let dir = TempDir::new("rate-limit-instances");
    let first = start(&["--store", &dir.store(), "--rate-limit", "4/m"]);
    let second = start(&["--store", &dir.store(), "--rate-limit", "4/m"]);
    let carol = token(&dir.store(), PUBLIC_URL, "carol");
    for id in 1..=4 {
        let server = if id % 2 == 0 { &second } else { &first };
        assert_eq!(list_tools(server, &carol, id).status(), 200, "request {id}");
    }
    assert_limited(list_tools(&first, &carol, 5), 5, "subject", "4/m");
    assert_limited(list_tools(&second, &carol, 6), 6, "subject", "4/m");
}

#[test]
fn a_client_limit_counts_all_its_users_together() {
    let dir = TempDir::new("rate-limit-client");
    let server = start(&[
        "--store",
        &dir.store(),
        "--rate-limit",
        "100/m",
        "--rate-limit-client",
        "2/m",
    ]);
    // Both tokens are for the tests' one client.
    let dave = token(&dir.store(), PUBLIC_URL, "dave");
    let erin = token(&dir.store(), PUBLIC_URL, "erin");
    assert_eq!(list_tools(&server, &dave, 1).status(), 200);
    assert_eq!(list_tools(&server, &erin, 2).status(), 200);
    assert_limited(list_tools(&server, &erin, 3), 3, "client", "2/m");
}

#[test]
fn limits_need_authentication() {
    let output = std::process::Command::new(common::OUTPOST)
        .args(["serve", "--no-auth", "--rate-limit", "5/s"])
        .output()
        .expect("run outpost serve");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--rate-limit"), "{stderr}");
}
