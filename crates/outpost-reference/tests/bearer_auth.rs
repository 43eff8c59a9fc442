//! `AuthMode::Bearer` over real HTTP, token side: the 401 challenge and RFC 9728 metadata,
//! token checks (audience, expiry, issuer, signature, revocation), per-tool scopes, and the
//! caller's identity in `whoami` on the 2026-07-28 fast path.

mod common;
#[path = "bearer/protected.rs"]
mod protected;

use std::time::{Duration, Instant};

use common::read_jsonrpc;
use outpost::{
    auth::{access_token::issue, keyring::Keyring, resource::RequiredScopes},
    store::GrantId,
};
use protected::{
    ISSUER, assert_invalid_token, challenge, now, scope, spawn_protected, spawn_protected_with,
};
use serde_json::{Value, json};

#[tokio::test]
async fn no_token_is_401_naming_metadata_that_resolves() {
    let auth = spawn_protected(RequiredScopes::default()).await;
    let response = auth.call(None, "tools/list", None, json!({})).await;
    assert_eq!(response.status(), 401);
    let metadata_url = auth.app.url("/.well-known/oauth-protected-resource/mcp");
    assert_eq!(
        challenge(&response),
        format!("Bearer resource_metadata=\"{metadata_url}\"")
    );
    // The 2026-07-28 discovery request gets the same answer.
    let discover = auth.call(None, "server/discover", None, json!({})).await;
    assert_eq!(discover.status(), 401);
    assert!(challenge(&discover).contains(&metadata_url));

    for url in [
        metadata_url,
        auth.app.url("/.well-known/oauth-protected-resource"),
    ] {
        let document = auth.app.json_at(&url).await;
        assert_eq!(
            document,
            json!({
                "resource": auth.audience(),
                "authorization_servers": [ISSUER],
                "scopes_supported": ["math", "mcp:tools", "profile"],
                "bearer_methods_supported": ["header"],
            }),
            "{url}"
        );
    }

    // Liveness stays open.
    let health = auth
        .app
        .http
        .get(auth.app.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    // Tokens in the query string are refused, never read.
    let token = auth.token("alice", "mcp:tools").await;
    let query = auth
        .app
        .http
        .post(auth.app.url(&format!("/mcp?access_token={token}")))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(query.status(), 400);
    assert!(challenge(&query).contains("error=\"invalid_request\""));
}

#[tokio::test]
async fn the_http_sse_endpoints_name_metadata_whose_resource_is_sse() {
    // The SDKs refuse metadata whose `resource` is not the URL they connected to (or a parent
    // of it): a client of the 2024-11-05 transport connected to `/sse`.
    let auth = spawn_protected(RequiredScopes::default()).await;
    let metadata_url = auth.app.url("/.well-known/oauth-protected-resource/sse");
    let stream = auth
        .app
        .http
        .get(auth.app.url("/sse"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let message = auth
        .app
        .http
        .post(
            auth.app
                .url("/message?sessionId=00000000-0000-0000-0000-000000000000"),
        )
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .await
        .unwrap();
    for response in [stream, message] {
        assert_eq!(response.status(), 401);
        assert_eq!(
            challenge(&response),
            format!("Bearer resource_metadata=\"{metadata_url}\"")
        );
    }
    let document = auth.app.json_at(&metadata_url).await;
    assert_eq!(document["resource"], auth.app.url("/sse"));
    assert_eq!(document["authorization_servers"], json!([ISSUER]));

    // A token works on either endpoint: both are the one protected resource.
    let token = auth.token("alice", "mcp:tools").await;
    let stream = auth
        .app
        .http
        .get(auth.app.url("/sse"))
        .header("accept", "text/event-stream")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
}

#[tokio::test]
async fn whoami_names_the_caller_on_the_stateless_fast_path() {
    let auth = spawn_protected(RequiredScopes::default()).await;
    let token = auth.token("alice", "mcp:tools profile").await;
    let response = auth.whoami(&token).await;
    assert_eq!(response.status(), 200);
    let answer = read_jsonrpc(response).await;
    assert_eq!(
        answer["result"]["structuredContent"],
        json!({
            "subject": "alice",
            "username": "alice-login",
            "client_id": "client-1",
            "scopes": ["mcp:tools", "profile"],
        }),
        "{answer}"
    );
    // Again: served from the validation cache.
    let again = read_jsonrpc(auth.whoami(&token).await).await;
    assert_eq!(again["result"]["structuredContent"]["subject"], "alice");
    let echo = auth
        .call(
            Some(&token),
            "tools/call",
            Some("echo"),
            json!({ "name": "echo", "arguments": { "message": "hi" } }),
        )
        .await;
    assert_eq!(echo.status(), 200);
    let echo = read_jsonrpc(echo).await;
    assert_eq!(echo["result"]["content"][0]["text"], "Echo: hi");
}

#[tokio::test]
async fn tokens_that_must_be_refused_are_401_invalid_token() {
    let auth = spawn_protected(RequiredScopes::default()).await;

    let mut other_audience = auth.claims("alice", "mcp:tools");
    other_audience.aud = "https://other.example/mcp".into();
    assert_invalid_token(auth.whoami(&auth.mint(&other_audience)).await, "audience").await;

    let mut expired = auth.claims("alice", "mcp:tools");
    expired.iat = now() - 7200;
    expired.exp = now() - 3600;
    let response = auth.whoami(&auth.mint(&expired)).await;
    assert!(challenge(&response).contains("expired"));
    assert_invalid_token(response, "expired").await;

    let mut other_issuer = auth.claims("alice", "mcp:tools");
    other_issuer.iss = "https://evil.example".into();
    assert_invalid_token(auth.whoami(&auth.mint(&other_issuer)).await, "issuer").await;

    let stranger = Keyring::generate(now(), Duration::from_secs(3600)).unwrap();
    let unknown_kid = issue(&stranger, &auth.claims("alice", "mcp:tools")).unwrap();
    assert_invalid_token(auth.whoami(&unknown_kid).await, "unknown kid").await;

    let valid = auth.token("alice", "mcp:tools").await;
    let (signed, signature) = valid.rsplit_once('.').unwrap();
    let mut bad: Vec<char> = signature.chars().collect();
    bad[10] = if bad[10] == 'A' { 'B' } else { 'A' };
    let tampered = format!("{signed}.{}", bad.into_iter().collect::<String>());
    assert_invalid_token(auth.whoami(&tampered).await, "signature").await;

    assert_invalid_token(auth.whoami("not-a-jwt").await, "garbage").await;
}

#[tokio::test]
async fn a_validly_signed_token_without_a_grant_is_401_invalid_token() {
    // What a stolen signing key mints: issuer, audience and signature right, a year to live,
    // and no grant — so nothing could revoke it. Every token the embedded authorization
    // server issues names its grant; one that does not is refused.
    let auth = spawn_protected(RequiredScopes::default()).await;
    let granted = auth.token("alice", "mcp:tools").await;
    assert_eq!(auth.whoami(&granted).await.status(), 200);

    let mut forged = auth.claims("alice", "mcp:tools profile");
    forged.exp = now() + 365 * 24 * 3600;
    assert!(forged.grant_id.is_none());
    let response = auth.whoami(&auth.mint(&forged)).await;
    assert!(
        challenge(&response).contains("no grant"),
        "{}",
        challenge(&response)
    );
    assert_invalid_token(response, "no grant").await;
}

#[tokio::test]
async fn a_revoked_grant_stops_working_within_the_cache_window() {
    let auth = spawn_protected(RequiredScopes::default()).await;
    let grant = auth.live_grant().await;
    let token = auth.mint(
        &auth
            .claims("grace", "mcp:tools")
            .with_grant_id(grant.to_string()),
    );
    assert_eq!(auth.whoami(&token).await.status(), 200);

    auth.store.grants.revoke_grant(grant, now()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let response = auth.whoami(&token).await;
        if response.status() == 401 {
            assert!(challenge(&response).contains("revoked"));
            break;
        }
        assert_eq!(response.status(), 200);
        assert!(Instant::now() < deadline, "revocation not honoured in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A token naming a grant the store does not know fails closed.
    let unknown = auth.mint(
        &auth
            .claims("grace", "mcp:tools")
            .with_grant_id(GrantId::random().to_string()),
    );
    assert_invalid_token(auth.whoami(&unknown).await, "unknown grant").await;
}

#[tokio::test]
async fn a_tool_needing_a_missing_scope_is_403_insufficient_scope() {
    let auth = spawn_protected(RequiredScopes::default().require("add", scope("math"))).await;
    let add = |token: String| {
        let auth = &auth;
        async move {
            auth.call(
                Some(&token),
                "tools/call",
                Some("add"),
                json!({ "name": "add", "arguments": { "a": 1, "b": 2 } }),
            )
            .await
        }
    };
    let response = add(auth.token("alice", "mcp:tools").await).await;
    assert_eq!(response.status(), 403);
    let value = challenge(&response);
    assert!(value.contains("error=\"insufficient_scope\""), "{value}");
    // What the token has plus what the tool needs: a client that replaces its scope with the
    // challenge's keeps access to the other tools.
    assert!(value.contains("scope=\"math mcp:tools\""), "{value}");
    assert!(value.contains("resource_metadata=\""), "{value}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_scope");

    // Other tools stay callable; the scope unlocks the tool.
    assert_eq!(
        auth.whoami(&auth.token("alice", "mcp:tools").await)
            .await
            .status(),
        200
    );
    let allowed = add(auth.token("alice", "mcp:tools math").await).await;
    assert_eq!(allowed.status(), 200);
    let answer = read_jsonrpc(allowed).await;
    assert_eq!(
        answer["result"]["structuredContent"]["sum"], 3.0,
        "{answer}"
    );
}

#[tokio::test]
async fn headers_that_hide_a_scoped_tool_do_not_get_it_called() {
    // The scope check trusts a 2026-07-28 request's Mcp-Method / Mcp-Name only because the
    // transport refuses a body that disagrees with them: naming `echo` in the header while
    // the body calls `add` must never run `add`.
    let auth = spawn_protected(RequiredScopes::default().require("add", scope("math"))).await;
    let token = auth.token("alice", "mcp:tools").await;
    let lying = auth
        .app
        .request_2026(
            "tools/call",
            Some("echo"),
            json!({ "name": "add", "arguments": { "a": 1, "b": 2 } }),
        )
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(lying.status(), 400);
    let body = lying.text().await.unwrap();
    assert!(!body.contains("\"sum\""), "{body}");
    // Any other method goes on without its body being read.
    let listed = auth.call(Some(&token), "tools/list", None, json!({})).await;
    assert_eq!(listed.status(), 200);
}

#[tokio::test]
async fn the_baseline_scope_is_named_in_401s_and_required_of_every_token() {
    let auth = spawn_protected_with(|resource| resource.baseline_scope = scope("mcp:tools")).await;
    let response = auth.call(None, "tools/list", None, json!({})).await;
    assert_eq!(response.status(), 401);
    let value = challenge(&response);
    assert!(value.starts_with("Bearer scope=\"mcp:tools\", "), "{value}");

    let lacking = auth.whoami(&auth.token("alice", "profile").await).await;
    assert_eq!(lacking.status(), 403);
    let value = challenge(&lacking);
    assert!(value.contains("error=\"insufficient_scope\""), "{value}");
    assert!(value.contains("scope=\"mcp:tools profile\""), "{value}");
    assert_eq!(
        auth.whoami(&auth.token("alice", "mcp:tools").await)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn whoami_without_authentication_is_anonymous() {
    let app = common::spawn_app().await;
    let answer = app
        .call_2026("tools/call", Some("whoami"), json!({ "name": "whoami" }))
        .await;
    assert_eq!(
        answer["result"]["content"][0]["text"], "anonymous (server runs without authentication)",
        "{answer}"
    );
    // No protected resource metadata without authentication.
    let metadata = app
        .http
        .get(app.url("/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .unwrap();
    assert_eq!(metadata.status(), 404);
}

/// Sends one HTTP/1.1 request on `stream`, the headers and the body in two writes with a pause
/// between (as httpx does), and returns the status line of the answer.
async fn send_in_two_writes(stream: &mut tokio::net::TcpStream, host: &str, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let head = format!(
        "POST /mcp HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n\
         accept: application/json, text/event-stream\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    // Read until the whole answer (headers + content-length body) is in.
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .expect("an answer within 5s")
            .expect("read");
        assert!(
            n > 0,
            "the server closed the connection: {}",
            String::from_utf8_lossy(&answer)
        );
        answer.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&answer);
        if let Some((head, rest)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if rest.len() >= length {
                return head.lines().next().unwrap().to_owned();
            }
        }
    }
}

#[tokio::test]
async fn a_refused_request_keeps_its_connection_usable() {
    let auth = spawn_protected(RequiredScopes::default()).await;
    let mut stream = tokio::net::TcpStream::connect(auth.app.addr).await.unwrap();
    let host = auth.app.addr.to_string();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    for attempt in 0..2 {
        let status = send_in_two_writes(&mut stream, &host, body).await;
        assert!(status.contains(" 401 "), "attempt {attempt}: {status}");
    }
}
