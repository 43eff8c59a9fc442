//! `outpost serve --store redis://…` keeps Redis off the stateless hot path (a burst of
//! 2026-07-28 `tools/call`s with one token asks Redis about its grant once, and once more only
//! after the revocation cache period), reads a 2025-11-25 session's record at most once a
//! second while no session changes, and asks it once per request naming a session it does not
//! hold.
//!
//! What is counted is Redis' own `INFO commandstats`. The revocation check is one transaction
//! (`MULTI`, `HEXISTS` on the grants, `HEXISTS` on the revoked grants, `EXEC`), and nothing
//! else that can run while the calls are made uses `HEXISTS` (only the scripts that create or
//! revoke users, clients, grants, codes and tokens do), so the `hexists` count is exactly two
//! per check. The server's background work — the signing-key reload every minute, the
//! request-state key reload, the purge — may fall in the window and is bounded separately.

mod common;

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use common::{granted_token, jsonrpc_answer, redis::Redis, start};
use outpost::auth::resource::DEFAULT_REVOCATION_CACHE_TTL;
use serde_json::json;

/// Calls in the burst.
const CALLS: usize = 200;
/// `HEXISTS` commands one revocation check runs.
const HEXISTS_PER_CHECK: u64 = 2;
/// Most Redis commands of any kind the burst may cause: one revocation check (4 commands) plus
/// background work that may fall in the window (a key reload is 4 commands). A hot path that
/// asked Redis on every call would run at least `CALLS`.
const MOST_COMMANDS_PER_BURST: u64 = 40;

/// One 2026-07-28 `tools/call echo` with `token`, which must succeed.
fn echo(client: &reqwest::blocking::Client, base: &str, token: &str) {
    let params = json!({
        "name": "echo",
        "arguments": { "message": "hi" },
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": { "name": "outpost-cli-tests", "version": "1.0.0" }
        }
    });
    let response = client
        .post(format!("{base}/mcp"))
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "echo")
        .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params }))
        .send()
        .expect("POST /mcp");
    assert_eq!(response.status(), 200);
    let answer = jsonrpc_answer(&response.text().expect("body"));
    assert_eq!(
        answer["result"]["content"][0]["text"], "Echo: hi",
        "{answer}"
    );
}

/// The protocol revision of the session tests.
const SESSION_VERSION: &str = "2025-11-25";

/// A 2025-11-25 `POST /mcp` of `body` to the server at `base`, naming `session` if given.
fn post_2025(
    client: &reqwest::blocking::Client,
    base: &str,
    session: Option<&str>,
    body: &serde_json::Value,
) -> reqwest::blocking::Response {
    let mut request = client
        .post(format!("{base}/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", SESSION_VERSION)
        .json(body);
    if let Some(id) = session {
        request = request.header("mcp-session-id", id);
    }
    request.send().expect("POST /mcp")
}

/// Commands run between `before` and `after`: (`hexists` calls, all calls but `info`, which
/// is how they are counted).
fn delta(before: &HashMap<String, u64>, after: &HashMap<String, u64>) -> (u64, u64) {
    let ran =
        |name: &str| after.get(name).copied().unwrap_or(0) - before.get(name).copied().unwrap_or(0);
    let all = after
        .keys()
        .filter(|name| *name != "info")
        .map(|name| ran(name))
        .sum();
    (ran("hexists"), all)
}

#[test]
fn a_burst_of_calls_with_one_token_asks_redis_once_per_revocation_period() {
    let redis = Redis::start(None);
    let store = redis.url();
    let server = start(&["--demo", "--store", &store]);
    let token = granted_token(&store, &server.base, "alice");
    let client = reqwest::blocking::Client::new();

    let before = redis.command_calls();
    let burst = Instant::now();
    for _ in 0..CALLS {
        echo(&client, &server.base, &token);
    }
    let took = burst.elapsed();
    let after_burst = redis.command_calls();
    // The first call's answer is cached for the period; the burst must fit in it for "once".
    assert!(
        took < DEFAULT_REVOCATION_CACHE_TTL,
        "{CALLS} calls took {took:?}, longer than the revocation cache period"
    );
    let (hexists, all) = delta(&before, &after_burst);
    assert_eq!(
        hexists, HEXISTS_PER_CHECK,
        "{CALLS} calls with one token: exactly one revocation check"
    );
    assert!(
        all <= MOST_COMMANDS_PER_BURST,
        "{CALLS} calls ran {all} Redis commands: {after_burst:?}"
    );

    // Past the period, the next call asks again, once; the calls right after it do not.
    std::thread::sleep(
        DEFAULT_REVOCATION_CACHE_TTL.saturating_sub(took) + Duration::from_millis(500),
    );
    let before_next = redis.command_calls();
    for _ in 0..10 {
        echo(&client, &server.base, &token);
    }
    let (hexists, _) = delta(&before_next, &redis.command_calls());
    assert_eq!(
        hexists, HEXISTS_PER_CHECK,
        "after the period: exactly one more revocation check"
    );
}

/// A 2025-11-25 session's calls, served by the fast path with the session's hot peer, read the
/// session's record (`HGETALL`) at most once a second while no session changes (a change on
/// any instance is published on the bus, and the next call reads the record again), and ask
/// Redis nothing else.
#[test]
fn a_session_calls_read_its_record_at_most_once_a_second() {
    let redis = Redis::start(None);
    let server = start(&["--no-auth", "--store", &redis.url()]);
    let client = reqwest::blocking::Client::new();
    let post = |session: Option<&str>, body: serde_json::Value| {
        post_2025(&client, &server.base, session, &body)
    };
    let opened = post(
        None,
        json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": SESSION_VERSION, "capabilities": {},
                "clientInfo": { "name": "outpost-cli-tests", "version": "1.0.0" }
            }
        }),
    );
    assert_eq!(opened.status(), 200);
    let session = opened.headers()["mcp-session-id"]
        .to_str()
        .expect("a session id")
        .to_owned();
    let initialized = post(
        Some(&session),
        json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }),
    );
    assert_eq!(initialized.status(), 202);

    let before = redis.command_calls();
    let started = Instant::now();
    for id in 1..=CALLS {
        let answer = post(
            Some(&session),
            json!({
                "jsonrpc": "2.0", "id": id, "method": "tools/call",
                "params": { "name": "echo", "arguments": { "message": "hi" } }
            }),
        );
        assert_eq!(answer.status(), 200);
        let answer = jsonrpc_answer(&answer.text().expect("body"));
        assert_eq!(answer["result"]["content"][0]["text"], "Echo: hi");
    }
    let took = started.elapsed();
    let after = redis.command_calls();
    let ran =
        |name: &str| after.get(name).copied().unwrap_or(0) - before.get(name).copied().unwrap_or(0);
    let reads = ran("hgetall");
    // A read when the burst starts (the record was read by `initialized`'s request, more or
    // less than a second ago), then at most one per second the burst took.
    let most_reads = took.as_secs() + 2;
    assert!(
        reads <= most_reads,
        "{CALLS} calls in {took:?} read the session record {reads} times: {after:?}"
    );
    let (_, all) = delta(&before, &after);
    assert!(
        all <= most_reads + MOST_COMMANDS_PER_BURST,
        "{CALLS} calls ran {all} Redis commands: {after:?}"
    );
}

/// A request naming a session Redis does not hold reads Redis once (the fast path's look; the
/// checks after it, when rmcp answers the `404`, reuse that answer), so made-up session ids
/// cost no more reads than requests.
#[test]
fn a_request_naming_an_unknown_session_reads_redis_once() {
    const REQUESTS: usize = 50;
    let redis = Redis::start(None);
    let server = start(&["--no-auth", "--store", &redis.url()]);
    let client = reqwest::blocking::Client::new();
    let before = redis.command_calls();
    for id in 1..=REQUESTS {
        let answer = post_2025(
            &client,
            &server.base,
            Some(&format!("made-up-{id}")),
            &json!({
                "jsonrpc": "2.0", "id": id, "method": "tools/call",
                "params": { "name": "echo", "arguments": { "message": "hi" } }
            }),
        );
        assert_eq!(answer.status(), 404, "made-up session {id}");
    }
    let after = redis.command_calls();
    let reads =
        after.get("hgetall").copied().unwrap_or(0) - before.get("hgetall").copied().unwrap_or(0);
    assert!(
        (REQUESTS as u64..=REQUESTS as u64 + 8).contains(&reads),
        "{REQUESTS} requests naming unknown sessions read Redis {reads} times: {after:?}"
    );
}
