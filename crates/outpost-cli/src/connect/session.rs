//! One connection to the MCP server through rmcp's client: 2026-07-28 first (`server/discover`),
//! then a 2025-11-25 session (`initialize`) when the server is older — rmcp's `Auto` lifecycle
//! — over [`HttpClient`], with the access token, when there is one, as the bearer.

use rmcp::{
    RoleClient,
    model::ProtocolVersion,
    service::{ClientInitializeError, ClientLifecycleMode, ClientServiceExt as _, RunningService},
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use url::Url;

use super::{handler::ConnectClient, http::HttpClient};

/// A running client session.
pub type Connection = RunningService<RoleClient, ConnectClient>;

/// Connects to `url`, presenting `access_token` when given.
pub async fn open(
    http: &HttpClient,
    url: &Url,
    access_token: Option<&str>,
) -> Result<Connection, ClientInitializeError> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.as_str());
    if let Some(token) = access_token {
        config = config.auth_header(token);
    }
    let transport = StreamableHttpClientTransport::with_client(http.clone(), config);
    let lifecycle = ClientLifecycleMode::Auto {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        legacy_version: Some(ProtocolVersion::V_2025_11_25),
    };
    ConnectClient::new()
        .serve_with_lifecycle(transport, lifecycle)
        .await
}
