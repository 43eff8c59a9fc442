//! Checks of encryption at rest over a backend: what the backend itself holds after
//! [`encrypt_keys_at_rest`] (sealed records only), and that it keeps sealed records whole —
//! the key id, the ciphertext — and replaces them only conditionally
//! ([`SigningKeyStore::reseal`](crate::SigningKeyStore::reseal)).

use super::{NOW, instances::state_key, key};
use crate::{
    KeyEncryptionError, KeyEncryptionKey, KeyEncryptionKeyId, KeyEncryptionKeys, SealedSecret,
    SecretAtRest, Store, StoreError, encrypt_keys_at_rest,
};

fn new_key() -> KeyEncryptionKey {
    KeyEncryptionKey::generate().expect("random")
}

fn only(key: &KeyEncryptionKey) -> Option<KeyEncryptionKeys> {
    Some(KeyEncryptionKeys::new(key.clone(), Vec::new()))
}

/// A signing key and a request-state key, written in the clear.
async fn clear_keys(store: &Store) {
    store.keys.insert(key("k1", NOW)).await.expect("insert");
    let first = state_key("r1", NOW, NOW);
    assert!(
        store
            .request_state_keys
            .insert_first(first)
            .await
            .expect("insert")
    );
}

/// The key-encryption key id of every key the backend holds (`None`: in the clear).
async fn sealed_with(store: &Store) -> Vec<Option<KeyEncryptionKeyId>> {
    let signing = store.keys.list().await.expect("list");
    let request_state = store.request_state_keys.list().await.expect("list");
    signing
        .iter()
        .map(|k| k.private_key.sealed_with().cloned())
        .chain(
            request_state
                .iter()
                .map(|k| k.secret.sealed_with().cloned()),
        )
        .collect()
}

fn sealed<T>(secret: &SecretAtRest<T>) -> SealedSecret {
    match secret {
        SecretAtRest::Sealed(sealed) => sealed.clone(),
        SecretAtRest::Clear(_) => panic!("in the clear"),
    }
}

fn key_encryption_error(result: Result<Store, StoreError>) -> KeyEncryptionError {
    match result {
        Err(StoreError::KeyEncryption(error)) => error,
        Err(other) => panic!("expected a key-encryption error, got {other}"),
        Ok(_) => panic!("expected a key-encryption error, the store opened"),
    }
}

/// With a key-encryption key, the keys written in the clear are sealed in the backend and
/// read back in the clear; keys written later are sealed too.
pub async fn clear_keys_are_sealed_at_the_first_start(store: Store) {
    clear_keys(&store).await;
    let kek = new_key();
    let sealing = encrypt_keys_at_rest(store.clone(), only(&kek))
        .await
        .expect("seals");
    assert_eq!(sealed_with(&store).await, vec![Some(kek.id().clone()); 2]);
    for raw in store.keys.list().await.expect("list") {
        let SecretAtRest::Sealed(sealed) = raw.private_key else {
            panic!("clear");
        };
        assert!(!sealed.ciphertext().windows(5).any(|w| w == b"BEGIN"));
    }
    assert_eq!(
        sealing.keys.list().await.expect("list"),
        vec![key("k1", NOW)]
    );
    assert_eq!(
        sealing.request_state_keys.list().await.expect("list"),
        vec![state_key("r1", NOW, NOW)]
    );
    let mut retired = key("k1", NOW);
    retired.retired_at = Some(NOW + 5);
    sealing.keys.retire("k1", NOW + 5).await.expect("retire");
    sealing
        .keys
        .insert(key("k2", NOW + 5))
        .await
        .expect("insert");
    let next = state_key("r2", NOW + 5, NOW + 10);
    assert!(
        sealing
            .request_state_keys
            .rotate(next, NOW)
            .await
            .expect("rotate")
    );
    assert_eq!(sealed_with(&store).await, vec![Some(kek.id().clone()); 4]);
    assert_eq!(
        sealing.keys.list().await.expect("list"),
        vec![retired, key("k2", NOW + 5)]
    );
}

/// A store holding sealed keys does not open without a key-encryption key, nor with another
/// one; the error names the key that sealed them.
pub async fn sealed_keys_refuse_a_start_without_their_key(store: Store) {
    clear_keys(&store).await;
    let kek = new_key();
    encrypt_keys_at_rest(store.clone(), only(&kek))
        .await
        .expect("seals");
    let missing = key_encryption_error(encrypt_keys_at_rest(store.clone(), None).await);
    assert!(
        matches!(&missing, KeyEncryptionError::NotGiven { key_id, .. } if key_id == kek.id()),
        "{missing}"
    );
    let wrong = key_encryption_error(encrypt_keys_at_rest(store.clone(), only(&new_key())).await);
    assert!(
        matches!(&wrong, KeyEncryptionError::UnknownKey { key_id, .. } if key_id == kek.id()),
        "{wrong}"
    );
    assert_eq!(sealed_with(&store).await, vec![Some(kek.id().clone()); 2]);
}

/// A start with a new key-encryption key and the old one as previous re-seals every key
/// with the new one; the old one is then no longer needed.
pub async fn rotation_reseals_with_the_current_key(store: Store) {
    clear_keys(&store).await;
    let (old, new) = (new_key(), new_key());
    encrypt_keys_at_rest(store.clone(), only(&old))
        .await
        .expect("seals");
    let rotated = KeyEncryptionKeys::new(new.clone(), vec![old.clone()]);
    encrypt_keys_at_rest(store.clone(), Some(rotated))
        .await
        .expect("re-seals");
    assert_eq!(sealed_with(&store).await, vec![Some(new.id().clone()); 2]);
    let sealing = encrypt_keys_at_rest(store.clone(), only(&new))
        .await
        .expect("the new key alone opens");
    assert_eq!(
        sealing.keys.list().await.expect("list"),
        vec![key("k1", NOW)]
    );
    assert_eq!(
        sealing.request_state_keys.list().await.expect("list"),
        vec![state_key("r1", NOW, NOW)]
    );
}

/// A sealed secret altered in the backend, or copied onto another record, does not open.
pub async fn altered_or_moved_sealed_keys_are_refused(store: Store) {
    let kek = new_key();
    let sealing = encrypt_keys_at_rest(store.clone(), only(&kek))
        .await
        .expect("opens");
    sealing.keys.insert(key("k1", NOW)).await.expect("insert");
    sealing
        .keys
        .insert(key("k2", NOW + 1))
        .await
        .expect("insert");
    let first = state_key("r1", NOW, NOW);
    assert!(
        sealing
            .request_state_keys
            .insert_first(first)
            .await
            .expect("insert")
    );
    let second = state_key("r2", NOW + 1, NOW + 1);
    assert!(
        sealing
            .request_state_keys
            .rotate(second, NOW)
            .await
            .expect("rotate")
    );

    let raw = store.keys.list().await.expect("list");
    let k1 = sealed(&raw[0].private_key);
    let moved = store.keys.reseal("k2", Some(kek.id()), k1.clone());
    assert!(moved.await.expect("reseal"));
    let error = sealing.keys.list().await.expect_err("moved");
    assert!(error.to_string().contains("signing key k2"), "{error}");

    let mut bytes = k1.ciphertext().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    let altered = SealedSecret::new(kek.id().clone(), bytes);
    assert!(
        store
            .keys
            .reseal("k1", Some(kek.id()), altered)
            .await
            .expect("reseal")
    );
    assert!(matches!(
        sealing.keys.list().await,
        Err(StoreError::KeyEncryption(
            KeyEncryptionError::Unopenable { .. }
        ))
    ));

    let raw = store.request_state_keys.list().await.expect("list");
    let r1 = sealed(&raw[0].secret);
    let moved = store.request_state_keys.reseal("r2", Some(kek.id()), r1);
    assert!(moved.await.expect("reseal"));
    let error = sealing.request_state_keys.list().await.expect_err("moved");
    assert!(
        error.to_string().contains("request-state key r2"),
        "{error}"
    );
}

/// `reseal` writes only over the state it names, so instances starting together with one
/// key-encryption key all start, and the keys are sealed once.
pub async fn instances_sealing_together_agree(store: Store) {
    clear_keys(&store).await;
    let kek = new_key();
    let other = new_key().id().clone();
    let placeholder = SealedSecret::new(other.clone(), vec![0; 40]);
    let stale = store.keys.reseal("k1", Some(&other), placeholder.clone());
    assert!(!stale.await.expect("reseal"), "not sealed with that key");
    let absent = store.keys.reseal("nope", None, placeholder.clone());
    assert!(!absent.await.expect("reseal"), "no such key");
    let absent = store.request_state_keys.reseal("nope", None, placeholder);
    assert!(!absent.await.expect("reseal"), "no such key");

    let starts: Vec<_> = (0..3)
        .map(|_| tokio::spawn(encrypt_keys_at_rest(store.clone(), only(&kek))))
        .collect();
    for start in starts {
        let sealing = start.await.expect("joined").expect("starts");
        assert_eq!(
            sealing.keys.list().await.expect("list"),
            vec![key("k1", NOW)]
        );
    }
    assert_eq!(sealed_with(&store).await, vec![Some(kek.id().clone()); 2]);
}
