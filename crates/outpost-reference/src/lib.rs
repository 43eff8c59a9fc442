//! The reference MCP server.
//!
//! Everything the seed documents' "everything" server and `mcp-server-example` offer, plus the
//! fixtures the official conformance suite calls, written against rmcp's handler traits and
//! served by Outpost exactly as a user's server would be.

#![deny(missing_docs)]

mod server;
pub mod tools;

pub use server::ReferenceServer;
