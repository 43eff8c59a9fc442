//! Concurrent argon2 work is bounded by the server's permits: a burst of valid client secrets
//! larger than the permits waits its turn and succeeds; past the wait bound, 503
//! `temporarily_unavailable` with `Retry-After`.

use std::num::NonZeroUsize;

use outpost_authorization_server::password::limit::Argon2Limits;

use super::*;

fn limits(permits: usize, max_wait: Duration) -> Argon2Limits {
    Argon2Limits {
        permits: NonZeroUsize::new(permits).unwrap(),
        max_wait,
    }
}

/// `count` concurrent introspections by `client` with its right `secret`.
async fn introspections(
    server: &Arc<TestServer>,
    count: usize,
    (client, secret): &(String, String),
) -> Vec<(StatusCode, Value, HeaderMap)> {
    let burst: Vec<_> = (0..count)
        .map(|_| {
            let (server, client, secret) = (server.clone(), client.clone(), secret.clone());
            tokio::spawn(async move {
                server
                    .post("/introspect", &[("token", "t")], Some((&client, &secret)))
                    .await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for request in burst {
        answers.push(request.await.unwrap());
    }
    answers
}

#[tokio::test]
async fn a_burst_larger_than_the_permits_waits_its_turn() {
    let server = spawn_with(Store::memory(), |state| {
        state.with_argon2_limits(limits(2, Duration::from_secs(120)))
    })
    .await;
    let server = Arc::new(server);
    let client = server.confidential_client().await;
    for (status, body, _) in introspections(&server, 8, &client).await {
        assert_eq!((status, body), (StatusCode::OK, json!({"active": false})));
    }
}

#[tokio::test]
async fn an_overload_past_the_wait_bound_is_answered_503_with_retry_after() {
    let server = spawn_with(Store::memory(), |state| {
        state.with_argon2_limits(limits(1, Duration::from_millis(1)))
    })
    .await;
    let server = Arc::new(server);
    let client = server.confidential_client().await;
    let answers = introspections(&server, 8, &client).await;
    let mut busy = 0;
    for (status, body, headers) in answers {
        if status == StatusCode::OK {
            continue;
        }
        assert_error(
            status,
            &body,
            (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable"),
        );
        let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(retry_after >= 1, "{retry_after}");
        busy += 1;
    }
    assert!(
        busy > 0,
        "eight secrets at once, one permit: some must be refused"
    );
    // Busy is not a failed authentication: nothing was spent from the client's budget.
    for (status, _, _) in introspections(&server, 1, &client).await {
        assert_eq!(status, StatusCode::OK);
    }
}
