//! RFC 9728 protected resource metadata for the MCP endpoint.
//!
//! A client that gets `401` from `/mcp` follows the challenge's `resource_metadata` URL (RFC
//! 9728 §5.1) to this document, which names the authorization server to use. Served at both
//! `/.well-known/oauth-protected-resource/mcp` (RFC 9728 §3.1: the well-known prefix inserted
//! before the resource's path — the URL the challenge names) and the root form
//! `/.well-known/oauth-protected-resource`, which older clients try. Rules real clients hold
//! us to: `resource` is the MCP URL exactly (clients send it back verbatim as the RFC 8707
//! `resource` parameter), `authorization_servers[0]` is exactly the issuer string, and
//! optional members are left out, never `null`. Any origin may `GET` it (CORS), so browser
//! clients can discover.

use std::sync::Arc;

use axum::{Json, Router, routing::get};
use http::Method;
use serde::{Deserialize, Serialize};
use tower_http::cors::{Any, CorsLayer};

use super::{ResourceServerConfig, canonical_resource};

/// The RFC 9728 well-known path prefix.
pub const WELL_KNOWN_PATH: &str = "/.well-known/oauth-protected-resource";

/// The metadata document (RFC 9728 §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectedResourceMetadata {
    /// The protected resource's identifier: the canonical MCP URL.
    pub resource: String,
    /// Issuer identifiers of the authorization servers that issue tokens for it.
    pub authorization_servers: Vec<String>,
    /// The scopes clients may request; omitted when none are advertised.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// How tokens may be presented: the `Authorization` header only (RFC 6750 §2.1).
    pub bearer_methods_supported: Vec<String>,
}

impl ProtectedResourceMetadata {
    /// The document for the MCP endpoint under `base_url`.
    pub fn new(base_url: &str, config: &ResourceServerConfig) -> Self {
        Self {
            resource: canonical_resource(base_url),
            authorization_servers: vec![config.issuer.clone()],
            scopes_supported: config.scopes_supported.iter().map(str::to_owned).collect(),
            bearer_methods_supported: vec!["header".to_owned()],
        }
    }
}

/// The two metadata routes, readable cross-origin.
pub fn routes(document: ProtectedResourceMetadata) -> Router {
    let document = Arc::new(document);
    let serve = move || {
        let document = document.clone();
        async move { Json(ProtectedResourceMetadata::clone(&document)) }
    };
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET])
        .allow_headers(Any);
    Router::new()
        .route(WELL_KNOWN_PATH, get(serve.clone()))
        .route(&format!("{WELL_KNOWN_PATH}{}", super::MCP_PATH), get(serve))
        .layer(cors)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, RwLock};

    use super::*;
    use crate::auth::{
        keyring::Keyring,
        resource::{RevocationCheck, RevocationStatus},
        scope::Scope,
    };
    use crate::store::GrantId;

    struct NeverRevoked;

    #[async_trait::async_trait]
    impl RevocationCheck for NeverRevoked {
        async fn status(&self, _grant_id: GrantId) -> RevocationStatus {
            RevocationStatus::NotRevoked
        }
    }

    #[test]
    fn document_shape() {
        let keyring = Keyring::generate(0, std::time::Duration::from_secs(3600)).unwrap();
        let mut config = ResourceServerConfig::new(
            "https://auth.example.com",
            Arc::new(RwLock::new(keyring)),
            Arc::new(NeverRevoked),
        );
        let document = ProtectedResourceMetadata::new("https://mcp.example.com/", &config);
        let json = serde_json::to_value(&document).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "resource": "https://mcp.example.com/mcp",
                "authorization_servers": ["https://auth.example.com"],
                "bearer_methods_supported": ["header"],
            })
        );
        config.scopes_supported = Scope::parse("mcp:tools profile").unwrap();
        let document = ProtectedResourceMetadata::new("https://mcp.example.com", &config);
        assert_eq!(document.scopes_supported, ["mcp:tools", "profile"]);
    }
}
