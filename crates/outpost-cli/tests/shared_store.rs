//! Several `outpost serve --demo` processes on one SQLite file, started at the same moment, as
//! a deployment of several instances behind one public URL starts: all come up (the store is
//! migrated once, the demo users, the first signing key and the first request-state key are
//! created once), serve the same JWK Set, and accept each other's MRTR `requestState`.

mod common;

use common::{Server, TempDir, free_port, granted_token, jsonrpc_answer, spawn_on, wait_healthy};
use serde_json::{Value, json};

/// How many instances start together, and how many times the race is run.
const INSTANCES: usize = 3;
const ROUNDS: usize = 3;
/// The URL every instance is known by (issuer, token audience), as behind a load balancer.
const PUBLIC_URL: &str = "http://localhost:9999";
const TOOL: &str = "test_input_required_result_request_state";

fn jwks(server: &Server) -> Value {
    let response = reqwest::blocking::get(format!("{}/jwks.json", server.base)).expect("GET");
    assert_eq!(response.status(), 200);
    response.json().expect("JSON")
}

/// A 2026-07-28 `tools/call` of the MRTR tool with `extra` params: the JSON-RPC answer.
fn call_mrtr(server: &Server, token: &str, extra: Value) -> Value {
    let mut params = json!({
        "name": TOOL,
        "arguments": {},
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": { "name": "outpost-cli-tests", "version": "1.0.0" }
        }
    });
    for (key, value) in extra.as_object().expect("object") {
        params[key] = value.clone();
    }
    let response = reqwest::blocking::Client::new()
        .post(format!("{}/mcp", server.base))
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", TOOL)
        .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params }))
        .send()
        .expect("POST /mcp");
    assert_eq!(response.status(), 200);
    jsonrpc_answer(&response.text().expect("body"))
}

fn usernames(store_url: &str) -> Vec<String> {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let store = runtime
        .block_on(outpost::store::open(store_url))
        .expect("open the store");
    let users = runtime.block_on(store.users.list()).expect("users");
    users
        .into_iter()
        .map(|user| user.username.as_str().to_owned())
        .collect()
}

#[test]
fn instances_started_at_once_on_one_store_all_come_up_alike() {
    for round in 0..ROUNDS {
        let dir = TempDir::new(&format!("shared-start-{round}"));
        let store = dir.store();
        let args = ["--demo", "--store", &store, "--public-url", PUBLIC_URL];
        let mut servers: Vec<Server> = (0..INSTANCES)
            .map(|_| spawn_on(&format!("127.0.0.1:{}", free_port()), &args))
            .collect();
        for server in &mut servers {
            wait_healthy(&format!("{}/health", server.base), &mut server.child);
        }

        let first = jwks(&servers[0]);
        assert_eq!(first["keys"].as_array().map(Vec::len), Some(1), "{first}");
        for server in &servers[1..] {
            assert_eq!(
                jwks(server),
                first,
                "round {round}: instances sign differently"
            );
        }
        assert_eq!(usernames(&store), ["alice", "bob"], "round {round}");

        let token = granted_token(&store, PUBLIC_URL, "alice");
        let asked = call_mrtr(&servers[0], &token, json!({}));
        let state = asked["result"]["requestState"]
            .as_str()
            .unwrap_or_else(|| panic!("no requestState in {asked}"));
        for server in &servers[1..] {
            let answer = json!({ "action": "accept", "content": { "ok": true } });
            let done = call_mrtr(
                server,
                &token,
                json!({ "inputResponses": { "confirm": answer }, "requestState": state }),
            );
            assert_eq!(
                done["result"]["content"][0]["text"], "Confirmed: state-ok",
                "round {round}: {done}"
            );
        }
    }
}
