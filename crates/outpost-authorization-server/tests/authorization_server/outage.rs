//! While the store does not answer, every JSON endpoint that needs it answers `503
//! temporarily_unavailable` with `Retry-After` and `Cache-Control: no-store`, at once; the
//! keyring loaded last keeps signing; and once the store answers again the same server serves
//! the same tokens. The store is a SQLite file behind `outage::switchable`.

use std::time::Duration;

use outpost_store::outage::{OutageSwitch, switchable};

use super::*;

/// A server on a fresh SQLite file whose store can be switched off.
async fn spawn_switchable() -> (TestServer, OutageSwitch) {
    let path = std::env::temp_dir().join(format!("outpost-as-{}.db", uuid::Uuid::new_v4()));
    let (store, outage) = switchable(outpost_store_sqlite::open(&path).await.unwrap());
    (spawn(store).await, outage)
}

/// `answer` is the 503 of an unreachable store.
fn assert_unavailable(endpoint: &str, answer: (StatusCode, Value, HeaderMap)) {
    let (status, body, headers) = answer;
    assert_error(
        status,
        &body,
        (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable"),
    );
    assert!(body["error_description"].is_string(), "{endpoint}: {body}");
    assert_eq!(headers["retry-after"], "5", "{endpoint}");
    assert_eq!(headers["cache-control"], "no-store", "{endpoint}");
}

#[tokio::test]
async fn an_unreachable_store_is_a_503_at_every_endpoint_then_the_same_tokens_work() {
    let (server, outage) = spawn_switchable().await;
    let client = server.public_client().await;
    let (rs, rs_secret) = server.resource_server().await;
    let user = server.user("alice").await;
    let tokens = server.tokens(&client, user).await;
    let code = server.code(&client, user, "mcp:read").await;

    outage.refuse();
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", tokens.refresh.as_str()),
        ("client_id", client.as_str()),
    ];
    let no_hang = Duration::from_secs(5);
    let answer = tokio::time::timeout(no_hang, server.post("/token", &refresh, None))
        .await
        .expect("/token answers at once");
    assert_unavailable("/token refresh", answer);
    assert_unavailable("/token code", server.exchange(&client, &code).await);
    let basic = Some((rs.as_str(), rs_secret.as_str()));
    let token = [("token", tokens.access.as_str())];
    assert_unavailable(
        "/introspect",
        server.post("/introspect", &token, basic).await,
    );
    let revoke = [("token", tokens.refresh.as_str()), ("client_id", &client)];
    assert_unavailable("/revoke", server.post("/revoke", &revoke, None).await);
    let response = server
        .http
        .post(format!("{}/register", server.base))
        .json(&json!({ "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none" }))
        .send()
        .await
        .unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let body: Value = response.json().await.unwrap();
    assert_unavailable("/register", (status, body, headers));
    // Discovery and keys need no store.
    server.get("/.well-known/oauth-authorization-server").await;
    server.get("/jwks.json").await;

    outage.restore();
    let (status, body) = server.refresh(&client, &tokens.refresh, None).await;
    assert_eq!(status, StatusCode::OK, "the refresh token survived: {body}");
    let facts = server.introspect(&tokens.access, (&rs, &rs_secret)).await;
    assert_eq!(facts["active"], true, "{facts}");
    let (status, body, _) = server.exchange(&client, &code).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the code was not spent by the outage: {body}"
    );
}

#[tokio::test]
async fn a_key_reload_during_an_outage_keeps_the_keys_and_catches_up_after() {
    let (server, outage) = spawn_switchable().await;
    let kid = server.state.keyring().signing_key(T0).kid().to_owned();
    outage.refuse();
    assert!(server.state.reload_keyring(T0 + 60).await.is_err());
    assert_eq!(
        server.state.keyring().signing_key(T0).kid(),
        kid,
        "last keys kept"
    );
    outage.restore();
    let client = server.public_client().await;
    let user = server.user("bob").await;
    let tokens = server.tokens(&client, user).await;
    let claims = access_token::verify(
        &server.state.keyring(),
        &tokens.access,
        &server.base,
        &server.resource(),
        T0,
    )
    .unwrap();
    assert_eq!(claims.sub, user.to_string());
    assert!(!server.state.reload_keyring(T0 + 120).await.unwrap());
}

#[tokio::test]
async fn a_refresh_whose_rotation_answer_was_lost_gets_its_tokens_and_keeps_the_grant() {
    let (server, outage) = spawn_switchable().await;
    let client = server.public_client().await;
    let user = server.user("carol").await;
    let tokens = server.tokens(&client, user).await;

    // The store rotates the token, but its answer comes after the caller's timeout: told to
    // retry, the client would present a rotated token and lose the grant. The server asks the
    // store how it went instead, and answers the rotation.
    outage.lose_next_answer_of("rotate");
    let (status, body) = server.refresh(&client, &tokens.refresh, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let successor = body["refresh_token"]
        .as_str()
        .expect("a successor")
        .to_owned();
    assert_ne!(successor, tokens.refresh);

    let (status, body) = server.refresh(&client, &successor, None).await;
    assert_eq!(status, StatusCode::OK, "the grant lives: {body}");
}
