//! The HTTP client the OTLP exporter sends through: hyper's (already in the tree for the
//! server), plain HTTP/1.
//!
//! The SDK's batch span processor runs on a thread of its own and drives the exporter's
//! futures with a small executor, not Tokio, while hyper's client needs Tokio's reactor. So
//! each export is spawned on the application's runtime (the handle taken at install) and the
//! processor's thread only awaits its answer: requests never wait on an export, and the
//! export never blocks a runtime worker.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use opentelemetry_http::{HttpClient, HttpError};
use tokio::runtime::Handle;

/// hyper's client on a Tokio runtime, for the OTLP exporter.
#[derive(Debug, Clone)]
pub(crate) struct ExporterClient {
    client: Client<HttpConnector, Full<Bytes>>,
    runtime: Handle,
    timeout: Duration,
}

impl ExporterClient {
    /// A client sending on `runtime`, each exchange bounded by `timeout`.
    pub(crate) fn new(runtime: Handle, timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        connector.set_nodelay(true);
        Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            runtime,
            timeout,
        }
    }
}

#[async_trait]
impl HttpClient for ExporterClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let timeout = self.timeout;
        let exchange = async move {
            let response = client.request(request.map(Full::new)).await?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, HttpError>(Response::from_parts(parts, body))
        };
        // The timer is made on the runtime too: this thread has no Tokio context.
        match self
            .runtime
            .spawn(async move { tokio::time::timeout(timeout, exchange).await })
            .await
        {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(format!("no answer from the collector within {timeout:?}").into()),
            Err(error) => Err(Box::new(error)),
        }
    }
}
