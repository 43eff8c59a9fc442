//! The glue between HTTP and rmcp: the Streamable HTTP endpoint for every revision from
//! 2025-03-26 on, the legacy 2024-11-05 HTTP+SSE transport over the same handler, and the keys
//! that seal MRTR `requestState` for handlers.
//!
//! `fast_path`, `jsonrpc_body` and `streamable` are public for `outpost-bench` and the
//! differential tests, and hidden from the docs: they are not part of the stable API.

pub(crate) mod batch;
pub(crate) mod classify;
#[doc(hidden)]
pub mod fast_path;
#[doc(hidden)]
pub mod jsonrpc_body;
pub(crate) mod legacy_sse;
pub(crate) mod priming;
pub(crate) mod relay;
pub mod request_state;
pub(crate) mod session_delete;
pub(crate) mod session_limits;
pub mod session_notifier;
pub mod sessions;
pub(crate) mod sse_timer;
#[doc(hidden)]
pub mod streamable;
pub(crate) mod unawaited_answers;
