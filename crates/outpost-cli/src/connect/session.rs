//! One connection to the MCP server through rmcp's client: 2026-07-28 first (`server/discover`),
//! then a 2025-11-25 session (`initialize`) when the server is older — rmcp's `Auto` lifecycle
//! — over [`HttpClient`], with the access token, when there is one, as the bearer; a
//! 2025-11-25 session straight away when the server refuses `server/discover` in a way rmcp's
//! fallback does not recognise (the Python SDK 1.x answers it `400` with the id
//! `"server-error"`); and the 2024-11-05 HTTP+SSE transport when the endpoint has no
//! Streamable HTTP (404 or 405, the rule `mcp-remote` follows).

use rmcp::{
    RoleClient,
    model::ProtocolVersion,
    service::{ClientInitializeError, ClientLifecycleMode, ClientServiceExt as _, RunningService},
    transport::{
        StreamableHttpClientTransport,
        streamable_http_client::{StreamableHttpClientTransportConfig, StreamableHttpError},
    },
};
use url::Url;

use super::{
    handler::ConnectClient,
    http::{HttpClient, HttpError},
    legacy_sse::{self, LegacyTransport},
};

/// A running client session.
pub type Connection = RunningService<RoleClient, ConnectClient>;

/// Connects to `url`, presenting `access_token` when given: 2026-07-28 when the server
/// speaks it, else a 2025-11-25 session.
pub async fn open(
    http: &HttpClient,
    url: &Url,
    access_token: Option<&str>,
) -> Result<Connection, ClientInitializeError> {
    let lifecycle = ClientLifecycleMode::Auto {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        legacy_version: Some(ProtocolVersion::V_2025_11_25),
    };
    match open_with(http, url, access_token, lifecycle).await {
        Err(ClientInitializeError::UncorrelatedErrorResponse { .. }) => {
            open_with(http, url, access_token, ClientLifecycleMode::Initialize).await
        }
        opened => opened,
    }
}

async fn open_with(
    http: &HttpClient,
    url: &Url,
    access_token: Option<&str>,
    lifecycle: ClientLifecycleMode,
) -> Result<Connection, ClientInitializeError> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.as_str());
    if let Some(token) = access_token {
        config = config.auth_header(token);
    }
    let transport = StreamableHttpClientTransport::with_client(http.clone(), config);
    ConnectClient::new(ProtocolVersion::V_2025_11_25)
        .serve_with_lifecycle(transport, lifecycle)
        .await
}

/// Connects with the 2024-11-05 HTTP+SSE transport at the legacy sibling of `url`.
pub async fn open_legacy(
    http: &HttpClient,
    url: &Url,
    access_token: Option<&str>,
) -> Result<Connection, ClientInitializeError> {
    let transport = legacy_sse::open(http, &legacy_sse::sse_url(url), access_token)
        .await
        .map_err(|error| {
            ClientInitializeError::transport::<LegacyTransport>(error, "open the event stream")
        })?;
    ConnectClient::new(ProtocolVersion::V_2024_11_05)
        .serve_with_lifecycle(transport, ClientLifecycleMode::Initialize)
        .await
}

/// Whether `error` is the endpoint answering 404 or 405: it has no Streamable HTTP.
pub fn has_no_streamable_http(error: &ClientInitializeError) -> bool {
    match error {
        ClientInitializeError::TransportError { error, .. } => matches!(
            error.error.downcast_ref::<StreamableHttpError<HttpError>>(),
            Some(StreamableHttpError::HttpStatus(status)) if matches!(status.status, 404 | 405)
        ),
        ClientInitializeError::LegacyFallbackFailed { fallback, .. } => {
            has_no_streamable_http(fallback)
        }
        _ => false,
    }
}
