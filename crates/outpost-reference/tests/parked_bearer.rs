//! Parked sessions with `AuthMode::Bearer` on two instances sharing one store: the owner is in
//! the session's record, so the session answers its creator on both instances and `404` to
//! anyone else on both — with no owner map of its own on either.

mod common;
#[path = "bearer/protected.rs"]
mod protected;

use std::{
    sync::{Arc, RwLock},
    time::Duration,
};

use common::{read_jsonrpc, spawn_outpost};
use outpost::{
    AuthMode, Outpost, ServerConfig,
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
    let revocation: Arc<dyn RevocationCheck> = Arc::new(store.grants.clone());
    let mut resource = ResourceServerConfig::new(ISSUER, keyring.clone(), revocation);
    resource.scopes_supported = scope("mcp:tools profile math");
    let reference = ReferenceServer::new();
    let outpost = Outpost::with_factory(move || reference.for_session())
        .with_config(ServerConfig {
            auth: AuthMode::Bearer(resource),
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

    let initialize = json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {
            "protocolVersion": SESSION_VERSION,
            "capabilities": {},
            "clientInfo": { "name": "outpost-tests", "version": "1.0.0" }
        }
    });
    let opened = post(&first, &alice[0], None, initialize).await;
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
