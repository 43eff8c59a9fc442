//! A client the operator registered with a `scope` (a clients file) gets no scope beyond it: a
//! request for more is narrowed to what it was registered for. A self-registered client's
//! `scope` is no limit, so the SDKs' step-up with the same client works.

use outpost_store::{ApplicationType, ClientId, ClientRecord, TokenEndpointAuthMethod};

use super::*;

const REDIRECT: &str = "http://127.0.0.1:6276/oauth/callback";

/// Registers a public client limited to `scope`; returns its id.
async fn register_with_scope(server: &TestServer, scope: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{}/register", server.base))
        .json(&json!({
            "redirect_uris": [REDIRECT],
            "application_type": "native",
            "token_endpoint_auth_method": "none",
            "scope": scope,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], scope);
    body["client_id"].as_str().unwrap().to_owned()
}

/// Signs alice in to `url` and approves; the token response.
async fn approve(server: &TestServer, client_id: &str, url: Url) -> Value {
    let ids = server.open_login(url).await;
    let response = server.login(&ids, "alice", PASSWORD).await;
    let response = if response.status() == StatusCode::OK {
        server.decide(&ids, "approve").await
    } else {
        response
    };
    assert_eq!(response.status(), StatusCode::FOUND);
    let (_, params) = location_params(&response);
    let code = param(&params, "code").expect("a code");
    server.redeem(client_id, REDIRECT, code).await
}

#[tokio::test]
async fn an_operator_registered_client_gets_no_scope_beyond_its_registration() {
    let store = Store::memory();
    let client_id = "reporting".to_owned();
    store
        .clients
        .insert(ClientRecord {
            client_id: ClientId::parse(&client_id).unwrap(),
            client_secret_hash: None,
            client_name: Some("Reporting".into()),
            redirect_uris: vec![REDIRECT.into()],
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            response_types: vec!["code".into()],
            token_endpoint_auth_method: TokenEndpointAuthMethod::None,
            application_type: ApplicationType::Native,
            scope: Some("mcp:read".into()),
            created_at: 0,
        })
        .await
        .unwrap();
    let server = spawn_on(store, |state| {
        state.with_preregistered([ClientId::parse("reporting").unwrap()])
    })
    .await;

    let asked = server.authorize_url(&client_id, REDIRECT, &[("scope", "mcp:read mcp:write")]);
    let tokens = approve(&server, &client_id, asked).await;
    assert_eq!(tokens["scope"], "mcp:read", "{tokens}");

    // Without a scope: the default, within what it registered.
    let tokens = approve(
        &server,
        &client_id,
        server.authorize_url(&client_id, REDIRECT, &[]),
    )
    .await;
    assert_eq!(tokens["scope"], "mcp:read", "{tokens}");

    // Nothing it registered: invalid_scope, back to the client.
    let url = server.authorize_url(&client_id, REDIRECT, &[("scope", "mcp:write")]);
    let response = server.browser.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let (_, params) = location_params(&response);
    assert_eq!(param(&params, "error"), Some("invalid_scope"));
}

#[tokio::test]
async fn a_self_registered_client_steps_up_beyond_its_registered_scope() {
    let server = spawn().await;
    let client_id = register_with_scope(&server, "mcp:read").await;
    let asked = server.authorize_url(&client_id, REDIRECT, &[("scope", "mcp:read mcp:write")]);
    let tokens = approve(&server, &client_id, asked).await;
    assert_eq!(tokens["scope"], "mcp:read mcp:write", "{tokens}");
}
