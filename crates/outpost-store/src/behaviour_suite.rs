//! One behaviour suite for every backend: each check is an async fn over a [`Store`], and
//! [`store_behaviour_suite!`](crate::store_behaviour_suite) turns the whole list into one
//! `#[tokio::test]` per check in the backend's own crate, so backends cannot drift apart. The
//! memory backend runs it here, SQLite in `outpost-store-sqlite`; a third party's backend runs
//! it with this crate's `test-util` feature.

mod authorization_requests;
mod events;
mod instances;
mod key_encryption;
mod session_caps;
mod session_data;
mod throttles;

use std::path::{Path, PathBuf};

pub use self::{
    authorization_requests::{
        a_users_signed_in_requests_are_removed_together,
        client_documents_are_kept_until_they_expire, pending_authorizations_are_bounded,
        pending_authorizations_live_until_decided_or_expired,
    },
    events::{
        appended_events_wake_listeners, event_retention_bounds_count_and_age,
        events_replay_exactly_after_the_id_given,
    },
    instances::{
        first_request_state_key_is_inserted_once, first_signing_key_is_inserted_once,
        request_state_key_rotates_once_per_due_time, request_state_keys_are_listed_by_activation,
        superseded_request_state_keys_are_purged,
    },
    key_encryption::{
        altered_or_moved_sealed_keys_are_refused, clear_keys_are_sealed_at_the_first_start,
        instances_sealing_together_agree, rotation_reseals_with_the_current_key,
        sealed_keys_refuse_a_start_without_their_key,
    },
    session_caps::{
        counted_sessions_are_admitted_atomically_under_a_burst,
        counted_sessions_hold_the_caps_per_owner_and_in_total,
    },
    session_data::{
        mcp_session_changes_are_counted_here, mcp_session_data_is_replaced_only_if_unchanged,
        mcp_session_data_writers_lose_no_change,
    },
    throttles::{
        throttle_batches_take_what_the_budget_allows,
        throttle_budgets_count_attempts_in_a_sliding_window,
        throttle_purge_forgets_only_expired_attempts,
        throttle_reservations_are_atomic_under_a_burst,
    },
};

use super::{
    ApplicationType, AuthorizationCodeRecord, ClientId, ClientRecord, ConsentRecord, GrantId,
    GrantRecord, McpSessionRecord, NewRefreshToken, PasswordHash, PrivateKeyPem, Redemption,
    RefreshTokenRecord, Rotation, ScopeSet, SecretAtRest, SigningKeyRecord, Store, StoreError,
    TokenEndpointAuthMethod, UserId, UserRecord, Username, token_hash,
};

/// Fixture argon2id hashes (PHC strings): the suite stores hashes, it never computes them.
const HASHES: [&str; 3] = [
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$yJf5cO5r5xQm0ZpXQy3ZlXx2rNQ0o0V3eNfG8cXk0lQ",
    "$argon2id$v=19$m=19456,t=2,p=1$b3RoZXJzYWx0MTIz$3Qm5yT1f0f7kXb3wq2hQ1xJ8J9u7sXq0y1Z6W8q0p4A",
    "$argon2id$v=19$m=19456,t=2,p=1$Y2xpZW50c2FsdDEy$8f2Kq1Z0wX9yV3uT6sR5pQ4oN2mL1kJ0iH9gF8eD7cA",
];

fn fixture_hash(which: usize) -> PasswordHash {
    PasswordHash::parse(HASHES[which]).expect("fixture hash parses")
}

/// A fresh directory under the system temp dir, removed on drop: where a file-backed store
/// under test keeps its files (the suite's own, to keep `tempfile` out of the tree).
pub struct TempDir(PathBuf);

impl Default for TempDir {
    fn default() -> Self {
        Self::new()
    }
}

impl TempDir {
    /// Creates the directory.
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!("outpost-store-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const NOW: i64 = 1_800_000_000;

/// The seconds after a rotation in which the suite's refreshes count as racing it.
const RACE_WINDOW: i64 = 10;

fn user(name: &str) -> UserRecord {
    UserRecord {
        id: UserId::random(),
        username: Username::parse(name).expect("valid username"),
        password_hash: fixture_hash(0),
        allowed_scopes: ScopeSet::default(),
        created_at: NOW,
    }
}

fn client(id: &str) -> ClientRecord {
    ClientRecord {
        client_id: ClientId::parse(id).expect("valid client id"),
        client_secret_hash: None,
        client_name: Some("Test client".into()),
        redirect_uris: vec!["http://127.0.0.1/callback".into()],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        response_types: vec!["code".into()],
        token_endpoint_auth_method: TokenEndpointAuthMethod::None,
        application_type: ApplicationType::Native,
        scope: Some("mcp".into()),
        created_at: NOW,
    }
}

/// A user, a client and a grant with one refresh token `"rt-0"`.
async fn grant_fixture(store: &Store) -> (UserRecord, ClientRecord, GrantRecord) {
    let (mut user, client) = (user("grace"), client("client-g"));
    user.allowed_scopes = ScopeSet::parse("mcp:admin").expect("valid scope");
    store.users.create(user.clone()).await.expect("user");
    store.clients.insert(client.clone()).await.expect("client");
    let grant = GrantRecord {
        grant_id: GrantId::random(),
        user_id: user.id,
        client_id: client.client_id.clone(),
        scope: "mcp".into(),
        resource: Some("https://mcp.example/mcp".into()),
        created_at: NOW,
        revoked_at: None,
    };
    store
        .grants
        .create_grant(grant.clone())
        .await
        .expect("grant");
    let first = RefreshTokenRecord {
        token_hash: token_hash("rt-0"),
        grant_id: grant.grant_id,
        expires_at: NOW + 3600,
        rotated_at: None,
    };
    store
        .grants
        .insert_refresh_token(first)
        .await
        .expect("refresh token");
    (user, client, grant)
}

fn successor(secret: &str) -> NewRefreshToken {
    NewRefreshToken {
        token_hash: token_hash(secret),
        expires_at: NOW + 7200,
    }
}

/// Usernames are unique case-insensitively and keep their spelling; listing, lookup by id and password changes.
pub async fn users_are_unique_case_insensitively(store: Store) {
    store.users.create(user("Alice")).await.expect("create");
    let dup = store.users.create(user("alice")).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let found = store
        .users
        .get_by_username(&Username::parse("ALICE").expect("valid"))
        .await;
    let found = found.expect("lookup").expect("found case-insensitively");
    assert_eq!(found.username.as_str(), "Alice", "spelling preserved");
    assert_eq!(
        store.users.get(found.id).await.expect("by id"),
        Some(found.clone())
    );
    store.users.create(user("bob")).await.expect("create");
    let names: Vec<_> = store
        .users
        .list()
        .await
        .expect("list")
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(
        names.iter().map(Username::as_str).collect::<Vec<_>>(),
        ["Alice", "bob"]
    );

    let new_hash = fixture_hash(1);
    store
        .users
        .set_password_hash(found.id, new_hash.clone())
        .await
        .expect("passwd");
    let changed = store
        .users
        .get(found.id)
        .await
        .expect("get")
        .expect("still there");
    assert_eq!(changed.password_hash, new_hash);

    let alice = Username::parse("alice").expect("valid");
    store.users.delete(&alice).await.expect("delete");
    assert!(matches!(
        store.users.delete(&alice).await,
        Err(StoreError::NotFound(_))
    ));
    let missing = store.users.set_password_hash(found.id, new_hash).await;
    assert!(matches!(missing, Err(StoreError::NotFound(_))));
}

/// A user's allowed scopes are kept as created, replaced as a whole, and listed; a user
/// created without any has none.
pub async fn users_keep_their_allowed_scopes(store: Store) {
    let mut admin = user("ada");
    admin.allowed_scopes = ScopeSet::parse("mcp:admin tools:write").expect("valid");
    store.users.create(admin.clone()).await.expect("create");
    store.users.create(user("bob")).await.expect("create");
    let read = |name: &'static str| {
        let users = store.users.clone();
        async move {
            let username = Username::parse(name).expect("valid");
            users
                .get_by_username(&username)
                .await
                .expect("get")
                .expect("found")
        }
    };
    assert_eq!(read("ada").await, admin);
    assert!(read("bob").await.allowed_scopes.is_empty());

    let narrowed = ScopeSet::parse("tools:write").expect("valid");
    store
        .users
        .set_allowed_scopes(admin.id, narrowed.clone())
        .await
        .expect("set");
    assert_eq!(
        store
            .users
            .get(admin.id)
            .await
            .expect("get")
            .map(|u| u.allowed_scopes),
        Some(narrowed)
    );
    let listed: Vec<_> = store
        .users
        .list()
        .await
        .expect("list")
        .into_iter()
        .map(|u| u.allowed_scopes.to_string())
        .collect();
    assert_eq!(listed, ["tools:write", ""]);
    store
        .users
        .set_allowed_scopes(admin.id, ScopeSet::default())
        .await
        .expect("clear");
    assert!(read("ada").await.allowed_scopes.is_empty());

    let missing = store
        .users
        .set_allowed_scopes(UserId::random(), ScopeSet::default())
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
}

/// A client is stored, read back field by field and deleted.
pub async fn clients_round_trip(store: Store) {
    let mut record = client("https://app.example/client.json");
    record.client_secret_hash = Some(fixture_hash(2));
    record.token_endpoint_auth_method = TokenEndpointAuthMethod::ClientSecretBasic;
    record.application_type = ApplicationType::Web;
    store.clients.insert(record.clone()).await.expect("insert");
    let dup = store.clients.insert(record.clone()).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    assert_eq!(
        store.clients.get(&record.client_id).await.expect("get"),
        Some(record.clone())
    );
    store
        .clients
        .delete(&record.client_id)
        .await
        .expect("delete");
    assert_eq!(
        store.clients.get(&record.client_id).await.expect("get"),
        None
    );
}

/// An upsert replaces a client's metadata but keeps its `created_at` and what was issued to it.
pub async fn client_upsert_keeps_what_was_issued(store: Store) {
    let (user, registered, grant) = grant_fixture(&store).await;
    store
        .consents
        .remember(ConsentRecord {
            user_id: user.id,
            client_id: registered.client_id.clone(),
            scope: "mcp".into(),
            granted_at: NOW,
        })
        .await
        .expect("consent");
    let mut changed = registered.clone();
    changed.client_name = Some("Renamed".into());
    changed.redirect_uris = vec!["https://app.example/new-callback".into()];
    changed.created_at = NOW + 500;
    store.clients.upsert(changed.clone()).await.expect("upsert");
    changed.created_at = registered.created_at;
    assert_eq!(
        store.clients.get(&registered.client_id).await.expect("get"),
        Some(changed),
        "metadata replaced, created_at kept"
    );
    assert!(
        store
            .grants
            .get_grant(grant.grant_id)
            .await
            .expect("grant")
            .is_some(),
        "the grant survives"
    );
    assert!(
        store
            .consents
            .get(user.id, &registered.client_id)
            .await
            .expect("consent")
            .is_some(),
        "the consent survives"
    );
    let fresh = client("https://other.example/client.json");
    store.clients.upsert(fresh.clone()).await.expect("insert");
    assert_eq!(
        store.clients.get(&fresh.client_id).await.expect("get"),
        Some(fresh)
    );
}

/// Metadata-document clients nothing was issued to are purged after their age; others stay.
pub async fn unused_document_clients_are_purged(store: Store) {
    let old = |id: &str| ClientRecord {
        created_at: NOW - 100,
        ..client(id)
    };
    let (abandoned, consented) = (
        old("https://a.example/c.json"),
        old("https://b.example/c.json"),
    );
    let (recent, registered) = (client("https://c.example/c.json"), old("registered-1"));
    for c in [&abandoned, &consented, &recent, &registered] {
        store.clients.insert(c.clone()).await.expect("client");
    }
    let user = user("dora");
    store.users.create(user.clone()).await.expect("user");
    store
        .consents
        .remember(ConsentRecord {
            user_id: user.id,
            client_id: consented.client_id.clone(),
            scope: "mcp".into(),
            granted_at: NOW,
        })
        .await
        .expect("consent");

    let removed = store
        .clients
        .purge_unused_documents(NOW)
        .await
        .expect("purge");
    assert_eq!(removed, std::slice::from_ref(&abandoned.client_id));
    for (c, kept) in [
        (&abandoned, false),
        (&consented, true),
        (&recent, true),
        (&registered, true),
    ] {
        let found = store.clients.get(&c.client_id).await.expect("get");
        assert_eq!(found.is_some(), kept, "{}", c.client_id);
    }
}

/// A code `secret` of `user_id` for `client`, live until `expires_at`.
fn code_of(
    secret: &str,
    client: &ClientRecord,
    user_id: UserId,
    expires_at: i64,
) -> AuthorizationCodeRecord {
    AuthorizationCodeRecord {
        code_hash: token_hash(secret),
        client_id: client.client_id.clone(),
        user_id,
        redirect_uri: "http://127.0.0.1/callback".into(),
        // Not the default a column or field added later reads as: kept as written.
        redirect_uri_sent: false,
        scope: "mcp".into(),
        resource: None,
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        expires_at,
    }
}

/// What redeeming the code `secret` for `grant_id` at `now` answers.
async fn redeemed(store: &Store, secret: &str, grant_id: GrantId, now: i64) -> Redemption {
    store
        .codes
        .redeem(&token_hash(secret), grant_id, now)
        .await
        .expect("redeem")
}

/// A code is redeemed once; a replay answers the grant its first redemption started.
pub async fn codes_are_redeemed_once(store: Store) {
    let (user, client) = (user("carol"), client("client-c"));
    store.users.create(user.clone()).await.expect("user");
    store.clients.insert(client.clone()).await.expect("client");
    let code = |secret: &str, expires_at| code_of(secret, &client, user.id, expires_at);
    store
        .codes
        .insert(code("live", NOW + 60))
        .await
        .expect("insert");
    store
        .codes
        .insert(code("stale", NOW - 1))
        .await
        .expect("insert");
    let (first, second) = (GrantId::random(), GrantId::random());
    let redeem = |secret: &'static str, grant_id, now| redeemed(&store, secret, grant_id, now);
    assert_eq!(
        redeem("live", first, NOW).await,
        Redemption::Redeemed(code("live", NOW + 60))
    );
    assert_eq!(
        redeem("live", second, NOW + 1).await,
        Redemption::Replayed { grant_id: first },
        "a replay names the grant of the first redemption"
    );
    assert_eq!(redeem("stale", first, NOW).await, Redemption::Invalid);
    assert_eq!(redeem("never", first, NOW).await, Redemption::Invalid);

    // Purging forgets codes that expired before the cut-off, spent or not.
    assert_eq!(store.codes.purge_expired(NOW).await.expect("purge"), 1);
    assert_eq!(
        redeem("live", second, NOW + 2).await,
        Redemption::Replayed { grant_id: first }
    );
    store.codes.purge_expired(NOW + 61).await.expect("purge");
    assert_eq!(redeem("live", second, NOW + 2).await, Redemption::Invalid);

    let mut orphan = code("orphan", NOW + 60);
    orphan.user_id = UserId::random();
    let err = store.codes.insert(orphan).await;
    assert!(matches!(err, Err(StoreError::NotFound(_))), "{err:?}");
}

/// Ending a user's codes makes those not redeemed yet invalid from then on; a redeemed one
/// still answers a replay, and another user's code still redeems.
pub async fn a_users_codes_are_ended_together(store: Store) {
    let (user, client) = (user("ivan"), client("client-i"));
    let other = self::user("judy");
    for u in [&user, &other] {
        store.users.create(u.clone()).await.expect("user");
    }
    store.clients.insert(client.clone()).await.expect("client");
    let code = |secret: &str, user_id| code_of(secret, &client, user_id, NOW + 60);
    for (secret, user_id) in [
        ("pending", user.id),
        ("also-pending", user.id),
        ("redeemed", user.id),
        ("theirs", other.id),
    ] {
        store
            .codes
            .insert(code(secret, user_id))
            .await
            .expect("insert");
    }
    let redeem = |secret: &'static str, grant_id, now| redeemed(&store, secret, grant_id, now);
    let spent_for = GrantId::random();
    assert!(matches!(
        redeem("redeemed", spent_for, NOW).await,
        Redemption::Redeemed(_)
    ));

    let ended = store
        .codes
        .expire_codes_of_user(user.id, NOW + 5)
        .await
        .expect("end the user's codes");
    assert_eq!(ended, 2);
    assert_eq!(
        redeem("pending", GrantId::random(), NOW + 5).await,
        Redemption::Invalid
    );
    assert_eq!(
        redeem("also-pending", GrantId::random(), NOW + 6).await,
        Redemption::Invalid
    );
    assert_eq!(
        redeem("redeemed", GrantId::random(), NOW + 6).await,
        Redemption::Replayed {
            grant_id: spent_for
        }
    );
    assert!(matches!(
        redeem("theirs", GrantId::random(), NOW + 6).await,
        Redemption::Redeemed(_)
    ));
    assert_eq!(
        store
            .codes
            .expire_codes_of_user(user.id, NOW + 7)
            .await
            .expect("again"),
        0,
        "nothing left to end"
    );
}

/// The purge drops expired codes and refresh tokens, revoked grants and grants no token can name.
pub async fn purge_drops_expired_tokens_and_dead_grants(store: Store) {
    let (_, _, live) = grant_fixture(&store).await;
    let grant = |created_at| GrantRecord {
        grant_id: GrantId::random(),
        created_at,
        ..live.clone()
    };
    let (revoked, idle, fresh) = (grant(NOW), grant(NOW), grant(NOW + 100));
    for g in [&revoked, &idle, &fresh] {
        store.grants.create_grant(g.clone()).await.expect("grant");
    }
    store
        .grants
        .insert_refresh_token(RefreshTokenRecord {
            token_hash: token_hash("rt-revoked"),
            grant_id: revoked.grant_id,
            expires_at: NOW + 3600,
            rotated_at: None,
        })
        .await
        .expect("token");
    store
        .grants
        .revoke_grant(revoked.grant_id, NOW)
        .await
        .expect("revoke");

    // At NOW + 50, grants without refresh tokens created before NOW + 50 are idle.
    store
        .grants
        .purge_expired(NOW + 50, NOW + 50)
        .await
        .expect("purge");
    let exists = |id| {
        let grants = store.grants.clone();
        async move { grants.get_grant(id).await.expect("get").is_some() }
    };
    assert!(
        exists(live.grant_id).await,
        "a grant with a live refresh token stays"
    );
    assert!(exists(fresh.grant_id).await, "a recent grant stays");
    assert!(
        !exists(idle.grant_id).await,
        "an old grant without refresh tokens goes"
    );
    assert!(!exists(revoked.grant_id).await, "a revoked grant goes");
    assert!(
        store
            .grants
            .is_revoked(revoked.grant_id)
            .await
            .expect("check")
    );
    let gone = store
        .grants
        .get_refresh_token(&token_hash("rt-revoked"))
        .await;
    assert_eq!(gone.expect("get"), None, "its tokens go with it");

    // Once its refresh token expired, the live grant is idle too.
    store
        .grants
        .purge_expired(NOW + 3600, NOW + 50)
        .await
        .expect("purge");
    assert_eq!(
        store
            .grants
            .get_refresh_token(&token_hash("rt-0"))
            .await
            .expect("get"),
        None
    );
    assert!(!exists(live.grant_id).await);
}

/// A refresh token rotates into its successor once.
pub async fn refresh_tokens_rotate(store: Store) {
    let (_, _, grant) = grant_fixture(&store).await;
    let rotated = store
        .grants
        .rotate(
            &token_hash("rt-0"),
            successor("rt-1"),
            NOW,
            NOW - RACE_WINDOW,
        )
        .await;
    let Ok(Rotation::Rotated {
        grant: seen,
        successor: next,
    }) = rotated
    else {
        panic!("expected a rotation, got {rotated:?}");
    };
    assert_eq!((seen, next.grant_id), (grant.clone(), grant.grant_id));
    let old = store
        .grants
        .get_refresh_token(&token_hash("rt-0"))
        .await
        .expect("get");
    assert_eq!(old.and_then(|t| t.rotated_at), Some(NOW));

    let again = store
        .grants
        .rotate(
            &token_hash("rt-1"),
            successor("rt-2"),
            NOW + 1,
            NOW + 1 - RACE_WINDOW,
        )
        .await;
    assert!(matches!(again, Ok(Rotation::Rotated { .. })), "{again:?}");
    let unknown = store
        .grants
        .rotate(
            &token_hash("nope"),
            successor("rt-x"),
            NOW,
            NOW - RACE_WINDOW,
        )
        .await;
    assert_eq!(unknown.expect("rotate"), Rotation::Unknown);
    let expired = store
        .grants
        .rotate(
            &token_hash("rt-2"),
            successor("rt-3"),
            NOW + 7200,
            NOW + 7200 - RACE_WINDOW,
        )
        .await;
    assert_eq!(expired.expect("rotate"), Rotation::Expired);
    assert!(
        !store
            .grants
            .is_revoked(grant.grant_id)
            .await
            .expect("is_revoked")
    );
}

/// A rotated refresh token presented again revokes its whole grant.
pub async fn reused_refresh_token_revokes_the_grant(store: Store) {
    let (_, _, grant) = grant_fixture(&store).await;
    let first = store
        .grants
        .rotate(
            &token_hash("rt-0"),
            successor("rt-1"),
            NOW,
            NOW - RACE_WINDOW,
        )
        .await;
    assert!(matches!(first, Ok(Rotation::Rotated { .. })), "{first:?}");
    let replay = store
        .grants
        .rotate(
            &token_hash("rt-0"),
            successor("rt-evil"),
            NOW + 60,
            NOW + 60 - RACE_WINDOW,
        )
        .await;
    assert_eq!(
        replay.expect("rotate"),
        Rotation::Reused {
            grant_id: grant.grant_id
        }
    );
    assert!(
        store
            .grants
            .is_revoked(grant.grant_id)
            .await
            .expect("is_revoked")
    );
    let newest = store
        .grants
        .rotate(
            &token_hash("rt-1"),
            successor("rt-2"),
            NOW + 61,
            NOW + 61 - RACE_WINDOW,
        )
        .await;
    assert_eq!(
        newest.expect("rotate"),
        Rotation::Revoked {
            grant_id: grant.grant_id
        }
    );
    assert_eq!(
        store
            .grants
            .get_refresh_token(&token_hash("rt-evil"))
            .await
            .expect("get"),
        None
    );
    let revoked_at = store
        .grants
        .get_grant(grant.grant_id)
        .await
        .expect("get")
        .and_then(|g| g.revoked_at);
    assert_eq!(revoked_at, Some(NOW + 60));
}

/// Two refreshes racing with one token both rotate it, into two live successors of the same
/// grant; once the window is over, the token is a replay again.
pub async fn racing_refreshes_both_rotate(store: Store) {
    let (_, _, grant) = grant_fixture(&store).await;
    for (next, at) in [("rt-a", NOW), ("rt-b", NOW + RACE_WINDOW)] {
        let rotated = store
            .grants
            .rotate(&token_hash("rt-0"), successor(next), at, NOW)
            .await;
        let Ok(Rotation::Rotated { successor, .. }) = rotated else {
            panic!("expected a rotation, got {rotated:?}");
        };
        assert_eq!(successor.grant_id, grant.grant_id);
    }
    let first = store
        .grants
        .get_refresh_token(&token_hash("rt-0"))
        .await
        .expect("get");
    assert_eq!(
        first.and_then(|t| t.rotated_at),
        Some(NOW),
        "the window runs from the first rotation"
    );
    for (current, next) in [("rt-a", "rt-a2"), ("rt-b", "rt-b2")] {
        let rotated = store
            .grants
            .rotate(&token_hash(current), successor(next), NOW + 11, NOW + 1)
            .await;
        assert!(
            matches!(rotated, Ok(Rotation::Rotated { .. })),
            "{rotated:?}"
        );
    }
    let replay = store
        .grants
        .rotate(&token_hash("rt-0"), successor("rt-c"), NOW + 11, NOW + 1)
        .await;
    assert_eq!(
        replay.expect("rotate"),
        Rotation::Reused {
            grant_id: grant.grant_id
        }
    );
}

/// Revoking a user's grants revokes all of theirs not yet revoked (an earlier revocation
/// keeps its time) and no one else's.
pub async fn a_users_grants_are_revoked_together(store: Store) {
    let other = user("heidi");
    let (user, client, first) = grant_fixture(&store).await;
    store.users.create(other.clone()).await.expect("user");
    let grant_of = |user_id, created_at| GrantRecord {
        grant_id: GrantId::random(),
        user_id,
        client_id: client.client_id.clone(),
        scope: "mcp".into(),
        resource: None,
        created_at,
        revoked_at: None,
    };
    let (second, earlier, theirs) = (
        grant_of(user.id, NOW + 1),
        grant_of(user.id, NOW + 2),
        grant_of(other.id, NOW + 3),
    );
    for grant in [&second, &earlier, &theirs] {
        store
            .grants
            .create_grant(grant.clone())
            .await
            .expect("grant");
    }
    store
        .grants
        .revoke_grant(earlier.grant_id, NOW + 5)
        .await
        .expect("revoke");

    let revoked = store
        .grants
        .revoke_grants_of_user(user.id, NOW + 10)
        .await
        .expect("revoke the user's");
    assert_eq!(revoked, 2);
    let revoked_at = |grant_id| {
        let store = store.clone();
        async move {
            store
                .grants
                .get_grant(grant_id)
                .await
                .expect("get")
                .and_then(|g| g.revoked_at)
        }
    };
    assert_eq!(revoked_at(first.grant_id).await, Some(NOW + 10));
    assert_eq!(revoked_at(second.grant_id).await, Some(NOW + 10));
    assert_eq!(revoked_at(earlier.grant_id).await, Some(NOW + 5));
    assert_eq!(revoked_at(theirs.grant_id).await, None);
}

/// Revoking a grant kills its tokens; deleting a user or client removes what was issued to them.
pub async fn revocation_and_cascade(store: Store) {
    let (user, _, grant) = grant_fixture(&store).await;
    store
        .grants
        .revoke_grant(grant.grant_id, NOW)
        .await
        .expect("revoke");
    store
        .grants
        .revoke_grant(grant.grant_id, NOW + 9)
        .await
        .expect("revoke again");
    let kept = store
        .grants
        .get_grant(grant.grant_id)
        .await
        .expect("get")
        .and_then(|g| g.revoked_at);
    assert_eq!(kept, Some(NOW), "first revocation time kept");
    let missing = store.grants.revoke_grant(GrantId::random(), NOW).await;
    assert!(matches!(missing, Err(StoreError::NotFound(_))));
    assert!(
        store
            .grants
            .is_revoked(GrantId::random())
            .await
            .expect("unknown fails closed")
    );

    store
        .users
        .delete(&user.username)
        .await
        .expect("delete user");
    assert_eq!(
        store.grants.get_grant(grant.grant_id).await.expect("get"),
        None
    );
    assert_eq!(
        store
            .grants
            .get_refresh_token(&token_hash("rt-0"))
            .await
            .expect("get"),
        None
    );
}

/// Consent is remembered per user and client, with its scope.
pub async fn consent_is_remembered(store: Store) {
    let (user, client) = (user("dave"), client("client-d"));
    store.users.create(user.clone()).await.expect("user");
    store.clients.insert(client.clone()).await.expect("client");
    assert_eq!(
        store
            .consents
            .get(user.id, &client.client_id)
            .await
            .expect("get"),
        None
    );
    let consent = |scope: &str, at| ConsentRecord {
        user_id: user.id,
        client_id: client.client_id.clone(),
        scope: scope.into(),
        granted_at: at,
    };
    store
        .consents
        .remember(consent("mcp", NOW))
        .await
        .expect("remember");
    store
        .consents
        .remember(consent("mcp admin", NOW + 1))
        .await
        .expect("replace");
    let got = store
        .consents
        .get(user.id, &client.client_id)
        .await
        .expect("get");
    assert_eq!(got, Some(consent("mcp admin", NOW + 1)));
}

fn key(kid: &str, created_at: i64) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.into(),
        algorithm: "ES256".into(),
        private_key: SecretAtRest::Clear(PrivateKeyPem::new(format!(
            "-----BEGIN PRIVATE KEY-----\n{kid}\n-----END PRIVATE KEY-----\n"
        ))),
        created_at,
        retired_at: None,
    }
}

/// Signing keys are listed in creation order and retired once.
pub async fn keys_are_listed_and_retired(store: Store) {
    store
        .keys
        .insert(key("k2", NOW + 10))
        .await
        .expect("insert");
    store.keys.insert(key("k1", NOW)).await.expect("insert");
    assert!(matches!(
        store.keys.insert(key("k1", NOW)).await,
        Err(StoreError::Conflict(_))
    ));
    store.keys.retire("k1", NOW + 20).await.expect("retire");
    assert!(matches!(
        store.keys.retire("k9", NOW).await,
        Err(StoreError::NotFound(_))
    ));
    let mut retired = key("k1", NOW);
    retired.retired_at = Some(NOW + 20);
    assert_eq!(
        store.keys.list().await.expect("list"),
        [retired, key("k2", NOW + 10)]
    );
}

/// MCP sessions keep their state and owner until they expire or are deleted.
pub async fn mcp_sessions_keep_state_and_owner_until_they_expire(store: Store) {
    let sessions = &store.mcp_sessions;
    let (state, later) = (r#"{"initialize_params":{}}"#, NOW + 300);
    // State first, then owner: neither write loses the other's field.
    sessions
        .save_state("s1", state, NOW, NOW + 100)
        .await
        .expect("state");
    sessions
        .record_owner("s1", "alice", NOW + 1, later)
        .await
        .expect("owner");
    // Owner first, then state.
    sessions
        .record_owner("s2", "bob", NOW, NOW + 100)
        .await
        .expect("owner");
    sessions
        .save_state("s2", state, NOW + 1, NOW + 50)
        .await
        .expect("state");
    let s1 = sessions
        .get("s1", NOW)
        .await
        .expect("get")
        .expect("s1 live");
    assert_eq!(
        s1,
        McpSessionRecord {
            session_id: "s1".into(),
            owner: Some("alice".into()),
            state: Some(state.into()),
            data: None,
            created_at: NOW,
            expires_at: later,
        }
    );
    let s2 = sessions
        .get("s2", NOW)
        .await
        .expect("get")
        .expect("s2 live");
    assert_eq!(
        (s2.owner.as_deref(), s2.state.as_deref(), s2.expires_at),
        (Some("bob"), Some(state), NOW + 100),
        "the expiry never moves earlier"
    );
    // An owner is recorded again idempotently, never replaced.
    sessions
        .record_owner("s1", "alice", NOW, later)
        .await
        .expect("same owner");
    assert!(matches!(
        sessions.record_owner("s1", "mallory", NOW, later).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(sessions.get("s1", NOW).await.expect("get"), Some(s1));

    // Expired at `expires_at`: invisible, unless touched in time.
    assert_eq!(sessions.get("s2", NOW + 100).await.expect("get"), None);
    sessions.touch("s2", NOW + 200).await.expect("touch");
    assert!(sessions.get("s2", NOW + 100).await.expect("get").is_some());
    assert!(matches!(
        sessions.touch("nope", NOW).await,
        Err(StoreError::NotFound(_))
    ));

    // Purge removes exactly the expired ones.
    sessions
        .save_state("s3", state, NOW, NOW + 10)
        .await
        .expect("state");
    assert_eq!(sessions.purge_expired(NOW + 10).await.expect("purge"), 1);
    assert_eq!(sessions.purge_expired(NOW + 10).await.expect("purge"), 0);
    assert!(sessions.get("s1", NOW + 10).await.expect("get").is_some());

    sessions.delete("s1").await.expect("delete");
    assert_eq!(sessions.get("s1", NOW).await.expect("get"), None);
    assert!(matches!(
        sessions.delete("s1").await,
        Err(StoreError::NotFound(_))
    ));
}

/// What [`write_durable_state`] wrote: a durable backend must give it back after a reopen.
#[derive(Debug)]
pub struct DurableState {
    user: UserRecord,
    client: ClientRecord,
    grant: GrantRecord,
    consent: ConsentRecord,
}

/// Writes a user, a client, a grant with a refresh token, a signing key, a consent and an MCP
/// session; a durable backend's test then reopens the store and calls
/// [`assert_durable_state`].
pub async fn write_durable_state(store: &Store) -> DurableState {
    let (user, client, grant) = grant_fixture(store).await;
    store.keys.insert(key("k1", NOW)).await.expect("key");
    let consent = ConsentRecord {
        user_id: user.id,
        client_id: client.client_id.clone(),
        scope: "mcp".into(),
        granted_at: NOW,
    };
    store
        .consents
        .remember(consent.clone())
        .await
        .expect("consent");
    let sessions = &store.mcp_sessions;
    sessions
        .save_state("s1", "{}", NOW, NOW + 60)
        .await
        .expect("session state");
    sessions
        .record_owner("s1", "alice", NOW, NOW + 60)
        .await
        .expect("session owner");
    assert!(
        sessions
            .replace_data("s1", None, r#"{"level":"info"}"#)
            .await
            .expect("session data")
    );
    DurableState {
        user,
        client,
        grant,
        consent,
    }
}

/// Checks that a reopened store still has everything [`write_durable_state`] wrote, and that
/// the refresh token still rotates.
pub async fn assert_durable_state(store: &Store, written: &DurableState) {
    let DurableState {
        user,
        client,
        grant,
        consent,
    } = written;
    assert_eq!(
        store.users.get(user.id).await.expect("user"),
        Some(user.clone())
    );
    assert_eq!(
        store.clients.get(&client.client_id).await.expect("client"),
        Some(client.clone())
    );
    assert_eq!(
        store.grants.get_grant(grant.grant_id).await.expect("grant"),
        Some(grant.clone())
    );
    assert_eq!(store.keys.list().await.expect("keys"), [key("k1", NOW)]);
    assert_eq!(
        store
            .consents
            .get(user.id, &client.client_id)
            .await
            .expect("consent"),
        Some(consent.clone())
    );
    let session = store.mcp_sessions.get("s1", NOW).await.expect("session");
    assert_eq!(
        session.map(|s| (s.owner, s.state, s.data)),
        Some((
            Some("alice".into()),
            Some("{}".into()),
            Some(r#"{"level":"info"}"#.into())
        ))
    );
    let rotation = store
        .grants
        .rotate(
            &token_hash("rt-0"),
            successor("rt-1"),
            NOW,
            NOW - RACE_WINDOW,
        )
        .await;
    assert!(
        matches!(rotation, Ok(Rotation::Rotated { .. })),
        "refresh after restart: {rotation:?}"
    );
}

/// Expands to one `#[tokio::test]` per check of the suite, each on a fresh store that
/// `$open` makes: an async closure (or a closure returning a future) that takes a fresh,
/// empty directory (a [`PathBuf`] removed after the test) and returns the [`Store`]. The
/// calling crate needs `tokio` with the `macros` and `rt` features among its dev-dependencies.
///
/// ```ignore
/// outpost_store::store_behaviour_suite!(|dir: std::path::PathBuf| async move {
///     my_backend::open(dir.join("store.db")).await.expect("open")
/// });
/// ```
#[macro_export]
macro_rules! store_behaviour_suite {
    ($open:expr) => {
        $crate::store_behaviour_suite!(@checks $open;
            users_are_unique_case_insensitively,
            users_keep_their_allowed_scopes,
            clients_round_trip,
            client_upsert_keeps_what_was_issued,
            unused_document_clients_are_purged,
            codes_are_redeemed_once,
            a_users_codes_are_ended_together,
            purge_drops_expired_tokens_and_dead_grants,
            refresh_tokens_rotate,
            reused_refresh_token_revokes_the_grant,
            racing_refreshes_both_rotate,
            a_users_grants_are_revoked_together,
            revocation_and_cascade,
            consent_is_remembered,
            keys_are_listed_and_retired,
            mcp_sessions_keep_state_and_owner_until_they_expire,
            mcp_session_data_is_replaced_only_if_unchanged,
            mcp_session_data_writers_lose_no_change,
            mcp_session_changes_are_counted_here,
            counted_sessions_hold_the_caps_per_owner_and_in_total,
            counted_sessions_are_admitted_atomically_under_a_burst,
            pending_authorizations_live_until_decided_or_expired,
            pending_authorizations_are_bounded,
            a_users_signed_in_requests_are_removed_together,
            throttle_budgets_count_attempts_in_a_sliding_window,
            throttle_purge_forgets_only_expired_attempts,
            throttle_reservations_are_atomic_under_a_burst,
            throttle_batches_take_what_the_budget_allows,
            client_documents_are_kept_until_they_expire,
            first_signing_key_is_inserted_once,
            first_request_state_key_is_inserted_once,
            request_state_keys_are_listed_by_activation,
            request_state_key_rotates_once_per_due_time,
            superseded_request_state_keys_are_purged,
            clear_keys_are_sealed_at_the_first_start,
            sealed_keys_refuse_a_start_without_their_key,
            rotation_reseals_with_the_current_key,
            altered_or_moved_sealed_keys_are_refused,
            instances_sealing_together_agree,
            events_replay_exactly_after_the_id_given,
            event_retention_bounds_count_and_age,
            appended_events_wake_listeners,
        );
    };
    (@checks $open:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                let dir = $crate::behaviour_suite::TempDir::new();
                let store: $crate::Store = ($open)(dir.path().to_owned()).await;
                $crate::behaviour_suite::$check(store).await;
            }
        )*
    };
}
