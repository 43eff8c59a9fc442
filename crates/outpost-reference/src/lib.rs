//! The reference MCP server.
//!
//! Everything the seed documents' "everything" server and `mcp-server-example` offer, plus the
//! fixtures the official conformance suite calls, written against rmcp's handler traits and
//! served by Outpost exactly as a user's server would be.

#![deny(missing_docs)]
// Logging, sampling, roots and `resources/subscribe` are deprecated by SEP-2577/SEP-2567 in
// favour of 2026-07-28 mechanisms; the reference server keeps serving them to the clients of
// older revisions, so it uses the deprecated rmcp types on purpose.
#![allow(deprecated)]

mod completion;
mod logging;
mod prompts;
pub mod resources;
mod server;
pub mod state;
pub mod tools;

pub use server::ReferenceServer;
