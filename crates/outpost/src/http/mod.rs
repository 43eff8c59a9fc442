//! HTTP assembly: the router, the listener, and the layers every request passes.

pub(crate) mod body_read;
pub(crate) mod browser_cors;
// Public for outpost-bench, hidden from the docs: not part of the stable API.
#[doc(hidden)]
pub mod connection;
pub(crate) mod early_answer;
pub(crate) mod held_body;
pub(crate) mod in_flight;
pub mod listener;
pub mod open_files;
pub(crate) mod panic_guard;
pub(crate) mod request_id;
pub(crate) mod router;
pub(crate) mod security_headers;
pub(crate) mod transport_guard;
