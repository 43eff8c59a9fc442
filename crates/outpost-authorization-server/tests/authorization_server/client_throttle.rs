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
