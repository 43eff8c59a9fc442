//! Operations: liveness and readiness (`/health`, `/ready`), degraded mode on the MCP routes
//! when the store does not answer, and the background maintenance every served router gets.

pub(crate) mod degraded;
pub mod health;
pub(crate) mod maintenance;
pub mod readiness;
