//! Client ID Metadata Documents: a client whose `client_id` is the https URL of its metadata,
//! fetched from a real loopback https host ([`MetadataHost`]) by the authorization server.

use std::time::Duration;

use outpost_authorization_server::cimd::{self, CimdConfig};

use super::{
    metadata_host::{MetadataHost, Reply},
    *,
};

const REDIRECT: &str = "http://127.0.0.1:6277/oauth/callback";
const NAME: &str = "Metadata Document Client";

/// A server that trusts `host`'s certificate and may fetch from loopback.
async fn spawn_trusting(
    host: &MetadataHost,
    configure: impl FnOnce(&mut CimdConfig),
) -> TestServer {
    let mut config = CimdConfig {
        allow_private_addresses: true,
        extra_root_certificates: vec![host.root_der.clone()],
        ..CimdConfig::default()
    };
    configure(&mut config);
    spawn_with(|server| server.with_client_metadata_documents(config)).await
}

fn document(client_id: &str) -> Value {
    json!({
        "client_id": client_id,
        "client_name": NAME,
        "client_uri": "https://app.example",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    })
}

/// `GET /authorize` for `client_id`: (status, has Location, body).
async fn authorize(
    server: &TestServer,
    client_id: &str,
    redirect_uri: &str,
) -> (StatusCode, bool, String) {
    let response = server
        .browser
        .get(server.authorize_url(client_id, redirect_uri, &[]))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let location = response.headers().contains_key(header::LOCATION);
    (status, location, response.text().await.unwrap())
}

/// Refused with an error page naming `reason`, never redirected.
async fn assert_refused(server: &TestServer, client_id: &str, reason: &str) {
    let (status, location, html) = authorize(server, client_id, REDIRECT).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    assert!(!location, "an unusable client is never redirected to");
    assert!(html.contains(reason), "expected {reason:?} in {html}");
}

#[tokio::test]
async fn metadata_advertises_client_id_metadata_documents() {
    let metadata = |server: TestServer| async move {
        let url = format!("{}/.well-known/oauth-authorization-server", server.base);
        let body: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        body["client_id_metadata_document_supported"].clone()
    };
    assert_eq!(metadata(spawn().await).await, json!(true));
    let off = spawn_with(|server| {
        server.with_client_metadata_documents(CimdConfig {
            enabled: false,
            ..CimdConfig::default()
        })
    })
    .await;
    assert_eq!(metadata(off).await, json!(false));
}

#[tokio::test]
async fn code_flow_with_a_url_client_id() {
    let host = MetadataHost::start().await;
    let client_id = host.url("/oauth/client.json");
    let mut reply = Reply::json(&document(&client_id));
    reply.headers.push("Cache-Control: max-age=600".into());
    host.serve("/oauth/client.json", reply);
    let server = spawn_trusting(&host, |_| {}).await;

    let (status, _, html) = authorize(&server, &client_id, REDIRECT).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(NAME));
    let ids = (hidden(&html, "request"), hidden(&html, "csrf"));

    // Consent names the publishing host first: the name is the document's own claim.
    let response = server.login(&ids, "alice", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    let host_and_port = format!("localhost:{}", host.port);
    assert!(
        html.contains(&format!("<strong><code>{host_and_port}</code></strong>")),
        "{html}"
    );
    assert!(html.contains(NAME) && html.contains("127.0.0.1:6277"));

    let response = server.decide(&ids, "approve").await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let (url, params) = location_params(&response);
    assert!(url.as_str().starts_with(REDIRECT));
    let code = param(&params, "code").unwrap();
    let tokens = server.redeem(&client_id, REDIRECT, code).await;
    assert!(tokens["access_token"].is_string());

    // The refresh token works for the URL client too.
    let response = reqwest::Client::new()
        .post(format!("{}/token", server.base))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", &client_id),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // /authorize, /token twice: one fetch, the rest from the cache.
    assert_eq!(host.hits("/oauth/client.json"), 1);
}

#[tokio::test]
async fn a_document_that_is_not_the_clients_is_refused() {
    let host = MetadataHost::start().await;
    let server = spawn_trusting(&host, |_| {}).await;

    // client_id in the document differs from the URL.
    let client_id = host.url("/mismatch.json");
    host.serve(
        "/mismatch.json",
        Reply::json(&document(&host.url("/other.json"))),
    );
    assert_refused(&server, &client_id, "is not the URL it was fetched from").await;

    // A shared-secret method, a secret in the document.
    let client_id = host.url("/secret.json");
    let mut doc = document(&client_id);
    doc["token_endpoint_auth_method"] = json!("client_secret_basic");
    host.serve("/secret.json", Reply::json(&doc));
    assert_refused(&server, &client_id, "use none").await;
    let client_id = host.url("/leaked.json");
    let mut doc = document(&client_id);
    doc["client_secret"] = json!("s3cret");
    host.serve("/leaked.json", Reply::json(&doc));
    assert_refused(&server, &client_id, "must not contain client_secret").await;

    // DCR rules apply: a redirect URI no client may register.
    let client_id = host.url("/bad-redirect.json");
    let mut doc = document(&client_id);
    doc["redirect_uris"] = json!(["http://app.example/callback"]);
    host.serve("/bad-redirect.json", Reply::json(&doc));
    assert_refused(&server, &client_id, "must use https").await;

    // The token endpoint refuses the client the same way.
    let response = reqwest::Client::new()
        .post(format!("{}/token", server.base))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "whatever"),
            ("redirect_uri", REDIRECT),
            ("client_id", &host.url("/mismatch.json")),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
}

#[tokio::test]
async fn a_redirect_uri_missing_from_the_document_gets_an_error_page() {
    let host = MetadataHost::start().await;
    let client_id = host.url("/client.json");
    host.serve("/client.json", Reply::json(&document(&client_id)));
    let server = spawn_trusting(&host, |_| {}).await;
    let (status, location, html) =
        authorize(&server, &client_id, "http://127.0.0.1:6277/elsewhere").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!location);
    assert!(
        html.contains("not registered for this application"),
        "{html}"
    );
}

#[tokio::test]
async fn unusable_answers_are_refused() {
    let host = MetadataHost::start().await;
    let server = spawn_trusting(&host, |config| {
        config.timeout = Duration::from_millis(700);
    })
    .await;

    // Larger than 64 KiB, without Content-Length: the limit holds while streaming.
    let client_id = host.url("/large.json");
    let mut doc = document(&client_id);
    doc["padding"] = json!("x".repeat(70 * 1024));
    let mut reply = Reply::json(&doc);
    reply.no_length = true;
    host.serve("/large.json", reply);
    assert_refused(&server, &client_id, "larger than 65536 bytes").await;
    // …and with it.
    let client_id = host.url("/large-declared.json");
    let mut doc = document(&client_id);
    doc["padding"] = json!("x".repeat(70 * 1024));
    host.serve("/large-declared.json", Reply::json(&doc));
    assert_refused(&server, &client_id, "larger than 65536 bytes").await;

    // Not JSON: by media type, then by content.
    let client_id = host.url("/page.html");
    let mut reply = Reply::json(&document(&client_id));
    reply.content_type = "text/html";
    host.serve("/page.html", reply);
    assert_refused(&server, &client_id, "is not JSON").await;
    let client_id = host.url("/broken.json");
    let mut reply = Reply::json(&json!(null));
    reply.body = b"{\"client_id\": ".to_vec();
    host.serve("/broken.json", reply);
    assert_refused(&server, &client_id, "not a JSON object").await;

    // Too slow.
    let client_id = host.url("/slow.json");
    let mut reply = Reply::json(&document(&client_id));
    reply.delay = Duration::from_secs(3);
    host.serve("/slow.json", reply);
    assert_refused(&server, &client_id, "timed out").await;

    // Not 200, and redirects are not followed.
    assert_refused(&server, &host.url("/missing.json"), "HTTP 404").await;
    let client_id = host.url("/moved.json");
    let mut reply = Reply::json(&json!({}));
    reply.status = 302;
    reply
        .headers
        .push(format!("Location: {}", host.url("/client.json")));
    host.serve("/moved.json", reply);
    assert_refused(&server, &client_id, "HTTP 302").await;
}

#[tokio::test]
async fn invalid_client_id_urls_are_refused_without_a_fetch() {
    let host = MetadataHost::start().await;
    let server = spawn_trusting(&host, |_| {}).await;
    let port = host.port;
    for (client_id, reason) in [
        (
            format!("http://localhost:{port}/client.json"),
            "must use https",
        ),
        (format!("https://localhost:{port}/"), "must have a path"),
        (
            format!("https://localhost:{port}/a/../client.json"),
            "dot segments",
        ),
        (
            format!("https://user@localhost:{port}/client.json"),
            "username or password",
        ),
    ] {
        assert_refused(&server, &client_id, reason).await;
    }
    assert_eq!(host.hits("/client.json"), 0);
}

#[tokio::test]
async fn loopback_hosts_are_refused_by_default() {
    let host = MetadataHost::start().await;
    host.serve(
        "/client.json",
        Reply::json(&document(&host.url("/client.json"))),
    );
    // Trusts the certificate, but keeps the default: no private addresses.
    let server = spawn_trusting(&host, |config| {
        config.allow_private_addresses = false;
    })
    .await;
    // A name that resolves to loopback, and a loopback IP literal: refused without saying
    // what the name resolves to (nobody may probe the server's network through client ids).
    let literal = format!("https://127.0.0.1:{}/client.json", host.port);
    for client_id in [host.url("/client.json"), literal] {
        let (status, location, html) = authorize(&server, &client_id, REDIRECT).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
        assert!(!location);
        assert!(
            html.contains("could not be fetched from the client_id URL"),
            "{html}"
        );
        assert!(
            !html.contains("127.0.0.1") && !html.contains("public address"),
            "{html}"
        );
    }
    assert_eq!(host.hits("/client.json"), 0, "nothing was fetched");
}

#[tokio::test]
async fn fetches_from_one_host_are_limited() {
    let host = MetadataHost::start().await;
    let server = spawn_trusting(&host, |_| {}).await;
    // Every fetch counts, answered or not (here: 404s).
    for n in 0..cimd::FETCHES_PER_HOST.attempts {
        assert_refused(&server, &host.url(&format!("/c{n}.json")), "HTTP 404").await;
    }
    let next = host.url("/one-more.json");
    host.serve("/one-more.json", Reply::json(&document(&next)));
    assert_refused(&server, &next, "too many client metadata documents").await;
    assert_eq!(host.hits("/one-more.json"), 0, "the host was left alone");
}

#[tokio::test]
async fn a_client_purged_during_login_is_stored_again_at_consent() {
    let host = MetadataHost::start().await;
    let client_id = host.url("/oauth/client.json");
    host.serve("/oauth/client.json", Reply::json(&document(&client_id)));
    let mut store = None;
    let server = spawn_with(|server| {
        store = Some(server.store.clone());
        server.with_client_metadata_documents(CimdConfig {
            allow_private_addresses: true,
            extra_root_certificates: vec![host.root_der.clone()],
            ..CimdConfig::default()
        })
    })
    .await;
    let store = store.unwrap();
    let (status, _, html) = authorize(&server, &client_id, REDIRECT).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let ids = (hidden(&html, "request"), hidden(&html, "csrf"));

    // The maintenance purge removes the client meanwhile: nothing was issued to it yet.
    let removed = store
        .clients
        .purge_unused_documents(i64::MAX)
        .await
        .unwrap();
    assert_eq!(removed.len(), 1);

    server.login(&ids, "alice", PASSWORD).await;
    let response = server.decide(&ids, "approve").await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let (_, params) = location_params(&response);
    let tokens = server
        .redeem(&client_id, REDIRECT, param(&params, "code").unwrap())
        .await;
    assert!(tokens["access_token"].is_string());
}
