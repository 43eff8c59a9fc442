//! What the authorization-server test binaries share: an [`AuthorizationServer`] for a free
//! loopback port, and a clock the test moves.

use std::{
    sync::atomic::{AtomicI64, Ordering},
    time::Duration,
};

use outpost_authorization_server::{
    AuthorizationServer, Clock, DEFAULT_ACCESS_TOKEN_LIFETIME, password::limit::Argon2Limits,
};

use outpost_store::Store;
use tokio::net::TcpListener;

/// A listener on a free loopback port, its base URL, and an authorization server issuing for
/// it (resource `{base}/mcp`, scopes `mcp:read` and `mcp:write`) with keys loaded from `store`
/// at `now`, waiting up to a minute for an argon2 permit. The caller serves the routes.
pub async fn on_loopback(store: Store, now: i64) -> (TcpListener, String, AuthorizationServer) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let keyring = AuthorizationServer::load_keyring(&store, DEFAULT_ACCESS_TOKEN_LIFETIME, now)
        .await
        .unwrap();
    let state = AuthorizationServer::new(
        base.clone(),
        format!("{base}/mcp"),
        store,
        keyring,
        vec!["mcp:read".into(), "mcp:write".into()],
    )
    // Bursts of argon2 on a busy test machine wait longer than the default allows; the tests
    // of the wait bound set their own.
    .with_argon2_limits(Argon2Limits {
        max_wait: Duration::from_secs(60),
        ..Argon2Limits::default()
    });
    (listener, base, state)
}

/// A clock that stands still until the test moves it (`clock.0.fetch_add(…)`).
pub struct ManualClock(pub AtomicI64);

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
