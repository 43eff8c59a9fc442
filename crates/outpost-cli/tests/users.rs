//! `outpost users` as a process against a SQLite file: add, list, duplicate refused, passwd
//! changes the stored hash, remove, remove again refused. Hashes are checked through the
//! library's store API, the way the server will read them.

use std::{
    io::Write as _,
    path::PathBuf,
    process::{Command, Output, Stdio},
};

use outpost::{auth::server::password::verify_password, store::Username};

const OUTPOST: &str = env!("CARGO_BIN_EXE_outpost");

/// A fresh database path under cargo's per-target temp dir, removed on drop.
struct TempDb(PathBuf);

impl TempDb {
    fn new(name: &str) -> Self {
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("{name}-{}.db", std::process::id()));
        let db = Self(path);
        db.remove();
        db
    }

    fn url(&self) -> String {
        format!("sqlite://{}", self.0.display())
    }

    fn remove(&self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        self.remove();
    }
}

fn users(db: &TempDb, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(OUTPOST)
        .arg("users")
        .args(args)
        .args(["--store", &db.url()])
        .env_remove("OUTPOST_STORE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run outpost");
    let written = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes());
    // A command that refuses its arguments may exit before reading stdin: the write then
    // fails with a broken pipe, which is not the behaviour under test.
    if let Err(error) = written {
        assert_eq!(
            error.kind(),
            std::io::ErrorKind::BrokenPipe,
            "write stdin: {error}"
        );
    }
    child.wait_with_output().expect("wait for outpost")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The code [`grant_for`] leaves unexchanged.
const UNEXCHANGED_CODE: &str = "a code issued but not exchanged yet";
/// The authorization request [`grant_for`] leaves signed in to, waiting for consent.
const AWAITING_CONSENT: &str = "a request signed in to, not decided yet";

/// A grant of user `name` to a client, as a sign-in leaves one, a code of a sign-in that has
/// not reached `/token` yet ([`UNEXCHANGED_CODE`]) and a sign-in waiting for consent
/// ([`AWAITING_CONSENT`]).
async fn grant_for(db: &TempDb, name: &str) -> outpost::store::GrantId {
    use outpost::store::{
        ApplicationType, AuthorizationCodeRecord, ClientId, ClientRecord, GrantId, GrantRecord,
        PendingAuthorizationRecord, TokenEndpointAuthMethod, token_hash,
    };
    let store = outpost::store::open(&db.url()).await.expect("open store");
    let name = Username::parse(name).expect("valid");
    let user = store
        .users
        .get_by_username(&name)
        .await
        .expect("get")
        .expect("user");
    let client = ClientRecord {
        client_id: ClientId::parse("cli-test-client").expect("valid client id"),
        client_secret_hash: None,
        client_name: None,
        redirect_uris: vec!["http://127.0.0.1/callback".into()],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        response_types: vec!["code".into()],
        token_endpoint_auth_method: TokenEndpointAuthMethod::None,
        application_type: ApplicationType::Native,
        scope: None,
        created_at: 0,
    };
    store.clients.insert(client.clone()).await.expect("client");
    let grant = GrantRecord {
        grant_id: GrantId::random(),
        user_id: user.id,
        client_id: client.client_id,
        scope: "mcp".into(),
        resource: None,
        created_at: 0,
        revoked_at: None,
    };
    store
        .grants
        .create_grant(grant.clone())
        .await
        .expect("grant");
    let request = PendingAuthorizationRecord {
        id_hash: token_hash(AWAITING_CONSENT),
        client_id: grant.client_id.clone(),
        client_name: "a client".into(),
        client_host: None,
        redirect_uri: "http://127.0.0.1/callback".into(),
        redirect_uri_sent: true,
        scope: "mcp".into(),
        resource: None,
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        state: None,
        user_id: Some(user.id),
        expires_at: i64::MAX / 2,
    };
    store
        .pending_authorizations
        .insert(request, 0, 100)
        .await
        .expect("pending");
    let code = AuthorizationCodeRecord {
        code_hash: token_hash(UNEXCHANGED_CODE),
        client_id: grant.client_id,
        user_id: user.id,
        redirect_uri: "http://127.0.0.1/callback".into(),
        redirect_uri_sent: true,
        scope: "mcp".into(),
        resource: None,
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        expires_at: i64::MAX / 2,
    };
    store.codes.insert(code).await.expect("code");
    grant.grant_id
}

async fn password_of(db: &TempDb, name: &str) -> outpost::store::PasswordHash {
    let store = outpost::store::open(&db.url()).await.expect("open store");
    let name = Username::parse(name).expect("valid");
    store
        .users
        .get_by_username(&name)
        .await
        .expect("lookup")
        .expect("user exists")
        .password_hash
}

#[tokio::test]
async fn users_lifecycle() {
    let db = TempDb::new("users-lifecycle");
    let added = users(
        &db,
        &["add", "alice", "--password-stdin"],
        "first-password\n",
    );
    assert!(added.status.success(), "add: {}", stderr(&added));

    let listed = users(&db, &["list"], "");
    assert!(listed.status.success(), "list: {}", stderr(&listed));
    let lines: Vec<_> = stdout(&listed).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("alice\t20"),
        "name then date: {lines:?}"
    );

    let duplicate = users(
        &db,
        &["add", "ALICE", "--password-stdin"],
        "other-password\n",
    );
    assert!(!duplicate.status.success());
    assert!(
        stderr(&duplicate).contains("already exists"),
        "{}",
        stderr(&duplicate)
    );

    let before = password_of(&db, "alice").await;
    assert!(verify_password("first-password", &before));
    let grant = grant_for(&db, "alice").await;
    let changed = users(
        &db,
        &["passwd", "alice", "--password-stdin"],
        "second-password\r\n",
    );
    assert!(changed.status.success(), "passwd: {}", stderr(&changed));
    assert!(
        stdout(&changed).contains("revoked 1 grant"),
        "{}",
        stdout(&changed)
    );
    let store = outpost::store::open(&db.url()).await.expect("open store");
    assert!(
        store.grants.is_revoked(grant).await.expect("is_revoked"),
        "what the old password obtained is revoked"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    let exchanged = store
        .codes
        .redeem(
            &outpost::store::token_hash(UNEXCHANGED_CODE),
            outpost::store::GrantId::random(),
            now,
        )
        .await
        .expect("redeem");
    assert_eq!(
        exchanged,
        outpost::store::Redemption::Invalid,
        "a code the old password obtained no longer starts a grant"
    );
    let consent = store
        .pending_authorizations
        .take_signed_in(&outpost::store::token_hash(AWAITING_CONSENT), now)
        .await
        .expect("take");
    assert_eq!(
        consent, None,
        "a sign-in with the old password can no longer consent"
    );
    drop(store);
    let after = password_of(&db, "alice").await;
    assert!(
        !verify_password("first-password", &after),
        "old password no longer verifies"
    );
    assert!(verify_password("second-password", &after));

    let removed = users(&db, &["remove", "ALICE"], "");
    assert!(removed.status.success(), "remove: {}", stderr(&removed));
    assert_eq!(
        stdout(&removed),
        "removed user alice\n",
        "the name as stored"
    );
    assert_eq!(stdout(&users(&db, &["list"], "")), "");
    let again = users(&db, &["remove", "alice"], "");
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("no user named alice"),
        "{}",
        stderr(&again)
    );
}

/// A command that manages what a server put in its store refuses a store that is not there
/// (a typo in `--store` would otherwise show an empty one, or rotate keys nobody uses), and
/// none writes to `memory://`, which no server shares.
#[test]
fn commands_do_not_make_up_a_store() {
    let db = TempDb::new("users-no-store");
    for args in [
        &["list"][..],
        &["remove", "alice"],
        &["set-scopes", "alice"],
    ] {
        let refused = users(&db, args, "");
        assert!(!refused.status.success(), "{args:?}");
        assert!(
            stderr(&refused).contains("there is no store"),
            "{args:?}: {}",
            stderr(&refused)
        );
    }
    let rotate = Command::new(OUTPOST)
        .args(["keys", "rotate", "--store", &db.url()])
        .env_remove("OUTPOST_STORE")
        .output()
        .expect("run outpost keys rotate");
    assert!(!rotate.status.success());
    assert!(!db.0.exists(), "no store was created");

    let memory = Command::new(OUTPOST)
        .args([
            "users",
            "add",
            "zed",
            "--password-stdin",
            "--store",
            "memory://",
        ])
        .env_remove("OUTPOST_STORE")
        .stdin(Stdio::null())
        .output()
        .expect("run outpost users add");
    assert!(!memory.status.success());
    assert!(stderr(&memory).contains("memory://"), "{}", stderr(&memory));
}

#[test]
fn bad_input_is_refused_clearly() {
    let db = TempDb::new("users-bad-input");
    let short = users(&db, &["add", "bob", "--password-stdin"], "short\n");
    assert!(!short.status.success());
    assert!(
        stderr(&short).contains("at least 8 characters"),
        "{}",
        stderr(&short)
    );

    for guessable in ["password\n", "        \n", "Qwertyuiop\n", "aaaaaaaaaaaa\n"] {
        let refused = users(&db, &["add", "bob", "--password-stdin"], guessable);
        assert!(!refused.status.success(), "{guessable:?}");
        assert!(
            stderr(&refused).contains("too easy to guess"),
            "{guessable:?}: {}",
            stderr(&refused)
        );
    }
    let long = format!("{}\n", "correct horse ".repeat(80));
    let refused = users(&db, &["add", "bob", "--password-stdin"], &long);
    assert!(
        stderr(&refused).contains("too long"),
        "{}",
        stderr(&refused)
    );
    for name in ["..", "-x"] {
        let mut add = Command::new(OUTPOST);
        add.args([
            "users",
            "--store",
            &db.url(),
            "add",
            "--password-stdin",
            "--",
            name,
        ])
        .env_remove("OUTPOST_STORE")
        .stdin(Stdio::null());
        let refused = add.output().expect("run outpost users add");
        assert!(!refused.status.success(), "{name}");
        assert!(
            stderr(&refused).contains("invalid username"),
            "{name}: {}",
            stderr(&refused)
        );
    }

    let no_tty = users(&db, &["add", "bob"], "");
    assert!(!no_tty.status.success());
    assert!(
        stderr(&no_tty).contains("--password-stdin"),
        "{}",
        stderr(&no_tty)
    );

    let bad_name = users(
        &db,
        &["add", "bob smith", "--password-stdin"],
        "long-enough\n",
    );
    assert!(!bad_name.status.success());
    assert!(
        stderr(&bad_name).contains("invalid username"),
        "{}",
        stderr(&bad_name)
    );

    let mut unknown = Command::new(OUTPOST);
    unknown.args(["users", "list", "--store", "postgres://localhost"]);
    let unknown = unknown.output().expect("run outpost");
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("sqlite://"),
        "{}",
        stderr(&unknown)
    );
}

#[tokio::test]
async fn scopes_beyond_the_baseline_are_granted_changed_and_listed() {
    let db = TempDb::new("users-scopes");
    let added = users(
        &db,
        &["add", "alice", "--scope", "mcp:admin", "--password-stdin"],
        "first-password\n",
    );
    assert!(added.status.success(), "add: {}", stderr(&added));
    let added = users(
        &db,
        &["add", "bob", "--password-stdin"],
        "second-password\n",
    );
    assert!(added.status.success(), "add: {}", stderr(&added));

    let unknown = users(
        &db,
        &["add", "carol", "--scope", "mcp:root", "--password-stdin"],
        "third-password\n",
    );
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("unknown scope \"mcp:root\"")
            && stderr(&unknown).contains("mcp:admin")
            && stderr(&unknown).contains("--custom-scopes"),
        "{}",
        stderr(&unknown)
    );
    // A scope of a server of one's own, on the same store, when asked for.
    let custom = users(
        &db,
        &[
            "add",
            "dave",
            "--scope",
            "notes:write",
            "--custom-scopes",
            "--password-stdin",
        ],
        "fourth-password\n",
    );
    assert!(custom.status.success(), "add: {}", stderr(&custom));

    let scopes_of = |listing: &str, name: &str| {
        let line = listing
            .lines()
            .find(|l| l.starts_with(&format!("{name}\t")));
        line.and_then(|l| l.split('\t').nth(2)).map(str::to_owned)
    };
    let listing = stdout(&users(&db, &["list"], ""));
    assert_eq!(
        scopes_of(&listing, "alice").as_deref(),
        Some("mcp:admin"),
        "{listing}"
    );
    assert_eq!(
        scopes_of(&listing, "bob").as_deref(),
        Some("-"),
        "{listing}"
    );
    assert!(scopes_of(&listing, "carol").is_none(), "{listing}");
    assert_eq!(
        scopes_of(&listing, "dave").as_deref(),
        Some("notes:write"),
        "{listing}"
    );

    // The baseline every user has is not stored as one beyond it.
    let changed = users(&db, &["set-scopes", "bob", "mcp mcp:admin"], "");
    assert!(changed.status.success(), "set-scopes: {}", stderr(&changed));
    assert!(
        stderr(&changed).contains("baseline scope mcp: not stored"),
        "{}",
        stderr(&changed)
    );
    let cleared = users(&db, &["set-scopes", "alice"], "");
    assert!(cleared.status.success(), "set-scopes: {}", stderr(&cleared));
    let listing = stdout(&users(&db, &["list"], ""));
    assert_eq!(
        scopes_of(&listing, "alice").as_deref(),
        Some("-"),
        "{listing}"
    );
    assert_eq!(
        scopes_of(&listing, "bob").as_deref(),
        Some("mcp:admin"),
        "{listing}"
    );

    let missing = users(&db, &["set-scopes", "nobody", "mcp:admin"], "");
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("no user named nobody"),
        "{}",
        stderr(&missing)
    );
}
