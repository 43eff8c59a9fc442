//! A client gets no scope beyond the scope it registered (RFC 7591 §2 `scope`): a request for
//! more is narrowed to what it registered.

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
async fn a_client_gets_no_scope_beyond_what_it_registered() {
    let server = spawn().await;
    let client_id = register_with_scope(&server, "mcp:read").await;

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
