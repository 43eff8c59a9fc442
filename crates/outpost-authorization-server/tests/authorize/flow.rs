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
