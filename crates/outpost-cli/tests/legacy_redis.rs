//! 2024-11-05 HTTP+SSE across two `outpost serve --store redis://…` processes: the `/sse`
//! stream held by the first, every `/message` POSTed to the second — the answers arrive on the
//! stream, the tool sees the caller the second authenticated, another subject gets `404` there
//! too, and once the first is SIGKILLed a POST is refused with `503` at once (a JSON-RPC
//! error saying why). A session whose
//! record the store lost while its stream is open (an outage longer than the record's lease)
//! is written again by its holder.

mod common;

use std::{
    io::Read,
    time::{Duration, Instant},
};

use common::{Server, redis::Redis, start, token};
use serde_json::{Value, json};

/// The URL both instances are known by (issuer, token audience), as behind a load balancer.
const PUBLIC_URL: &str = "http://localhost:9999";

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// An open `/sse` stream, read as its events arrive.
struct SseStream {
    response: reqwest::blocking::Response,
    seen: String,
}

impl SseStream {
    fn open(server: &Server, token: &str) -> Self {
        let response = client()
            .get(format!("{}/sse", server.base))
            .bearer_auth(token)
            .send()
            .expect("GET /sse");
        assert_eq!(response.status(), 200);
        Self {
            response,
            seen: String::new(),
        }
    }

    /// Reads until some `data:` line satisfies `wanted`; that line.
    fn until(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buffer = [0; 4096];
        loop {
            if let Some(line) = self
                .seen
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .map(str::trim)
                .find(|data| wanted(data))
            {
                return line.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "not on the stream: {}",
                self.seen
            );
            let read = self.response.read(&mut buffer).expect("read /sse");
            assert!(read > 0, "the stream ended: {}", self.seen);
            self.seen
                .push_str(std::str::from_utf8(&buffer[..read]).expect("utf-8"));
        }
    }

    /// The JSON-RPC answer with `id`.
    fn answer(&mut self, id: i64) -> Value {
        let line = self.until(|data| {
            serde_json::from_str::<Value>(data).is_ok_and(|message| message["id"] == id)
        });
        serde_json::from_str(&line).expect("JSON")
    }
}

fn post(server: &Server, endpoint: &str, token: &str, body: Value) -> reqwest::blocking::Response {
    client()
        .post(format!("{}{endpoint}", server.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .expect("POST /message")
}

#[test]
fn a_legacy_session_held_on_one_instance_takes_its_posts_on_another() {
    let redis = Redis::start(None);
    let args = ["--store", &redis.url(), "--public-url", PUBLIC_URL];
    let (mut holder, other) = (start(&args), start(&args));
    let alice = token(&redis.url(), PUBLIC_URL, "alice");
    let mallory = token(&redis.url(), PUBLIC_URL, "mallory");

    let mut stream = SseStream::open(&holder, &alice);
    let endpoint = stream.until(|data| data.starts_with("/message?sessionId="));
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2024-11-05", "capabilities": {},
            "clientInfo": { "name": "outpost-cli-tests", "version": "1.0.0" }
        }
    });
    assert_eq!(post(&other, &endpoint, &alice, initialize).status(), 202);
    assert_eq!(stream.answer(1)["result"]["protocolVersion"], "2024-11-05");
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    assert_eq!(post(&other, &endpoint, &alice, initialized).status(), 202);
    let whoami = json!({
        "jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": { "name": "whoami", "arguments": {} }
    });
    assert_eq!(
        post(&other, &endpoint, &alice, whoami.clone()).status(),
        202
    );
    let answer = stream.answer(2);
    assert_eq!(
        answer["result"]["structuredContent"]["subject"], "alice",
        "{answer}"
    );

    // Someone else's session is unknown on every instance.
    assert_eq!(
        post(&other, &endpoint, &mallory, whoami.clone()).status(),
        404
    );

    // The holder dies: its stream is gone, and a POST elsewhere says so at once.
    holder.child.kill().expect("SIGKILL the holder");
    holder.child.wait().expect("reap it");
    let started = Instant::now();
    let refused = post(&other, &endpoint, &alice, whoami);
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert!(started.elapsed() < Duration::from_secs(5));
    let body: Value = refused.json().expect("a JSON-RPC error");
    assert_eq!(
        body["error"]["data"]["reason"], "holder_unreachable",
        "{body}"
    );
}

/// A record the store lost (here deleted; after an outage outlasting its 30 s lease, expired)
/// is written again by the holder at its next push, within 10 s: the session is not taken for
/// ended on the other instances for longer than that.
#[test]
fn a_lost_record_of_an_open_legacy_session_is_written_again() {
    let redis = Redis::start(None);
    let args = ["--store", &redis.url(), "--public-url", PUBLIC_URL];
    let (holder, other) = (start(&args), start(&args));
    let alice = token(&redis.url(), PUBLIC_URL, "alice");
    let mut stream = SseStream::open(&holder, &alice);
    let endpoint = stream.until(|data| data.starts_with("/message?sessionId="));
    let session = endpoint
        .strip_prefix("/message?sessionId=")
        .expect("the session id");
    let record = format!("outpost:mcp_session:legacy-sse:{session}");
    assert_eq!(redis.run(&["DEL", &record]), ":1", "the record's key");
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2024-11-05", "capabilities": {},
            "clientInfo": { "name": "outpost-cli-tests", "version": "1.0.0" }
        }
    });
    assert_eq!(
        post(&other, &endpoint, &alice, initialize.clone()).status(),
        404,
        "no record, no session"
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = post(&other, &endpoint, &alice, initialize.clone()).status();
        if status == 202 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {status}: the record was not written again"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(stream.answer(1)["result"]["protocolVersion"], "2024-11-05");
}
