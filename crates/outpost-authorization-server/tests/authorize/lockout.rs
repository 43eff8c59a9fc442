//! The failed-login policy over HTTP: a concurrent burst of wrong passwords has at most the
//! budget evaluated, and an attacker spending an account's budget from elsewhere does not keep
//! its owner out. Sources are loopback addresses (`127.0.0.x`: the whole block reaches the
//! server on Linux), each a browser of its own.

use std::{
    net::IpAddr,
    num::NonZeroUsize,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use outpost_authorization_server::{
    password::limit::Argon2Limits,
    throttle::{
        LOGIN_CLEAN_SOURCE_ATTEMPTS, LOGIN_FAILURES_PER_ACCOUNT,
        LOGIN_FAILURES_PER_ACCOUNT_AND_SOURCE,
    },
};

use super::{common::ManualClock, *};

const REDIRECT: &str = "http://127.0.0.1:6276/oauth/callback";

/// One source address: a browser bound to it, with a login page open.
struct Source {
    browser: reqwest::Client,
    ids: (String, String),
}

impl Source {
    /// A browser on `127.0.0.{n}` that opened the login page for `client_id`.
    async fn open(server: &TestServer, n: u8, client_id: &str) -> Self {
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .local_address(IpAddr::from([127, 0, 0, n]))
            .build()
            .unwrap();
        let url = server.authorize_url(client_id, REDIRECT, &[]);
        let response = browser.get(url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let html = response.text().await.unwrap();
        let ids = (hidden(&html, "request"), hidden(&html, "csrf"));
        Self { browser, ids }
    }

    /// The same browser opening the login page again, for another sign-in.
    async fn reopen(&mut self, server: &TestServer, client_id: &str) {
        let url = server.authorize_url(client_id, REDIRECT, &[]);
        let response = self.browser.get(url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let html = response.text().await.unwrap();
        self.ids = (hidden(&html, "request"), hidden(&html, "csrf"));
    }

    async fn login(&self, server: &TestServer, user: &str, pass: &str) -> reqwest::Response {
        let (request, csrf) = &self.ids;
        self.browser
            .post(format!("{}/login", server.base))
            .form(&[
                ("request", request.as_str()),
                ("csrf", csrf.as_str()),
                ("username", user),
                ("password", pass),
            ])
            .send()
            .await
            .unwrap()
    }

    async fn status(&self, server: &TestServer, user: &str, pass: &str) -> StatusCode {
        self.login(server, user, pass).await.status()
    }
}

#[tokio::test]
async fn a_concurrent_burst_of_wrong_passwords_is_evaluated_at_most_the_budget() {
    let server = spawn().await;
    let client_id = server.register(REDIRECT).await;
    let source = Arc::new(Source::open(&server, 1, &client_id).await);
    let server = Arc::new(server);
    let burst: Vec<_> = (0..15)
        .map(|_| {
            let (server, source) = (server.clone(), source.clone());
            tokio::spawn(async move { source.status(&server, "alice", "guess").await })
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
    assert_eq!(
        evaluated, LOGIN_FAILURES_PER_ACCOUNT_AND_SOURCE.attempts,
        "every password checked was reserved first"
    );
    // Right after the burst, the right password from that source is refused: it is locked.
    let status = source.status(&server, "alice", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn the_owner_signs_in_while_others_guess_their_password() {
    let clock = Arc::new(ManualClock(AtomicI64::new(SystemClock.now())));
    let server = spawn_with(|server| server.with_clock(clock.clone())).await;
    let client_id = server.register(REDIRECT).await;
    let per_source = LOGIN_FAILURES_PER_ACCOUNT_AND_SOURCE.attempts;
    let sources = LOGIN_FAILURES_PER_ACCOUNT.attempts / per_source;

    // Attackers on 127.0.0.2… spend alice's budget, each source its own five.
    let mut attackers = Vec::new();
    for n in 0..sources {
        let attacker = Source::open(&server, 2 + n as u8, &client_id).await;
        for _ in 0..per_source {
            let status = attacker.status(&server, "alice", "guess").await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        let status = attacker.status(&server, "alice", PASSWORD).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "that source is done");
        attackers.push(attacker);
    }
    // A fresh attacker address still gets one attempt through the clean-source lane…
    let fresh = Source::open(&server, 20, &client_id).await;
    let status = fresh.status(&server, "alice", "guess").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // …so the owner, on a clean address of their own, waits for the lane: at most 30 s.
    let owner = Source::open(&server, 30, &client_id).await;
    let response = owner.login(&server, "alice", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let lane = LOGIN_CLEAN_SOURCE_ATTEMPTS.window.as_secs();
    assert!((1..=lane).contains(&retry_after), "{retry_after}");
    clock.0.fetch_add(retry_after as i64, Ordering::SeqCst);
    let response = owner.login(&server, "alice", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK, "the consent page");
    assert!(response.text().await.unwrap().contains("value=\"approve\""));

    // The fresh attacker failed once: it is no longer clean, and the account budget is spent.
    clock.0.fetch_add(lane as i64, Ordering::SeqCst);
    let status = fresh.status(&server, "alice", "guess").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Other accounts are not affected, even from the attackers' addresses.
    let status = attackers[0].status(&server, "bob", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_browser_that_signed_in_before_is_not_kept_out_by_guesses_from_elsewhere() {
    let server = spawn().await;
    let client_id = server.register(REDIRECT).await;
    // The owner signs in once: the browser becomes a trusted device of alice's.
    let mut owner = Source::open(&server, 50, &client_id).await;
    let response = owner.login(&server, "alice", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK, "the consent page");
    let cookies: Vec<_> = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .collect();
    let device = cookies
        .iter()
        .filter_map(|cookie| cookie.to_str().ok())
        .find(|cookie| cookie.starts_with("outpost_device="))
        .expect("a device cookie");
    assert!(device.contains("HttpOnly; SameSite=Strict"), "{device}");

    // Attackers spend alice's budget and take the clean-source lane, each from its address.
    let per_source = LOGIN_FAILURES_PER_ACCOUNT_AND_SOURCE.attempts;
    for n in 0..LOGIN_FAILURES_PER_ACCOUNT.attempts / per_source {
        let attacker = Source::open(&server, 51 + n as u8, &client_id).await;
        for _ in 0..per_source {
            assert_eq!(
                attacker.status(&server, "alice", "guess").await,
                StatusCode::UNAUTHORIZED
            );
        }
    }
    let fresh = Source::open(&server, 60, &client_id).await;
    assert_eq!(
        fresh.status(&server, "alice", "guess").await,
        StatusCode::UNAUTHORIZED
    );
    // A new browser of the owner's now waits for the lane…
    let new_browser = Source::open(&server, 61, &client_id).await;
    assert_eq!(
        new_browser.status(&server, "alice", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // …but the browser they signed in with before is let in at once, even after a typo.
    owner.reopen(&server, &client_id).await;
    assert_eq!(
        owner.status(&server, "alice", "typo").await,
        StatusCode::UNAUTHORIZED
    );
    let response = owner.login(&server, "alice", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK, "the consent page");
    assert!(response.text().await.unwrap().contains("value=\"approve\""));
    // Its trust is alice's only: bob's budget is bob's.
    owner.reopen(&server, &client_id).await;
    assert_eq!(owner.status(&server, "bob", PASSWORD).await, StatusCode::OK);
}

#[tokio::test]
async fn logins_past_the_argon2_bound_get_a_busy_page_and_spend_nothing() {
    let limits = Argon2Limits {
        permits: NonZeroUsize::MIN,
        max_wait: Duration::from_millis(1),
    };
    let server = spawn_with(|server| server.with_argon2_limits(limits)).await;
    let client_id = server.register(REDIRECT).await;
    let source = Arc::new(Source::open(&server, 40, &client_id).await);
    let server = Arc::new(server);
    let burst: Vec<_> = (0..8)
        .map(|_| {
            let (server, source) = (server.clone(), source.clone());
            tokio::spawn(async move { source.login(&server, "alice", "guess").await })
        })
        .collect();
    let (mut evaluated, mut busy) = (0, 0);
    for attempt in burst {
        let response = attempt.await.unwrap();
        match response.status() {
            StatusCode::UNAUTHORIZED => evaluated += 1,
            // Attempts reserved at that moment (busy ones give theirs back) fill the budget.
            StatusCode::TOO_MANY_REQUESTS => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(response.headers().contains_key(header::RETRY_AFTER));
                assert!(response.text().await.unwrap().contains("busy"));
                busy += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        busy > 0,
        "eight passwords at once, one permit: some must wait too long"
    );
    // Only the passwords checked counted: the rest of the budget is there, one at a time.
    for _ in evaluated..LOGIN_FAILURES_PER_ACCOUNT_AND_SOURCE.attempts {
        let status = source.status(&server, "alice", "guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let status = source.status(&server, "alice", "guess").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}
