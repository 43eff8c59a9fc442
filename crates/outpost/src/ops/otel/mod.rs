//! OpenTelemetry: one span per request, exported over OTLP/HTTP (feature `opentelemetry`).
//!
//! [`OtlpTracing::install`] builds the official SDK's tracer provider — a batch span
//! processor on a thread of its own, so exporting never runs on a request's task — with the
//! official OTLP exporter (`http/protobuf`) sending through `exporter_client`, hyper's client
//! on the application's Tokio runtime (no second HTTP or TLS stack). It is installed for the
//! whole process, as the metrics recorder is: the request log (`ops::request_log`) asks
//! `tracer` and, when there is one, gives each request a server span
//! (`request_span`). Without it a request pays one atomic load.
//!
//! A span's parent is the W3C trace context the client sent (`trace_context`): an MCP
//! request's `params._meta.traceparent` (SEP-414) — read where Outpost parses the body anyway,
//! on the fast path and in the JSON-RPC body check — else the `traceparent` header. With
//! neither, the span starts a trace.
//!
//! The endpoint is the standard one: `OtlpSettings::endpoint` is the base URL (`/v1/traces`
//! is appended), else the SDK reads `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` /
//! `OTEL_EXPORTER_OTLP_ENDPOINT`; `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_TRACES_SAMPLER` apply as the SDK defines them.

pub(crate) mod exporter_client;
pub(crate) mod request_span;
pub(crate) mod trace_context;

use std::{sync::OnceLock, time::Duration};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::{
    Resource,
    trace::{SdkTracer, SdkTracerProvider},
};
use url::Url;

use exporter_client::ExporterClient;

/// The service name spans carry when `OTEL_SERVICE_NAME` does not name one.
pub const DEFAULT_SERVICE_NAME: &str = "outpost";

/// How long one export may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The process's tracer, once installed.
static TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// The tracer requests are traced with, if [`OtlpTracing::install`] ran.
pub(crate) fn tracer() -> Option<&'static SdkTracer> {
    TRACER.get()
}

/// Where and how spans are exported.
#[derive(Debug, Clone, Default)]
pub struct OtlpSettings {
    /// The collector's OTLP/HTTP base URL (e.g. `http://127.0.0.1:4318`); spans go to
    /// `{endpoint}/v1/traces`. `None`: the standard environment variables, else
    /// `http://localhost:4318`.
    pub endpoint: Option<Url>,
}

/// Why tracing could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    /// The endpoint is not an `http` URL.
    #[error(
        "OTLP endpoint {0}: only http:// is supported (run a collector or agent beside Outpost)"
    )]
    UnsupportedScheme(Url),
    /// The exporter refused its settings.
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    /// Tracing is installed already in this process.
    #[error("OpenTelemetry tracing is installed already")]
    AlreadyInstalled,
    /// Not called inside a Tokio runtime, whose handle exports are sent on.
    #[error("OpenTelemetry tracing must be installed inside a Tokio runtime")]
    NoRuntime,
}

/// The installed tracer provider; [`shutdown`](Self::shutdown) exports what is left.
#[derive(Debug)]
pub struct OtlpTracing {
    provider: SdkTracerProvider,
}

impl OtlpTracing {
    /// Installs OTLP export of request spans for the whole process (once; inside the Tokio
    /// runtime that serves, before the first request).
    pub fn install(settings: &OtlpSettings) -> Result<Self, OtlpError> {
        if TRACER.get().is_some() {
            return Err(OtlpError::AlreadyInstalled);
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| OtlpError::NoRuntime)?;
        let mut builder = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_timeout(EXPORT_TIMEOUT)
            .with_http_client(ExporterClient::new(runtime, EXPORT_TIMEOUT));
        if let Some(endpoint) = &settings.endpoint {
            if endpoint.scheme() != "http" {
                return Err(OtlpError::UnsupportedScheme(endpoint.clone()));
            }
            builder = builder.with_endpoint(traces_url(endpoint));
        }
        let exporter = builder.build()?;
        let mut resource = Resource::builder();
        if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
            resource = resource.with_service_name(DEFAULT_SERVICE_NAME);
        }
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource.build())
            .build();
        TRACER
            .set(provider.tracer("outpost"))
            .map_err(|_| OtlpError::AlreadyInstalled)?;
        Ok(Self { provider })
    }

    /// Exports the spans still buffered and stops the exporter. It blocks until then: call it
    /// from a blocking context (`spawn_blocking`), as the export runs on the runtime.
    pub fn shutdown(self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::warn!(%error, "OpenTelemetry: the last spans were not exported");
        }
    }

    /// Exports the spans buffered now, blocking until they are sent (tests, and before a
    /// planned exit).
    pub fn flush(&self) {
        if let Err(error) = self.provider.force_flush() {
            tracing::warn!(%error, "OpenTelemetry: spans were not exported");
        }
    }
}

/// `{endpoint}/v1/traces`, as OTLP/HTTP names the traces path under a base URL.
fn traces_url(endpoint: &Url) -> String {
    format!("{}/v1/traces", endpoint.as_str().trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_path_is_added_to_the_base_url() {
        let base = Url::parse("http://127.0.0.1:4318").unwrap();
        assert_eq!(traces_url(&base), "http://127.0.0.1:4318/v1/traces");
        let prefixed = Url::parse("http://collector/otlp/").unwrap();
        assert_eq!(traces_url(&prefixed), "http://collector/otlp/v1/traces");
    }
}
