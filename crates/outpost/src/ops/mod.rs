//! Operations: liveness and readiness (`/health`, `/ready`), the landing page (`/`), degraded mode on the MCP routes
//! when the store does not answer, the background maintenance every served router gets, and
//! the request log (`x-request-id`, one line per request), its metrics, with the feature
//! `json-lines` its lines written as JSON straight into a log writer, with the feature `log-writer` a writer
//! that batches them, and, with the feature `opentelemetry`, its spans.

pub(crate) mod degraded;
pub mod health;
#[cfg(feature = "json-lines")]
pub mod json_lines;
pub(crate) mod landing_page;
pub(crate) mod log_limit;
#[cfg(feature = "log-writer")]
pub mod log_writer;
pub(crate) mod maintenance;
pub mod metrics;
#[cfg(feature = "opentelemetry")]
pub mod otel;
#[cfg(feature = "prometheus")]
pub mod prometheus;
pub mod readiness;
pub(crate) mod request_facts;
pub(crate) mod request_log;
