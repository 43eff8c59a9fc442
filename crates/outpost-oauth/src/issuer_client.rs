//! The https client that talks to an identity provider (feature `issuer-client`): discovery
//! documents, JWK Sets, RFC 7662 introspection and token requests. hyper's client on rustls
//! (`ring`, Mozilla's roots), no redirects followed, every exchange bounded in time and size.
//! Shared by the resource server's external issuer and the authorization server's upstream
//! sign-in, so both talk to a provider alike; its bounded body reading
//! ([`read_body_within`]) serves the authorization server's client metadata documents too.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use serde::de::DeserializeOwned;
use url::Url;

use crate::loopback::is_loopback_host;

/// Largest document read from the issuer: discovery documents and key sets are a few KiB.
const MAX_BODY_BYTES: usize = 256 * 1024;
/// Connection to last byte, per exchange.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why an exchange with the issuer failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// No answer within the time limit.
    #[error("no answer within {} s", EXCHANGE_TIMEOUT.as_secs())]
    Timeout,
    /// Connection, TLS or HTTP failure.
    #[error("cannot reach it: {0}")]
    Transport(String),
    /// An answer other than `200` (and other than an OAuth error answer).
    #[error("it answered HTTP {0}")]
    Status(u16),
    /// A `400` with an OAuth error body (RFC 6749 §5.2): the request was refused, with this
    /// `error` code (for an introspection, say, `unsupported_token_type`).
    #[error("it refused the request: HTTP 400, {0}")]
    Refused(String),
    /// The body was larger than the limit.
    #[error("its answer is larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    /// The body is not the JSON expected.
    #[error("its answer is not the expected JSON: {0}")]
    Json(String),
}

/// The client; cheap to clone.
#[derive(Clone)]
pub struct IssuerClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl IssuerClient {
    /// A client trusting Mozilla's root certificates. Plain `http` URLs are accepted by the
    /// client; the settings admit them only on loopback hosts.
    pub fn new() -> Result<Self, rustls::Error> {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_connect_timeout(Some(EXCHANGE_TIMEOUT));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(https),
        })
    }

    /// `GET url`, `200` and JSON expected.
    pub async fn get_json<T: DeserializeOwned>(&self, url: &Url) -> Result<T, FetchError> {
        self.get(url, None).await
    }

    /// `GET url` with an `Authorization` header (e.g. `Bearer …` at an OpenID provider's
    /// UserInfo endpoint), `200` and JSON expected.
    pub async fn get_json_authorized<T: DeserializeOwned>(
        &self,
        url: &Url,
        authorization: &str,
    ) -> Result<T, FetchError> {
        self.get(url, Some(authorization)).await
    }

    async fn get<T: DeserializeOwned>(
        &self,
        url: &Url,
        authorization: Option<&str>,
    ) -> Result<T, FetchError> {
        let mut request = Request::get(url.as_str())
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, user_agent());
        if let Some(authorization) = authorization {
            request = request.header(header::AUTHORIZATION, authorization);
        }
        let request = request
            .body(Full::default())
            .map_err(|e| FetchError::Transport(e.to_string()))?;
        self.exchange(request).await
    }

    /// `POST url` with a form body and, when given, an `Authorization` header; `200` and JSON
    /// expected.
    pub async fn post_form<T: DeserializeOwned>(
        &self,
        url: &Url,
        authorization: Option<&str>,
        form: String,
    ) -> Result<T, FetchError> {
        let mut request = Request::post(url.as_str())
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, user_agent())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(authorization) = authorization {
            request = request.header(header::AUTHORIZATION, authorization);
        }
        let request = request
            .body(Full::new(Bytes::from(form)))
            .map_err(|e| FetchError::Transport(e.to_string()))?;
        self.exchange(request).await
    }

    async fn exchange<T: DeserializeOwned>(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<T, FetchError> {
        tokio::time::timeout(EXCHANGE_TIMEOUT, async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| FetchError::Transport(error_chain(&e)))?;
            let status = response.status();
            if status != StatusCode::OK && status != StatusCode::BAD_REQUEST {
                return Err(FetchError::Status(status.as_u16()));
            }
            let bytes = read_body_within(response.into_body(), MAX_BODY_BYTES)
                .await
                .map_err(|error| match error {
                    BodyError::TooLarge(_) => FetchError::TooLarge,
                    BodyError::Read(cause) => FetchError::Transport(cause),
                })?;
            if status == StatusCode::BAD_REQUEST {
                return Err(
                    oauth_error(&bytes).map_or(FetchError::Status(400), FetchError::Refused)
                );
            }
            serde_json::from_slice(&bytes).map_err(|e| FetchError::Json(e.to_string()))
        })
        .await
        .map_err(|_| FetchError::Timeout)?
    }
}

/// Why a body could not be read whole ([`read_body_within`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// It is longer than the limit (which the error carries).
    #[error("its answer is larger than {0} bytes")]
    TooLarge(usize),
    /// The connection failed while it streamed in.
    #[error("cannot read its answer: {0}")]
    Read(String),
}

/// `body` whole, refused as soon as it passes `max_bytes` while it streams in (a missing or
/// lying `Content-Length` changes nothing). Shared by every fetch of a provider's or a
/// client's document.
pub async fn read_body_within(mut body: Incoming, max_bytes: usize) -> Result<Vec<u8>, BodyError> {
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Read(error_chain(&e)))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if bytes.len() + data.len() > max_bytes {
            return Err(BodyError::TooLarge(max_bytes));
        }
        bytes.extend_from_slice(&data);
    }
    Ok(bytes)
}

/// The `error` code of an OAuth error body (RFC 6749 §5.2): printable ASCII, at most 64
/// characters (it is quoted in logs and refusals).
fn oauth_error(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct OAuthError {
        error: String,
    }
    let OAuthError { error } = serde_json::from_slice(body).ok()?;
    let printable = |c: char| c.is_ascii_graphic() && c != '"' && c != '\\';
    (!error.is_empty() && error.len() <= 64 && error.chars().all(printable)).then_some(error)
}

/// Whether `url` may name a provider: https, or plain http on a loopback host (a provider
/// run on this machine, as in tests); a host and no fragment either way.
pub fn is_https_or_loopback(url: &Url) -> bool {
    let loopback = is_loopback_host(url.host());
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    scheme_ok && url.fragment().is_none() && url.host().is_some()
}

fn user_agent() -> &'static str {
    concat!("outpost/", env!("CARGO_PKG_VERSION"))
}

/// `error: cause: cause…`, as hyper's own `Display` leaves the causes out.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oauth_error_code_is_read_when_printable_and_short() {
        let answer = br#"{"error":"unsupported_token_type","error_description":"x"}"#;
        assert_eq!(
            oauth_error(answer).as_deref(),
            Some("unsupported_token_type")
        );
        assert_eq!(oauth_error(br#"{"error":""}"#), None);
        assert_eq!(oauth_error(br#"{"error":"two words"}"#), None);
        assert_eq!(oauth_error(br#"{"error":"quote\"d"}"#), None);
        assert_eq!(
            oauth_error(format!(r#"{{"error":"{}"}}"#, "e".repeat(65)).as_bytes()),
            None
        );
        assert_eq!(oauth_error(b"<html>Bad Request</html>"), None);
    }
}
