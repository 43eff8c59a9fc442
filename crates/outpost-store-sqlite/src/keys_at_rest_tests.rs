//! Keys at rest in the SQLite file itself: a database from before encryption at rest keeps
//! its keys, and once a key-encryption key is given neither the database nor its WAL holds a
//! private key in the clear.

use rusqlite::Connection;

use outpost_store::{
    KeyEncryptionKey, KeyEncryptionKeys, PrivateKeyPem, RequestStateKeyRecord, RequestStateSecret,
    SecretAtRest, SigningKeyRecord, behaviour_suite::TempDir, encrypt_keys_at_rest,
};

use super::{MIGRATIONS, open};

const PEM: &str = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n";

fn signing_key(kid: &str) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.into(),
        algorithm: "ES256".into(),
        private_key: SecretAtRest::Clear(PrivateKeyPem::new(PEM.into())),
        created_at: 1,
        retired_at: None,
    }
}

/// Every byte of the database and its `-wal`, as a process reading the files would see them.
fn file_bytes(path: &std::path::Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).expect("database file");
    if let Ok(wal) = std::fs::read(path.with_extension("db-wal")) {
        bytes.extend(wal);
    }
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn keys_stored_before_encryption_at_rest_migrate_in_the_clear() {
    let dir = TempDir::new();
    let path = dir.path().join("old.db");
    {
        let connection = Connection::open(&path).expect("open");
        for sql in &MIGRATIONS[..5] {
            connection.execute_batch(sql).expect("old schema");
        }
        connection
            .execute(
                "INSERT INTO signing_keys (kid, algorithm, private_key_pem, created_at) \
                 VALUES ('old', 'ES256', ?1, 1)",
                [PEM],
            )
            .expect("old key");
        connection
            .pragma_update(None, "user_version", 5)
            .expect("version");
    }
    let owner_only = std::os::unix::fs::PermissionsExt::from_mode(0o600);
    std::fs::set_permissions(&path, owner_only).expect("chmod");
    let store = open(&path).await.expect("migrates");
    assert_eq!(
        store.keys.list().await.expect("list"),
        vec![signing_key("old")]
    );
}

#[tokio::test]
async fn no_clear_private_key_in_the_files_once_sealed() {
    let dir = TempDir::new();
    let path = dir.path().join("store.db");
    let store = open(&path).await.expect("open");
    store.keys.insert(signing_key("k1")).await.expect("insert");
    let secret = vec![0x5a; RequestStateSecret::MIN_LEN];
    let first = RequestStateKeyRecord {
        kid: "r1".into(),
        secret: SecretAtRest::Clear(RequestStateSecret::from_bytes(secret.clone()).expect("32")),
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
    assert!(contains(&file_bytes(&path), b"PRIVATE KEY"));

    let kek = KeyEncryptionKey::generate().expect("random");
    let keys = KeyEncryptionKeys::new(kek.clone(), Vec::new());
    let sealed = encrypt_keys_at_rest(store.clone(), Some(keys))
        .await
        .expect("seals");
    let bytes = file_bytes(&path);
    assert!(
        !contains(&bytes, b"PRIVATE KEY"),
        "a PEM is left in the files"
    );
    assert!(
        !contains(&bytes, &secret),
        "a request-state key is left in the files"
    );

    let connection = Connection::open(&path).expect("open");
    let sealed_with: String = connection
        .query_row(
            "SELECT sealed_with FROM signing_keys WHERE kid = 'k1'",
            [],
            |row| row.get(0),
        )
        .expect("row");
    assert_eq!(sealed_with, kek.id().as_str());
    assert_eq!(
        sealed.keys.list().await.expect("list"),
        vec![signing_key("k1")]
    );
}
