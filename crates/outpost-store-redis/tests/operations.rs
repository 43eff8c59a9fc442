//! What an operator relies on: the start-up checks, a Redis outage (fail fast, recover by
//! itself, data intact), the layout version, passwords kept out of errors, `rediss://`, and
//! the bus telling every instance of session changes (and saying when it cannot).

mod common;

use std::{
    io::Write,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use common::RedisServer;
use outpost_store::{Store, StoreError, UserId, UserRecord, Username};
use outpost_store_redis::{RedisOptions, RedisPassword};

fn options(url: String) -> RedisOptions {
    let mut options = RedisOptions::new(url);
    options.prefix = format!("ops-{}:", uuid::Uuid::new_v4());
    options
}

fn user(name: &str) -> UserRecord {
    UserRecord {
        id: UserId::random(),
        username: Username::parse(name).expect("valid"),
        password_hash: outpost_store::PasswordHash::parse(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$yJf5cO5r5xQm0ZpXQy3ZlXx2rNQ0o0V3eNfG8cXk0lQ",
        )
        .expect("hash"),
        allowed_scopes: outpost_store::ScopeSet::default(),
        created_at: 1_800_000_000,
    }
}

/// Log lines written while `run` runs on this thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

#[tokio::test]
async fn a_redis_that_may_evict_is_refused_unless_allowed() {
    let server = RedisServer::start(&["--maxmemory-policy", "allkeys-lru"]);
    let err = outpost_store_redis::open(options(server.url()))
        .await
        .expect_err("refused");
    let message = err.to_string();
    assert!(
        message.contains("maxmemory-policy") && message.contains("noeviction"),
        "{message}"
    );

    let logs = Captured::default();
    let _guard = logs.install();
    let mut allowed = options(server.url());
    allowed.allow_eviction = true;
    let store = outpost_store_redis::open(allowed).await.expect("allowed");
    store.health.check().await.expect("ping");
    let text = logs.text();
    assert!(
        text.contains("allkeys-lru") && text.contains("WARN"),
        "{text}"
    );
}

#[tokio::test]
async fn a_redis_without_persistence_is_a_loud_warning() {
    let server = RedisServer::start(&[]);
    let logs = Captured::default();
    let _guard = logs.install();
    outpost_store_redis::open(options(server.url()))
        .await
        .expect("opens");
    let text = logs.text();
    assert!(
        text.contains("WARN") && text.contains("save") && text.contains("appendonly"),
        "{text}"
    );

    let persistent = RedisServer::start_persistent();
    let logs = Captured::default();
    let _guard = logs.install();
    outpost_store_redis::open(options(persistent.url()))
        .await
        .expect("opens");
    assert!(!logs.text().contains("persist"), "{}", logs.text());
}

#[tokio::test]
async fn without_config_access_the_checks_are_skipped_loudly() {
    let server = RedisServer::start(&["--rename-command", "CONFIG", ""]);
    let logs = Captured::default();
    let _guard = logs.install();
    let store = outpost_store_redis::open(options(server.url()))
        .await
        .expect("opens anyway");
    store.health.check().await.expect("ping");
    let text = logs.text();
    assert!(
        text.contains("WARN") && text.contains("could not read the Redis configuration"),
        "{text}"
    );
}

#[tokio::test]
async fn a_record_from_a_newer_release_is_refused_not_misread() {
    let server = RedisServer::start(&[]);
    let opts = options(server.url());
    let users_key = format!("{}users", opts.prefix);
    let store = outpost_store_redis::open(opts).await.expect("open");
    let alice = user("alice");
    store.users.create(alice.clone()).await.expect("create");

    let client = redis::Client::open(server.url()).expect("client");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let stored: String = redis::cmd("HGET")
        .arg(&users_key)
        .arg(alice.id.to_string())
        .query_async(&mut connection)
        .await
        .expect("read");
    // A field this build does not know is ignored...
    let extended = stored.replacen('{', r#"{"added_later":[1,2],"#, 1);
    let _: () = redis::cmd("HSET")
        .arg(&users_key)
        .arg(alice.id.to_string())
        .arg(&extended)
        .query_async(&mut connection)
        .await
        .expect("write");
    assert_eq!(
        store.users.get(alice.id).await.expect("get"),
        Some(alice.clone())
    );
    // ...a newer record version is not.
    let newer = stored.replace(r#""v":1"#, r#""v":2"#);
    let _: () = redis::cmd("HSET")
        .arg(&users_key)
        .arg(alice.id.to_string())
        .arg(&newer)
        .query_async(&mut connection)
        .await
        .expect("write");
    let err = store.users.get(alice.id).await.expect_err("refused");
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    assert!(err.to_string().contains("newer Outpost"), "{err}");
}

async fn wait_until_healthy(store: &Store, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        match store.health.check().await {
            Ok(()) => return,
            Err(err) if Instant::now() < deadline => {
                assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => panic!("Redis not back within {within:?}: {err}"),
        }
    }
}

#[tokio::test]
async fn an_outage_fails_fast_and_the_store_recovers_with_its_data() {
    let mut server = RedisServer::start_persistent();
    let mut opts = options(server.url());
    opts.response_timeout = Duration::from_millis(500);
    opts.connect_timeout = Duration::from_millis(500);
    let store = outpost_store_redis::open(opts).await.expect("open");
    let alice = user("alice");
    store.users.create(alice.clone()).await.expect("create");
    let heard = store.mcp_sessions.changes_here().await.expect("changes");
    assert!(heard.is_some(), "the bus is subscribed");

    server.pause();
    for _ in 0..3 {
        let started = Instant::now();
        let err = store.users.get(alice.id).await.expect_err("Redis is down");
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let health = store.health.check().await.expect_err("down");
        assert!(matches!(health, StoreError::Unavailable(_)), "{health:?}");
    }

    assert_eq!(
        changes_moved_from(&store, heard).await,
        None,
        "no session change can be heard while Redis is down"
    );

    server.resume();
    wait_until_healthy(&store, Duration::from_secs(3)).await;
    assert_eq!(
        store.users.get(alice.id).await.expect("get"),
        Some(alice),
        "written before the outage, read after it"
    );
    assert!(
        changes_moved_from(&store, None).await.is_some(),
        "the bus subscribes again by itself"
    );
    store
        .users
        .create(user("bob"))
        .await
        .expect("writes work again");
}

#[tokio::test]
async fn a_redis_that_stops_answering_fails_within_the_response_timeout() {
    let server = RedisServer::start(&["--enable-debug-command", "yes"]);
    let mut opts = options(server.url());
    opts.response_timeout = Duration::from_millis(300);
    let store = outpost_store_redis::open(opts).await.expect("open");

    // Redis is single-threaded: DEBUG SLEEP keeps it from answering anyone.
    let client = redis::Client::open(server.url()).expect("client");
    let mut blocker = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let sleeping = tokio::spawn(async move {
        let _: redis::RedisResult<()> = redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg(2)
            .query_async(&mut blocker)
            .await;
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let err = store.health.check().await.expect_err("no answer");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_millis(1500),
        "{waited:?}"
    );
    sleeping.await.expect("sleeper");
    wait_until_healthy(&store, Duration::from_secs(3)).await;
}

#[tokio::test]
async fn an_unreachable_redis_fails_to_open_within_the_connect_timeout() {
    let mut server = RedisServer::start(&[]);
    let url = server.url();
    server.stop();
    let mut opts = options(url);
    opts.connect_timeout = Duration::from_millis(300);
    let started = Instant::now();
    let err = outpost_store_redis::open(opts).await.expect_err("down");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_newer_layout_is_refused() {
    let server = RedisServer::start(&[]);
    let opts = options(server.url());
    let client = redis::Client::open(server.url()).expect("client");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let _: () = redis::cmd("SET")
        .arg(format!("{}layout", opts.prefix))
        .arg(99)
        .query_async(&mut connection)
        .await
        .expect("set");
    let err = outpost_store_redis::open(opts).await.expect_err("refused");
    assert!(matches!(err, StoreError::Migration(_)), "{err:?}");
    assert!(err.to_string().contains("layout version 99"), "{err}");

    // An empty prefix gets this build's layout.
    let fresh = options(server.url());
    let layout_key = format!("{}layout", fresh.prefix);
    outpost_store_redis::open(fresh).await.expect("open");
    let layout: u32 = redis::cmd("GET")
        .arg(layout_key)
        .query_async(&mut connection)
        .await
        .expect("get");
    assert_eq!(layout, outpost_store_redis::LAYOUT_VERSION);
}

#[tokio::test]
async fn the_password_authenticates_and_never_shows() {
    let server = RedisServer::start(&["--requirepass", "hunter2-secret"]);
    let mut opts = options(server.url());
    opts.password = Some(RedisPassword::new("hunter2-secret"));
    let store = outpost_store_redis::open(opts).await.expect("open");
    store.health.check().await.expect("ping");

    let mut wrong = options(server.url().replace("redis://", "redis://:hunter2-wrong@"));
    wrong.connect_timeout = Duration::from_secs(1);
    let err = outpost_store_redis::open(wrong.clone())
        .await
        .expect_err("wrong password");
    let shown = format!("{err} {err:?} {wrong:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[tokio::test]
async fn rediss_verifies_the_server_against_the_given_ca() {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("CA");
    let server_key = KeyPair::generate().expect("key");
    let server_cert = CertificateParams::new(vec!["localhost".to_string()])
        .expect("params")
        .signed_by(&server_key, &ca)
        .expect("certificate");

    let files = std::env::temp_dir().join(format!("outpost-tls-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&files).expect("dir");
    let (cert, key, ca_file) = (
        files.join("server.crt"),
        files.join("server.key"),
        files.join("ca.crt"),
    );
    std::fs::write(&cert, server_cert.pem()).expect("write");
    std::fs::write(&key, server_key.serialize_pem()).expect("write");
    std::fs::write(&ca_file, ca.pem()).expect("write");
    let path = |p: &std::path::Path| p.display().to_string();
    let (cert, key, ca_file) = (path(&cert), path(&key), path(&ca_file));
    let server = RedisServer::start(&[
        "--port",
        "0",
        "--tls-port",
        "{port}",
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
        "--tls-ca-cert-file",
        &ca_file,
        "--tls-auth-clients",
        "no",
    ]);

    let mut opts = options(format!("rediss://localhost:{}", server.port));
    opts.tls_root_ca_pem = Some(ca.pem().into_bytes());
    let store = outpost_store_redis::open(opts)
        .await
        .expect("open over TLS");
    let alice = user("alice");
    store.users.create(alice.clone()).await.expect("create");
    assert_eq!(store.users.get(alice.id).await.expect("get"), Some(alice));

    // Without the CA, the server's certificate is not trusted.
    let mut untrusted = options(format!("rediss://localhost:{}", server.port));
    untrusted.connect_timeout = Duration::from_secs(1);
    assert!(outpost_store_redis::open(untrusted).await.is_err());
    let _ = std::fs::remove_dir_all(files);
}

/// `changes_here` of `store` once it differs from `from`, waiting up to five seconds.
async fn changes_moved_from(store: &Store, from: Option<u64>) -> Option<u64> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = store.mcp_sessions.changes_here().await.expect("changes");
        if now != from {
            return now;
        }
        assert!(Instant::now() < deadline, "still {now:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Two instances on one Redis and prefix: a session changed, deleted or purged through one
/// moves the other's count, which never reads the record — so a session the other holds is
/// read again before it is served — and a change to one session moves that session's own
/// count, not (but for a shared group) the others'.
#[tokio::test]
async fn a_session_changed_on_another_instance_moves_the_count_here() {
    let server = RedisServer::start(&[]);
    let opts = options(server.url());
    let here = outpost_store_redis::open(opts.clone()).await.expect("open");
    let there = outpost_store_redis::open(opts).await.expect("open");
    let caps = outpost_store::SessionCaps {
        per_owner: 10,
        total: 10,
    };
    let (now, state) = (1_800_000_000, r#"{"initialize_params":{}}"#);
    for id in ["s1", "s2", "s3"] {
        there
            .mcp_sessions
            .create_counted(id, state, None, now, now + 100, caps)
            .await
            .expect("create");
    }
    let start = here.mcp_sessions.changes_here().await.expect("changes");
    assert!(start.is_some(), "the bus is subscribed");
    let others: Vec<String> = (0..20).map(|n| format!("other-{n}")).collect();
    let mut counts = Vec::new();
    for id in others.iter().map(String::as_str).chain(["s1"]) {
        counts.push(here.mcp_sessions.changes_to(id).await.expect("changes"));
    }
    let s1 = counts.pop().flatten();

    assert!(
        there
            .mcp_sessions
            .replace_data("s1", None, "{}")
            .await
            .expect("data")
    );
    let replaced = changes_moved_from(&here, start).await;
    assert_ne!(
        here.mcp_sessions.changes_to("s1").await.expect("changes"),
        s1,
        "s1's own count moved"
    );
    let mut moved = 0;
    for (id, before) in others.iter().zip(&counts) {
        moved += usize::from(here.mcp_sessions.changes_to(id).await.expect("changes") != *before);
    }
    assert!(
        moved <= 1,
        "a change to s1 moved {moved} of 20 other sessions' counts"
    );
    there.mcp_sessions.delete("s2").await.expect("delete");
    let deleted = changes_moved_from(&here, replaced).await;
    assert_eq!(
        there
            .mcp_sessions
            .purge_expired(now + 100)
            .await
            .expect("purge"),
        2
    );
    assert!(changes_moved_from(&here, deleted).await.is_some());
}

/// With its subscription lost, an instance vouches for nothing (another instance's changes
/// would go unheard) until the subscription is renewed, and the count it gives then differs
/// from every count before.
#[tokio::test]
async fn a_lost_subscription_vouches_for_nothing_until_it_is_back() {
    let server = RedisServer::start(&[]);
    let store = outpost_store_redis::open(options(server.url()))
        .await
        .expect("open");
    let before = store.mcp_sessions.changes_here().await.expect("changes");
    assert!(before.is_some());
    let client = redis::Client::open(server.url()).expect("client");
    let mut admin = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut admin)
        .await
        .expect("CLIENT KILL");
    assert_eq!(killed, 1, "the store's one subscription");
    // Lost (None), then renewed (a new count): either may be what the first look sees.
    let after = changes_moved_from(&store, before).await;
    let back = match after {
        None => changes_moved_from(&store, None).await,
        renewed => renewed,
    };
    assert!(
        back.is_some_and(|count| count > before.expect("counted")),
        "renewed with a count past {before:?}: {back:?}"
    );
}
