//! RFC 9728 protected resource metadata for the MCP endpoints.
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
//!
//! A client of the 2024-11-05 HTTP+SSE transport connects to `/sse`, and the SDKs refuse
//! metadata whose `resource` is not that URL or a parent of it (RFC 9728 §3.3). So a refusal
//! at `/sse` or `/message` names `/.well-known/oauth-protected-resource/sse`, the same
//! document with `resource` the `/sse` URL (`MetadataUrls`); the authorization server takes
//! that URL as another name of the MCP endpoint's.

use std::sync::Arc;

use axum::{Json, Router, routing::get};
use http::Method;
use serde::{Deserialize, Serialize};
use tower_http::cors::{Any, CorsLayer};

use super::{MCP_PATH, ResourceServerConfig, canonical_resource, http_sse_resource};
use crate::mcp::{classify::Era, legacy_sse::SSE_PATH};

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
        Self::for_resource(canonical_resource(base_url), config)
    }

    /// The document for the 2024-11-05 HTTP+SSE endpoint under `base_url`: the MCP endpoint's
    /// with `resource` the `/sse` URL.
    pub fn for_http_sse(base_url: &str, config: &ResourceServerConfig) -> Self {
        Self::for_resource(http_sse_resource(base_url), config)
    }

    fn for_resource(resource: String, config: &ResourceServerConfig) -> Self {
        Self {
            resource,
            authorization_servers: vec![config.issuer.clone()],
            scopes_supported: config.scopes_supported.iter().map(str::to_owned).collect(),
            bearer_methods_supported: vec!["header".to_owned()],
        }
    }
}

/// The URL of the metadata of the resource at `path` under `base_url` (RFC 9728 §3.1).
pub(crate) fn url_of(base_url: &str, path: &str) -> String {
    format!("{}{WELL_KNOWN_PATH}{path}", base_url.trim_end_matches('/'))
}

/// The metadata URLs a refusal's challenge names: the document of the endpoint the client
/// connected to.
#[derive(Debug, Clone)]
pub(crate) struct MetadataUrls {
    streamable_http: Arc<str>,
    http_sse: Arc<str>,
}

impl MetadataUrls {
    /// The URLs of the documents [`routes`] serves under `base_url`.
    pub(crate) fn new(base_url: &str) -> Self {
        Self {
            streamable_http: url_of(base_url, MCP_PATH).into(),
            http_sse: url_of(base_url, SSE_PATH).into(),
        }
    }

    /// The URL a refusal of a request of `era` names.
    pub(crate) fn for_era(&self, era: Era) -> &str {
        match era {
            Era::Stateless | Era::Session => &self.streamable_http,
            Era::HttpSse => &self.http_sse,
        }
    }
}

/// The metadata routes under `base_url`, readable cross-origin: the MCP endpoint's at the
/// root form and at `/mcp`'s, the HTTP+SSE endpoint's at `/sse`'s.
pub fn routes(base_url: &str, config: &ResourceServerConfig) -> Router {
    let serving = |document: ProtectedResourceMetadata| {
        let document = Arc::new(document);
        get(move || {
            let document = document.clone();
            async move { Json(ProtectedResourceMetadata::clone(&document)) }
        })
    };
    let streamable_http = serving(ProtectedResourceMetadata::new(base_url, config));
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET])
        .allow_headers(Any);
    Router::new()
        .route(WELL_KNOWN_PATH, streamable_http.clone())
        .route(&format!("{WELL_KNOWN_PATH}{MCP_PATH}"), streamable_http)
        .route(
            &format!("{WELL_KNOWN_PATH}{SSE_PATH}"),
            serving(ProtectedResourceMetadata::for_http_sse(base_url, config)),
        )
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
        let document = ProtectedResourceMetadata::for_http_sse("https://mcp.example.com/", &config);
        assert_eq!(document.resource, "https://mcp.example.com/sse");
        config.scopes_supported = Scope::parse("mcp:tools profile").unwrap();
        let document = ProtectedResourceMetadata::new("https://mcp.example.com", &config);
        assert_eq!(document.scopes_supported, ["mcp:tools", "profile"]);
    }

    #[test]
    fn a_refusal_names_the_document_of_the_endpoint_used() {
        let urls = MetadataUrls::new("https://mcp.example.com/");
        let prefix = "https://mcp.example.com/.well-known/oauth-protected-resource";
        assert_eq!(urls.for_era(Era::Stateless), format!("{prefix}/mcp"));
        assert_eq!(urls.for_era(Era::Session), format!("{prefix}/mcp"));
        assert_eq!(urls.for_era(Era::HttpSse), format!("{prefix}/sse"));
    }
}
