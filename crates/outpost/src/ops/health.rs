//! `GET /health` (liveness) and `GET /ready` (readiness), for load balancers, orchestrators and
//! humans. Neither needs a token; both answer JSON with `Cache-Control: no-store`.
//!
//! - `/ready` asks every dependency now ([`Readiness::probe`], at most
//!   [`PROBE_TIMEOUT`](super::readiness::PROBE_TIMEOUT)): `200
//!   {"status":"ready","dependencies":{"store":{"status":"up"}}}`, or `503
//!   {"status":"unavailable","dependencies":{"store":{"status":"down","error":"…"}}}` naming
//!   what failed. Point load balancers here: an instance whose store does not answer is taken
//!   out of rotation and put back once it answers. Without a store (`--no-auth`) it is always
//!   `200` with no dependencies.
//! - `/health` answers `200` while the process serves, without asking the store (but once):
//!   `{"status":"ok"|"degraded","version":"…","dependencies":{…}}` from the last readiness
//!   result, refreshed in the background when it is over a second old
//!   ([`Readiness::last_known`]); the first `/health` after start waits for the first probe
//!   (half a second at most) rather than answer `ok` with the store `unknown`. `degraded`
//!   means a dependency was down at the last probe.
//!   Point liveness probes here: restarting a process does not bring its store back.

use std::sync::Arc;

use axum::{
    Json,
    extract::State,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

use super::readiness::{Dependencies, Readiness, all_up, any_down};

/// The body of `GET /health`.
#[derive(Debug, Serialize)]
pub struct Health {
    /// `"ok"`, or `"degraded"` while a dependency is down.
    pub status: &'static str,
    /// Outpost's version.
    pub version: &'static str,
    /// Each dependency as last seen.
    pub dependencies: Dependencies,
}

/// The body of `GET /ready`.
#[derive(Debug, Serialize)]
pub struct Ready {
    /// `"ready"` when every dependency answered, `"unavailable"` otherwise.
    pub status: &'static str,
    /// Each dependency as just asked.
    pub dependencies: Dependencies,
}

/// `GET /health`: always `200`, from the last readiness result.
pub async fn health(State(readiness): State<Arc<Readiness>>) -> Response {
    let dependencies = readiness.last_known_or_first().await;
    let status = status_of(&dependencies);
    no_store(
        StatusCode::OK,
        Health {
            status,
            version: env!("CARGO_PKG_VERSION"),
            dependencies,
        },
    )
}

/// What `GET /health` would say now: `"ok"`, or `"degraded"` while a dependency is down.
pub(crate) fn health_status(readiness: &Arc<Readiness>) -> &'static str {
    status_of(&readiness.last_known())
}

fn status_of(dependencies: &Dependencies) -> &'static str {
    if any_down(dependencies) {
        "degraded"
    } else {
        "ok"
    }
}

/// `GET /ready`: `200` when every dependency answers now, `503` naming those that do not.
pub async fn ready(State(readiness): State<Arc<Readiness>>) -> Response {
    let dependencies = readiness.probe().await;
    let (status, word) = if all_up(&dependencies) {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    };
    no_store(
        status,
        Ready {
            status: word,
            dependencies,
        },
    )
}

/// `body` as JSON with `status` and `Cache-Control: no-store` (a cached health answer is a
/// wrong one).
fn no_store(status: StatusCode, body: impl Serialize) -> Response {
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
