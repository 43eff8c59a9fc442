//! The rules every instance applies to the stored request-state keys: which key seals, which
//! keys open, when a rotation is due and what may be purged. Pure functions of the stored keys
//! and the time, so that instances reading the same store agree without talking to each other.

use outpost_store::RequestStateKeyRecord;

use super::{ACTIVATION_DELAY, RETENTION, ROTATION_PERIOD};

fn seconds(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

fn order(key: &RequestStateKeyRecord) -> (i64, &str) {
    (key.activates_at, &key.kid)
}

/// The key that seals at `now`: the newest whose activation time has passed, or, should none
/// have (a first key published by an instance whose clock is ahead), the earliest to activate.
pub(super) fn sealing(keys: &[RequestStateKeyRecord], now: i64) -> Option<&RequestStateKeyRecord> {
    keys.iter()
        .filter(|key| key.activates_at <= now)
        .max_by(|a, b| order(a).cmp(&order(b)))
        .or_else(|| keys.iter().min_by(|a, b| order(a).cmp(&order(b))))
}

/// When a newer key took over sealing from `key`, if one has by `now`.
fn superseded_at(
    key: &RequestStateKeyRecord,
    keys: &[RequestStateKeyRecord],
    now: i64,
) -> Option<i64> {
    keys.iter()
        .map(|later| later.activates_at)
        .filter(|&at| at > key.activates_at && at <= now)
        .min()
}

/// The cutoff for `RequestStateKeyStore::purge_superseded` at `now`: keys superseded at or
/// before it have been kept for [`RETENTION`].
pub(super) fn purge_cutoff(now: i64) -> i64 {
    now.saturating_sub(seconds(RETENTION))
}

/// Whether `key` still opens values at `now`: not superseded, or superseded less than
/// [`RETENTION`] ago. Keys not yet active open too, so a value sealed by an instance whose
/// clock runs ahead still opens here.
pub(super) fn opens(key: &RequestStateKeyRecord, keys: &[RequestStateKeyRecord], now: i64) -> bool {
    superseded_at(key, keys, now).is_none_or(|at| at > purge_cutoff(now))
}

/// When a key published at `now` starts sealing: [`ACTIVATION_DELAY`] later.
pub(super) fn activation(now: i64) -> i64 {
    now.saturating_add(seconds(ACTIVATION_DELAY))
}

/// The `published_after` argument of a rotation at `now`: a rotation is due when no key was
/// published after it, i.e. the newest key is at least [`ROTATION_PERIOD`] old.
pub(super) fn rotation_threshold(now: i64) -> i64 {
    now.saturating_sub(seconds(ROTATION_PERIOD))
}

/// Whether the newest key is old enough for a successor to be published at `now`.
pub(super) fn rotation_due(keys: &[RequestStateKeyRecord], now: i64) -> bool {
    keys.iter()
        .map(|key| key.created_at)
        .max()
        .is_some_and(|newest| newest <= rotation_threshold(now))
}

#[cfg(test)]
mod tests {
    use outpost_store::{RequestStateSecret, SecretAtRest};

    use super::*;

    const T: i64 = 1_800_000_000;
    const DAY: i64 = 24 * 60 * 60;

    fn key(kid: &str, created_at: i64, activates_at: i64) -> RequestStateKeyRecord {
        RequestStateKeyRecord {
            kid: kid.into(),
            secret: SecretAtRest::Clear(
                RequestStateSecret::from_bytes(vec![0; 32]).expect("secret"),
            ),
            created_at,
            activates_at,
        }
    }

    fn kids(keys: &[RequestStateKeyRecord], now: i64) -> Vec<&str> {
        keys.iter()
            .filter(|key| opens(key, keys, now))
            .map(|key| key.kid.as_str())
            .collect()
    }

    #[test]
    fn the_newest_active_key_seals_and_a_published_one_waits_for_its_activation() {
        let keys = [key("k1", T, T), key("k2", T + DAY, T + DAY + 120)];
        assert_eq!(sealing(&keys, T + DAY + 119).map(|k| &*k.kid), Some("k1"));
        assert_eq!(sealing(&keys, T + DAY + 120).map(|k| &*k.kid), Some("k2"));
        let ahead = [key("k1", T + 30, T + 30)];
        assert_eq!(sealing(&ahead, T).map(|k| &*k.kid), Some("k1"));
        assert!(sealing(&[], T).is_none());
    }

    #[test]
    fn a_superseded_key_opens_for_the_retention_then_goes() {
        let keys = [key("k1", T, T), key("k2", T + DAY, T + DAY + 120)];
        assert_eq!(
            kids(&keys, T),
            ["k1", "k2"],
            "a published key opens before it seals"
        );
        let takeover = T + DAY + 120;
        assert_eq!(kids(&keys, takeover + DAY - 1), ["k1", "k2"]);
        assert_eq!(kids(&keys, takeover + DAY), ["k2"]);
        assert_eq!(purge_cutoff(takeover + DAY), takeover);
    }

    #[test]
    fn rotation_is_due_a_period_after_the_newest_publication() {
        let keys = [key("k1", T, T), key("k2", T + 10, T + 130)];
        assert!(!rotation_due(&keys, T + DAY + 9));
        assert!(rotation_due(&keys, T + DAY + 10));
        assert_eq!(rotation_threshold(T + DAY + 10), T + 10);
        assert!(
            !rotation_due(&[], T + DAY),
            "no key: a first key, not a rotation"
        );
    }
}
