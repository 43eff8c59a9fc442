//! A Redis restarted without persistence comes back empty, and an instance started on it
//! creates a signing key of its own: the authorization servers still running store the keys
//! they hold again at their next reload, so that every token signed before verifies on every
//! instance, and all of them sign with one key again.

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
async fn keys_an_emptied_redis_lost_are_stored_again_and_verify_on_every_instance() {
    let redis = Redis::start(None);
    let now = unix_now();
    let running = instance(&redis, now).await;
    let old_key = signing_kid(&running, now);

    assert_eq!(redis.run(&["FLUSHALL"]), "+OK", "Redis restarted empty");
    let restarted = instance(&redis, now).await;
    let new_key = signing_kid(&restarted, now);
    assert_ne!(
        new_key, old_key,
        "the restarted instance made a key of its own"
    );

    assert_eq!(
        running.republish_lost_keys(now).await.expect("republish"),
        vec![old_key.clone()],
        "the running instance stores the key the store lost"
    );
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
    assert!(
        running
            .republish_lost_keys(now)
            .await
            .expect("republish")
            .is_empty(),
        "nothing is lost any more"
    );
}
