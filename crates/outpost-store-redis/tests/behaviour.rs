//! The store behaviour suite every backend runs, on Redis: one server for the whole binary,
//! a fresh key prefix per check.

mod common;

use std::sync::OnceLock;

use common::RedisServer;
use outpost_store_redis::RedisOptions;

fn server() -> &'static RedisServer {
    static SERVER: OnceLock<RedisServer> = OnceLock::new();
    SERVER.get_or_init(|| RedisServer::start(&[]))
}

outpost_store::store_behaviour_suite!(|_dir| async {
    let mut options = RedisOptions::new(server().url());
    options.prefix = format!("suite-{}:", uuid::Uuid::new_v4());
    outpost_store_redis::open(options).await.expect("open")
});

/// Once a key-encryption key is given, the Redis values of the keys hold no private key in
/// the clear, only the sealed form and the id of the key that sealed it.
#[tokio::test]
async fn no_clear_private_key_in_redis_once_sealed() {
    use outpost_store::{
        KeyEncryptionKey, KeyEncryptionKeys, PrivateKeyPem, RequestStateKeyRecord,
        RequestStateSecret, SecretAtRest, SigningKeyRecord, encrypt_keys_at_rest,
    };
    let prefix = format!("sealed-{}:", uuid::Uuid::new_v4());
    let mut options = RedisOptions::new(server().url());
    options.prefix.clone_from(&prefix);
    let store = outpost_store_redis::open(options).await.expect("open");
    let pem = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49\n-----END PRIVATE KEY-----\n";
    let signing = SigningKeyRecord {
        kid: "k1".into(),
        algorithm: "ES256".into(),
        private_key: SecretAtRest::Clear(PrivateKeyPem::new(pem.into())),
        created_at: 1,
        retired_at: None,
    };
    store.keys.insert(signing.clone()).await.expect("insert");
    let secret = RequestStateSecret::from_bytes(vec![0x5a; 32]).expect("32 bytes");
    let first = RequestStateKeyRecord {
        kid: "r1".into(),
        secret: SecretAtRest::Clear(secret),
        created_at: 1,
        activates_at: 1,
    };
    assert!(
        store
            .request_state_keys
            .insert_first(first)
            .await
            .expect("insert")
    );

    let kek = KeyEncryptionKey::generate().expect("random");
    let keys = KeyEncryptionKeys::new(kek.clone(), Vec::new());
    let sealed = encrypt_keys_at_rest(store, Some(keys))
        .await
        .expect("seals");

    let client = redis::Client::open(server().url()).expect("client");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    for (hash, kid, clear) in [
        ("signing_keys", "k1", "BEGIN PRIVATE KEY"),
        ("request_state_keys", "r1", "WlpaWlpaWlpa"),
    ] {
        let value: String = redis::cmd("HGET")
            .arg(format!("{prefix}{hash}"))
            .arg(kid)
            .query_async(&mut connection)
            .await
            .expect("raw value");
        assert!(!value.contains(clear), "{hash} {kid} in the clear: {value}");
        assert!(value.contains(kek.id().as_str()), "{value}");
    }
    assert_eq!(sealed.keys.list().await.expect("list"), vec![signing]);
}
