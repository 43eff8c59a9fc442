//! The keys that seal MRTR (SEP-2322) `requestState`, one set for every instance of a server.
//!
//! A tool that answers `input_required` hands the client an opaque `requestState`; the client
//! sends it back on its retry, possibly to another instance behind the same load balancer.
//! The value is untrusted, so it is sealed with rmcp's [`RequestStateCodec`] (HMAC-SHA256,
//! kid-tagged `rs2`), and every instance must hold the key it was sealed with.
//! [`RequestStateKeys`] is that codec kept current from the store: handlers get it from the
//! request ([`StateCodec`] as a `#[tool]` argument, or [`RequestStateKeys::from_context`]),
//! Outpost puts it there and keeps it up to date.
//!
//! ```ignore
//! #[tool(description = "Asks for confirmation, then books")]
//! fn book(
//!     &self,
//!     RequestState(state): RequestState,
//!     StateCodec(codec): StateCodec,
//! ) -> Result<CallToolResponse, McpError> {
//!     let Some(sealed) = state else {
//!         let sealed = codec.seal_json(&json!({ "step": 1 })).map_err(internal)?;
//!         return Ok(InputRequiredResult::new(Some(questions()), Some(sealed)).into());
//!     };
//!     let step: Value = codec.open_json(&sealed).map_err(|_| invalid_state())?;
//!     finish(step)
//! }
//! ```
//!
//! # Rotation, without instances talking to each other
//!
//! Every instance applies the same rules to the keys in the store (`schedule.rs`) every
//! [`RELOAD_INTERVAL`]:
//!
//! - the first key is stored once (the store's atomic `insert_first`) and seals at once: every
//!   instance reads it from the store before serving;
//! - when the newest key is [`ROTATION_PERIOD`] old, one instance publishes a successor (the
//!   store's atomic `rotate`); it seals only from [`ACTIVATION_DELAY`] after publication —
//!   longer than the reload interval, so every instance has loaded it before any value sealed
//!   with it can come back (this holds while instance clocks differ by less than a minute);
//! - the sealing key is the newest key whose activation time has passed;
//! - a key keeps opening values for [`RETENTION`] after its successor took over, then it is
//!   dropped and purged: a value opens anywhere for at least that long after it was sealed.
//!   Seal with a TTL (`SealOptions::ttl`) to expire values sooner; never longer.
//!
//! Without a store ([`RequestStateKeys::process_local`], the default of an `Outpost` given no
//! keys) the key is random per process and never rotates: fine for one instance.

mod context;
mod keys;
pub(crate) mod maintenance;
mod schedule;
#[cfg(test)]
mod tests;

use std::time::Duration;

pub use context::StateCodec;
pub use keys::{RequestStateKeyError, RequestStateKeys};
#[cfg(doc)]
use rmcp::model::RequestStateCodec;

/// How often every instance reloads the keys from the store, rotating or purging when due.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(60);
/// How long after its publication a key starts sealing: twice [`RELOAD_INTERVAL`], so every
/// instance has loaded it first even when a reload runs late or its clock is behind.
pub const ACTIVATION_DELAY: Duration = Duration::from_secs(2 * 60);
/// How often a new key is published.
pub const ROTATION_PERIOD: Duration = Duration::from_secs(24 * 60 * 60);
/// How long a key keeps opening values after a newer key took over sealing: the least time a
/// value stays valid after it was sealed.
pub const RETENTION: Duration = Duration::from_secs(24 * 60 * 60);
