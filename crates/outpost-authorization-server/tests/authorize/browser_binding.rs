//! A pending request belongs to the browser that opened it: another browser that learns its
//! id (and holds a CSRF pair of its own) can neither sign in to it nor decide it.

use super::*;

const REDIRECT: &str = "http://127.0.0.1:6276/oauth/callback";

#[tokio::test]
async fn another_browser_cannot_decide_a_request_and_the_original_still_can() {
    let server = spawn().await;
    let client_id = server.register(REDIRECT).await;
    let ids = server
        .open_login(server.authorize_url(&client_id, REDIRECT, &[]))
        .await;
    let response = server.login(&ids, "alice", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK, "the consent page");

    // Another browser, with its own CSRF cookie and token, and the victim's request id.
    let intruder = TestServer {
        base: server.base.clone(),
        browser: browser(),
        _server: tokio::spawn(async {}),
    };
    let (_, intruder_csrf) = intruder
        .open_login(intruder.authorize_url(&client_id, REDIRECT, &[]))
        .await;
    let stolen = (ids.0.clone(), intruder_csrf);
    let response = intruder.decide(&stolen, "approve").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get(header::LOCATION).is_none());
    let html = response.text().await.unwrap();
    assert!(html.contains("another browser"), "{html}");
    let response = intruder.login(&stolen, "bob", PASSWORD).await;
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "nor sign in to it"
    );

    // The request was not decided: its own browser approves it.
    let response = server.decide(&ids, "approve").await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let (_, params) = location_params(&response);
    let code = param(&params, "code").unwrap();
    let tokens = server.redeem(&client_id, REDIRECT, code).await;
    assert!(tokens["access_token"].is_string());
}
