//! The full code flow, consent remembered, and the conformance suite's login robot.

use std::path::PathBuf;

use super::*;

const REDIRECT: &str = "http://127.0.0.1:6276/oauth/callback";

#[tokio::test]
async fn full_code_flow_then_consent_is_remembered() {
    let server = spawn().await;
    let client_id = server.register(REDIRECT).await;

    // The login page.
    let response = server
        .browser
        .get(server.authorize_url(&client_id, REDIRECT, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_page_headers(&response);
    let csp = response.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(
        csp.contains("form-action 'self' http://127.0.0.1:6276;"),
        "{csp}"
    );
    let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("outpost_csrf="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    assert!(!cookie.contains("Secure"), "the issuer is http");
    let html = response.text().await.unwrap();
    assert!(html.contains(CLIENT_NAME));
    assert!(html.contains("type=\"password\""));
    assert!(
        html.contains("spellcheck=\"false\" required autofocus>"),
        "the username has the focus first: {html}"
    );
    let ids = (hidden(&html, "request"), hidden(&html, "csrf"));

    // A wrong password: the form again, 401, with the message.
    let response = server.login(&ids, "alice", "wrong").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_page_headers(&response);
    let html = response.text().await.unwrap();
    assert!(html.contains("Wrong username or password"), "{html}");
    assert!(html.contains("value=\"alice\""), "the username is kept");
    assert!(
        html.contains("autocomplete=\"current-password\" required autofocus>"),
        "after a failure the password has the focus: {html}"
    );

    // The right one: the consent page names the client, the redirect host and the scopes.
    let response = server.login(&ids, "alice", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_page_headers(&response);
    let html = response.text().await.unwrap();
    assert!(html.contains(CLIENT_NAME));
    assert!(html.contains("127.0.0.1:6276"));
    assert!(html.contains("mcp:read") && html.contains("mcp:write"));
    assert!(html.contains("value=\"approve\""));

    // Approve: back to the client with code, state and iss.
    let response = server.decide(&ids, "approve").await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let (url, params) = location_params(&response);
    assert!(url.as_str().starts_with(REDIRECT));
    assert_eq!(param(&params, "state"), Some("xyz"));
    assert_eq!(param(&params, "iss"), Some(server.base.as_str()));
    let code = param(&params, "code").unwrap();
    let tokens = server.redeem(&client_id, REDIRECT, code).await;
    assert!(tokens["access_token"].is_string());
    assert!(tokens["refresh_token"].is_string());
    assert_eq!(tokens["scope"], "mcp:read mcp:write");

    // The request is spent: approving again finds nothing.
    let response = server.decide(&ids, "approve").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // A second authorization of alice for this client skips consent.
    let ids = server
        .open_login(server.authorize_url(&client_id, REDIRECT, &[("scope", "mcp:read")]))
        .await;
    let response = server.login(&ids, "alice", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let (_, params) = location_params(&response);
    let code = param(&params, "code").unwrap();
    let tokens = server.redeem(&client_id, REDIRECT, code).await;
    assert_eq!(tokens["scope"], "mcp:read");
}

#[tokio::test]
async fn an_existing_query_is_kept_the_resource_recorded_and_unknown_scopes_dropped() {
    let server = spawn().await;
    let redirect = "http://127.0.0.1:6276/cb?tenant=a%20b";
    let client_id = server.register(redirect).await;
    let resource = format!("{}/mcp", server.base);
    // Scopes the server does not know (here `offline_access`) are left out, not refused.
    let extra = [
        ("resource", resource.as_str()),
        ("scope", "mcp:read offline_access"),
    ];
    let ids = server
        .open_login(server.authorize_url(&client_id, redirect, &extra))
        .await;
    server.login(&ids, "bob", PASSWORD).await;
    let response = server.decide(&ids, "approve").await;
    let (_, params) = location_params(&response);
    assert_eq!(param(&params, "tenant"), Some("a b"));
    let code = param(&params, "code").unwrap();
    let tokens = server.redeem(&client_id, redirect, code).await;
    assert!(tokens["access_token"].is_string());
    assert_eq!(tokens["scope"], "mcp:read", "{tokens}");
}

/// A client of another URL of the same endpoint (Outpost's `/sse`) names that URL as its
/// resource at `/authorize` and `/token`; its tokens are for the default resource.
#[tokio::test]
async fn a_resource_alias_gets_tokens_for_the_default_resource() {
    let alias = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let server = spawn_with({
        let alias = alias.clone();
        move |mut server| {
            let sse = server.default_resource.replace("/mcp", "/sse");
            server.resource_aliases = vec![sse.clone()];
            alias.set(sse).unwrap();
            server
        }
    })
    .await;
    let alias = alias.get().unwrap().as_str();
    let client_id = server.register(REDIRECT).await;
    let url = server.authorize_url(&client_id, REDIRECT, &[("resource", alias)]);
    let ids = server.open_login(url).await;
    server.login(&ids, "alice", PASSWORD).await;
    let response = server.decide(&ids, "approve").await;
    let (_, params) = location_params(&response);
    let code = param(&params, "code").unwrap();
    let (status, tokens) = post_token(
        &server,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("client_id", &client_id),
            ("code_verifier", VERIFIER),
            ("resource", alias),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let audience = |tokens: &Value| {
        use base64::Engine as _;
        let token = tokens["access_token"].as_str().unwrap();
        let claims = token.split('.').nth(1).unwrap();
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(claims)
            .unwrap();
        serde_json::from_slice::<Value>(&claims).unwrap()["aud"].clone()
    };
    let resource = format!("{}/mcp", server.base);
    assert_eq!(audience(&tokens), resource);

    // Refreshing under either name keeps the grant's resource; another is refused.
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (status, tokens) = post_token(
        &server,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &client_id),
            ("resource", alias),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(audience(&tokens), resource);
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let elsewhere = format!("{}/other", server.base);
    let (status, body) = post_token(
        &server,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &client_id),
            ("resource", &elsewhere),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_target");
}

/// RFC 6749 §4.1.3: a client with one registered URI may leave `redirect_uri` out of the
/// authorization request, and then out of the token request; a request that named it must
/// name it again.
#[tokio::test]
async fn the_token_request_repeats_redirect_uri_only_if_the_authorization_request_named_it() {
    let server = spawn().await;
    let client_id = server.register(REDIRECT).await;
    let unnamed = |url: Url| {
        let mut bare = url.clone();
        bare.query_pairs_mut()
            .clear()
            .extend_pairs(url.query_pairs().filter(|(name, _)| name != "redirect_uri"));
        bare
    };
    // No redirect_uri at /authorize: the code goes to the registered URI, and is redeemed
    // without one.
    let ids = server
        .open_login(unnamed(server.authorize_url(&client_id, REDIRECT, &[])))
        .await;
    server.login(&ids, "alice", PASSWORD).await;
    let response = server.decide(&ids, "approve").await;
    let (url, params) = location_params(&response);
    assert!(url.as_str().starts_with(REDIRECT));
    let code = param(&params, "code").unwrap();
    let (status, body) = exchange(&server, &client_id, code, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Named at neither, but repeated right at /token: accepted too.
    let url = unnamed(server.authorize_url(&client_id, REDIRECT, &[]));
    let code = code_for_alice(&server, url).await;
    let (status, body) = exchange(&server, &client_id, &code, Some(REDIRECT)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Named at /authorize, left out at /token: refused.
    let code = code_for_alice(&server, server.authorize_url(&client_id, REDIRECT, &[])).await;
    let (status, body) = exchange(&server, &client_id, &code, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_request");
}

/// The token endpoint's answer to `form`.
async fn post_token(server: &TestServer, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/token", server.base))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

/// Alice's code from `url`, her consent remembered from before.
async fn code_for_alice(server: &TestServer, url: Url) -> String {
    let ids = server.open_login(url).await;
    let response = server.login(&ids, "alice", PASSWORD).await;
    assert_eq!(
        response.status(),
        StatusCode::FOUND,
        "consent is remembered"
    );
    let (_, params) = location_params(&response);
    param(&params, "code").unwrap().to_owned()
}

/// The token endpoint's answer to redeeming `code`, with `redirect_uri` if given.
async fn exchange(
    server: &TestServer,
    client_id: &str,
    code: &str,
    redirect_uri: Option<&str>,
) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("client_id", client_id),
        ("code_verifier", VERIFIER),
    ];
    form.extend(redirect_uri.map(|uri| ("redirect_uri", uri)));
    post_token(server, &form).await
}

/// `shared/tools/login-driver.py` — the official conformance suite's login robot — signs in
/// and approves through the real pages, then follows the redirect to a callback listener.
#[tokio::test]
async fn the_conformance_login_driver_completes_the_flow() {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let Some(driver) = [
        manifest.join("../../../shared/tools/login-driver.py"),
        PathBuf::from("/work/shared/tools/login-driver.py"),
    ]
    .into_iter()
    .find(|p| p.exists()) else {
        eprintln!("login-driver.py not found: skipped");
        return;
    };
    let callback = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirect = format!("http://{}/callback", callback.local_addr().unwrap());
    tokio::spawn(async move {
        let app = axum::Router::new().route("/callback", axum::routing::get(|| async { "ok" }));
        axum::serve(callback, app).await.unwrap();
    });
    let server = spawn().await;
    let client_id = server.register(&redirect).await;
    let url = server.authorize_url(&client_id, &redirect, &[]).to_string();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(driver)
            .args([url.as_str(), "alice", PASSWORD])
            .output()
    })
    .await
    .unwrap();
    let Ok(output) = output else {
        eprintln!("python3 not available: skipped");
        return;
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "driver failed: {stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let final_url = Url::parse(stdout.trim()).unwrap();
    assert!(final_url.as_str().starts_with(&redirect), "{final_url}");
    let params: Vec<(String, String)> = final_url.query_pairs().into_owned().collect();
    assert_eq!(param(&params, "iss"), Some(server.base.as_str()));
    let code = param(&params, "code").unwrap();
    let tokens = server.redeem(&client_id, &redirect, code).await;
    assert!(tokens["access_token"].is_string());
}
