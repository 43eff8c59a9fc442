//! What `/authorize`, `/login`, `/consent` and `/register` refuse, and how.

use super::*;

const REDIRECT: &str = "http://127.0.0.1:6276/oauth/callback";

/// `GET url` without following redirects.
async fn get(server: &TestServer, url: Url) -> reqwest::Response {
    server.browser.get(url).send().await.unwrap()
}

#[tokio::test]
async fn redirectable_errors_go_back_with_error_state_and_iss() {
    let server = spawn().await;
    let client_id = server.register(REDIRECT).await;
    let base_url = |pkce: Option<&str>, extra: &[(&str, &str)]| {
        let mut url = Url::parse(&format!("{}/authorize", server.base)).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &client_id)
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("state", "s1");
        if let Some(method) = pkce {
            url.query_pairs_mut()
                .append_pair("code_challenge", &challenge())
                .append_pair("code_challenge_method", method);
        }
        for (name, value) in extra {
            url.query_pairs_mut().append_pair(name, value);
        }
        url
    };
    let cases = [
        (base_url(None, &[]), "invalid_request"),
        (base_url(Some("plain"), &[]), "invalid_request"),
        (
            base_url(Some("S256"), &[("scope", "admin")]),
            "invalid_scope",
        ),
        (
            base_url(
                Some("S256"),
                &[("resource", "https://elsewhere.example/mcp")],
            ),
            "invalid_target",
        ),
        // RFC 8707 §2 lets a client name several resources; this server protects one.
        (
            base_url(
                Some("S256"),
                &[
                    ("resource", &format!("{}/mcp", server.base)),
                    ("resource", "https://elsewhere.example/mcp"),
                ],
            ),
            "invalid_target",
        ),
    ];
    for (url, error) in cases {
        let response = get(&server, url.clone()).await;
        assert_eq!(response.status(), StatusCode::FOUND, "{url}");
        let (location, params) = location_params(&response);
        assert!(location.as_str().starts_with(REDIRECT));
        assert_eq!(param(&params, "error"), Some(error), "{url}");
        assert_eq!(param(&params, "state"), Some("s1"));
        assert_eq!(param(&params, "iss"), Some(server.base.as_str()));
    }
    let mut url = base_url(Some("S256"), &[]);
    url.set_query(Some(
        &url.query()
            .unwrap()
            .replace("response_type=code", "response_type=token"),
    ));
    let (_, params) = location_params(&get(&server, url).await);
    assert_eq!(param(&params, "error"), Some("unsupported_response_type"));
    // Only the query carries the answer (`response_modes_supported`).
    for mode in ["fragment", "form_post"] {
        let url = base_url(Some("S256"), &[("response_mode", mode)]);
        let (_, params) = location_params(&get(&server, url).await);
        assert_eq!(param(&params, "error"), Some("invalid_request"), "{mode}");
    }
    let url = base_url(Some("S256"), &[("response_mode", "query")]);
    assert_eq!(get(&server, url).await.status(), StatusCode::OK);
}

/// A client that registered itself with a web redirect URI could be anyone's: an error found
/// before the user signed in is shown, with a link that takes it back, instead of sending the
/// browser there unasked (RFC 9700 §4.11.2, a phishing link on the server's address).
#[tokio::test]
async fn a_self_registered_web_client_gets_its_errors_through_a_link() {
    let server = spawn().await;
    let web = "https://app.example/callback";
    let response = reqwest::Client::new()
        .post(format!("{}/register", server.base))
        .json(&json!({
            "client_name": "Web app",
            "redirect_uris": [web],
            "token_endpoint_auth_method": "none",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let client_id = response.json::<Value>().await.unwrap()["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut url = server.authorize_url(&client_id, web, &[]);
    url.query_pairs_mut()
        .append_pair("resource", "https://elsewhere.example/mcp");
    let response = get(&server, url).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get(header::LOCATION).is_none());
    assert_page_headers(&response);
    let page = response.text().await.unwrap();
    let href = page
        .split("href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a link back")
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    let back = Url::parse(&href).unwrap();
    assert!(back.as_str().starts_with(web), "{back}");
    let params: Vec<(String, String)> = back.query_pairs().into_owned().collect();
    assert_eq!(param(&params, "error"), Some("invalid_target"));
    assert_eq!(param(&params, "state"), Some("xyz"));
    assert_eq!(param(&params, "iss"), Some(server.base.as_str()));
}

#[tokio::test]
async fn unknown_clients_and_redirect_mismatches_get_a_page_never_a_redirect() {
    let server = spawn().await;
    let client_id = server.register(REDIRECT).await;
    let unknown = server.authorize_url("no-such-client", REDIRECT, &[]);
    let mismatch = server.authorize_url(&client_id, "http://127.0.0.1:6276/elsewhere", &[]);
    let foreign = server.authorize_url(&client_id, "https://attacker.example/cb", &[]);
    for url in [unknown, mismatch, foreign] {
        let response = get(&server, url.clone()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{url}");
        assert!(response.headers().get(header::LOCATION).is_none());
        assert_page_headers(&response);
        let csp = response.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(csp.contains("form-action 'self';"), "error pages: {csp}");
        assert!(response.text().await.unwrap().contains("<h1>"));
    }
    // A loopback redirect on another port matches (RFC 8252 §7.3).
    let other_port = "http://127.0.0.1:40001/oauth/callback";
    let response = get(&server, server.authorize_url(&client_id, other_port, &[])).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn forms_without_the_csrf_cookie_or_field_are_refused() {
    let server = spawn().await;
    let client_id = server.register(REDIRECT).await;
    let (request, csrf) = server
        .open_login(server.authorize_url(&client_id, REDIRECT, &[]))
        .await;
    // The right cookie, no field.
    let response = server
        .post_form(
            "login",
            &[
                ("request", &request),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_page_headers(&response);
    // The field, but another browser (no cookie).
    let response = browser()
        .post(format!("{}/login", server.base))
        .form(&[
            ("request", request.as_str()),
            ("csrf", csrf.as_str()),
            ("username", "alice"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // Consent cannot be posted for a request nobody signed in to.
    let ids = (request, csrf);
    let response = server.decide(&ids, "approve").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn deny_sends_access_denied() {
    let server = spawn().await;
    let client_id = server.register(REDIRECT).await;
    let ids = server
        .open_login(server.authorize_url(&client_id, REDIRECT, &[]))
        .await;
    assert_eq!(
        server.login(&ids, "alice", PASSWORD).await.status(),
        StatusCode::OK
    );
    let response = server.decide(&ids, "deny").await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let (_, params) = location_params(&response);
    assert_eq!(param(&params, "error"), Some("access_denied"));
    assert_eq!(param(&params, "state"), Some("xyz"));
    assert_eq!(param(&params, "iss"), Some(server.base.as_str()));
    assert_eq!(param(&params, "code"), None);
}

#[tokio::test]
async fn password_guessing_locks_the_account_not_its_neighbours() {
    let server = spawn().await;
    let client_id = server.register(REDIRECT).await;
    let ids = server
        .open_login(server.authorize_url(&client_id, REDIRECT, &[]))
        .await;
    for attempt in 1..=5 {
        let response = server.login(&ids, "alice", "guess").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{attempt}");
    }
    for password in ["guess", PASSWORD] {
        let response = server.login(&ids, "alice", password).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(response.headers().contains_key(header::RETRY_AFTER));
        assert_page_headers(&response);
        let html = response.text().await.unwrap();
        assert!(html.contains("Too many failed sign-in attempts"), "{html}");
    }
    // Bob, from the same address, is under both of his limits.
    let response = server.login(&ids, "bob", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn normal_logins_are_never_throttled() {
    let server = spawn().await;
    let client_id = server.register(REDIRECT).await;
    for _ in 0..8 {
        let ids = server
            .open_login(server.authorize_url(&client_id, REDIRECT, &[]))
            .await;
        let response = server.login(&ids, "alice", PASSWORD).await;
        assert!(response.status().is_success() || response.status() == StatusCode::FOUND);
        if response.status() == StatusCode::OK {
            server.decide(&ids, "approve").await;
        }
    }
}

#[tokio::test]
async fn pending_requests_are_limited_per_source() {
    let server = spawn().await;
    let client_id = server.register(REDIRECT).await;
    let url = server.authorize_url(&client_id, REDIRECT, &[]);
    let budget = outpost_authorization_server::pending::PENDING_PER_SOURCE;
    for _ in 0..budget.attempts {
        assert_eq!(get(&server, url.clone()).await.status(), StatusCode::OK);
    }
    let response = get(&server, url).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    assert_page_headers(&response);
    let html = response.text().await.unwrap();
    assert!(html.contains("Too many sign-in requests"), "{html}");
}

/// Another site's page can make its visitors' browsers request `/authorize` (images, frames,
/// scripts' fetches): the browser says so in its Fetch Metadata headers, and such requests
/// are refused without spending the source's budget, which a sign-in opened as a page still
/// has whole.
#[tokio::test]
async fn requests_a_page_embeds_are_refused_without_spending_the_budget() {
    let server = spawn().await;
    let client_id = server.register(REDIRECT).await;
    let url = server.authorize_url(&client_id, REDIRECT, &[]);
    let budget = outpost_authorization_server::pending::PENDING_PER_SOURCE;
    let embedded = [
        ("no-cors", "image"),
        ("navigate", "iframe"),
        ("cors", "empty"),
        ("no-cors", "empty"),
    ];
    for n in 0..=budget.attempts {
        let (mode, dest) = embedded[n as usize % embedded.len()];
        let response = server
            .browser
            .get(url.clone())
            .header("sec-fetch-mode", mode)
            .header("sec-fetch-dest", dest)
            .header("sec-fetch-site", "cross-site")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{mode} {dest}");
        assert_page_headers(&response);
        assert!(!response.headers().contains_key(header::SET_COOKIE));
    }
    for _ in 0..budget.attempts {
        let response = server
            .browser
            .get(url.clone())
            .header("sec-fetch-mode", "navigate")
            .header("sec-fetch-dest", "document")
            .header("sec-fetch-site", "cross-site")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn registrations_are_throttled_per_source() {
    let server = spawn().await;
    for _ in 0..20 {
        server.register(REDIRECT).await;
    }
    let response = reqwest::Client::new()
        .post(format!("{}/register", server.base))
        .json(&json!({ "redirect_uris": [REDIRECT] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=600).contains(&retry_after));
}

/// Served without connect info, there is no peer address to count failed token requests
/// under: they are not throttled (a shared bucket would let anyone block every refresh).
#[tokio::test]
async fn token_failures_are_not_throttled_without_a_peer_address() {
    let (listener, base, state) = common::on_loopback(Store::memory(), 0).await;
    tokio::spawn(async move { axum::serve(listener, routes(state)).await.unwrap() });
    let http = reqwest::Client::new();
    let registered: Value = http
        .post(format!("{base}/register"))
        .json(&json!({
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "client_secret_post"
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = registered["client_id"].as_str().unwrap();
    let limit = outpost_authorization_server::throttle::CLIENT_FAILURES_PER_CLIENT.attempts;
    for _ in 0..2 * limit {
        let response = http
            .post(format!("{base}/token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", "guess"),
                ("client_id", client_id),
                ("client_secret", "not-the-secret"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
}
