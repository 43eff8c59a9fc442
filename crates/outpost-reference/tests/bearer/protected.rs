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
    store::Store,
};
use serde_json::{Value, json};

use crate::common::{TestApp, spawn_app_with};

pub const ISSUER: &str = "https://auth.outpost.test";
pub const SESSION_VERSION: &str = "2025-11-25";

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

    pub fn token(&self, subject: &str, granted: &str) -> String {
        self.mint(
            &self
                .claims(subject, granted)
                .with_username(format!("{subject}-login")),
        )
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
