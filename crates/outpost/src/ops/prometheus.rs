//! Prometheus text exposition of Outpost's metrics, on a listener of its own (`outpost serve
//! --metrics-bind ADDR`), never on the public one: [`PrometheusMetrics::install`] makes
//! Prometheus' recorder the process's [`metrics`] recorder — so the request metrics
//! ([`super::metrics`]) and the authorization server's counters reach it — and
//! [`PrometheusMetrics::serve`] answers `GET /metrics` on the listener it is given.
//!
//! Latencies are `_seconds` histograms (buckets from 0.5 ms to 10 s). Histogram samples are
//! folded in on every scrape, and every 5 s in the background so an unscraped process does not
//! accumulate them.

use std::{future::Future, time::Duration};

use axum::{Router, routing::get};
use http::{HeaderValue, header};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use super::metrics::{OPEN_STREAMS, REQUEST_DURATION_SECONDS, REQUESTS_TOTAL, TOOL_CALLS_TOTAL};

/// The histogram buckets of every `_seconds` metric.
const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Why the recorder could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The exporter refused its settings.
    #[error("cannot build the Prometheus recorder: {0}")]
    Build(#[from] BuildError),
    /// Another recorder is installed already.
    #[error("cannot install the Prometheus recorder: another metrics recorder is installed")]
    AlreadyInstalled,
}

/// Prometheus' recorder, installed for the whole process.
#[derive(Debug, Clone)]
pub struct PrometheusMetrics {
    handle: PrometheusHandle,
}

impl PrometheusMetrics {
    /// Installs Prometheus' recorder as the process's metrics recorder (once per process;
    /// before the first request, as metric handles are resolved on first use).
    pub fn install() -> Result<Self, MetricsError> {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), SECONDS_BUCKETS)?
            .build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder).map_err(|_| MetricsError::AlreadyInstalled)?;
        describe();
        Ok(Self { handle })
    }

    /// Every metric, in Prometheus' text format.
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// Folds histogram samples in every 5 s until `stop` resolves (call once, on the runtime).
    pub async fn upkeep(self, stop: impl Future<Output = ()>) {
        let work = async {
            let mut every = tokio::time::interval(Duration::from_secs(5));
            loop {
                every.tick().await;
                self.handle.run_upkeep();
            }
        };
        tokio::select! {
            () = work => {}
            () = stop => {}
        }
    }

    /// Answers `GET /metrics` on `listener` until `shutdown` resolves.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let router = Router::new().route(
            "/metrics",
            get(move || {
                let text = self.render();
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                        )],
                        text,
                    )
                }
            }),
        );
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// The HELP text of each metric.
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        REQUESTS_TOTAL,
        "HTTP requests answered, by route, MCP method and status"
    );
    describe_histogram!(
        REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "Time to the answer's head, by route and MCP method"
    );
    describe_counter!(TOOL_CALLS_TOTAL, "tools/call requests, by tool and outcome");
    describe_gauge!(OPEN_STREAMS, "SSE answers streaming now");
    describe_counter!(
        "outpost_tokens_issued_total",
        "Access tokens issued for a code"
    );
    describe_counter!("outpost_tokens_refreshed_total", "Refresh tokens redeemed");
    describe_counter!("outpost_tokens_revoked_total", "Grants revoked at /revoke");
    describe_counter!(
        "outpost_login_failures_total",
        "Wrong usernames or passwords"
    );
    describe_counter!(
        "outpost_throttled_attempts_total",
        "Attempts refused by a rate limit"
    );
}
