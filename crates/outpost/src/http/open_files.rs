//! The open-file limit: every connection is a file descriptor, so a server raises its soft
//! `RLIMIT_NOFILE` towards what its connection cap needs (the hard limit caps it; only the
//! operator can raise that) and says what it got. `Outpost::serve` (and so `outpost serve`)
//! calls [`raise_for`] at start with the connection cap (`--max-connections`); a library user
//! serving `Outpost::router()` on a server of its own can do the same.

/// Descriptors beyond the connections: the listener, the store, logs, Redis, DNS.
const HEADROOM: u64 = 256;

/// Raises the soft open-file limit so that `max_connections` connections fit, as far as the
/// hard limit allows, and logs the outcome (`info` when raised; a limit still too low is a
/// `warn` naming the fix). Returns the soft limit now in force, or `None` when it cannot be
/// read or set (the `warn` says why).
pub fn raise_for(max_connections: usize) -> Option<u64> {
    let wanted = u64::try_from(max_connections)
        .unwrap_or(u64::MAX)
        .saturating_add(HEADROOM);
    let before = rlimit::Resource::NOFILE.get().map(|(soft, _)| soft).ok();
    match rlimit::increase_nofile_limit(wanted) {
        Ok(limit) if limit >= wanted => {
            if before.is_some_and(|before| before < limit) {
                tracing::info!(from = before, to = limit, "raised the open-file soft limit");
            }
            Some(limit)
        }
        Ok(limit) => {
            tracing::warn!(
                limit,
                max_connections,
                "the open-file limit is below what --max-connections needs (the hard limit \
                 stops it); raise it (`ulimit -Hn`, systemd LimitNOFILE=) or lower \
                 --max-connections"
            );
            Some(limit)
        }
        Err(error) => {
            tracing::warn!(%error, "cannot read or raise the open-file limit");
            None
        }
    }
}
