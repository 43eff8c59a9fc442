//! What the process tests share: the `outpost` binary, free ports, temporary directories, a
//! running `outpost serve`, access tokens signed with a store's key (each bound to a grant),
//! JSON-RPC answers, and a redis-server ([`redis`]).
#![allow(dead_code)]

pub mod redis;

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use outpost::{
    auth::{
        access_token::{AccessClaims, issue},
        resource::canonical_resource,
        scope::Scope,
        server::{AuthorizationServer, DEFAULT_ACCESS_TOKEN_LIFETIME},
    },
    store::{
        ApplicationType, ClientId, ClientRecord, GrantId, GrantRecord, PasswordHash, Store,
        TokenEndpointAuthMethod, UserId, UserRecord, Username,
    },
};
use serde_json::Value;

/// The `outpost` binary under test.
pub const OUTPOST: &str = env!("CARGO_BIN_EXE_outpost");

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A fresh directory under cargo's per-target temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// `{name}-{pid}` under `CARGO_TARGET_TMPDIR`, emptied first.
    pub fn new(name: &str) -> Self {
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create the temp dir");
        Self(path)
    }

    /// The URL of a SQLite store in this directory.
    pub fn store(&self) -> String {
        format!("sqlite://{}", self.0.join("outpost.db").display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `outpost serve`, killed when dropped.
pub struct Server {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `outpost serve` with `args` on a free loopback port and waits for /health.
pub fn start(args: &[&str]) -> Server {
    start_on(&format!("127.0.0.1:{}", free_port()), args)
}

/// Starts `outpost serve` with `args` on `bind` and waits for /health.
pub fn start_on(bind: &str, args: &[&str]) -> Server {
    let mut server = spawn_on(bind, args);
    wait_healthy(&format!("{}/health", server.base), &mut server.child);
    server
}

/// Starts `outpost serve` with `args` on `bind`, without waiting for it to come up.
pub fn spawn_on(bind: &str, args: &[&str]) -> Server {
    let child = Command::new(OUTPOST)
        .arg("serve")
        .args(args)
        .args(["--bind", bind])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start outpost");
    Server {
        child,
        base: format!("http://{bind}"),
    }
}

/// Polls `url` until it answers 200; panics if `child` exits or 20 s pass.
pub fn wait_healthy(url: &str, child: &mut Child) {
    let client = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(response) = client.get(url).send()
            && response.status() == 200
        {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("outpost exited early with {status}");
        }
        assert!(Instant::now() < deadline, "{url} not healthy after 20s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An access token for `subject`, signed with the active key of the store at `store_url`, for
/// the server at `base` (issuer `base`, audience `{base}/mcp`), bound to a new live grant of
/// the fixture user `{FIXTURE_USER}` (created if missing): the server refuses a token without
/// a grant, as its authorization server issues none. The subject is the caller the server
/// sees; the grant is only checked for revocation.
pub fn token(store_url: &str, base: &str, subject: &str) -> String {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let store = outpost::store::open(store_url)
            .await
            .expect("open the store");
        let username = Username::parse(FIXTURE_USER).expect("username");
        let user = match store.users.get_by_username(&username).await {
            Ok(Some(user)) => user,
            Ok(None) => {
                let user = UserRecord {
                    id: UserId::random(),
                    username,
                    password_hash: PasswordHash::parse(SOME_HASH).expect("PHC string"),
                    allowed_scopes: Default::default(),
                    created_at: unix_now(),
                };
                store
                    .users
                    .create(user.clone())
                    .await
                    .expect("store the user");
                user
            }
            Err(error) => panic!("read the fixture user: {error}"),
        };
        let grant = live_grant(&store, user.id).await;
        mint(&store, base, subject, grant).await
    })
}

/// Like [`token`], for the user `username` (its id as the subject), bound to a new live grant
/// of that user.
pub fn granted_token(store_url: &str, base: &str, username: &str) -> String {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let store = outpost::store::open(store_url)
            .await
            .expect("open the store");
        let user = store
            .users
            .get_by_username(&Username::parse(username).expect("username"))
            .await
            .expect("read the user")
            .unwrap_or_else(|| panic!("no user {username}"));
        let grant = live_grant(&store, user.id).await;
        mint(&store, base, &user.id.to_string(), grant).await
    })
}

/// For split roles: a token of the auth role at `issuer` (signed with the key in the store
/// at `store_url`) for the MCP role's `resource`, bound to a new live grant of the fixture
/// user (returned, to revoke) — or, without `with_grant`, naming no grant.
pub fn role_token(
    store_url: &str,
    issuer: &str,
    resource: &str,
    with_grant: bool,
) -> (String, GrantId) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let store = outpost::store::open(store_url)
            .await
            .expect("open the store");
        let user = UserRecord {
            id: UserId::random(),
            username: Username::parse(&format!("role-{}", GrantId::random())).expect("username"),
            password_hash: PasswordHash::parse(SOME_HASH).expect("PHC string"),
            allowed_scopes: Default::default(),
            created_at: unix_now(),
        };
        store
            .users
            .create(user.clone())
            .await
            .expect("store the user");
        let grant = live_grant(&store, user.id).await;
        let now = unix_now();
        let keyring = AuthorizationServer::load_keyring(&store, DEFAULT_ACCESS_TOKEN_LIFETIME, now)
            .await
            .expect("the server's keys");
        let claims = AccessClaims::new(
            issuer,
            &user.id.to_string(),
            resource,
            CLIENT,
            Scope::parse("mcp").expect("scope"),
            now,
            Duration::from_secs(600),
        )
        .expect("claims");
        let claims = if with_grant {
            claims.with_grant_id(grant.to_string())
        } else {
            claims
        };
        (issue(&keyring, &claims).expect("token"), grant)
    })
}

/// Revokes `grant` in the store at `store_url`, as the auth role's `/revoke` does.
pub fn revoke_grant(store_url: &str, grant: GrantId) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let store = outpost::store::open(store_url)
            .await
            .expect("open the store");
        store
            .grants
            .revoke_grant(grant, unix_now())
            .await
            .expect("revoke the grant");
    })
}

/// The client the tests' grants are for.
const CLIENT: &str = "session-test";
/// The user [`token`]'s grants belong to.
const FIXTURE_USER: &str = "token-fixture";
/// A valid argon2id PHC string: nobody logs in as the fixture user.
const SOME_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$iWh06vD8Fy27wf9npn6FXWiCX4K6pW6Ue1Bnzz07Z8A";

/// A new grant of `user` to the client `{CLIENT}` (created if missing), in `store`.
async fn live_grant(store: &Store, user: UserId) -> GrantId {
    let client_id = ClientId::parse(CLIENT).expect("client id");
    store
        .clients
        .upsert(ClientRecord {
            client_id: client_id.clone(),
            client_secret_hash: None,
            client_name: Some("outpost-cli tests".into()),
            redirect_uris: vec!["http://127.0.0.1/callback".into()],
            grant_types: vec!["authorization_code".into()],
            response_types: vec!["code".into()],
            token_endpoint_auth_method: TokenEndpointAuthMethod::None,
            application_type: ApplicationType::Native,
            scope: Some("mcp".into()),
            created_at: unix_now(),
        })
        .await
        .expect("store the client");
    let grant = GrantId::random();
    store
        .grants
        .create_grant(GrantRecord {
            grant_id: grant,
            user_id: user,
            client_id,
            scope: "mcp".into(),
            resource: None,
            created_at: unix_now(),
            revoked_at: None,
        })
        .await
        .expect("store the grant");
    grant
}

/// A token for `subject` through `grant`, signed with the store's active key.
async fn mint(store: &Store, base: &str, subject: &str, grant: GrantId) -> String {
    let now = unix_now();
    let keyring = AuthorizationServer::load_keyring(store, DEFAULT_ACCESS_TOKEN_LIFETIME, now)
        .await
        .expect("the server's keys");
    let claims = AccessClaims::new(
        base,
        subject,
        &canonical_resource(base),
        CLIENT,
        Scope::parse("mcp").expect("scope"),
        now,
        Duration::from_secs(600),
    )
    .expect("claims")
    .with_grant_id(grant.to_string());
    issue(&keyring, &claims).expect("token")
}

/// Now, in Unix seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// The JSON-RPC answer in a body that is JSON, or an SSE stream (session requests stream).
pub fn jsonrpc_answer(body: &str) -> Value {
    if let Ok(answer) = serde_json::from_str(body) {
        return answer;
    }
    body.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str::<Value>(data.trim_start()).ok())
        .find(|message| message.get("id").is_some() && message.get("method").is_none())
        .unwrap_or_else(|| panic!("no JSON-RPC answer in {body}"))
}
