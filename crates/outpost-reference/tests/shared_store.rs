//! Several Outpost instances on one store, as behind a load balancer: the MRTR (SEP-2322)
//! `requestState` one instance hands out is accepted on the retry by another (a memory store
//! passed to both, and one SQLite file opened by each), which process-local keys would refuse;
//! and an application embedding `Outpost::router()` gets the background maintenance that
//! follows keys rotated elsewhere.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{
    TestApp,
    parked::{sqlite_file, stores_at},
    spawn_embedded, spawn_outpost,
};
use outpost::{
    Outpost, RequestStateKeys,
    auth::server::{AuthorizationServer, DEFAULT_ACCESS_TOKEN_LIFETIME},
    store::{RequestStateKeyRecord, RequestStateSecret, SecretAtRest, Store},
};
use outpost_reference::ReferenceServer;
use rmcp::model::RequestStateCodec;
use serde_json::{Value, json};

const TOOL: &str = "test_input_required_result_request_state";

/// An instance of the reference server whose `requestState` keys come from `store`.
async fn instance_on(store: &Store) -> TestApp {
    let keys = RequestStateKeys::load(store.request_state_keys.clone())
        .await
        .expect("load the request-state keys");
    let reference = ReferenceServer::new();
    spawn_outpost(
        Outpost::with_factory(move || reference.for_session()).with_request_state_keys(keys),
    )
    .await
}

/// The first leg of the MRTR tool: its `input_required` result's sealed `requestState`.
async fn first_leg(app: &TestApp) -> String {
    let first = app
        .call_2026(
            "tools/call",
            Some(TOOL),
            json!({ "name": TOOL, "arguments": {} }),
        )
        .await;
    assert_eq!(first["result"]["resultType"], "input_required", "{first}");
    first["result"]["requestState"]
        .as_str()
        .unwrap_or_else(|| panic!("no requestState in {first}"))
        .to_owned()
}

/// The retry of the MRTR tool with the answer and `state`: the JSON-RPC response.
async fn retry(app: &TestApp, state: &str) -> Value {
    let answer = json!({ "action": "accept", "content": { "ok": true } });
    app.call_2026(
        "tools/call",
        Some(TOOL),
        json!({
            "name": TOOL,
            "arguments": {},
            "inputResponses": { "confirm": answer },
            "requestState": state,
        }),
    )
    .await
}

/// The first leg on `first`, the retry on `second`: the retry completes.
async fn assert_retry_accepted(first: &TestApp, second: &TestApp) {
    let state = first_leg(first).await;
    let done = retry(second, &state).await;
    assert_eq!(
        done["result"]["content"][0]["text"], "Confirmed: state-ok",
        "{done}"
    );
}

#[tokio::test]
async fn request_state_from_one_instance_is_accepted_by_another_sharing_a_memory_store() {
    let store = Store::memory();
    let (a, b) = (instance_on(&store).await, instance_on(&store).await);
    assert_retry_accepted(&a, &b).await;
    assert_retry_accepted(&b, &a).await;
}

#[tokio::test]
async fn request_state_from_one_instance_is_accepted_by_another_on_one_sqlite_file() {
    let file = sqlite_file("shared-store-mrtr");
    // Two connections, as two processes would have.
    let (one, two) = stores_at(&format!("sqlite://{}", file.display())).await;
    let (a, b) = (instance_on(&one).await, instance_on(&two).await);
    assert_retry_accepted(&a, &b).await;
    let _ = std::fs::remove_dir_all(file.parent().expect("dir"));
}

#[tokio::test]
async fn process_local_keys_refuse_another_instances_request_state() {
    let (a, b) = (common::spawn_app().await, common::spawn_app().await);
    let state = first_leg(&a).await;
    let refused = retry(&b, &state).await;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// Polls `done` every 20 ms until it holds; fails after 10 s.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_embedded_router_follows_keys_rotated_by_another_instance() {
    let store = Store::memory();
    let now = unix_now();
    let load = || AuthorizationServer::load_keyring(&store, DEFAULT_ACCESS_TOKEN_LIFETIME, now);
    let issuer = "http://127.0.0.1";
    let resource = format!("{issuer}/mcp");
    let here = AuthorizationServer::new(
        issuer,
        &resource,
        store.clone(),
        load().await.expect("keyring"),
        vec!["mcp".into()],
    );
    let keys = RequestStateKeys::load(store.request_state_keys.clone())
        .await
        .expect("request-state keys");

    // Another instance rotates both kinds of key in the store after this one loaded them.
    let elsewhere = AuthorizationServer::new(
        issuer,
        &resource,
        store.clone(),
        load().await.expect("keyring"),
        vec!["mcp".into()],
    );
    let signing_kid = elsewhere
        .rotate_keys(now)
        .await
        .expect("rotate signing key");
    let secret = vec![7; 32];
    let rotated = RequestStateKeyRecord {
        kid: "rotated-elsewhere".into(),
        secret: SecretAtRest::Clear(
            RequestStateSecret::from_bytes(secret.clone()).expect("secret"),
        ),
        created_at: now,
        activates_at: now,
    };
    // Published after every key stored so far: the ones loaded above were created at their
    // own clock's now, which may be a second past `now`.
    let published = store.request_state_keys.rotate(rotated, unix_now()).await;
    assert!(published.expect("publish a request-state key"));

    let reference = ReferenceServer::new();
    let outpost = Outpost::with_factory(move || reference.for_session())
        .with_authorization_server(here.clone())
        .with_request_state_keys(keys.clone());
    let app = spawn_embedded(outpost).await;
    // The rotated signing key is published here before it signs anywhere, and signs here from
    // the same second as on the instance that rotated it.
    eventually("the signing-key reload", || {
        here.keyring()
            .verification_key(&signing_kid, unix_now())
            .is_some()
    })
    .await;
    let switch = now + outpost::auth::keyring::PUBLICATION_LEAD.as_secs() as i64;
    assert_eq!(here.keyring().signing_key(switch).kid(), signing_kid);
    eventually("the request-state key reload", || {
        keys.sealing_kid() == "rotated-elsewhere"
    })
    .await;

    // What the embedded router hands out is sealed with the rotated key.
    let state = first_leg(&app).await;
    let rotated_only =
        RequestStateCodec::new_with_keyring("rotated-elsewhere", [("rotated-elsewhere", secret)])
            .expect("codec");
    assert!(rotated_only.open(&state).is_ok());
    let text = app
        .http
        .get(app.url("/app"))
        .send()
        .await
        .expect("GET /app")
        .text()
        .await
        .expect("body");
    assert_eq!(text, "the application");
}
