//! The GET stream of a parked session across instances: a client resuming it with
//! `Last-Event-ID` on another instance gets exactly the events it missed, none twice (two
//! servers on one SQLite file; two on one real Redis), and what one instance emits for a
//! session reaches the GET stream held on another (Redis: the bus); a session has one GET
//! stream across instances, the latest.

mod common;
#[path = "../../outpost-cli/tests/common/redis.rs"]
#[allow(dead_code)]
mod redis;

use std::{net::TcpListener, time::Duration};

use common::{
    TestApp,
    parked::{VERSION, initialize, initialize_with, sqlite_file, stores_at},
};
use outpost::{Outpost, SessionNotifier, store::Store};
use outpost_reference::ReferenceServer;
use rmcp::model::{ResourceUpdatedNotificationParam, ServerNotification};
use serde_json::{Value, json};

/// A loopback port nobody listens on (for the redis-server launcher).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A parked-session server of the reference server on `store`, and its notifier.
async fn instance(store: &Store) -> (TestApp, SessionNotifier) {
    let reference = ReferenceServer::new();
    let outpost = Outpost::with_factory(move || reference.for_session())
        .with_session_store(store.mcp_sessions.clone())
        .with_event_store(store.events.clone());
    let notifier = outpost.session_notifier();
    (common::spawn_generic(outpost).await, notifier)
}

/// The session's GET stream on `app`, resumed after `last_event_id` if given.
async fn open_get(app: &TestApp, session: &str, last_event_id: Option<&str>) -> SseReader {
    let mut request = app
        .http
        .get(app.url("/mcp"))
        .header("accept", "text/event-stream")
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", VERSION);
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    let response = request.send().await.expect("GET /mcp");
    assert_eq!(response.status(), 200);
    SseReader {
        response,
        buffer: String::new(),
    }
}

/// Reads SSE events (id and JSON data) off a response as they arrive.
struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

impl SseReader {
    /// The next event carrying a message: its id (if it has one) and the message.
    async fn next(&mut self) -> (Option<String>, Value) {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let block: String = self.buffer.drain(..end + 2).collect();
                    let (mut id, mut data) = (None, String::new());
                    for line in block.lines() {
                        if let Some(value) = line.strip_prefix("id:") {
                            id = Some(value.trim().to_owned());
                        } else if let Some(value) = line.strip_prefix("data:") {
                            data.push_str(value.trim());
                        }
                    }
                    if data.is_empty() {
                        continue;
                    }
                    return (id, serde_json::from_str(&data).expect("JSON data"));
                }
                let chunk = self
                    .response
                    .chunk()
                    .await
                    .expect("read the stream")
                    .expect("the stream stays open");
                self.buffer
                    .push_str(&String::from_utf8_lossy(&chunk).replace("\r\n", "\n"));
            }
        })
        .await
        .expect("an event within 10 s")
    }

    /// The id a client holds once the stream has sent what it sends at once (its priming
    /// events, without data) and then nothing for 300 ms.
    async fn last_id_when_quiet(&mut self) -> String {
        let mut last = None;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("id:") {
                        last = Some(value.trim().to_owned());
                    }
                }
            }
            match tokio::time::timeout(Duration::from_millis(300), self.response.chunk()).await {
                Ok(chunk) => {
                    let chunk = chunk
                        .expect("read the stream")
                        .expect("the stream stays open");
                    self.buffer
                        .push_str(&String::from_utf8_lossy(&chunk).replace("\r\n", "\n"));
                }
                Err(_) => return last.expect("the stream sent an id"),
            }
        }
    }

    /// Waits for the stream to end (within 10 s); the events left in it, unread.
    async fn ended(mut self) -> String {
        tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(chunk) = self.response.chunk().await.expect("read the stream") {
                self.buffer.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await
        .expect("the stream ends within 10 s");
        self.buffer
    }

    /// The ids and resource URIs of the next `n` events, all `notifications/resources/updated`.
    async fn next_updates(&mut self, n: usize) -> Vec<(String, String)> {
        let mut logs = Vec::new();
        for _ in 0..n {
            let (id, message) = self.next().await;
            let id = id.expect("a GET-stream event has an id");
            assert_eq!(
                message["method"], "notifications/resources/updated",
                "{message}"
            );
            logs.push((id, message["params"]["uri"].as_str().unwrap().to_owned()));
        }
        logs
    }
}

/// A `notifications/resources/updated` for the resource `text`.
fn updated(text: &str) -> ServerNotification {
    ServerNotification::ResourceUpdatedNotification(rmcp::model::Notification::new(
        ResourceUpdatedNotificationParam::new(text),
    ))
}

async fn emit(notifier: &SessionNotifier, session: &str, texts: &[&str]) {
    for text in texts {
        notifier
            .notify(session, updated(text))
            .await
            .expect("notify");
    }
}

fn texts(logs: &[(String, String)]) -> Vec<&str> {
    logs.iter().map(|(_, text)| text.as_str()).collect()
}

/// The client reads two events on A, loses the stream, misses two, and resumes on B with the
/// last id it saw: it gets exactly the two it missed, then what comes next.
async fn resumes_on_another_instance(a: (TestApp, SessionNotifier), b: (TestApp, SessionNotifier)) {
    let ((app_a, notify_a), (app_b, notify_b)) = (a, b);
    let session = initialize(&app_a).await;
    let mut stream = open_get(&app_a, &session, None).await;
    // The stream starts from now: events emitted before it opened are not sent.
    emit(&notify_a, &session, &["one", "two"]).await;
    let seen = stream.next_updates(2).await;
    assert_eq!(texts(&seen), ["one", "two"]);
    drop(stream);

    emit(&notify_a, &session, &["three"]).await;
    emit(&notify_b, &session, &["four"]).await;
    let mut resumed = open_get(&app_b, &session, Some(&seen[1].0)).await;
    let missed = resumed.next_updates(2).await;
    assert_eq!(
        texts(&missed),
        ["three", "four"],
        "exactly the missed events"
    );
    emit(&notify_b, &session, &["five"]).await;
    let next = resumed.next_updates(1).await;
    assert_eq!(texts(&next), ["five"]);
    let ids: Vec<&String> = seen
        .iter()
        .chain(&missed)
        .chain(&next)
        .map(|(id, _)| id)
        .collect();
    let unique: std::collections::HashSet<&String> = ids.iter().copied().collect();
    assert_eq!(
        unique.len(),
        5,
        "every event once, with its own id: {ids:?}"
    );
}

#[tokio::test]
async fn a_get_stream_resumes_on_another_instance_sharing_a_sqlite_file() {
    let file = sqlite_file("resume");
    let (store_a, store_b) = stores_at(&format!("sqlite://{}", file.display())).await;
    resumes_on_another_instance(instance(&store_a).await, instance(&store_b).await).await;
}

#[tokio::test]
async fn a_get_stream_resumes_on_another_instance_sharing_redis() {
    let redis = redis::Redis::start(None);
    let (store_a, store_b) = stores_at(&redis.url()).await;
    resumes_on_another_instance(instance(&store_a).await, instance(&store_b).await).await;
}

/// A stream lost before any event (most GET streams are quiet) resumes on B from where it
/// opened on A: what was emitted in between comes, and then what comes next.
#[tokio::test]
async fn a_get_stream_lost_before_any_event_resumes_on_another_instance_sharing_redis() {
    let redis = redis::Redis::start(None);
    let (store_a, store_b) = stores_at(&redis.url()).await;
    let ((app_a, notify_a), (app_b, notify_b)) =
        (instance(&store_a).await, instance(&store_b).await);
    let session = initialize(&app_a).await;
    emit(&notify_a, &session, &["before the stream"]).await;
    let mut stream = open_get(&app_a, &session, None).await;
    let opened_at = stream.last_id_when_quiet().await;
    drop(stream);

    emit(&notify_a, &session, &["missed"]).await;
    let mut resumed = open_get(&app_b, &session, Some(&opened_at)).await;
    assert_eq!(texts(&resumed.next_updates(1).await), ["missed"]);
    emit(&notify_b, &session, &["next"]).await;
    assert_eq!(texts(&resumed.next_updates(1).await), ["next"]);
}

/// A client that kept only rmcp's priming id (`0`) gets a live stream from now, not an empty
/// one it would ask for again and again.
#[tokio::test]
async fn a_resumption_with_the_priming_id_follows_from_now() {
    let store = Store::memory();
    let (app, notify) = instance(&store).await;
    let session = initialize(&app).await;
    emit(&notify, &session, &["before"]).await;
    let mut resumed = open_get(&app, &session, Some("0")).await;
    resumed.last_id_when_quiet().await;
    emit(&notify, &session, &["after"]).await;
    assert_eq!(texts(&resumed.next_updates(1).await), ["after"]);
}

#[tokio::test]
async fn what_one_instance_emits_reaches_the_get_stream_held_by_another_over_redis() {
    let redis = redis::Redis::start(None);
    let (store_a, store_b) = stores_at(&redis.url()).await;
    let ((app_a, notify_a), (app_b, _notify_b)) =
        (instance(&store_a).await, instance(&store_b).await);
    let session = initialize(&app_a).await;
    let mut stream = open_get(&app_b, &session, None).await;
    let started = std::time::Instant::now();
    emit(&notify_a, &session, &["from A"]).await;
    assert_eq!(texts(&stream.next_updates(1).await), ["from A"]);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "delivered by the bus, not by the periodic re-check"
    );
    drop(app_a);
}

/// A `Last-Event-ID` no event had — not an id at all, or one past the stream's last (which
/// would skip every event until the stream's ids overtook it) — gets a live stream from now,
/// not an empty or silent one a client would ask for again and again.
#[tokio::test]
async fn a_resumption_with_an_id_no_event_had_follows_from_now() {
    let store = Store::memory();
    let (app, notify) = instance(&store).await;
    let session = initialize(&app).await;
    emit(&notify, &session, &["before"]).await;
    for (n, unknown) in ["not-an-id", "99999999999999-0"].into_iter().enumerate() {
        // Its head comes once the stream follows the store: what is emitted next reaches it.
        let mut resumed = open_get(&app, &session, Some(unknown)).await;
        let after = format!("after {n}");
        emit(&notify, &session, &[after.as_str()]).await;
        assert_eq!(
            texts(&resumed.next_updates(1).await),
            [after.as_str()],
            "{unknown}"
        );
    }
}

fn post(app: &TestApp, session: &str, body: Value) -> reqwest::RequestBuilder {
    app.http
        .post(app.url("/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", VERSION)
        .json(&body)
}

/// A tool on A asks the client to sample; the client POSTs its answer to B; the answer
/// reaches the tool on A, whose result carries it.
async fn an_answer_posted_to_another_instance_reaches_the_request(a: &Store, b: &Store) {
    let ((app_a, _), (app_b, _)) = (instance(a).await, instance(b).await);
    let session = initialize_with(&app_a, json!({ "sampling": {} })).await;
    let call = post(
        &app_a,
        &session,
        json!({
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": { "name": "sampleLLM", "arguments": { "prompt": "hello" } }
        }),
    )
    .send()
    .await
    .expect("call");
    assert_eq!(call.status(), 200);
    let mut call = SseReader {
        response: call,
        buffer: String::new(),
    };
    let (_, ask) = call.next().await;
    assert_eq!(ask["method"], "sampling/createMessage", "{ask}");
    let answered = post(
        &app_b,
        &session,
        json!({
            "jsonrpc": "2.0", "id": ask["id"],
            "result": {
                "role": "assistant", "model": "test",
                "content": { "type": "text", "text": "sampled on B" }
            }
        }),
    )
    .send()
    .await
    .expect("answer");
    assert_eq!(answered.status(), 202);
    let (_, done) = call.next().await;
    assert_eq!(done["id"], 1, "{done}");
    assert!(done.to_string().contains("sampled on B"), "{done}");
}

#[tokio::test]
async fn an_answer_posted_to_another_instance_reaches_the_request_that_asked_over_redis() {
    let redis = redis::Redis::start(None);
    let (a, b) = stores_at(&redis.url()).await;
    an_answer_posted_to_another_instance_reaches_the_request(&a, &b).await;
}

/// Two processes on one SQLite file: the store wakes neither of the other's appends, so the
/// relay reads its streams often enough for the receipt to come back in time (it did not:
/// the client was told the instance was gone, while the answer reached the tool later).
#[tokio::test]
async fn an_answer_posted_to_another_instance_reaches_the_request_that_asked_on_one_sqlite_file() {
    let file = sqlite_file("relayed-answer");
    let (a, b) = stores_at(&format!("sqlite://{}", file.display())).await;
    an_answer_posted_to_another_instance_reaches_the_request(&a, &b).await;
}

#[tokio::test]
async fn an_answer_posted_to_another_instance_reaches_the_request_that_asked_in_one_process() {
    let store = Store::memory();
    an_answer_posted_to_another_instance_reaches_the_request(&store, &store).await;
}

#[tokio::test]
async fn a_second_get_stream_on_another_instance_replaces_the_first_over_redis() {
    let redis = redis::Redis::start(None);
    let (store_a, store_b) = stores_at(&redis.url()).await;
    let ((app_a, notify_a), (app_b, notify_b)) =
        (instance(&store_a).await, instance(&store_b).await);
    let session = initialize(&app_a).await;
    let first = open_get(&app_a, &session, None).await;
    let mut second = open_get(&app_b, &session, None).await;
    let left = first.ended().await;
    assert!(
        !left.contains("jsonrpc"),
        "the replaced stream got no message: {left}"
    );
    emit(&notify_a, &session, &["after"]).await;
    assert_eq!(
        texts(&second.next_updates(1).await),
        ["after"],
        "only the latest stream hears the session"
    );
    // And back: a GET on the first instance replaces the one on the second.
    let mut third = open_get(&app_a, &session, None).await;
    second.ended().await;
    emit(&notify_b, &session, &["again"]).await;
    assert_eq!(texts(&third.next_updates(1).await), ["again"]);
}
