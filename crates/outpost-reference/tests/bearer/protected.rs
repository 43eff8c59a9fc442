//! A reference server in `AuthMode::Bearer` and what it takes to mint tokens for it, shared
//! by `bearer_auth.rs` and `bearer_sessions.rs`.
#![allow(dead_code)]

use std::{
    sync::{Arc, RwLock},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use outpost::{
    AuthMode, ServerConfig,
    auth::{
        access_token::{AccessClaims, issue},
        keyring::Keyring,
        resource::{RequiredScopes, ResourceServerConfig, RevocationCheck},
        scope::Scope,
    },
    store::{
        ApplicationType, ClientId, ClientRecord, GrantId, GrantRecord, PasswordHash, Store,
        TokenEndpointAuthMethod, UserId, UserRecord, Username,
    },
};
use serde_json::{Value, json};

use crate::common::{TestApp, spawn_app_with};

pub const ISSUER: &str = "https://auth.outpost.test";
pub const SESSION_VERSION: &str = "2025-11-25";

/// A valid argon2id PHC string: nobody logs in here.
const SOME_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$iWh06vD8Fy27wf9npn6FXWiCX4K6pW6Ue1Bnzz07Z8A";

/// The user the grants of [`AuthApp::token`] belong to (tokens name their own subject).
fn fixture_username() -> Username {
    Username::parse("token-fixture").unwrap()
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn scope(value: &str) -> Scope {
    Scope::parse(value).unwrap()
}

/// A protected reference server and what it takes to mint tokens for it.
pub struct AuthApp {
    /// The running server.
    pub app: TestApp,
    /// Its token-signing keys.
    pub keyring: Arc<RwLock<Keyring>>,
    /// The store its revocation check reads.
    pub store: Store,
}

pub async fn spawn_protected(required: RequiredScopes) -> AuthApp {
    spawn_protected_with(|resource| resource.required_scopes = required).await
}

/// Like [`spawn_protected`], with the resource-server settings adjusted by `configure`.
pub async fn spawn_protected_with(configure: impl FnOnce(&mut ResourceServerConfig)) -> AuthApp {
    let keyring = Arc::new(RwLock::new(
        Keyring::generate(now(), Duration::from_secs(3600)).unwrap(),
    ));
    let store = Store::memory();
    let revocation: Arc<dyn RevocationCheck> = Arc::new(store.grants.clone());
    let mut resource = ResourceServerConfig::new(ISSUER, keyring.clone(), revocation);
    resource.scopes_supported = scope("mcp:tools profile math");
    resource.revocation_cache_ttl = Duration::from_millis(300);
    configure(&mut resource);
    let app = spawn_app_with(ServerConfig {
        auth: AuthMode::Bearer(resource),
        ..ServerConfig::default()
    })
    .await;
    AuthApp {
        app,
        keyring,
        store,
    }
}

impl AuthApp {
    pub fn audience(&self) -> String {
        self.app.url("/mcp")
    }

    pub fn claims(&self, subject: &str, granted: &str) -> AccessClaims {
        AccessClaims::new(
            ISSUER,
            subject,
            &self.audience(),
            "client-1",
            scope(granted),
            now(),
            Duration::from_secs(600),
        )
        .unwrap()
    }

    pub fn mint(&self, claims: &AccessClaims) -> String {
        issue(&self.keyring.read().unwrap(), claims).unwrap()
    }

    /// A token for `subject` with the scopes `granted`, bound to a new live grant in the
    /// store, as the embedded authorization server issues every token.
    pub async fn token(&self, subject: &str, granted: &str) -> String {
        let grant = self.live_grant().await;
        self.mint(
            &self
                .claims(subject, granted)
                .with_username(format!("{subject}-login"))
                .with_grant_id(grant.to_string()),
        )
    }

    /// A new grant in the store, of the fixture user to `client-1` (both created if missing).
    pub async fn live_grant(&self) -> GrantId {
        let user = match self.store.users.get_by_username(&fixture_username()).await {
            Ok(Some(user)) => user,
            Ok(None) => {
                let user = UserRecord {
                    id: UserId::random(),
                    username: fixture_username(),
                    password_hash: PasswordHash::parse(SOME_HASH).unwrap(),
                    allowed_scopes: Default::default(),
                    created_at: now(),
                };
                self.store.users.create(user.clone()).await.unwrap();
                user
            }
            Err(error) => panic!("read the fixture user: {error}"),
        };
        let client_id = ClientId::parse("client-1").unwrap();
        self.store
            .clients
            .upsert(ClientRecord {
                client_id: client_id.clone(),
                client_secret_hash: None,
                client_name: None,
                redirect_uris: vec!["http://127.0.0.1/callback".into()],
                grant_types: vec!["authorization_code".into()],
                response_types: vec!["code".into()],
                token_endpoint_auth_method: TokenEndpointAuthMethod::None,
                application_type: ApplicationType::Native,
                scope: None,
                created_at: now(),
            })
            .await
            .unwrap();
        let grant = GrantId::random();
        self.store
            .grants
            .create_grant(GrantRecord {
                grant_id: grant,
                user_id: user.id,
                client_id,
                scope: "mcp:tools".into(),
                resource: Some(self.audience()),
                created_at: now(),
                revoked_at: None,
            })
            .await
            .unwrap();
        grant
    }

    pub async fn call(
        &self,
        token: Option<&str>,
        method: &str,
        name: Option<&str>,
        params: Value,
    ) -> reqwest::Response {
        let mut request = self.app.request_2026(method, name, params);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("send")
    }

    pub async fn whoami(&self, token: &str) -> reqwest::Response {
        self.call(
            Some(token),
            "tools/call",
            Some("whoami"),
            json!({ "name": "whoami" }),
        )
        .await
    }
}

pub fn challenge(response: &reqwest::Response) -> String {
    response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned()
}

pub async fn assert_invalid_token(response: reqwest::Response, why: &str) {
    assert_eq!(response.status(), 401, "{why}");
    let value = challenge(&response);
    assert!(value.contains("error=\"invalid_token\""), "{why}: {value}");
    assert!(value.contains("resource_metadata=\""), "{why}: {value}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token", "{why}");
    assert!(body["error_description"].is_string(), "{why}");
}
