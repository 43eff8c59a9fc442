//! `outpost serve`'s OpenTelemetry settings: a span per request, exported over OTLP/HTTP
//! (`outpost::ops::otel`) when a collector is named.

use anyhow::Context as _;
use outpost::otel::{OtlpSettings, OtlpTracing};
use url::Url;

/// The OTLP variable naming the traces URL itself, which the exporter reads.
const TRACES_ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";

/// Where spans are exported.
#[derive(Debug, clap::Args)]
pub struct OtlpArgs {
    /// Export a span per request (W3C trace context from `traceparent` and MCP `_meta`) over
    /// OTLP/HTTP to the collector at this base URL: spans go to URL/v1/traces (e.g.
    /// http://127.0.0.1:4318). Off unless given, or unless OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
    /// names the traces URL; OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_HEADERS and
    /// OTEL_TRACES_SAMPLER apply.
    #[arg(long, value_name = "URL", env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    otlp_endpoint: Option<Url>,
}

impl OtlpArgs {
    /// Installs the export when a collector is named (inside the runtime, before serving).
    pub fn start(&self) -> anyhow::Result<Option<OtlpTracing>> {
        if self.otlp_endpoint.is_none() && std::env::var_os(TRACES_ENDPOINT_VAR).is_none() {
            return Ok(None);
        }
        let settings = OtlpSettings {
            endpoint: self.otlp_endpoint.clone(),
        };
        let tracing = OtlpTracing::install(&settings).context("cannot start OpenTelemetry")?;
        match &self.otlp_endpoint {
            Some(endpoint) => tracing::info!(%endpoint, "exporting request spans over OTLP"),
            None => tracing::info!("exporting request spans over OTLP ({TRACES_ENDPOINT_VAR})"),
        }
        Ok(Some(tracing))
    }
}

/// Exports the spans still buffered, off the runtime's workers (the export itself runs on
/// the runtime).
pub async fn finish(tracing: Option<OtlpTracing>) {
    if let Some(tracing) = tracing {
        let _ = tokio::task::spawn_blocking(move || tracing.shutdown()).await;
    }
}
