//! Entry points for the fuzz targets in `fuzz/` (cargo feature `fuzzing`, off by default):
//! the header screen, envelope parse and SEP-2243 header check of the fast path, and the
//! bearer-token reader, which are private to the crate.
//!
//! Not an API for users: hidden from the docs, absent without the feature, and changed
//! whenever the parsers change.

pub use crate::auth::resource::bearer::bearer_token;
pub use crate::mcp::fast_path::fuzzing::{
    parse_envelope, parse_session_envelope, screen, standard_headers_match,
};
