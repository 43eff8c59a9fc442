//! Two instances behind one public URL, as a load balancer would spread one browser over
//! them: two authorization servers on two loopback ports, each with its own connection to one
//! SQLite file. Every step of a login may land on either, the throttle budgets are theirs
//! together, and a metadata document one of them fetched is the other's too.

use std::sync::Arc;

use outpost_authorization_server::cimd::CimdConfig;

use super::{
    metadata_host::{MetadataHost, Reply},
    *,
};

const REDIRECT: &str = "http://127.0.0.1:6276/oauth/callback";

/// The SQLite file of a test, removed (with its WAL files) on drop.
struct StoreFile(std::path::PathBuf);

impl Drop for StoreFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Two instances on one SQLite file with users alice and bob, issuing as the first one's URL,
/// driven by one browser.
async fn two_instances() -> (StoreFile, TestServer, TestServer) {
    two_instances_with(|server| server).await
}

/// [`two_instances`], each server adjusted by `configure` first.
async fn two_instances_with(
    configure: impl Fn(AuthorizationServer) -> AuthorizationServer,
) -> (StoreFile, TestServer, TestServer) {
    let file = StoreFile(
        std::env::temp_dir().join(format!("outpost-instances-{}.db", uuid::Uuid::new_v4())),
    );
    let first_store = outpost_store_sqlite::open(&file.0).await.unwrap();
    add_users(&first_store).await;
    let second_store = outpost_store_sqlite::open(&file.0).await.unwrap();
    let now = SystemClock.now();
    let (first_listener, first_base, first) = common::on_loopback(first_store, now).await;
    let (second_listener, second_base, second) = common::on_loopback(second_store, now).await;
    // One public issuer and resource, whichever instance answers.
    let second = AuthorizationServer {
        issuer: first.issuer.clone(),
        default_resource: first.default_resource.clone(),
        ..second
    };
    let browser = browser();
    let instance = |listener, base, server| TestServer {
        base,
        browser: browser.clone(),
        _server: tokio::spawn(async move {
            let app = routes(server).into_make_service_with_connect_info::<SocketAddr>();
            axum::serve(listener, app).await.unwrap();
        }),
    };
    let first = instance(first_listener, first_base, configure(first));
    let second = instance(second_listener, second_base, configure(second));
    (file, first, second)
}

async fn add_users(store: &Store) {
    for name in ["alice", "bob"] {
        let user = UserRecord {
            id: UserId::random(),
            username: Username::parse(name).unwrap(),
            password_hash: hash_password(PASSWORD).unwrap(),
            allowed_scopes: Default::default(),
            created_at: 0,
        };
        store.users.create(user).await.unwrap();
    }
}

#[tokio::test]
async fn a_login_spread_over_two_instances_completes() {
    let (_file, first, second) = two_instances().await;
    let client_id = first.register(REDIRECT).await;

    // `/authorize` on the first, the password on the second, consent on the first.
    let ids = first
        .open_login(first.authorize_url(&client_id, REDIRECT, &[]))
        .await;
    let response = second.login(&ids, "alice", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK, "the consent page");
    let response = first.decide(&ids, "approve").await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let (url, params) = location_params(&response);
    assert!(url.as_str().starts_with(REDIRECT));
    assert_eq!(param(&params, "iss"), Some(first.base.as_str()));

    // The code at the second instance's `/token`.
    let tokens = second
        .redeem(&client_id, REDIRECT, param(&params, "code").unwrap())
        .await;
    assert!(tokens["access_token"].is_string());
    assert!(tokens["refresh_token"].is_string());
    // The request is spent everywhere.
    assert_eq!(
        second.decide(&ids, "approve").await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn two_instances_share_the_failed_login_budget() {
    let (_file, first, second) = two_instances().await;
    let client_id = first.register(REDIRECT).await;
    let ids = second
        .open_login(second.authorize_url(&client_id, REDIRECT, &[]))
        .await;
    let budget = outpost_authorization_server::throttle::LOGIN_FAILURES_PER_ACCOUNT_AND_SOURCE;
    for n in 0..budget.attempts {
        let instance = if n % 2 == 0 { &first } else { &second };
        let response = instance.login(&ids, "bob", "guess").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "attempt {n}");
    }
    for instance in [&first, &second] {
        let response = instance.login(&ids, "bob", "guess").await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(response.headers().contains_key(header::RETRY_AFTER));
    }
}

#[tokio::test]
async fn a_concurrent_burst_split_over_two_instances_has_one_budget() {
    let (_file, first, second) = two_instances().await;
    let client_id = first.register(REDIRECT).await;
    let ids = first
        .open_login(first.authorize_url(&client_id, REDIRECT, &[]))
        .await;
    let (first, second) = (Arc::new(first), Arc::new(second));
    let burst: Vec<_> = (0..16)
        .map(|n| {
            let instance = if n % 2 == 0 { &first } else { &second }.clone();
            let ids = ids.clone();
            tokio::spawn(async move {
                let response = instance.login(&ids, "bob", "guess").await;
                (response.status(), response.headers().clone())
            })
        })
        .collect();
    let mut evaluated = 0;
    for attempt in burst {
        match attempt.await.unwrap() {
            (StatusCode::UNAUTHORIZED, _) => evaluated += 1,
            (StatusCode::TOO_MANY_REQUESTS, headers) => {
                assert!(headers.contains_key(header::RETRY_AFTER));
            }
            (other, _) => panic!("unexpected {other}"),
        }
    }
    let budget = outpost_authorization_server::throttle::LOGIN_FAILURES_PER_ACCOUNT_AND_SOURCE;
    assert_eq!(
        evaluated, budget.attempts,
        "one budget for the deployment, not one per instance"
    );
    for instance in [&first, &second] {
        let response = instance.login(&ids, "bob", PASSWORD).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "locked");
    }
}

#[tokio::test]
async fn a_metadata_document_is_fetched_once_for_both_instances() {
    let host = MetadataHost::start().await;
    let client_id = host.url("/client.json");
    let document = json!({
        "client_id": client_id,
        "client_name": "Shared Document Client",
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "none",
    });
    host.serve("/client.json", Reply::json(&document));
    let config = CimdConfig {
        allow_private_addresses: true,
        extra_root_certificates: vec![host.root_der.clone()],
        ..CimdConfig::default()
    };
    let (_file, first, second) =
        two_instances_with(|server| server.with_client_metadata_documents(config.clone())).await;
    let authorize = |instance: &TestServer, client_id: &str| {
        let url = instance.authorize_url(client_id, REDIRECT, &[]);
        let browser = instance.browser.clone();
        async move { browser.get(url).send().await.unwrap().status() }
    };
    assert_eq!(authorize(&first, &client_id).await, StatusCode::OK);
    assert_eq!(authorize(&second, &client_id).await, StatusCode::OK);
    assert_eq!(
        host.hits("/client.json"),
        1,
        "the second read the first's fetch"
    );

    // A failed fetch is shared too (for its few seconds).
    let missing = host.url("/missing.json");
    assert_eq!(authorize(&first, &missing).await, StatusCode::BAD_REQUEST);
    assert_eq!(authorize(&second, &missing).await, StatusCode::BAD_REQUEST);
    assert_eq!(host.hits("/missing.json"), 1);
}
