//! The `outpost-auth` target: the reference server behind Outpost's resource server, set up
//! the way `outpost serve` sets it up (baseline scope, per-tool scopes, revocation through a
//! store), with one user, client and grant in an in-memory store and a token minted for them.

use std::{
    sync::{Arc, RwLock},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use anyhow::Context;
use axum::Router;
use outpost::auth::server::password::hash_password;
use outpost::{
    AuthMode, Outpost, ServerConfig,
    auth::{
        access_token::{AccessClaims, issue},
        keyring::Keyring,
        resource::{ResourceServerConfig, RevocationCheck, canonical_resource},
        scope::Scope,
    },
    store::{
        ApplicationType, ClientId, ClientRecord, GrantId, GrantRecord, Store,
        TokenEndpointAuthMethod, UserId, UserRecord, Username,
    },
};
use outpost_reference::ReferenceServer;

/// The issuer the bench's tokens name.
const ISSUER: &str = "http://127.0.0.1:8000";
/// The scope the token carries (what `outpost serve` grants by default).
const SCOPE: &str = "mcp";
/// How long the minted token lives: longer than any run.
const TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// The protected router and a token for it.
pub async fn router(reference: ReferenceServer) -> anyhow::Result<(Router, Option<String>)> {
    let now = unix_now();
    let keyring = Keyring::generate(now, TOKEN_LIFETIME).context("cannot generate a key")?;
    let store = Store::memory();
    let grant_id = seed(&store, now).await?;

    let config = ServerConfig::default();
    let audience = canonical_resource(&config.base_url());
    let claims = AccessClaims::new(
        ISSUER,
        "bench-user",
        &audience,
        "bench-client",
        Scope::parse(SCOPE)?,
        now,
        TOKEN_LIFETIME,
    )?
    .with_grant_id(grant_id.to_string());
    let token = issue(&keyring, &claims).context("cannot mint the token")?;

    let revocation: Arc<dyn RevocationCheck> = Arc::new(store.grants.clone());
    let mut resource =
        ResourceServerConfig::new(ISSUER, Arc::new(RwLock::new(keyring)), revocation);
    resource.scopes_supported = Scope::parse("mcp mcp:admin")?;
    resource.baseline_scope = Scope::parse(SCOPE)?;
    resource.required_scopes = reference.required_scopes()?;
    let router = Outpost::with_factory(move || reference.for_session())
        .with_config(ServerConfig {
            auth: AuthMode::Bearer(resource),
            ..config
        })
        .router();
    Ok((router, Some(token)))
}

/// A user, a client and a live grant for them; returns the grant.
async fn seed(store: &Store, now: i64) -> anyhow::Result<GrantId> {
    let user = UserId::random();
    store
        .users
        .create(UserRecord {
            id: user,
            username: Username::parse("bench")?,
            password_hash: hash_password("bench-password")?,
            created_at: now,
        })
        .await?;
    let client_id = ClientId::parse("bench-client")?;
    store
        .clients
        .insert(ClientRecord {
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

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
