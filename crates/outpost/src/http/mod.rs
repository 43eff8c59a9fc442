//! HTTP assembly: the router, the listener, and the layers every request passes.

pub mod browser_cors;
pub mod early_answer;
pub mod listener;
pub mod router;
pub mod security_headers;
pub mod transport_guard;
