//! Warnings that an outage would repeat for every request or every open stream, logged at
//! most once a minute: the first says what is wrong, the metrics count the rest.

use std::sync::atomic::{AtomicI64, Ordering};

/// Whether a warning is due: at most one per minute.
#[derive(Default)]
pub(crate) struct OncePerMinute(AtomicI64);

impl OncePerMinute {
    /// Never logged yet (for a `static`).
    pub(crate) const fn new() -> Self {
        Self(AtomicI64::new(0))
    }

    /// Whether the warning may be logged at `now` (Unix seconds); if so, the next one waits a
    /// minute.
    pub(crate) fn due(&self, now: i64) -> bool {
        let last = self.0.load(Ordering::Relaxed);
        (last == 0 || now.saturating_sub(last) >= 60)
            && self
                .0
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_a_minute() {
        let limit = OncePerMinute::new();
        assert!(limit.due(1_000));
        assert!(!limit.due(1_000));
        assert!(!limit.due(1_001));
        assert!(!limit.due(1_059));
        assert!(limit.due(1_060));
        assert!(!limit.due(1_061));
    }
}
