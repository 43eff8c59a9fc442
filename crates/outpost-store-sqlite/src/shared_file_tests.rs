//! Several connections on one database file, as several `outpost serve` processes sharing a
//! store have: opening a new file at the same moment migrates it once, and the first keys are
//! stored once across connections.

use outpost_store::{
    PrivateKeyPem, RequestStateKeyRecord, RequestStateSecret, SecretAtRest, SigningKeyRecord,
    Store, behaviour_suite::TempDir,
};

use super::{MIGRATIONS, SqliteStore, open};

/// How many connections race, and how many times.
const RACERS: usize = 4;
const ROUNDS: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_opening_a_new_file_at_once_all_migrate_it() {
    let dir = TempDir::new();
    for round in 0..ROUNDS {
        let path = dir.path().join(format!("race-{round}.db"));
        let opens: Vec<_> = (0..RACERS)
            .map(|_| tokio::spawn(SqliteStore::open(path.clone())))
            .collect();
        for opened in opens {
            let store = opened.await.expect("task").expect("open");
            let version: i64 = store
                .call(|c| Ok(c.pragma_query_value(None, "user_version", |row| row.get(0))?))
                .await
                .expect("version");
            assert_eq!(version, MIGRATIONS.len() as i64, "round {round}");
        }
    }
}

/// One store per connection on a fresh file.
async fn connections(dir: &TempDir, name: &str) -> Vec<Store> {
    let path = dir.path().join(name);
    let mut stores = Vec::new();
    for _ in 0..RACERS {
        stores.push(open(&path).await.expect("open"));
    }
    stores
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_keys_are_stored_once_across_connections() {
    let dir = TempDir::new();
    for round in 0..ROUNDS {
        let stores = connections(&dir, &format!("keys-{round}.db")).await;
        let signing: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(n, store)| {
                let keys = store.keys.clone();
                tokio::spawn(async move {
                    keys.insert_if_no_active(SigningKeyRecord {
                        kid: format!("k{n}"),
                        algorithm: "ES256".into(),
                        private_key: SecretAtRest::Clear(PrivateKeyPem::new("pem".into())),
                        created_at: 1,
                        retired_at: None,
                    })
                    .await
                })
            })
            .collect();
        let request_state: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(n, store)| {
                let keys = store.request_state_keys.clone();
                tokio::spawn(async move {
                    keys.insert_first(RequestStateKeyRecord {
                        kid: format!("r{n}"),
                        secret: SecretAtRest::Clear(
                            RequestStateSecret::from_bytes(vec![n as u8; 32]).expect("secret"),
                        ),
                        created_at: 1,
                        activates_at: 1,
                    })
                    .await
                })
            })
            .collect();
        let mut won = (0, 0);
        for task in signing {
            won.0 += usize::from(task.await.expect("task").expect("insert"));
        }
        for task in request_state {
            won.1 += usize::from(task.await.expect("task").expect("insert"));
        }
        assert_eq!(won, (1, 1), "round {round}");
        for store in &stores {
            assert_eq!(store.keys.list().await.expect("list").len(), 1);
            assert_eq!(
                store.request_state_keys.list().await.expect("list").len(),
                1
            );
        }
    }
}

/// Another process holding the database lock past the busy timeout makes a write
/// `Unavailable` — try again later — not a backend failure (which a request would answer
/// `500`).
#[tokio::test]
async fn a_lock_held_elsewhere_is_unavailable_not_a_failure() {
    let dir = TempDir::new();
    let path = dir.path().join("locked.db");
    let store = open(&path).await.expect("open");
    let holder = rusqlite::Connection::open(&path).expect("second connection");
    holder
        .execute_batch("BEGIN EXCLUSIVE")
        .expect("take the lock");
    let user = outpost_store::UserRecord {
        id: outpost_store::UserId::random(),
        username: outpost_store::Username::parse("locked-out").expect("name"),
        password_hash: outpost_store::PasswordHash::parse(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$yJf5cO5r5xQm0ZpXQy3ZlXx2rNQ0o0V3eNfG8cXk0lQ",
        )
        .expect("hash"),
        allowed_scopes: Default::default(),
        created_at: 0,
    };
    let refused = store.users.create(user).await;
    assert!(
        matches!(refused, Err(outpost_store::StoreError::Unavailable(_))),
        "{refused:?}"
    );
    holder.execute_batch("ROLLBACK").expect("release");
}
