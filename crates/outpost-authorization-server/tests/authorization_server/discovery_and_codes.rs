//! Discovery, registration and the code exchange, one rule each.

use super::*;

#[tokio::test]
async fn metadata_lists_the_endpoints_without_nulls() {
    let server = spawn(Store::memory()).await;
    let metadata = server.get("/.well-known/oauth-authorization-server").await;
    assert_no_nulls(&metadata);
    let base = &server.base;
    assert_eq!(metadata["issuer"], json!(base));
    for (member, path) in [
        ("authorization_endpoint", "authorize"),
        ("token_endpoint", "token"),
        ("registration_endpoint", "register"),
        ("revocation_endpoint", "revoke"),
        ("introspection_endpoint", "introspect"),
        ("jwks_uri", "jwks.json"),
    ] {
        assert_eq!(
            metadata[member],
            json!(format!("{base}/{path}")),
            "{member}"
        );
    }
    assert_eq!(metadata["response_types_supported"], json!(["code"]));
    assert_eq!(metadata["response_modes_supported"], json!(["query"]));
    assert_eq!(
        metadata["grant_types_supported"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        json!(["S256"])
    );
    // OpenID Connect Discovery §3 marks these REQUIRED; clients reading the OpenID path check.
    assert_eq!(metadata["subject_types_supported"], json!(["public"]));
    assert_eq!(
        metadata["id_token_signing_alg_values_supported"],
        json!(["ES256"])
    );
    assert_eq!(
        metadata["token_endpoint_auth_methods_supported"],
        json!(["none", "client_secret_basic", "client_secret_post"])
    );
    assert_eq!(
        metadata["scopes_supported"],
        json!(["mcp:read", "mcp:write"])
    );
    assert_eq!(
        metadata["authorization_response_iss_parameter_supported"],
        json!(true)
    );
    assert_eq!(
        metadata["client_id_metadata_document_supported"],
        json!(true)
    );
    let openid = server.get("/.well-known/openid-configuration").await;
    assert_eq!(openid, metadata);
}

#[tokio::test]
async fn jwks_publishes_the_signing_key() {
    let server = spawn(Store::memory()).await;
    let jwks = server.get("/jwks.json").await;
    let kid = server.state.keyring().signing_key(T0).kid().to_owned();
    assert_eq!(jwks["keys"][0]["kid"], json!(kid));
    assert_eq!(jwks["keys"][0]["alg"], json!("ES256"));
}

#[tokio::test]
async fn native_public_client_registers_with_a_loopback_redirect() {
    let server = spawn(Store::memory()).await;
    let (status, body) = server
        .register(json!({
            "redirect_uris": ["http://localhost:6274/oauth/callback/debug"],
            "application_type": "native",
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "client_name": "MCP Inspector",
            "scope": "mcp:read unknown",
            "client_uri": "https://ignored.example",
        }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_no_nulls(&body);
    assert!(body["client_id"].is_string());
    assert_eq!(body["client_id_issued_at"], json!(T0));
    assert_eq!(
        body["redirect_uris"],
        json!(["http://localhost:6274/oauth/callback/debug"])
    );
    assert_eq!(body["token_endpoint_auth_method"], json!("none"));
    assert_eq!(body["application_type"], json!("native"));
    assert_eq!(body["scope"], json!("mcp:read"));
    assert!(body.get("client_secret").is_none());
}

#[tokio::test]
async fn dangerous_redirects_are_refused() {
    let server = spawn(Store::memory()).await;
    for uri in [
        "javascript:alert(1)",
        "ws://evil.example/cb",
        "https://app.example/cb#frag",
        "http://app.example/cb",
        // Not URIs as RFC 3986 writes them: a parser would send the browser elsewhere.
        "https:///evil.example/cb",
        "https://good.example\\@evil.example/cb",
        "https://app.example/cb\r\nSet-Cookie: x=1",
    ] {
        let (status, body) = server
            .register(json!({"redirect_uris": [uri], "token_endpoint_auth_method": "none"}))
            .await;
        assert_error(
            status,
            &body,
            (StatusCode::BAD_REQUEST, "invalid_redirect_uri"),
        );
    }
    let (status, body) = server.register(json!({"client_name": "x"})).await;
    assert_error(
        status,
        &body,
        (StatusCode::BAD_REQUEST, "invalid_redirect_uri"),
    );
    for metadata in [
        json!({"redirect_uris": [REDIRECT], "grant_types": ["implicit"]}),
        json!({"redirect_uris": [REDIRECT], "response_types": []}),
        // A right-to-left override would show this name reversed on the consent page.
        json!({"redirect_uris": [REDIRECT], "client_name": "\u{202E}gnp.exe Claude"}),
        json!({"redirect_uris": [REDIRECT], "client_name": "Claude\u{200B}"}),
    ] {
        let (status, body) = server.register(metadata.clone()).await;
        assert_error(
            status,
            &body,
            (StatusCode::BAD_REQUEST, "invalid_client_metadata"),
        );
    }
}

#[tokio::test]
async fn confidential_client_gets_a_secret_and_must_use_it() {
    let server = spawn(Store::memory()).await;
    let (status, body) = server
        .register(json!({"redirect_uris": [REDIRECT], "application_type": "native"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["token_endpoint_auth_method"],
        json!("client_secret_basic")
    );
    assert_eq!(body["client_secret_expires_at"], json!(0));
    let id = body["client_id"].as_str().unwrap();
    let secret = body["client_secret"].as_str().unwrap();
    let user = server.user("alice").await;

    let code = server.code(id, user, "mcp:read").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let (status, body, headers) = server.post("/token", &form, Some((id, "wrong"))).await;
    assert_error(status, &body, (StatusCode::UNAUTHORIZED, "invalid_client"));
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );

    // The failed attempt did not spend the code: the client was refused before it.
    let (status, body, headers) = server.post("/token", &form, Some((id, secret))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["scope"], json!("mcp:read"));
}

#[tokio::test]
async fn code_exchange_issues_tokens_for_the_resource() {
    let server = spawn(Store::memory()).await;
    let client = server.public_client().await;
    let user = server.user("alice").await;
    let code = server.code(&client, user, "mcp:read mcp:write").await;
    let (status, body, headers) = server.exchange(&client, &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_no_nulls(&body);
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["token_type"], json!("Bearer"));
    assert_eq!(body["expires_in"], json!(3600));
    assert_eq!(body["scope"], json!("mcp:read mcp:write"));
    assert!(body["refresh_token"].is_string());

    let token = body["access_token"].as_str().unwrap();
    let keyring = server.state.keyring().clone();
    let claims =
        access_token::verify(&keyring, token, &server.base, &server.resource(), T0).unwrap();
    assert_eq!(claims.sub, user.to_string());
    assert_eq!(claims.client_id, client);
    assert_eq!(claims.username.as_deref(), Some("alice"));
    assert!(claims.grant_id.is_some());
    assert!(access_token::verify(&keyring, token, &server.base, "https://other/mcp", T0).is_err());

    // Replay: the code was spent, and what its first use obtained is revoked (RFC 6749
    // §4.1.2): the refresh token no longer works, the access token's grant is revoked.
    let refresh_token = body["refresh_token"].as_str().unwrap().to_owned();
    let (status, replay, _) = server.exchange(&client, &code).await;
    assert_error(status, &replay, (StatusCode::BAD_REQUEST, "invalid_grant"));
    let (status, body) = server.refresh(&client, &refresh_token, None).await;
    assert_error(status, &body, (StatusCode::BAD_REQUEST, "invalid_grant"));
    let grant = outpost_store::GrantId::parse(claims.grant_id.as_deref().unwrap()).unwrap();
    assert!(server.state.store.grants.is_revoked(grant).await.unwrap());
}

#[tokio::test]
async fn bad_code_exchanges_are_refused() {
    let server = spawn(Store::memory()).await;
    let client = server.public_client().await;
    let user = server.user("alice").await;
    let wrong_verifier = "x".repeat(43);
    let other_redirect = "http://127.0.0.1:6276/elsewhere";
    for (name, value, expected) in [
        ("code_verifier", wrong_verifier.as_str(), "invalid_grant"),
        // Not a verifier at all (RFC 7636 §4.1: 43–128 characters): it cannot match either.
        ("code_verifier", "too-short", "invalid_grant"),
        ("redirect_uri", other_redirect, "invalid_grant"),
        ("resource", "https://other.example/mcp", "invalid_target"),
    ] {
        let code = server.code(&client, user, "mcp:read").await;
        let resource = server.resource();
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("client_id", client.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("resource", resource.as_str()),
        ];
        form.retain(|(n, _)| *n != name);
        form.push((name, value));
        let (status, body, _) = server.post("/token", &form, None).await;
        assert_error(status, &body, (StatusCode::BAD_REQUEST, expected));
        // Whatever was wrong, the code is spent (RFC 6749 §4.1.2).
        let (status, body, _) = server.exchange(&client, &code).await;
        assert_error(status, &body, (StatusCode::BAD_REQUEST, "invalid_grant"));
    }
    // The authorization request named its redirect_uri, so the token request must repeat it
    // (RFC 6749 §4.1.3).
    let code = server.code(&client, user, "mcp:read").await;
    let without_redirect = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", client.as_str()),
        ("code_verifier", VERIFIER),
    ];
    let (status, body, _) = server.post("/token", &without_redirect, None).await;
    assert_error(status, &body, (StatusCode::BAD_REQUEST, "invalid_request"));
    let code = server.code(&client, user, "mcp:read").await;
    let (status, body, _) = server.exchange("no-such-client", &code).await;
    assert_error(status, &body, (StatusCode::UNAUTHORIZED, "invalid_client"));
    let (status, body, _) = server
        .post(
            "/token",
            &[("grant_type", "password"), ("client_id", &client)],
            None,
        )
        .await;
    assert_error(
        status,
        &body,
        (StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    );
    // An expired code is as good as none.
    server.clock.0.fetch_add(61, Ordering::SeqCst);
    let (status, body, _) = server.exchange(&client, &code).await;
    assert_error(status, &body, (StatusCode::BAD_REQUEST, "invalid_grant"));
}

#[tokio::test]
async fn browser_clients_may_call_discovery_registration_and_token() {
    let server = spawn(Store::memory()).await;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/register",
        "/token",
        "/revoke",
    ] {
        let preflight = server
            .http
            .request(reqwest::Method::OPTIONS, format!("{}{path}", server.base))
            .header("origin", "http://localhost:6274")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
            .await
            .unwrap();
        assert!(
            preflight.status().is_success(),
            "{path}: {}",
            preflight.status()
        );
        assert_eq!(
            preflight.headers()["access-control-allow-origin"],
            "*",
            "{path}"
        );
    }
    let metadata = server
        .http
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            server.base
        ))
        .header("origin", "http://localhost:6274")
        .send()
        .await
        .unwrap();
    assert_eq!(metadata.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn without_dynamic_registration_register_is_not_found_and_not_advertised() {
    let server = spawn_with(
        Store::memory(),
        AuthorizationServer::without_dynamic_client_registration,
    )
    .await;
    let metadata = server.get("/.well-known/oauth-authorization-server").await;
    assert!(
        metadata.get("registration_endpoint").is_none(),
        "{metadata}"
    );
    assert_eq!(
        metadata["token_endpoint"],
        json!(format!("{}/token", server.base))
    );
    let response = server
        .http
        .post(format!("{}/register", server.base))
        .json(&json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

/// RFC 7591 §3.1: registration metadata comes as `application/json`; a body sent as anything
/// else (another site's form posts `text/plain` without a preflight) is refused, and does not
/// spend the source's registrations.
#[tokio::test]
async fn registration_takes_json_only() {
    let server = spawn(Store::memory()).await;
    let metadata = json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"});
    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let response = server
            .http
            .post(format!("{}/register", server.base))
            .header("content-type", content_type)
            .body(metadata.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_error(
            status,
            &body,
            (StatusCode::BAD_REQUEST, "invalid_client_metadata"),
        );
    }
    let response = server
        .http
        .post(format!("{}/register", server.base))
        .header("content-type", "application/json; charset=utf-8")
        .body(metadata.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}
