//! How the CLI prints stored times.

use std::time::{Duration, UNIX_EPOCH};

/// Unix seconds as RFC 3339 UTC, to the second (times before 1970 print as the epoch).
pub fn rfc3339(unix: i64) -> String {
    let time = UNIX_EPOCH + Duration::from_secs(u64::try_from(unix).unwrap_or(0));
    humantime::format_rfc3339_seconds(time).to_string()
}
