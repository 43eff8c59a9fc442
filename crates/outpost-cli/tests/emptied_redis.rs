//! A Redis restarted without persistence comes back empty, and an instance started on it
//! creates a signing key of its own: at their next reload the authorization servers still
//! running store the keys they hold again, every instance verifies both keys, all sign with
//! one, and the older key's retirement is written to the store once the newer one signs.

mod common;

use common::{redis::Redis, unix_now};
use outpost::auth::server::{AuthorizationServer, DEFAULT_ACCESS_TOKEN_LIFETIME};

const ISSUER: &str = "http://127.0.0.1:8000";
const RESOURCE: &str = "http://127.0.0.1:8000/mcp";

async fn instance(redis: &Redis, now: i64) -> AuthorizationServer {
    let store = outpost::store::open(&redis.url())
        .await
        .expect("open the store");
    let keyring = AuthorizationServer::load_keyring(&store, DEFAULT_ACCESS_TOKEN_LIFETIME, now)
        .await
        .expect("load the keys");
    AuthorizationServer::new(ISSUER, RESOURCE, store, keyring, vec!["mcp".into()])
}

fn signing_kid(server: &AuthorizationServer, now: i64) -> String {
    server.keyring().signing_key(now).kid().to_owned()
}

#[tokio::test]
async fn keys_an_emptied_redis_lost_are_stored_again_and_one_key_signs_everywhere() {
    let redis = Redis::start(None);
    let now = unix_now();
    // Started ten minutes before Redis lost everything.
    let running = instance(&redis, now - 600).await;
    let old_key = signing_kid(&running, now);

    assert_eq!(redis.run(&["FLUSHALL"]), "+OK", "Redis restarted empty");
    let restarted = instance(&redis, now).await;
    let new_key = signing_kid(&restarted, now);
    assert_ne!(
        new_key, old_key,
        "the restarted instance made a key of its own"
    );

    // The next reload of each: the running instance puts its key back.
    for server in [&running, &restarted] {
        server.reload_keyring(now).await.expect("reload");
    }
    for server in [&running, &restarted] {
        for kid in [&old_key, &new_key] {
            assert!(
                server.keyring().verification_key(kid, now).is_some(),
                "{kid} verifies on every instance"
            );
        }
    }
    assert_eq!(
        signing_kid(&running, now),
        signing_kid(&restarted, now),
        "one signing key again"
    );

    // Once the new key's publication lead has passed, it signs everywhere, and the old key's
    // retirement is in the store: it verifies what it signed, and never signs again.
    let later = now + 121;
    for server in [&running, &restarted] {
        server.reload_keyring(later).await.expect("reload");
        assert_eq!(signing_kid(server, later), new_key);
        assert!(server.keyring().verification_key(&old_key, later).is_some());
    }
    let stored = running.store.keys.list().await.expect("list the keys");
    let old = stored
        .iter()
        .find(|record| record.kid == old_key)
        .expect("the old key is stored");
    assert!(
        old.retired_at.is_some_and(|at| at <= later),
        "its retirement is recorded: {:?}",
        old.retired_at
    );
}
