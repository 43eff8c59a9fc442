//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document; MCP
//! authorization 2025-11-25 "Client ID Metadata Documents"): a client without a registration
//! uses an `https` URL as its `client_id`, and this server fetches that URL for the client's
//! metadata.
//!
//! - [`client_id_url`] — which URLs are client ids (https, a path, no dot segments, fragment or
//!   userinfo, canonical form).
//! - [`address`] + [`resolver`] — SSRF protection: the host is resolved here and only public
//!   addresses are connected to, the very ones checked (no DNS rebinding between check and
//!   connect); an IP-literal host is checked before the request.
//! - [`fetch`] — one GET with hyper's client: no redirects, a time limit, a size limit while
//!   streaming, `200` and JSON only.
//! - [`document`] — the document's rules (`client_id` equals the URL, no secrets,
//!   `token_endpoint_auth_method` `none`), then Dynamic Client Registration's.
//! - [`cache`] — documents kept per `Cache-Control: max-age` within bounds, failures briefly,
//!   in the store: instances sharing it share what was fetched.
//!
//! Fetches are limited per document host ([`FETCHES_PER_HOST`], through the
//! [`throttle`](super::throttle) primitive, so across instances), so that nobody can make this
//! server hammer a third-party host by presenting many client id URLs on it; cached documents
//! do not count.
//!
//! [`ClientMetadataDocuments`] puts them together for the
//! [`AuthorizationServer`]; client lookups reach it through
//! `clients::resolve`. After each successful fetch the client is
//! upserted into the [`ClientStore`](outpost_store::ClientStore): codes, grants and consents
//! refer to clients by key.
//!
//! TLS is rustls on the `ring` provider with Mozilla's roots (webpki-roots), plus any
//! [`CimdConfig::extra_root_certificates`] (tests use it to trust a loopback server's
//! self-signed certificate).

pub mod address;
pub mod cache;
pub mod client_id_url;
pub mod document;
pub mod fetch;
pub mod resolver;

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use rustls::pki_types::CertificateDer;
use serde::{Deserialize, Serialize};

pub use self::client_id_url::{ClientIdUrl, ClientIdUrlError, is_url_shaped};
use self::{
    address::is_public,
    cache::{Cached, DocumentCache},
    fetch::DocumentClient,
    resolver::CheckedResolver,
};
use super::{
    AuthorizationServer,
    clients::ClientResolutionError,
    throttle::{ThrottleError, reserve_all},
};
use outpost_store::{Budget, ClientRecord};

/// Default time limit of one fetch, connection to last byte.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Default size limit of a document.
pub const DEFAULT_MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// Default number of documents cached.
pub const DEFAULT_CACHE_CAPACITY: usize = 1024;
/// Fetches one host may receive from this server: 30 per 10 minutes.
pub const FETCHES_PER_HOST: Budget = Budget::new(30, Duration::from_secs(10 * 60));

/// How metadata documents are fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CimdConfig {
    /// Whether URL client ids are accepted at all (on by default). Off, they are unknown
    /// clients.
    pub enabled: bool,
    /// Whether documents may be fetched from loopback, private, link-local and other
    /// non-public addresses (off by default; for development and tests only).
    pub allow_private_addresses: bool,
    /// Certificates (DER) trusted as roots besides Mozilla's, e.g. a development CA.
    pub extra_root_certificates: Vec<Vec<u8>>,
    /// Time limit of one fetch.
    pub timeout: Duration,
    /// Size limit of one document.
    pub max_document_bytes: usize,
    /// How many documents the cache holds.
    pub cache_capacity: usize,
}

impl Default for CimdConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            allow_private_addresses: false,
            extra_root_certificates: Vec::new(),
            timeout: DEFAULT_FETCH_TIMEOUT,
            max_document_bytes: DEFAULT_MAX_DOCUMENT_BYTES,
            cache_capacity: DEFAULT_CACHE_CAPACITY,
        }
    }
}

/// Why a URL client id could not be resolved to a client. The message is shown on the
/// authorization error page and in `invalid_client` descriptions: it names what to fix. A
/// failed fetch is cached as this error in JSON ([`cache`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum CimdError {
    /// Metadata documents are turned off.
    #[error("this server does not accept client_id URLs (Client ID Metadata Documents)")]
    Disabled,
    /// The client id is not a valid client id URL.
    #[error(transparent)]
    Url(#[from] ClientIdUrlError),
    /// The host is, or resolves to, an address that may not be fetched from.
    #[error("the client_id URL is not fetched: {0}")]
    RefusedAddress(String),
    /// The fetch took longer than the time limit.
    #[error("fetching the client metadata document timed out")]
    Timeout,
    /// Connection, TLS or protocol failure.
    #[error("the client metadata document could not be fetched: {0}")]
    Fetch(String),
    /// An answer other than `200` (redirects included: they are not followed).
    #[error("fetching the client metadata document answered HTTP {0}, not 200")]
    Status(u16),
    /// Not a JSON media type.
    #[error("the client metadata document is not JSON (Content-Type {0:?})")]
    ContentType(String),
    /// Larger than the size limit.
    #[error("the client metadata document is larger than {0} bytes")]
    TooLarge(usize),
    /// The body does not parse as a JSON object.
    #[error("the client metadata document is not a JSON object: {0}")]
    NotJson(String),
    /// The document breaks a metadata rule.
    #[error("invalid client metadata document: {0}")]
    Metadata(String),
    /// The TLS settings (an extra root certificate) are unusable.
    #[error("the metadata-document client cannot be set up: {0}")]
    Setup(String),
    /// This host's documents were fetched too often lately ([`FETCHES_PER_HOST`]).
    #[error("too many client metadata documents fetched from this host; retry in {0} seconds")]
    Throttled(u64),
}

impl CimdError {
    /// The reason as the client's user or developer is shown it: a failed fetch's cause (a
    /// DNS answer, an address a host resolves to, a TLS error) stays in the server's log, so
    /// that nobody can use `client_id` URLs to probe the server's network.
    pub fn public_reason(&self) -> String {
        match self {
            Self::RefusedAddress(_) | Self::Fetch(_) => {
                "the client metadata document could not be fetched from the client_id URL".into()
            }
            other => other.to_string(),
        }
    }
}

/// The metadata-document side of the authorization server: settings and HTTP client (the
/// cache and the fetch budgets are in the store).
pub struct ClientMetadataDocuments {
    config: CimdConfig,
    http: OnceLock<DocumentClient>,
}

impl std::fmt::Debug for ClientMetadataDocuments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientMetadataDocuments")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Default for ClientMetadataDocuments {
    fn default() -> Self {
        Self::new(CimdConfig::default())
    }
}

impl ClientMetadataDocuments {
    /// Documents fetched per `config`. The HTTP client is built on first use; call
    /// [`ClientMetadataDocuments::check`] at start-up to fail early on bad settings.
    pub fn new(config: CimdConfig) -> Self {
        Self {
            config,
            http: OnceLock::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &CimdConfig {
        &self.config
    }

    /// Builds the HTTP client now, so unusable settings surface at start-up.
    pub fn check(&self) -> Result<(), CimdError> {
        self.http_client().map(drop)
    }

    /// The client for `client_id` (a URL): from the cache, else fetched, checked, cached and
    /// upserted into the store.
    pub async fn resolve(
        &self,
        server: &AuthorizationServer,
        client_id: &str,
    ) -> Result<ClientRecord, ClientResolutionError> {
        if !self.config.enabled {
            return Err(CimdError::Disabled.into());
        }
        let url = ClientIdUrl::parse(client_id).map_err(CimdError::from)?;
        let now = server.now();
        let cache = DocumentCache::new(&*server.store.client_documents, self.config.cache_capacity);
        match cache.get(&url, now).await? {
            Some(Cached::Document(text)) => {
                return Ok(document::client_from_document(
                    server,
                    &url,
                    text.as_bytes(),
                )?);
            }
            Some(Cached::Failure(error)) => return Err(error.into()),
            None => {}
        }
        let host = format!("cimd:host:{}", url.host_and_port());
        match reserve_all(&*server.store.throttles, &[(&host, FETCHES_PER_HOST)], now).await {
            Ok(_) => {}
            Err(ThrottleError::Refused { retry_after }) => {
                return Err(CimdError::Throttled(retry_after).into());
            }
            Err(ThrottleError::Store(error)) => return Err(error.into()),
        }
        let (record, text, max_age) = match self.fetch_client(server, &url).await {
            Ok(fetched) => fetched,
            Err(error) => {
                cache.put_failure(&url, &error, now).await?;
                return Err(error.into());
            }
        };
        server.store.clients.upsert(record.clone()).await?;
        cache.put_document(&url, text, max_age, now).await?;
        Ok(record)
    }

    /// Fetches and checks the document of `url`: the client, the document's text, its
    /// `max-age`.
    async fn fetch_client(
        &self,
        server: &AuthorizationServer,
        url: &ClientIdUrl,
    ) -> Result<(ClientRecord, String, Option<u64>), CimdError> {
        // An IP-literal host is connected to without a lookup: check it here.
        if let Some(ip) = url.ip_literal()
            && !self.config.allow_private_addresses
            && !is_public(ip)
        {
            return Err(CimdError::RefusedAddress(format!(
                "{ip} is not a public address"
            )));
        }
        let http = self.http_client()?;
        let fetched = fetch::fetch_document(
            &http,
            url,
            self.config.max_document_bytes,
            self.config.timeout,
        )
        .await?;
        // RFC 8259 §8.1: JSON exchanged between systems is UTF-8.
        let text = String::from_utf8(fetched.body)
            .map_err(|_| CimdError::NotJson("the document is not UTF-8".into()))?;
        let record = document::client_from_document(server, url, text.as_bytes())?;
        tracing::info!(client_id = %url.as_str(), "fetched client metadata document");
        Ok((record, text, fetched.max_age))
    }

    fn http_client(&self) -> Result<DocumentClient, CimdError> {
        if let Some(client) = self.http.get() {
            return Ok(client.clone());
        }
        let client = build_http_client(&self.config)?;
        Ok(self.http.get_or_init(|| client).clone())
    }
}

/// The fetching client: rustls (ring) with Mozilla's and the extra roots, https only, the
/// checked resolver, no proxy, no connection kept idle (fetches are rare), hyper's client
/// (which follows no redirects).
fn build_http_client(config: &CimdConfig) -> Result<DocumentClient, CimdError> {
    let setup = |e: &dyn std::fmt::Display| CimdError::Setup(e.to_string());
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for der in &config.extra_root_certificates {
        roots
            .add(CertificateDer::from(der.clone()))
            .map_err(|e| setup(&e))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| setup(&e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut tcp = HttpConnector::new_with_resolver(CheckedResolver {
        allow_private: config.allow_private_addresses,
    });
    tcp.enforce_http(false);
    tcp.set_connect_timeout(Some(config.timeout));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .wrap_connector(tcp);
    Ok(Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build(https))
}
