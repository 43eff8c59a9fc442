//! Per-source budgets behind a reverse proxy: the forwarding headers name the source only
//! when the peer is a trusted proxy, and IPv6 sources share their /64's budget.

use outpost_authorization_server::forwarded::TrustedProxies;

use super::*;

const WRONG: &str = "not-the-secret";

/// A server that trusts the proxies in `ranges` (none: the default), with a confidential
/// client.
async fn behind(ranges: &[&str]) -> (TestServer, (String, String)) {
    let proxies = TrustedProxies::new(ranges.iter().map(|r| r.parse().unwrap()));
    let server = spawn_with(Store::memory(), |state| state.with_trusted_proxies(proxies)).await;
    let client = server.confidential_client().await;
    (server, client)
}

/// An introspection by `client` with `secret`, forwarded with `header`; its status.
async fn introspect_via(
    server: &TestServer,
    (client, secret): (&str, &str),
    header: (&str, &str),
) -> StatusCode {
    server
        .http
        .post(format!("{}/introspect", server.base))
        .basic_auth(client, Some(secret))
        .header(header.0, header.1)
        .form(&[("token", "t")])
        .send()
        .await
        .unwrap()
        .status()
}

/// Spends the failed-client budget of `client` for the source `header` names.
async fn spend(server: &TestServer, client: &str, header: (&str, &str)) {
    for _ in 0..throttle::CLIENT_FAILURES_PER_CLIENT.attempts {
        let status = introspect_via(server, (client, WRONG), header).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
    let (server, (client, secret)) = behind(&[]).await;
    for n in 0..throttle::CLIENT_FAILURES_PER_CLIENT.attempts {
        let spoofed = format!("192.0.2.{n}");
        let status = introspect_via(&server, (&client, WRONG), ("x-forwarded-for", &spoofed)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Every attempt counted for the peer, 127.0.0.1, whatever the header claimed.
    let fresh = ("x-forwarded-for", "198.51.100.1");
    let status = introspect_via(&server, (&client, &secret), fresh).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_address_has_its_own_budget() {
    let (server, (client, secret)) = behind(&["127.0.0.1/32"]).await;
    // The client prepended a fake entry; the proxy appended its real address.
    let first = ("x-forwarded-for", "198.51.100.7, 192.0.2.1");
    spend(&server, &client, first).await;
    let status = introspect_via(&server, (&client, &secret), first).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Another user behind the same proxy is unaffected, and so is the fake entry's address.
    let second = ("x-forwarded-for", "192.0.2.2");
    assert_eq!(
        introspect_via(&server, (&client, &secret), second).await,
        StatusCode::OK
    );
    let faked = ("x-forwarded-for", "198.51.100.7");
    assert_eq!(
        introspect_via(&server, (&client, &secret), faked).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn ipv6_sources_in_one_slash_64_share_a_budget() {
    let (server, (client, secret)) = behind(&["127.0.0.1/32"]).await;
    spend(
        &server,
        &client,
        ("forwarded", "for=\"[2001:db8::1]:1234\""),
    )
    .await;
    let same_64 = ("forwarded", "for=\"[2001:db8::ffff:1]\"");
    assert_eq!(
        introspect_via(&server, (&client, &secret), same_64).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let next_64 = ("forwarded", "for=\"[2001:db8:0:1::1]:1234\"");
    assert_eq!(
        introspect_via(&server, (&client, &secret), next_64).await,
        StatusCode::OK
    );
}
