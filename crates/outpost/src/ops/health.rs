//! `GET /health`: liveness for load balancers and humans.

use axum::Json;
use serde::Serialize;

/// The body of `GET /health`.
#[derive(Debug, Serialize)]
pub struct Health {
    /// `"ok"` while the server accepts requests.
    pub status: &'static str,
    /// Outpost's version.
    pub version: &'static str,
}

/// Answers `{"status":"ok","version":"…"}`.
pub async fn health() -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}
