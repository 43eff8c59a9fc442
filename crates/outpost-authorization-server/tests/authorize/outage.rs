//! While the store does not answer, every step of the browser flow shows the `503` page with
//! `Retry-After` — never a redirect to the client, which could not even be validated — and the
//! same flow carries on once the store answers again.

use outpost_store::outage::switchable;

use super::*;

const REDIRECT: &str = "http://127.0.0.1:6276/cb";

/// `response` is the "try again in a moment" page.
async fn assert_unavailable_page(step: &str, response: reqwest::Response) {
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{step}");
    assert!(
        response.headers().get(header::LOCATION).is_none(),
        "{step}: no redirect to the client for our outage"
    );
    assert_eq!(response.headers()[header::RETRY_AFTER], "5", "{step}");
    assert_page_headers(&response);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("Sign-in is temporarily unavailable, try again in a moment"),
        "{step}: {html}"
    );
}

#[tokio::test]
async fn every_page_is_a_503_during_an_outage_and_the_flow_resumes_after() {
    let (store, outage) = switchable(Store::memory());
    let server = spawn_on(store, |server| server).await;
    let client = server.register(REDIRECT).await;
    let url = server.authorize_url(&client, REDIRECT, &[]);

    outage.refuse();
    let response = server.browser.get(url.clone()).send().await.unwrap();
    assert_unavailable_page("/authorize", response).await;

    outage.restore();
    let ids = server.open_login(url).await;
    outage.refuse();
    let response = server.login(&ids, "alice", PASSWORD).await;
    assert_unavailable_page("/login", response).await;

    outage.restore();
    let response = server.login(&ids, "alice", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK, "the consent page");
    outage.refuse();
    let response = server.decide(&ids, "approve").await;
    assert_unavailable_page("/consent", response).await;

    outage.restore();
    let response = server.decide(&ids, "approve").await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let (_, params) = location_params(&response);
    let code = param(&params, "code").expect("a code after the outage");
    let tokens = server.redeem(&client, REDIRECT, code).await;
    assert!(tokens["access_token"].is_string(), "{tokens}");
}
