//! The glue between HTTP and rmcp: the Streamable HTTP endpoint for every revision from
//! 2025-03-26 on, the legacy 2024-11-05 HTTP+SSE transport over the same handler, and the keys
//! that seal MRTR `requestState` for handlers.

pub(crate) mod classify;
pub mod fast_path;
pub mod jsonrpc_body;
pub(crate) mod legacy_sse;
pub mod request_state;
pub(crate) mod session_delete;
pub mod session_notifier;
pub(crate) mod session_store;
pub mod sessions;
pub mod streamable;
