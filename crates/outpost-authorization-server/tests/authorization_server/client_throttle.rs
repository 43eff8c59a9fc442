//! Failed client authentication at `/introspect` and `/revoke` is throttled like `/token`,
//! under the same budgets, and reserved before the secret is verified.

use super::*;

const WRONG: &str = "not-the-secret";

#[tokio::test]
async fn wrong_client_secrets_at_introspect_and_revoke_are_throttled() {
    let server = spawn(Store::memory()).await;
    let (rs_id, rs_secret) = server.confidential_client().await;
    let (other_id, other_secret) = server.confidential_client().await;
    let budget = throttle::CLIENT_FAILURES_PER_CLIENT;
    for n in 0..budget.attempts {
        let path = if n % 2 == 0 { "/introspect" } else { "/revoke" };
        let (status, body, _) = server
            .post(path, &[("token", "t")], Some((&rs_id, WRONG)))
            .await;
        assert_error(status, &body, (StatusCode::UNAUTHORIZED, "invalid_client"));
    }
    // The budget is spent for this client from this address, at every endpoint, and before
    // the secret is looked at: the right one waits too.
    for path in ["/introspect", "/revoke", "/token"] {
        let params = [("token", "t"), ("grant_type", "refresh_token")];
        let (status, body, headers) = server.post(path, &params, Some((&rs_id, &rs_secret))).await;
        assert_error(
            status,
            &body,
            (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
        );
        let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(
            (1..=budget.window.as_secs()).contains(&retry_after),
            "{path}: {retry_after}"
        );
    }
    // Another client from the same address is unaffected.
    let body = server
        .introspect("t", (other_id.as_str(), other_secret.as_str()))
        .await;
    assert_eq!(body, json!({"active": false}));
    // Once the window has passed, the right secret works again.
    server
        .clock
        .0
        .fetch_add(budget.window.as_secs() as i64, Ordering::SeqCst);
    let body = server
        .introspect("t", (rs_id.as_str(), rs_secret.as_str()))
        .await;
    assert_eq!(body, json!({"active": false}));
}

#[tokio::test]
async fn a_concurrent_burst_of_wrong_client_secrets_is_evaluated_at_most_the_budget() {
    let server = Arc::new(spawn(Store::memory()).await);
    let (rs_id, _) = server.confidential_client().await;
    let burst: Vec<_> = (0..25)
        .map(|_| {
            let (server, rs_id) = (server.clone(), rs_id.clone());
            tokio::spawn(async move {
                let (status, _, _) = server
                    .post("/introspect", &[("token", "t")], Some((&rs_id, WRONG)))
                    .await;
                status
            })
        })
        .collect();
    let mut evaluated = 0;
    for attempt in burst {
        match attempt.await.unwrap() {
            StatusCode::UNAUTHORIZED => evaluated += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(evaluated, throttle::CLIENT_FAILURES_PER_CLIENT.attempts);
}

/// What a burst of requests was answered: how many were evaluated (`evaluated`, the status
/// a wrong secret gets) and how many refused with 429 and `Retry-After`; anything else fails.
async fn tally(
    burst: Vec<tokio::task::JoinHandle<(StatusCode, Value, HeaderMap)>>,
    evaluated: StatusCode,
) -> (u32, u32) {
    let (mut answered, mut refused) = (0, 0);
    for request in burst {
        let (status, body, headers) = request.await.unwrap();
        if status == evaluated {
            answered += 1;
        } else {
            assert_error(
                status,
                &body,
                (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            );
            assert!(headers.contains_key("retry-after"), "{headers:?}");
            refused += 1;
        }
    }
    (answered, refused)
}

/// The right secret, sent to `server` right after a burst spent the client's budget, is refused
/// before it is looked at.
async fn assert_right_secret_refused(server: &TestServer, client: &str, secret: &str) {
    let params = [("grant_type", "refresh_token"), ("refresh_token", "r")];
    let (status, body, _) = server.post("/token", &params, Some((client, secret))).await;
    assert_error(
        status,
        &body,
        (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
    );
}

/// `count` concurrent `/token` refreshes of `client` with `secret`, spread over `servers` in
/// turn.
fn token_burst(
    servers: &[Arc<TestServer>],
    count: usize,
    client: &str,
    secret: &str,
) -> Vec<tokio::task::JoinHandle<(StatusCode, Value, HeaderMap)>> {
    (0..count)
        .map(|n| {
            let server = servers[n % servers.len()].clone();
            let (client, secret) = (client.to_owned(), secret.to_owned());
            tokio::spawn(async move {
                let params = [("grant_type", "refresh_token"), ("refresh_token", "r")];
                server
                    .post("/token", &params, Some((&client, &secret)))
                    .await
            })
        })
        .collect()
}

#[tokio::test]
async fn a_concurrent_burst_of_wrong_secrets_at_token_is_evaluated_at_most_the_budget() {
    let server = Arc::new(spawn(Store::memory()).await);
    let (client, secret) = server.confidential_client().await;
    let burst = token_burst(std::slice::from_ref(&server), 30, &client, WRONG);
    let (evaluated, refused) = tally(burst, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        (evaluated, refused),
        (throttle::CLIENT_FAILURES_PER_CLIENT.attempts, 20),
        "every secret checked was reserved first"
    );
    // Right after the burst, the right secret is refused too, before it is looked at.
    assert_right_secret_refused(&server, &client, &secret).await;
}

#[tokio::test]
async fn a_burst_split_over_two_instances_on_one_sqlite_file_has_one_budget() {
    let path = std::env::temp_dir().join(format!("outpost-burst-{}.db", uuid::Uuid::new_v4()));
    let first = Arc::new(spawn(outpost_store_sqlite::open(&path).await.unwrap()).await);
    let second = Arc::new(spawn(outpost_store_sqlite::open(&path).await.unwrap()).await);
    let (client, secret) = first.confidential_client().await;
    let burst = token_burst(&[first.clone(), second.clone()], 30, &client, WRONG);
    let (evaluated, _) = tally(burst, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        evaluated,
        throttle::CLIENT_FAILURES_PER_CLIENT.attempts,
        "one budget for the deployment, not one per instance"
    );
    for server in [&first, &second] {
        assert_right_secret_refused(server, &client, &secret).await;
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.clone().into_os_string();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}
