//! The `outpost-auth` and `outpost-auth-redis` targets: the reference server behind Outpost's
//! resource server, built by `Outpost::builder` as `outpost serve` builds it (signing keys
//! loaded from the store, baseline scope, per-tool scopes, revocation through the store,
//! the embedded authorization server beside it), with a user, a
//! client and a grant in the store and a token minted for them. `outpost-auth` keeps all of it
//! in memory, `outpost-auth-redis` in Redis, where every instance on the same prefix finds the
//! key and the grant of the others (so any instance's token is good on every one).
//! `outpost-auth-limited` adds request limits per subject and per client that the load never
//! reaches, so it measures what counting costs.

use std::{
    num::NonZeroU32,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use anyhow::Context;
use axum::Router;
use outpost::{
    Outpost,
    auth::{
        access_token::{AccessClaims, issue},
        resource::{Rate, RequestLimits, canonical_resource},
        scope::Scope,
        server::{AuthorizationServer, password::hash_password},
    },
    store::{
        ApplicationType, ClientId, ClientRecord, GrantId, GrantRecord, Store, StoreError,
        StoreOptions, TokenEndpointAuthMethod, UserId, UserRecord, Username,
    },
};
use outpost_reference::ReferenceServer;

use crate::redis::RedisStore;

/// The scope the token carries (what `outpost serve` grants by default).
const SCOPE: &str = "mcp";
/// How long the minted token lives: longer than any run.
const TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// The per-subject and per-client limit of `outpost-auth-limited`: far above what one core
/// serves, so nothing is refused and the local allowance takes its largest batches.
pub const UNREACHED_RATE: Rate = Rate::per_second(NonZeroU32::new(1_000_000).unwrap());

/// `outpost-auth`: the protected router over an in-memory store, and a token for it; with
/// `limit`, requests limited to it per subject and per client.
pub async fn in_memory(
    reference: ReferenceServer,
    limit: Option<Rate>,
) -> anyhow::Result<(Router, Option<String>)> {
    router(reference, Store::memory(), limit).await
}

/// `outpost-auth-redis`: the protected router over the store `redis` names, and a token for
/// it.
pub async fn on_redis(
    reference: ReferenceServer,
    redis: &RedisStore,
) -> anyhow::Result<(Router, Option<String>)> {
    let options = StoreOptions {
        prefix: Some(redis.prefix.clone()),
        ..StoreOptions::default()
    };
    let store = outpost::store::open_with(&redis.url, &options)
        .await
        .with_context(|| format!("cannot open the store at {}", redis.url))?;
    router(reference, store, None).await
}

/// The protected router over `store`, assembled by [`Outpost::builder_with_factory`] as
/// `outpost serve` assembles it, and a token for it; with `limit`, requests limited to it per
/// subject and per client, counted in `store`.
async fn router(
    reference: ReferenceServer,
    store: Store,
    limit: Option<Rate>,
) -> anyhow::Result<(Router, Option<String>)> {
    let throttles = store.throttles.clone();
    let outpost = Outpost::builder_with_factory(move || reference.for_session())
        .opened_store(store.clone(), "bench")
        .configure_resource_server(move |resource| {
            resource.request_limits = limit.map(|rate| RequestLimits {
                per_subject: Some(rate),
                per_client: Some(rate),
                store: throttles,
            });
        })
        .build()
        .await
        .context("cannot build the server")?;

    // The key the build loaded (or created) signs the bench's token.
    let now = unix_now();
    let keyring = AuthorizationServer::load_keyring(&store, TOKEN_LIFETIME, now)
        .await
        .context("cannot load the signing key")?;
    let grant_id = seed(&store, now).await?;
    let issuer = outpost.config().base_url();
    let claims = AccessClaims::new(
        &issuer,
        "bench-user",
        &canonical_resource(&issuer),
        "bench-client",
        Scope::parse(SCOPE)?,
        now,
        TOKEN_LIFETIME,
    )?
    .with_grant_id(grant_id.to_string());
    let token = issue(&keyring, &claims).context("cannot mint the token")?;
    Ok((outpost.router(), Some(token)))
}

/// The bench user and client (kept if another instance on the store created them) and a new
/// live grant for them; returns the grant.
async fn seed(store: &Store, now: i64) -> anyhow::Result<GrantId> {
    let user = bench_user(store, now).await?;
    let client_id = ClientId::parse("bench-client")?;
    store
        .clients
        .upsert(ClientRecord {
            client_id: client_id.clone(),
            client_secret_hash: None,
            client_name: Some("outpost-bench".into()),
            redirect_uris: vec!["http://127.0.0.1/callback".into()],
            grant_types: vec!["authorization_code".into()],
            response_types: vec!["code".into()],
            token_endpoint_auth_method: TokenEndpointAuthMethod::None,
            application_type: ApplicationType::Native,
            scope: Some(SCOPE.into()),
            created_at: now,
        })
        .await?;
    let grant_id = GrantId::random();
    store
        .grants
        .create_grant(GrantRecord {
            grant_id,
            user_id: user,
            client_id,
            scope: SCOPE.into(),
            resource: None,
            created_at: now,
            revoked_at: None,
        })
        .await?;
    Ok(grant_id)
}

/// The id of the user `bench`, created unless it exists.
async fn bench_user(store: &Store, now: i64) -> anyhow::Result<UserId> {
    let username = Username::parse("bench")?;
    if let Some(user) = store.users.get_by_username(&username).await? {
        return Ok(user.id);
    }
    let id = UserId::random();
    let created = store
        .users
        .create(UserRecord {
            id,
            username: username.clone(),
            password_hash: hash_password("bench-password")?,
            allowed_scopes: Default::default(),
            created_at: now,
        })
        .await;
    match created {
        Ok(()) => Ok(id),
        // Another instance starting at the same moment created it first.
        Err(StoreError::Conflict(_)) => Ok(store
            .users
            .get_by_username(&username)
            .await?
            .context("the bench user vanished")?
            .id),
        Err(error) => Err(error.into()),
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
