//! The connection: one multiplexed RESP3 connection that reconnects by itself
//! (`ConnectionManager`, on the first operation after a failure), every operation bounded by the response timeout, and Redis' errors
//! sorted into `StoreError::Unavailable` (Redis away, slow or still loading) and
//! `StoreError::Backend` (everything else).

use std::{future::Future, time::Duration};

use redis::{
    Client, ConnectionInfo, ErrorKind, IntoConnectionInfo, ProtocolVersion, RedisError,
    ServerErrorKind, TlsCertificates,
    aio::{ConnectionManager, ConnectionManagerConfig},
};

use outpost_store::{StoreError, redact_url};

use crate::options::RedisOptions;

/// The shared connection and the bound on every operation.
#[derive(Clone)]
pub(crate) struct Connection {
    manager: ConnectionManager,
    response_timeout: Duration,
    /// The password, to scrub from error texts that might echo it.
    password: Option<String>,
}

impl Connection {
    /// Connects as `options` say, within the connect timeout.
    pub(crate) async fn open(options: &RedisOptions) -> Result<Self, StoreError> {
        let (client, password) = client(options)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connect_timeout))
            .set_response_timeout(Some(options.response_timeout))
            // One attempt per failure: an operation during an outage fails at once instead
            // of waiting out a backoff, and the first one after Redis is back reconnects.
            .set_number_of_retries(1);
        let shown = redact_url(&options.url);
        let scrub = Scrub(password.clone());
        let manager = tokio::time::timeout(
            options.connect_timeout,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| {
            StoreError::Unavailable(format!(
                "no connection to Redis at {shown} within {:?}",
                options.connect_timeout
            ))
        })?
        .map_err(|e| scrub.error(&e, &format!("connecting to Redis at {shown}")))?;
        Ok(Self {
            manager,
            response_timeout: options.response_timeout,
            password,
        })
    }

    /// Runs one store operation (any number of commands) on the connection, failing with
    /// `StoreError::Unavailable` if it has not finished within the response timeout.
    pub(crate) async fn run<T, F, Fut>(&self, what: &str, operation: F) -> Result<T, StoreError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let scrub = Scrub(self.password.clone());
        match tokio::time::timeout(self.response_timeout, operation(self.manager.clone())).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(scrub.error(&error, what)),
            Err(_) => Err(StoreError::Unavailable(format!(
                "Redis did not answer {what} within {:?}",
                self.response_timeout
            ))),
        }
    }
}

/// The client for `options` (RESP3, the password, TLS as the URL says) and the password, to
/// scrub from error texts.
pub(crate) fn client(options: &RedisOptions) -> Result<(Client, Option<String>), StoreError> {
    let shown = redact_url(&options.url);
    let invalid = |reason: String| StoreError::InvalidUrl {
        url: shown.clone(),
        reason,
    };
    let info: ConnectionInfo = options
        .url
        .as_str()
        .into_connection_info()
        .map_err(|e| invalid(e.to_string()))?;
    let mut settings = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    if let Some(password) = &options.password {
        settings = settings.set_password(password.expose());
    }
    let password = settings.password().map(str::to_owned);
    let info = info.set_redis_settings(settings);
    let client = if options.url.starts_with("rediss://") {
        // Exactly one rustls provider is built into the workspace (ring); make it the
        // process default unless something else already chose one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let certificates = TlsCertificates {
            client_tls: None,
            root_cert: options.tls_root_ca_pem.clone(),
        };
        Client::build_with_tls(info, certificates).map_err(|e| invalid(e.to_string()))?
    } else {
        Client::open(info).map_err(|e| invalid(e.to_string()))?
    };
    Ok((client, password))
}

/// Removes a known password from error texts.
pub(crate) struct Scrub(pub(crate) Option<String>);

impl Scrub {
    pub(crate) fn error(&self, error: &RedisError, what: &str) -> StoreError {
        let mut text = format!("{what}: {error}");
        if let Some(password) = self.0.as_deref().filter(|p| !p.is_empty()) {
            text = text.replace(password, "<redacted>");
        }
        if is_unavailable(error) {
            StoreError::Unavailable(text)
        } else {
            StoreError::Backend(text)
        }
    }
}

/// Whether `error` means Redis cannot be used right now (as opposed to a failed command):
/// refused, timed out, dropped connections, and a server still loading its data or without
/// its master.
fn is_unavailable(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_timeout()
        || error.is_connection_refusal()
        || error.is_connection_dropped()
        || matches!(
            error.kind(),
            ErrorKind::Server(
                ServerErrorKind::BusyLoading
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::ClusterDown
            )
        )
}
