//! Prometheus text exposition of Outpost's metrics, on a listener of its own (`outpost serve
//! --metrics-bind ADDR`), never on the public one: [`PrometheusMetrics::install`] makes a
//! recorder backed by the official Prometheus client (`prometheus-client`) the process's
//! [`metrics`] recorder — so the request metrics ([`super::metrics`]) and the authorization
//! server's counters reach it — and [`PrometheusMetrics::serve`] answers `GET /metrics` on the
//! listener it is given. The store's latency and errors (`outpost_store::metered`) reach it
//! the same way. Before each rendering the sampled gauges are read ([`super::metrics::sample`]).
//! HELP texts are the descriptions without a final full stop (the encoder adds one); gauges
//! are integers.
//!
//! Each metric name is one `prometheus-client` family keyed by its label set. Resolving a handle
//! (once per label set, [`super::metrics`] keeps them) takes a lock; counting then is an atomic
//! increment (counters, gauges) or a short per-series lock (histograms). Latencies are
//! `_seconds` histograms (buckets from 0.5 ms to 10 s), folded in as they are recorded: nothing
//! runs in the background.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex, RwLock},
};

use axum::{Router, routing::get};
use http::{HeaderValue, header};
use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata,
    SharedString, Unit,
};
use prometheus_client::{
    encoding::prometheus_text,
    metrics::{
        counter::Counter as PromCounter, family::Family, gauge::Gauge as PromGauge,
        histogram::Histogram as PromHistogram,
    },
    registry::Registry,
};
use tokio::net::TcpListener;

use super::metrics::{
    LOG_LINES_DROPPED_TOTAL, OPEN_SESSIONS, OPEN_STREAMS, REQUEST_DURATION_SECONDS, REQUESTS_TOTAL,
    TOOL_CALLS_TOTAL,
};
use crate::store::metered as store;

/// The histogram buckets of every `_seconds` metric.
const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The gauge, always 1, whose `version` label says which Outpost an instance runs.
const BUILD_INFO: &str = "outpost_build_info";

/// The buckets of any other histogram (Prometheus' defaults).
const DEFAULT_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Why the recorder could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// Another recorder is installed already.
    #[error("cannot install the Prometheus recorder: another metrics recorder is installed")]
    AlreadyInstalled,
}

/// Prometheus' recorder, installed for the whole process.
#[derive(Debug, Clone)]
pub struct PrometheusMetrics {
    shared: Arc<Shared>,
}

impl PrometheusMetrics {
    /// Installs Prometheus' recorder as the process's metrics recorder (once per process;
    /// before the first request, as metric handles are resolved on first use).
    pub fn install() -> Result<Self, MetricsError> {
        let (metrics, recorder) = Self::new();
        metrics::set_global_recorder(recorder).map_err(|_| MetricsError::AlreadyInstalled)?;
        Ok(metrics)
    }

    /// A recorder, not installed, with the HELP texts of Outpost's metrics.
    fn new() -> (Self, PrometheusRecorder) {
        let shared = Arc::new(Shared::default());
        let recorder = PrometheusRecorder {
            shared: shared.clone(),
        };
        // Described before anything is registered: a family takes its HELP text when created.
        metrics::with_local_recorder(&recorder, || {
            describe();
            metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        });
        (Self { shared }, recorder)
    }

    /// Every metric, in Prometheus' text format (version 0.0.4).
    pub fn render(&self) -> String {
        super::metrics::sample();
        let registry = self
            .shared
            .registry
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut text = String::new();
        if prometheus_text::encode(&mut text, &registry).is_err() {
            // Writing to a String does not fail; a metric that refuses to encode is dropped.
            tracing::warn!("cannot encode the Prometheus metrics");
            text.clear();
        }
        text
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
                            HeaderValue::from_static(prometheus_text::CONTENT_TYPE),
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

/// Metric label sets, in the order the call site gives them.
type Labels = Vec<(String, String)>;

/// One metric name: a `prometheus-client` family of the facade's kind.
#[derive(Debug, Clone)]
enum MetricFamily {
    Counter(Family<Labels, PromCounter>),
    Gauge(Family<Labels, PromGauge>),
    Histogram(Family<Labels, PromHistogram, fn() -> PromHistogram>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl MetricFamily {
    fn new(kind: Kind, name: &str) -> Self {
        match kind {
            Kind::Counter => Self::Counter(Family::default()),
            Kind::Gauge => Self::Gauge(Family::default()),
            Kind::Histogram if name.ends_with("_seconds") => {
                Self::Histogram(Family::new_with_constructor(seconds_histogram))
            }
            Kind::Histogram => Self::Histogram(Family::new_with_constructor(default_histogram)),
        }
    }

    fn kind(&self) -> Kind {
        match self {
            Self::Counter(_) => Kind::Counter,
            Self::Gauge(_) => Kind::Gauge,
            Self::Histogram(_) => Kind::Histogram,
        }
    }
}

fn seconds_histogram() -> PromHistogram {
    PromHistogram::new(SECONDS_BUCKETS.iter().copied())
}

fn default_histogram() -> PromHistogram {
    PromHistogram::new(DEFAULT_BUCKETS.iter().copied())
}

/// The registry the families are rendered from, and the families by the facade's name.
#[derive(Debug, Default)]
struct Shared {
    registry: Mutex<Registry>,
    families: RwLock<HashMap<String, MetricFamily>>,
}

impl Shared {
    /// The family named `name`, created and registered (with `help`) on first use. `None` when
    /// the name is taken by a metric of another kind.
    fn family(&self, name: &str, kind: Kind, help: Option<&str>) -> Option<MetricFamily> {
        {
            let families = self.families.read().unwrap_or_else(|e| e.into_inner());
            if let Some(family) = families.get(name) {
                return (family.kind() == kind).then(|| family.clone());
            }
        }
        let mut families = self.families.write().unwrap_or_else(|e| e.into_inner());
        if let Some(family) = families.get(name) {
            return (family.kind() == kind).then(|| family.clone());
        }
        let family = MetricFamily::new(kind, name);
        // The encoder ends every HELP text with a full stop: one already there would double.
        let help = help.unwrap_or(name).trim_end_matches('.');
        let mut registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        match &family {
            // The encoder appends `_total` to a counter's name: registered without it, the
            // exposed name is the facade's (`outpost_requests_total`).
            MetricFamily::Counter(counters) => registry.register(
                name.strip_suffix("_total").unwrap_or(name),
                help,
                counters.clone(),
            ),
            MetricFamily::Gauge(gauges) => registry.register(name, help, gauges.clone()),
            MetricFamily::Histogram(histograms) => {
                registry.register(name, help, histograms.clone());
            }
        }
        families.insert(name.to_owned(), family.clone());
        Some(family)
    }
}

/// The [`metrics::Recorder`] feeding [`Shared`]'s families.
#[derive(Debug)]
struct PrometheusRecorder {
    shared: Arc<Shared>,
}

fn labels(key: &Key) -> Labels {
    key.labels()
        .map(|label| (label.key().to_owned(), label.value().to_owned()))
        .collect()
}

impl metrics::Recorder for PrometheusRecorder {
    fn describe_counter(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.shared
            .family(key.as_str(), Kind::Counter, Some(&description));
    }

    fn describe_gauge(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.shared
            .family(key.as_str(), Kind::Gauge, Some(&description));
    }

    fn describe_histogram(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.shared
            .family(key.as_str(), Kind::Histogram, Some(&description));
    }

    fn register_counter(&self, key: &Key, _metadata: &Metadata<'_>) -> Counter {
        match self.shared.family(key.name(), Kind::Counter, None) {
            Some(MetricFamily::Counter(family)) => Counter::from_arc(Arc::new(CounterHandle(
                family.get_or_create_owned(&labels(key)),
            ))),
            _ => Counter::noop(),
        }
    }

    fn register_gauge(&self, key: &Key, _metadata: &Metadata<'_>) -> Gauge {
        match self.shared.family(key.name(), Kind::Gauge, None) {
            Some(MetricFamily::Gauge(family)) => Gauge::from_arc(Arc::new(GaugeHandle(
                family.get_or_create_owned(&labels(key)),
            ))),
            _ => Gauge::noop(),
        }
    }

    fn register_histogram(&self, key: &Key, _metadata: &Metadata<'_>) -> Histogram {
        match self.shared.family(key.name(), Kind::Histogram, None) {
            Some(MetricFamily::Histogram(family)) => Histogram::from_arc(Arc::new(
                HistogramHandle(family.get_or_create_owned(&labels(key))),
            )),
            _ => Histogram::noop(),
        }
    }
}

/// A series of a counter family, as the facade's counter.
#[derive(Debug)]
struct CounterHandle(PromCounter);

impl CounterFn for CounterHandle {
    fn increment(&self, value: u64) {
        self.0.inc_by(value);
    }

    fn absolute(&self, value: u64) {
        self.0
            .inner()
            .fetch_max(value, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A series of a gauge family, as the facade's gauge.
#[derive(Debug)]
///
/// Every gauge Outpost keeps counts things (streams, sessions), so the series are integers and
/// print as such (`3`, not `3.0`); the facade's `f64` values are rounded.
struct GaugeHandle(PromGauge);

impl GaugeFn for GaugeHandle {
    fn increment(&self, value: f64) {
        self.0.inc_by(value.round() as i64);
    }

    fn decrement(&self, value: f64) {
        self.0.dec_by(value.round() as i64);
    }

    fn set(&self, value: f64) {
        self.0.set(value.round() as i64);
    }
}

/// A series of a histogram family, as the facade's histogram.
#[derive(Debug)]
struct HistogramHandle(PromHistogram);

impl HistogramFn for HistogramHandle {
    fn record(&self, value: f64) {
        self.0.observe(value);
    }
}

/// The HELP text of each metric.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        REQUESTS_TOTAL,
        "HTTP requests answered, by route, MCP method and status"
    );
    describe_histogram!(
        REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "Time to the answer's head, by route and MCP method"
    );
    describe_counter!(
        TOOL_CALLS_TOTAL,
        "tools/call requests, by tool and outcome (ok, tool_error, error)"
    );
    describe_gauge!(OPEN_STREAMS, "SSE answers streaming now, by kind");
    describe_gauge!(
        OPEN_SESSIONS,
        "MCP sessions open on this instance now, by transport (a parked Streamable HTTP \
         session counts while a request or its GET stream is open here; between requests it \
         is a record in the store)"
    );
    describe_gauge!(BUILD_INFO, "Always 1; the version label names this Outpost");
    describe_counter!(
        LOG_LINES_DROPPED_TOTAL,
        "Log lines dropped because the log destination fell behind"
    );
    describe_histogram!(
        store::OPERATION_DURATION_SECONDS,
        Unit::Seconds,
        "Time a store operation took, by operation"
    );
    describe_counter!(
        store::ERRORS_TOTAL,
        "Store operations that failed in the backend, by operation and kind (unavailable, backend)."
    );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_facade_names_and_labels() {
        let (metrics, recorder) = PrometheusMetrics::new();
        metrics::with_local_recorder(&recorder, || {
            let requests = metrics::counter!(REQUESTS_TOTAL, "route" => "/mcp",
                "mcp_method" => "tools/call", "status" => "200");
            requests.increment(2);
            requests.absolute(1);
            metrics::counter!("outpost_tokens_issued_total").increment(1);
            metrics::counter!(store::ERRORS_TOTAL, "operation" => "users.get",
                "kind" => "unavailable")
            .increment(1);
            metrics::histogram!(REQUEST_DURATION_SECONDS, "route" => "/mcp",
                "mcp_method" => "tools/call")
            .record(0.003);
            let streams = metrics::gauge!(OPEN_STREAMS, "kind" => "get");
            streams.increment(2.0);
            streams.decrement(1.0);
            // Another kind under a taken name is dropped, not rendered twice.
            metrics::gauge!(REQUESTS_TOTAL).set(5.0);
        });
        let text = metrics.render();
        for line in [
            "# HELP outpost_requests_total HTTP requests answered, by route, MCP method and \
             status.",
            "# TYPE outpost_requests_total counter",
            "outpost_requests_total{route=\"/mcp\",mcp_method=\"tools/call\",status=\"200\"} 2",
            "outpost_tokens_issued_total 1",
            "# TYPE outpost_request_duration_seconds histogram",
            "outpost_request_duration_seconds_bucket{route=\"/mcp\",mcp_method=\"tools/call\",\
             le=\"0.0025\"} 0",
            "outpost_request_duration_seconds_bucket{route=\"/mcp\",mcp_method=\"tools/call\",\
             le=\"0.005\"} 1",
            "outpost_request_duration_seconds_count{route=\"/mcp\",mcp_method=\"tools/call\"} 1",
            "# TYPE outpost_open_streams gauge",
            "outpost_open_streams{kind=\"get\"} 1",
            concat!(
                "outpost_build_info{version=\"",
                env!("CARGO_PKG_VERSION"),
                "\"} 1"
            ),
            "# HELP outpost_store_errors_total Store operations that failed in the backend, by \
             operation and kind (unavailable, backend).",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in:\n{text}"
            );
        }
        assert!(!text.contains("outpost_tool_calls"), "unused: {text}");
        assert_eq!(text.matches("# TYPE outpost_requests_total").count(), 1);
    }
}
