//! Parked sessions with `AuthMode::Bearer` on two instances sharing one store: the owner is in
//! the session's record, so the session answers its creator on both instances and `404` to
//! anyone else on both — with no owner map of its own on either; and the session caps
//! (`SessionLimits`) hold across both, counted in the store.

mod common;
#[path = "bearer/protected.rs"]
mod protected;

use std::{
    sync::{Arc, RwLock},
    time::Duration,
};

use common::{read_jsonrpc, spawn_outpost};
use outpost::{
    AuthMode, Outpost, ServerConfig, SessionLimits,
    auth::{
        keyring::Keyring,
        resource::{ResourceServerConfig, RevocationCheck},
    },
    store::Store,
};
use outpost_reference::ReferenceServer;
use protected::{AuthApp, ISSUER, SESSION_VERSION, now, scope};
use serde_json::{Value, json};

/// A parked-session instance on `store`, verifying tokens from `keyring`.
async fn spawn_instance(store: &Store, keyring: &Arc<RwLock<Keyring>>) -> AuthApp {
    spawn_limited(store, keyring, SessionLimits::default()).await
}

/// [`spawn_instance`] with session caps.
async fn spawn_limited(
    store: &Store,
    keyring: &Arc<RwLock<Keyring>>,
    session_limits: SessionLimits,
) -> AuthApp {
    let revocation: Arc<dyn RevocationCheck> = Arc::new(store.grants.clone());
    let mut resource = ResourceServerConfig::new(ISSUER, keyring.clone(), revocation);
    resource.scopes_supported = scope("mcp:tools profile math");
    let reference = ReferenceServer::new();
    let outpost = Outpost::with_factory(move || reference.for_session())
        .with_config(ServerConfig {
            auth: AuthMode::Bearer(resource),
            session_limits,
            ..ServerConfig::default()
        })
        .with_session_store(store.mcp_sessions.clone());
    AuthApp {
        app: spawn_outpost(outpost).await,
        keyring: keyring.clone(),
        store: store.clone(),
    }
}

async fn post(
    auth: &AuthApp,
    token: &str,
    session: Option<&str>,
    body: Value,
) -> reqwest::Response {
    let mut request = auth
        .app
        .http
        .post(auth.app.url("/mcp"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", SESSION_VERSION);
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    request.json(&body).send().await.expect("post")
}

fn initialize() -> Value {
    json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {
            "protocolVersion": SESSION_VERSION,
            "capabilities": {},
            "clientInfo": { "name": "outpost-tests", "version": "1.0.0" }
        }
    })
}

fn whoami() -> Value {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": { "name": "whoami", "arguments": {} }
    })
}

#[tokio::test]
async fn a_session_answers_its_owner_on_every_instance_and_nobody_else() {
    let store = Store::memory();
    let keyring = Arc::new(RwLock::new(
        Keyring::generate(now(), Duration::from_secs(3600)).expect("keyring"),
    ));
    let first = spawn_instance(&store, &keyring).await;
    let second = spawn_instance(&store, &keyring).await;
    // Each instance has its own URL, so its own audience: the same subjects, two tokens each.
    let alice = [
        first.token("alice", "mcp").await,
        second.token("alice", "mcp").await,
    ];
    let mallory = [
        first.token("mallory", "mcp").await,
        second.token("mallory", "mcp").await,
    ];

    let opened = post(&first, &alice[0], None, initialize()).await;
    assert_eq!(opened.status(), 200);
    let id = opened.headers()["mcp-session-id"]
        .to_str()
        .expect("id")
        .to_owned();
    let record = store
        .mcp_sessions
        .get(&id, now())
        .await
        .expect("get")
        .expect("the session is a record");
    assert_eq!(record.owner.as_deref(), Some("alice"));

    for (instance, alice, mallory) in [
        (&first, &alice[0], &mallory[0]),
        (&second, &alice[1], &mallory[1]),
    ] {
        let answer = read_jsonrpc(post(instance, alice, Some(&id), whoami()).await).await;
        assert_eq!(
            answer["result"]["structuredContent"]["subject"], "alice",
            "{answer}"
        );
        let refused = post(instance, mallory, Some(&id), whoami()).await;
        assert_eq!(refused.status(), 404, "another subject learns nothing");
        let refused = instance
            .app
            .http
            .delete(instance.app.url("/mcp"))
            .bearer_auth(mallory)
            .header("mcp-session-id", &id)
            .header("mcp-protocol-version", SESSION_VERSION)
            .send()
            .await
            .expect("DELETE");
        assert_eq!(refused.status(), 404, "nor ends it");
    }
    let ended = second
        .app
        .http
        .delete(second.app.url("/mcp"))
        .bearer_auth(&alice[1])
        .header("mcp-session-id", &id)
        .header("mcp-protocol-version", SESSION_VERSION)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(
        ended.status(),
        204,
        "the owner ends it on the other instance"
    );
}

/// `initialize` on `instance` for `token`: the new session's id, or the refusal.
async fn open(instance: &AuthApp, token: &str) -> Result<String, reqwest::Response> {
    let response = post(instance, token, None, initialize()).await;
    if response.status() != 200 {
        return Err(response);
    }
    Ok(response.headers()["mcp-session-id"]
        .to_str()
        .expect("id")
        .to_owned())
}

/// A refusal's status, `Retry-After` and JSON-RPC error `data`.
async fn refusal(response: reqwest::Response) -> (u16, Option<String>, Value) {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().expect("text").to_owned());
    let body: Value = response.json().await.expect("a JSON-RPC error");
    assert_eq!(body["jsonrpc"], "2.0", "{body}");
    assert_eq!(body["error"]["code"], -32603, "{body}");
    (status, retry_after, body["error"]["data"].clone())
}

#[tokio::test]
async fn session_caps_hold_across_instances_until_a_session_ends() {
    let store = Store::memory();
    let keyring = Arc::new(RwLock::new(
        Keyring::generate(now(), Duration::from_secs(3600)).expect("keyring"),
    ));
    let limits = SessionLimits {
        max_sessions: 3,
        max_sessions_per_subject: 2,
    };
    let first = spawn_limited(&store, &keyring, limits).await;
    let second = spawn_limited(&store, &keyring, limits).await;
    let alice = [
        first.token("alice", "mcp").await,
        second.token("alice", "mcp").await,
    ];
    let bob = [
        first.token("bob", "mcp").await,
        second.token("bob", "mcp").await,
    ];

    let kept = open(&first, &alice[0]).await.expect("alice's first");
    let ended = open(&second, &alice[1]).await.expect("alice's second");
    let over_share = open(&first, &alice[0])
        .await
        .expect_err("alice holds her share, whichever instance she asks");
    assert_eq!(
        refusal(over_share).await,
        (
            429,
            None,
            json!({ "reason": "too_many_sessions", "limit": 2 })
        )
    );
    open(&second, &bob[1]).await.expect("bob's first");
    let full = open(&first, &bob[0])
        .await
        .expect_err("three sessions in all");
    assert_eq!(
        refusal(full).await,
        (
            503,
            Some("5".to_owned()),
            json!({ "reason": "session_capacity", "limit": 3 })
        )
    );

    // A DELETE on one instance gives the slot back to both.
    let deleted = first
        .app
        .http
        .delete(first.app.url("/mcp"))
        .bearer_auth(&alice[0])
        .header("mcp-session-id", &ended)
        .header("mcp-protocol-version", SESSION_VERSION)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(deleted.status(), 204);
    let again = open(&second, &alice[1])
        .await
        .expect("alice opens a session again");
    let answer = read_jsonrpc(post(&first, &alice[0], Some(&again), whoami()).await).await;
    assert_eq!(answer["result"]["structuredContent"]["subject"], "alice");
    let answer = read_jsonrpc(post(&second, &alice[1], Some(&kept), whoami()).await).await;
    assert_eq!(answer["result"]["structuredContent"]["subject"], "alice");
}
