//! The one HTTP client under `outpost connect`: hyper with rustls on `ring` and Mozilla's roots
//! (the crypto the rest of the tree already uses), http and https. It carries the MCP traffic —
//! as rmcp's [`StreamableHttpClient`], so rmcp owns the protocol — and the OAuth requests
//! ([`HttpClient::send`]: discovery, registration, token), so both share one connection pool.

use std::{borrow::Cow, collections::HashMap, sync::Arc, time::Duration};

use bytes::Bytes;
use futures::{StreamExt as _, stream::BoxStream};
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use rmcp::{
    model::{ClientJsonRpcMessage, JsonRpcMessage, ServerJsonRpcMessage},
    transport::{
        common::http_header::{
            EVENT_STREAM_MIME_TYPE, HEADER_LAST_EVENT_ID, HEADER_SESSION_ID, JSON_MIME_TYPE,
        },
        streamable_http_client::{
            AuthRequiredError, HttpStatusError, InsufficientScopeError, StreamableHttpClient,
            StreamableHttpError, StreamableHttpPostResponse,
        },
    },
};
use sse_stream::{Sse, SseStream};

/// The largest body read whole (a JSON answer, an OAuth document): 16 MiB, rmcp's own limit.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A failure below MCP: the connection, TLS, or a body that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The request could not be sent or its answer not received.
    #[error(transparent)]
    Connection(#[from] hyper_util::client::legacy::Error),
    /// The request could not be built (a bad URL or header).
    #[error("invalid request: {0}")]
    Request(#[from] http::Error),
    /// The answer's body could not be read whole, or was larger than 16 MiB.
    #[error("cannot read the response body: {0}")]
    Body(String),
    /// The request took longer than its deadline.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The TLS configuration could not be built.
    #[error("TLS setup failed: {0}")]
    Tls(#[from] rustls::Error),
}

type Transport = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// hyper's pooled client, cheap to clone.
#[derive(Clone)]
pub struct HttpClient {
    client: Transport,
}

impl HttpClient {
    /// A client for http and https URLs, verifying servers against Mozilla's roots.
    pub fn new() -> Result<Self, HttpError> {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
        tcp.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(https),
        })
    }

    /// Sends `request` and reads the whole answer (at most 16 MiB) within `timeout`.
    pub async fn send(
        &self,
        request: Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<Response<Bytes>, HttpError> {
        let exchange = async {
            let response = self.client.request(request).await?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_BODY_BYTES)
                .collect()
                .await
                .map_err(|e| HttpError::Body(e.to_string()))?
                .to_bytes();
            Ok(Response::from_parts(parts, body))
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| HttpError::Timeout(timeout))?
    }

    /// Sends `request` and returns the answer with its body still streaming.
    pub async fn open(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, HttpError> {
        Ok(self.client.request(request).await?)
    }
}

type McpError = StreamableHttpError<HttpError>;

/// A request to the MCP endpoint with the headers every one carries.
fn mcp_request(
    method: Method,
    uri: &str,
    session_id: Option<&str>,
    auth_token: Option<String>,
    custom_headers: HashMap<HeaderName, HeaderValue>,
) -> http::request::Builder {
    let mut builder = Request::builder()
        .method(method)
        .uri(uri)
        .header(
            header::USER_AGENT,
            concat!("outpost-connect/", env!("CARGO_PKG_VERSION")),
        )
        .header(
            header::ACCEPT,
            format!("{JSON_MIME_TYPE}, {EVENT_STREAM_MIME_TYPE}"),
        );
    if let Some(token) = auth_token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if let Some(session_id) = session_id {
        builder = builder.header(HEADER_SESSION_ID, session_id);
    }
    for (name, value) in custom_headers {
        builder = builder.header(name, value);
    }
    builder
}

/// A 401 or 403 with a challenge becomes rmcp's authorization errors, which the sign-in reads.
fn challenge(response: &Response<Incoming>) -> Option<McpError> {
    let value = response.headers().get(header::WWW_AUTHENTICATE)?;
    let value = value.to_str().ok()?.to_owned();
    match response.status() {
        StatusCode::UNAUTHORIZED => Some(StreamableHttpError::AuthRequired(
            AuthRequiredError::new(value),
        )),
        StatusCode::FORBIDDEN => {
            let scope = super::oauth::challenge::Challenge::parse(&value).scope;
            Some(StreamableHttpError::InsufficientScope(
                InsufficientScopeError::new(value, scope),
            ))
        }
        _ => None,
    }
}

fn media_type(response: &Response<Incoming>) -> Option<String> {
    let value = response
        .headers()
        .get(header::CONTENT_TYPE)?
        .to_str()
        .ok()?;
    Some(
        value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase(),
    )
}

async fn read_body(body: Incoming) -> Result<Bytes, McpError> {
    Ok(Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|e| StreamableHttpError::Client(HttpError::Body(e.to_string())))?
        .to_bytes())
}

fn sse(body: Incoming) -> BoxStream<'static, Result<Sse, sse_stream::Error>> {
    SseStream::new(body).boxed()
}

impl StreamableHttpClient for HttpClient {
    type Error = HttpError;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_token: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, McpError> {
        let body = serde_json::to_vec(&message)?;
        let request = mcp_request(
            Method::POST,
            &uri,
            session_id.as_deref(),
            auth_token,
            custom_headers,
        )
        .header(header::CONTENT_TYPE, JSON_MIME_TYPE)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| StreamableHttpError::Client(e.into()))?;
        let response = self
            .open(request)
            .await
            .map_err(StreamableHttpError::Client)?;
        if let Some(error) = challenge(&response) {
            return Err(error);
        }
        let status = response.status();
        if matches!(status, StatusCode::ACCEPTED | StatusCode::NO_CONTENT) {
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        if status == StatusCode::NOT_FOUND && session_id.is_some() {
            return Err(StreamableHttpError::SessionExpired);
        }
        let new_session = response
            .headers()
            .get(HEADER_SESSION_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let media_type = media_type(&response);
        if !status.is_success() {
            let body = read_body(response.into_body()).await?;
            // A JSON-RPC error in a 4xx body is the server's answer to the request.
            if let Ok(error @ JsonRpcMessage::Error(_)) =
                serde_json::from_slice::<ServerJsonRpcMessage>(&body)
            {
                return Ok(StreamableHttpPostResponse::Json(error, new_session));
            }
            // 404 or 405 on a POST without a session: no Streamable HTTP here (the caller may
            // try the 2024-11-05 transport).
            if session_id.is_none()
                && matches!(
                    status,
                    StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
                )
            {
                return Err(StreamableHttpError::HttpStatus(HttpStatusError::new(
                    status.as_u16(),
                    None,
                )));
            }
            let text = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
            return Err(StreamableHttpError::UnexpectedServerResponse(Cow::Owned(
                format!("HTTP {status}: {text}"),
            )));
        }
        let awaits_nothing = !matches!(message, ClientJsonRpcMessage::Request(_));
        match media_type.as_deref() {
            Some(EVENT_STREAM_MIME_TYPE) => Ok(StreamableHttpPostResponse::Sse(
                sse(response.into_body()),
                new_session,
            )),
            Some(JSON_MIME_TYPE) => {
                let body = read_body(response.into_body()).await?;
                match serde_json::from_slice(&body) {
                    Ok(message) => Ok(StreamableHttpPostResponse::Json(message, new_session)),
                    Err(_) if awaits_nothing => Ok(StreamableHttpPostResponse::Accepted),
                    Err(e) => Err(e.into()),
                }
            }
            _ if awaits_nothing => Ok(StreamableHttpPostResponse::Accepted),
            other => Err(StreamableHttpError::UnexpectedContentType(
                other.map(str::to_owned),
            )),
        }
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_token: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), McpError> {
        let request = mcp_request(
            Method::DELETE,
            &uri,
            Some(&session_id),
            auth_token,
            custom_headers,
        )
        .body(Full::new(Bytes::new()))
        .map_err(|e| StreamableHttpError::Client(e.into()))?;
        let response = self
            .open(request)
            .await
            .map_err(StreamableHttpError::Client)?;
        let status = response.status();
        // 405: the server keeps sessions until they expire (allowed by the spec).
        if status.is_success() || status == StatusCode::METHOD_NOT_ALLOWED {
            return Ok(());
        }
        Err(StreamableHttpError::UnexpectedServerResponse(Cow::Owned(
            format!("session DELETE answered {status}"),
        )))
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_token: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, sse_stream::Error>>, McpError> {
        let mut builder = mcp_request(
            Method::GET,
            &uri,
            session_id.as_deref(),
            auth_token,
            custom_headers,
        );
        if let Some(last_event_id) = last_event_id {
            builder = builder.header(HEADER_LAST_EVENT_ID, last_event_id);
        }
        let request = builder
            .body(Full::new(Bytes::new()))
            .map_err(|e| StreamableHttpError::Client(e.into()))?;
        let response = self
            .open(request)
            .await
            .map_err(StreamableHttpError::Client)?;
        if let Some(error) = challenge(&response) {
            return Err(error);
        }
        let status = response.status();
        if status == StatusCode::METHOD_NOT_ALLOWED {
            return Err(StreamableHttpError::ServerDoesNotSupportSse);
        }
        if !status.is_success() {
            return Err(StreamableHttpError::UnexpectedServerResponse(Cow::Owned(
                format!("GET stream answered {status}"),
            )));
        }
        match media_type(&response).as_deref() {
            Some(EVENT_STREAM_MIME_TYPE) => Ok(sse(response.into_body())),
            other => Err(StreamableHttpError::UnexpectedContentType(
                other.map(str::to_owned),
            )),
        }
    }
}
