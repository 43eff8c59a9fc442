//! Degraded mode over real HTTP: `/ready` and `/health` with and without a store, and what an
//! MCP client sees while the store does not answer — `503` with `Retry-After` and a JSON-RPC
//! error, at once or within the server's own timeout, never a `401` (sign in again) or a `404`
//! (drop the session) — and the same server instance serving again once the store answers.
//! The store is a memory store behind `outpost::store::outage::switchable`.

mod common;
#[path = "bearer/protected.rs"]
mod protected;

use std::{
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use common::{TestApp, read_jsonrpc, spawn_app, spawn_outpost, spawn_with_session_store};
use outpost::{
    AuthMode, Outpost, ServerConfig,
    auth::{keyring::Keyring, resource::ResourceServerConfig},
    store::{
        Store,
        outage::{OutageSwitch, switchable},
    },
};
use outpost_reference::ReferenceServer;
use protected::{AuthApp, ISSUER, SESSION_VERSION, now, scope};
use serde_json::{Value, json};

/// How long any answer may take while the store is down: the server's own bound on a store
/// answer is 3 s, on a readiness probe 2 s.
const NO_HANG: Duration = Duration::from_secs(5);

/// `GET path`: status, `Cache-Control`, JSON body.
async fn get_json(app: &TestApp, path: &str) -> (u16, String, Value) {
    let response = app.http.get(app.url(path)).send().await.expect(path);
    let status = response.status().as_u16();
    let cache = response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_owned();
    (status, cache, response.json().await.expect("JSON"))
}

/// Polls `/health` until its status is `expected` (it reports the last probe, refreshed in
/// the background); every answer is a 200.
async fn wait_for_health(app: &TestApp, expected: &str) -> Value {
    let deadline = Instant::now() + NO_HANG;
    loop {
        let (status, _, body) = get_json(app, "/health").await;
        assert_eq!(status, 200, "/health is always 200: {body}");
        if body["status"] == expected {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/health never {expected}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn without_a_store_ready_has_nothing_to_wait_for() {
    let app = spawn_app().await;
    let (status, cache, body) = get_json(&app, "/ready").await;
    assert_eq!((status, cache.as_str()), (200, "no-store"));
    assert_eq!(body, json!({ "status": "ready", "dependencies": {} }));
    let (status, cache, body) = get_json(&app, "/health").await;
    assert_eq!((status, cache.as_str()), (200, "no-store"));
    assert_eq!(body["status"], "ok");
    assert!(body["version"].is_string(), "{body}");
}

/// How long a revocation answer is reused where a test watches it run out (5 s by default).
const SHORT_REVOCATION_TTL: Duration = Duration::from_secs(1);
/// How long it is reused where a test needs a token vouched for through a whole outage, to
/// see what the checks after the token's do without the store.
const LONG_REVOCATION_TTL: Duration = Duration::from_secs(60);

/// A bearer-protected reference server keeping sessions in `store` and reporting its health,
/// reusing a revocation answer for `revocation_ttl`.
async fn spawn_on(
    store: &Store,
    keyring: &Arc<RwLock<Keyring>>,
    revocation_ttl: Duration,
) -> AuthApp {
    spawn_outpost_on(store, keyring, |outpost| {
        outpost.with_config(bearer_config(store, keyring, revocation_ttl))
    })
    .await
}

/// The bearer configuration of the servers here.
fn bearer_config(
    store: &Store,
    keyring: &Arc<RwLock<Keyring>>,
    revocation_ttl: Duration,
) -> ServerConfig {
    let mut resource =
        ResourceServerConfig::new(ISSUER, keyring.clone(), Arc::new(store.grants.clone()));
    resource.scopes_supported = scope("mcp:tools");
    resource.revocation_cache_ttl = revocation_ttl;
    ServerConfig {
        auth: AuthMode::Bearer(resource),
        ..ServerConfig::default()
    }
}

/// The reference server on `store`'s sessions, as `configure` sets it up further.
async fn spawn_outpost_on(
    store: &Store,
    keyring: &Arc<RwLock<Keyring>>,
    configure: impl FnOnce(Outpost<ReferenceServer>) -> Outpost<ReferenceServer>,
) -> AuthApp {
    let reference = ReferenceServer::new();
    let outpost = Outpost::with_factory(move || reference.for_session())
        .with_session_store(store.mcp_sessions.clone())
        .with_store_health(store.health.clone());
    AuthApp {
        app: spawn_outpost(configure(outpost)).await,
        keyring: keyring.clone(),
        store: store.clone(),
    }
}

/// A switchable store, a keyring, and one server on them.
async fn spawn_switchable(revocation_ttl: Duration) -> (AuthApp, OutageSwitch) {
    let (store, outage) = switchable(Store::memory());
    let keyring = Arc::new(RwLock::new(
        Keyring::generate(now(), Duration::from_secs(3600)).unwrap(),
    ));
    (spawn_on(&store, &keyring, revocation_ttl).await, outage)
}

/// `response` is the degraded answer: 503, `Retry-After`, a JSON-RPC error for request `id`,
/// no bearer challenge.
async fn assert_store_unavailable(response: reqwest::Response, id: Value) {
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
    assert!(response.headers().get("www-authenticate").is_none());
    let body: Value = response.json().await.expect("JSON-RPC error");
    assert_eq!(body["jsonrpc"], "2.0", "{body}");
    assert_eq!(body["id"], id, "{body}");
    assert_eq!(body["error"]["code"], -32603, "{body}");
    assert_eq!(
        body["error"]["data"]["reason"], "store_unavailable",
        "{body}"
    );
}

#[tokio::test]
async fn ready_and_health_follow_the_store_without_hanging() {
    let (auth, outage) = spawn_switchable(SHORT_REVOCATION_TTL).await;
    let app = &auth.app;
    let (status, cache, body) = get_json(app, "/ready").await;
    assert_eq!((status, cache.as_str()), (200, "no-store"));
    assert_eq!(
        body,
        json!({ "status": "ready", "dependencies": { "store": { "status": "up" } } })
    );
    wait_for_health(app, "ok").await;

    outage.refuse();
    let (status, _, body) = get_json(app, "/ready").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["dependencies"]["store"]["status"], "down");
    let error = body["dependencies"]["store"]["error"].as_str().unwrap();
    assert!(error.contains("refused"), "{error}");
    let health = wait_for_health(app, "degraded").await;
    assert_eq!(health["dependencies"]["store"]["status"], "down");

    outage.stall();
    let started = Instant::now();
    let (status, _, body) = get_json(app, "/ready").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        started.elapsed() < NO_HANG,
        "a stalled store is down in ~2 s"
    );
    let started = Instant::now();
    get_json(app, "/health").await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "/health never waits"
    );

    outage.restore();
    let (status, _, _) = get_json(app, "/ready").await;
    assert_eq!(status, 200);
    wait_for_health(app, "ok").await;
}

#[tokio::test]
async fn a_token_the_store_cannot_vouch_for_is_503_then_works_again() {
    let (auth, outage) = spawn_switchable(SHORT_REVOCATION_TTL).await;
    let token = auth.token("alice", "mcp:tools").await;
    let stalled_token = auth.token("bob", "mcp:tools").await;
    assert_eq!(auth.whoami(&token).await.status(), 200);

    // The revocation answer is cached (1 s here, 5 s by default): the token keeps working,
    // then gets 503 — not 401 — until the store answers.
    outage.refuse();
    assert_eq!(auth.whoami(&token).await.status(), 200, "cached answer");
    let deadline = Instant::now() + NO_HANG;
    let response = loop {
        let response = auth.whoami(&token).await;
        if response.status() != 200 {
            break response;
        }
        assert!(
            Instant::now() < deadline,
            "the cached answer outlived its TTL"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_store_unavailable(response, json!(1)).await;

    // A store that never answers: the server's own bound answers first.
    outage.stall();
    let started = Instant::now();
    let response = tokio::time::timeout(NO_HANG, auth.whoami(&stalled_token))
        .await
        .expect("answered within the server's bound");
    assert_store_unavailable(response, json!(1)).await;
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "waited for the store first"
    );

    outage.restore();
    for token in [&token, &stalled_token] {
        let response = auth.whoami(token).await;
        assert_eq!(response.status(), 200, "the same token works again");
        assert!(read_jsonrpc(response).await["result"].is_object());
    }
}

/// Opens a 2025-11-25 session on `app` (as the holder of `token`, when given).
async fn open_session(app: &TestApp, token: Option<&str>) -> String {
    let initialize = json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {
            "protocolVersion": SESSION_VERSION,
            "capabilities": {},
            "clientInfo": { "name": "outpost-tests", "version": "1.0.0" }
        }
    });
    let mut request = app
        .http
        .post(app.url("/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .json(&initialize);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let id = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    read_jsonrpc(response).await;
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    let ack = session_request(app, token, &id, reqwest::Method::POST)
        .json(&initialized)
        .send()
        .await
        .unwrap();
    assert_eq!(ack.status(), 202);
    id
}

/// A request naming session `id` on `app`.
fn session_request(
    app: &TestApp,
    token: Option<&str>,
    id: &str,
    method: reqwest::Method,
) -> reqwest::RequestBuilder {
    let mut request = app
        .http
        .request(method, app.url("/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", id)
        .header("mcp-protocol-version", SESSION_VERSION);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request
}

fn echo(id: u64) -> Value {
    json!({
        "jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": { "name": "echo", "arguments": { "message": "still here" } }
    })
}

#[tokio::test]
async fn a_session_only_the_store_knows_is_503_not_404_during_an_outage() {
    let (first, outage) = spawn_switchable(LONG_REVOCATION_TTL).await;
    let token = first.token("alice", "mcp:tools").await;
    let id = open_session(&first.app, Some(&token)).await;
    // A second instance on the same store: the session's owner is only in the store. A
    // stateless call there has it vouch for its token's grant for the whole outage, so what
    // needs the store below is the session alone.
    let second = spawn_on(&first.store, &first.keyring, LONG_REVOCATION_TTL).await;
    let token_second = second.token("alice", "mcp:tools").await;
    assert_eq!(second.whoami(&token_second).await.status(), 200);

    outage.refuse();
    let call = session_request(&second.app, Some(&token_second), &id, reqwest::Method::POST);
    let response = tokio::time::timeout(NO_HANG, call.json(&echo(7)).send())
        .await
        .expect("no hang")
        .unwrap();
    assert_store_unavailable(response, json!(7)).await;
    let delete = session_request(
        &second.app,
        Some(&token_second),
        &id,
        reqwest::Method::DELETE,
    );
    assert_store_unavailable(delete.send().await.unwrap(), Value::Null).await;
    // The first instance holds the session in memory: it does not need the store.
    let call = session_request(&first.app, Some(&token), &id, reqwest::Method::POST);
    assert_eq!(call.json(&echo(8)).send().await.unwrap().status(), 200);

    outage.restore();
    let call = session_request(&second.app, Some(&token_second), &id, reqwest::Method::POST);
    let answer = read_jsonrpc(call.json(&echo(9)).send().await.unwrap()).await;
    assert!(answer["result"]["content"].is_array(), "resumed: {answer}");
}

/// An instance that served a session before another ended it (`DELETE`) forgets it when the
/// relay tells it: a store outage then finds nothing to serve as last read (503), not the
/// ended session (which answered 200 to calls).
#[tokio::test]
async fn a_session_ended_elsewhere_is_not_served_from_memory_during_an_outage() {
    let (store, outage) = switchable(Store::memory());
    let keyring = Arc::new(RwLock::new(
        Keyring::generate(now(), Duration::from_secs(3600)).unwrap(),
    ));
    let relayed = |outpost: Outpost<ReferenceServer>| {
        outpost
            .with_config(bearer_config(&store, &keyring, LONG_REVOCATION_TTL))
            .with_event_store(store.events.clone())
    };
    let first = spawn_outpost_on(&store, &keyring, relayed).await;
    let second = spawn_outpost_on(&store, &keyring, relayed).await;
    let token = first.token("alice", "mcp:tools").await;
    let id = open_session(&first.app, Some(&token)).await;
    // The second instance reads the session (and vouches for the token's grant throughout),
    // for a notification: no call of its has run there yet.
    let token_second = second.token("alice", "mcp:tools").await;
    let notification = json!({ "jsonrpc": "2.0", "method": "notifications/roots/list_changed" });
    let sent = session_request(&second.app, Some(&token_second), &id, reqwest::Method::POST);
    assert_eq!(sent.json(&notification).send().await.unwrap().status(), 202);

    let delete = session_request(&first.app, Some(&token), &id, reqwest::Method::DELETE);
    assert_eq!(delete.send().await.unwrap().status(), 204);
    // The relay's announcement reaches the second instance at once; give it a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;

    outage.refuse();
    let call = session_request(&second.app, Some(&token_second), &id, reqwest::Method::POST);
    let response = tokio::time::timeout(NO_HANG, call.json(&echo(2)).send())
        .await
        .expect("no hang")
        .unwrap();
    assert_store_unavailable(response, json!(2)).await;

    outage.restore();
    let call = session_request(&second.app, Some(&token_second), &id, reqwest::Method::POST);
    assert_eq!(call.json(&echo(3)).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn without_auth_a_session_restore_during_an_outage_is_503_not_500() {
    let (store, outage) = switchable(Store::memory());
    let first = spawn_with_session_store(store.mcp_sessions.clone()).await;
    let id = open_session(&first, None).await;
    drop(first);
    let second = spawn_with_session_store(store.mcp_sessions.clone()).await;

    outage.refuse();
    let call = session_request(&second, None, &id, reqwest::Method::POST);
    assert_store_unavailable(call.json(&echo(3)).send().await.unwrap(), json!(3)).await;

    outage.restore();
    let call = session_request(&second, None, &id, reqwest::Method::POST);
    let answer = read_jsonrpc(call.json(&echo(4)).send().await.unwrap()).await;
    assert!(answer["result"]["content"].is_array(), "resumed: {answer}");
}

/// A session the store cannot record during an outage is the degraded `503` (with the
/// `initialize`'s id), not rmcp's plain-text `500`; once the store is back, it opens.
#[tokio::test]
async fn an_initialize_during_an_outage_is_503_not_500() {
    let (first, outage) = spawn_switchable(LONG_REVOCATION_TTL).await;
    let token = first.token("alice", "mcp:tools").await;
    // The token's grant is vouched for: only the new session's record needs the store.
    assert_eq!(first.whoami(&token).await.status(), 200);
    let initialize = json!({
        "jsonrpc": "2.0", "id": 11, "method": "initialize",
        "params": {
            "protocolVersion": SESSION_VERSION,
            "capabilities": {},
            "clientInfo": { "name": "outpost-tests", "version": "1.0.0" }
        }
    });

    outage.refuse();
    let response = tokio::time::timeout(
        NO_HANG,
        first
            .app
            .http
            .post(first.app.url("/mcp"))
            .header("accept", "application/json, text/event-stream")
            .bearer_auth(&token)
            .json(&initialize)
            .send(),
    )
    .await
    .expect("no hang")
    .unwrap();
    assert!(response.headers().get("mcp-session-id").is_none());
    assert_store_unavailable(response, json!(11)).await;

    outage.restore();
    open_session(&first.app, Some(&token)).await;
}
