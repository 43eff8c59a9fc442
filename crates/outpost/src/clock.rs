//! Wall-clock time as the store keeps it: unix seconds.

use std::time::{SystemTime, UNIX_EPOCH};

/// The current time, unix seconds (0 before 1970, which only a broken clock reports).
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
