//! `AuthMode::Bearer` over real HTTP, session side: the caller in a 2025-11-25 session and on
//! the 2024-11-05 transport, sessions bound to their subject (404 for anyone else), CORS.

mod common;
#[path = "bearer/protected.rs"]
mod protected;

use common::{read_jsonrpc, sse_messages};
use outpost::auth::resource::RequiredScopes;
use protected::{AuthApp, SESSION_VERSION, spawn_protected};
use serde_json::{Value, json};

/// Opens a 2025-11-25 session as the holder of `token`; returns its id.
async fn open_session(auth: &AuthApp, token: &str) -> String {
    let response = auth
        .app
        .http
        .post(auth.app.url("/mcp"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .json(&json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": SESSION_VERSION,
                "capabilities": {},
                "clientInfo": { "name": "outpost-tests", "version": "1.0.0" }
            }
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let id = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    read_jsonrpc(response).await;
    let ack = session_post(
        auth,
        token,
        &id,
        json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }),
    )
    .await;
    assert_eq!(ack.status(), 202);
    id
}

async fn session_post(auth: &AuthApp, token: &str, id: &str, body: Value) -> reqwest::Response {
    auth.app
        .http
        .post(auth.app.url("/mcp"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", id)
        .header("mcp-protocol-version", SESSION_VERSION)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn sessions_know_their_caller_and_refuse_other_subjects() {
    let auth = spawn_protected(RequiredScopes::default()).await;
    let alice = auth.token("alice", "mcp:tools").await;
    let id = open_session(&auth, &alice).await;
    let call = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": "whoami" } });
    let answer = read_jsonrpc(session_post(&auth, &alice, &id, call.clone()).await).await;
    assert_eq!(
        answer["result"]["structuredContent"]["subject"], "alice",
        "{answer}"
    );
    assert_eq!(
        answer["result"]["structuredContent"]["client_id"],
        "client-1"
    );

    // Another subject on alice's session: 404, as if it did not exist.
    let mallory = auth.token("mallory", "mcp:tools").await;
    assert_eq!(
        session_post(&auth, &mallory, &id, call.clone())
            .await
            .status(),
        404
    );
    let delete = auth
        .app
        .http
        .delete(auth.app.url("/mcp"))
        .bearer_auth(&mallory)
        .header("mcp-session-id", &id)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 404);
    // The same subject with a fresh token keeps the session; no token is 401.
    let alice_again = auth.token("alice", "mcp:tools").await;
    assert_eq!(
        session_post(&auth, &alice_again, &id, call.clone())
            .await
            .status(),
        200
    );
    let anonymous = auth
        .app
        .http
        .post(auth.app.url("/mcp"))
        .header("mcp-session-id", &id)
        .json(&call)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    // Alice ends it; afterwards it is gone for her too.
    let delete = auth
        .app
        .http
        .delete(auth.app.url("/mcp"))
        .bearer_auth(&alice)
        .header("mcp-session-id", &id)
        .header("mcp-protocol-version", SESSION_VERSION)
        .send()
        .await
        .unwrap();
    assert!(delete.status().is_success(), "{}", delete.status());
    assert_eq!(session_post(&auth, &alice, &id, call).await.status(), 404);
}

#[tokio::test]
async fn legacy_sse_sessions_belong_to_their_subject() {
    let auth = spawn_protected(RequiredScopes::default()).await;
    let alice = auth.token("alice", "mcp:tools").await;
    assert_eq!(
        auth.app
            .http
            .get(auth.app.url("/sse"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let mut stream = auth
        .app
        .http
        .get(auth.app.url("/sse"))
        .bearer_auth(&alice)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut seen = String::new();
    let endpoint = loop {
        let chunk = stream.chunk().await.unwrap().expect("endpoint event");
        seen.push_str(&String::from_utf8_lossy(&chunk));
        if let Some(line) = seen.lines().find(|line| line.starts_with("data: /message")) {
            break line.trim_start_matches("data: ").to_owned();
        }
    };
    let initialize = json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {
            "protocolVersion": "2024-11-05",
            "capabilities": {},
            "clientInfo": { "name": "outpost-tests", "version": "1.0.0" }
        }
    });
    let post = |token: String, body: Value| {
        let request = auth
            .app
            .http
            .post(auth.app.url(&endpoint))
            .bearer_auth(token)
            .json(&body);
        async move { request.send().await.unwrap().status() }
    };
    let mallory = auth.token("mallory", "mcp:tools").await;
    assert_eq!(post(mallory.clone(), initialize.clone()).await, 404);
    // A session of her own in the header does not open alice's: `/message` is checked against
    // the session it routes to.
    let mallorys = open_session(&auth, &mallory).await;
    let smuggled = auth
        .app
        .http
        .post(auth.app.url(&endpoint))
        .bearer_auth(&mallory)
        .header("mcp-session-id", &mallorys)
        .json(&initialize)
        .send()
        .await
        .unwrap();
    assert_eq!(smuggled.status(), 404);
    assert_eq!(post(alice.clone(), initialize).await, 202);
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    assert_eq!(post(alice.clone(), initialized).await, 202);
    let whoami = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": "whoami" }
    });
    assert_eq!(post(alice, whoami).await, 202);
    // The answer arrives on the stream: the tool saw alice.
    let answer = loop {
        let chunk = stream.chunk().await.unwrap().expect("whoami answer");
        seen.push_str(&String::from_utf8_lossy(&chunk));
        if let Some(answer) = sse_messages(&seen).into_iter().find(|m| m["id"] == 1) {
            break answer;
        }
    };
    assert_eq!(
        answer["result"]["structuredContent"]["subject"], "alice",
        "{answer}"
    );
}

#[tokio::test]
async fn cors_preflight_is_answered_before_the_token_check() {
    let auth = spawn_protected(RequiredScopes::default()).await;
    let origin = "http://localhost:6274";
    let preflight = auth
        .app
        .http
        .request(reqwest::Method::OPTIONS, auth.app.url("/mcp"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type,mcp-protocol-version,mcp-session-id",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let headers = preflight.headers();
    assert_eq!(headers["access-control-allow-origin"], origin);
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("authorization"), "{allowed}");

    // A refused request still lets the browser read the challenge.
    let refused = auth
        .app
        .request_2026("tools/list", None, json!({}))
        .header("origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["access-control-allow-origin"], origin);
    let exposed = refused.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        exposed.contains("www-authenticate") && exposed.contains("mcp-session-id"),
        "{exposed}"
    );

    // Non-browser clients (no Origin) skip CORS altogether.
    let plain = auth
        .app
        .request_2026("tools/list", None, json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 401);
    assert!(!plain.headers().contains_key("access-control-allow-origin"));

    // Origins the server does not accept are refused by the transport guard.
    let foreign = auth
        .app
        .http
        .request(reqwest::Method::OPTIONS, auth.app.url("/mcp"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);

    // Any origin may read the metadata.
    let metadata = auth
        .app
        .http
        .get(auth.app.url("/.well-known/oauth-protected-resource/mcp"))
        .header("origin", "https://inspector.example")
        .send()
        .await
        .unwrap();
    assert_eq!(metadata.status(), 200);
    assert_eq!(metadata.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn a_session_call_needing_a_missing_scope_is_403() {
    // Sessions name no tool in their headers: the scope check reads the body.
    let auth =
        spawn_protected(RequiredScopes::default().require("add", protected::scope("math"))).await;
    let token = auth.token("alice", "mcp:tools").await;
    let id = open_session(&auth, &token).await;
    let add = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": { "name": "add", "arguments": { "a": 1, "b": 2 } } });
    let refused = session_post(&auth, &token, &id, add.clone()).await;
    assert_eq!(refused.status(), 403);
    let allowed = auth.token("alice", "mcp:tools math").await;
    let id = open_session(&auth, &allowed).await;
    let answer = read_jsonrpc(session_post(&auth, &allowed, &id, add).await).await;
    assert_eq!(
        answer["result"]["structuredContent"]["sum"], 3.0,
        "{answer}"
    );
}

/// A POST as a 2025-03-26 client sends it (no `MCP-Protocol-Version`).
async fn post_2025_03_26(
    auth: &AuthApp,
    token: Option<&str>,
    session: Option<&str>,
    body: Value,
) -> reqwest::Response {
    let mut request = auth
        .app
        .http
        .post(auth.app.url("/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    request.send().await.unwrap()
}

/// Each message of a 2025-03-26 batch passes the checks it would pass alone: a batch whose
/// every message is refused gets the refusal; one with some refused answers the others and
/// an error for each refused request.
#[tokio::test]
async fn a_batch_is_checked_message_by_message() {
    let auth =
        spawn_protected(RequiredScopes::default().require("add", protected::scope("math"))).await;
    let token = auth.token("alice", "mcp:tools").await;
    let init = json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {
            "protocolVersion": "2025-03-26",
            "capabilities": {},
            "clientInfo": { "name": "outpost-tests", "version": "1.0.0" }
        }
    });
    let response = post_2025_03_26(&auth, Some(&token), None, init).await;
    assert_eq!(response.status(), 200);
    let id = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    read_jsonrpc(response).await;

    let list = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" });
    let add = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/call",
                      "params": { "name": "add", "arguments": { "a": 1, "b": 2 } } });
    // Every message refused: the refusal, with its challenge.
    let refused = post_2025_03_26(&auth, Some(&token), Some(&id), json!([add.clone()])).await;
    assert_eq!(refused.status(), 403);
    assert!(
        protected::challenge(&refused).contains("insufficient_scope"),
        "{}",
        protected::challenge(&refused)
    );
    // Some refused: the others ran, and answer; the refused one gets an error saying why.
    let mixed = post_2025_03_26(&auth, Some(&token), Some(&id), json!([list.clone(), add])).await;
    assert_eq!(mixed.status(), 200);
    let messages = sse_messages(&mixed.text().await.unwrap());
    let answered = messages
        .iter()
        .find(|m| m["id"] == 1)
        .expect("tools/list answered");
    assert!(answered["result"]["tools"].is_array(), "{messages:?}");
    let refused = messages
        .iter()
        .find(|m| m["id"] == 2)
        .expect("the call refused");
    assert_eq!(refused["error"]["data"]["status"], 403, "{refused}");
    assert!(
        refused["error"]["data"]["wwwAuthenticate"]
            .as_str()
            .is_some_and(|challenge| challenge.contains("insufficient_scope")),
        "{refused}"
    );
    let unauthenticated = post_2025_03_26(&auth, None, Some(&id), json!([list.clone()])).await;
    assert_eq!(unauthenticated.status(), 401);
    assert!(unauthenticated.headers().contains_key("www-authenticate"));

    let allowed = post_2025_03_26(&auth, Some(&token), Some(&id), json!([list])).await;
    assert_eq!(allowed.status(), 200);
    let messages = sse_messages(&allowed.text().await.unwrap());
    assert!(messages[0]["result"]["tools"].is_array(), "{messages:?}");
}

/// The streams a token opened end once its grant is revoked — a session's GET stream and a
/// 2024-11-05 `/sse` stream — within the stream revocation interval; another grant's stream
/// stays open.
#[tokio::test]
async fn streams_end_when_their_grant_is_revoked() {
    let interval = std::time::Duration::from_millis(200);
    let auth =
        protected::spawn_protected_with(|resource| resource.stream_revocation_interval = interval)
            .await;
    let token_of = |grant: outpost::store::GrantId| {
        auth.mint(
            &auth
                .claims("alice", "mcp:tools")
                .with_grant_id(grant.to_string()),
        )
    };
    let (revoked, kept) = (auth.live_grant().await, auth.live_grant().await);
    let (doomed, lasting) = (token_of(revoked), token_of(kept));
    let get_stream = |token: String, session: String| {
        auth.app
            .http
            .get(auth.app.url("/mcp"))
            .bearer_auth(token)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", SESSION_VERSION)
            .send()
    };
    let doomed_session = open_session(&auth, &doomed).await;
    let lasting_session = open_session(&auth, &lasting).await;
    let mut doomed_get = get_stream(doomed.clone(), doomed_session).await.unwrap();
    let mut lasting_get = get_stream(lasting, lasting_session).await.unwrap();
    let mut doomed_sse = auth
        .app
        .http
        .get(auth.app.url("/sse"))
        .bearer_auth(&doomed)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    for stream in [&doomed_get, &lasting_get, &doomed_sse] {
        assert_eq!(stream.status(), 200);
    }

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    auth.store.grants.revoke_grant(revoked, now).await.unwrap();
    for (name, stream) in [("GET /mcp", &mut doomed_get), ("GET /sse", &mut doomed_sse)] {
        let ended = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while stream.chunk().await.expect("read").is_some() {}
        })
        .await;
        assert!(ended.is_ok(), "{name}: still open 5 s after the revocation");
    }
    let still_open = tokio::time::timeout(interval * 5, async { lasting_get.chunk().await }).await;
    assert!(
        still_open.is_err() || matches!(still_open, Ok(Ok(Some(_)))),
        "another grant's stream ended: {still_open:?}"
    );
}
