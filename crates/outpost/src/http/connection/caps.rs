//! Connection caps: [`ConnectionCaps`] admits a new connection only while fewer than the
//! total cap are open, and fewer than the per-source cap from its source (an IPv4 address,
//! an IPv6 /64: [`Source`], as the authorization server's throttles count). Peers in the
//! trusted proxy ranges are exempt from the per-source cap: every client behind a load
//! balancer arrives from it. A refused connection is closed at once; refusals are logged at
//! most once per [`LOG_INTERVAL`], with their count.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use outpost_oauth::forwarded::Source;

/// How often refusals are logged at most.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Whether a peer is exempt from the per-source cap (a trusted proxy).
pub type Exempt = Arc<dyn Fn(IpAddr) -> bool + Send + Sync>;

/// The open connections, in total and per source, and their caps.
pub struct ConnectionCaps {
    max_total: usize,
    max_per_source: usize,
    exempt: Exempt,
    open: Mutex<Open>,
    started: Instant,
    refused: AtomicU64,
    /// Milliseconds from `started` to the last refusal logged, plus one (0: never).
    logged_at: AtomicU64,
}

impl std::fmt::Debug for ConnectionCaps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionCaps")
            .field("max_total", &self.max_total)
            .field("max_per_source", &self.max_per_source)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_source: HashMap<Source, usize>,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The total cap is reached.
    #[error("{0} connections are open, the most allowed")]
    Total(usize),
    /// The source's cap is reached.
    #[error("{0} connections are open from this source, the most allowed")]
    PerSource(usize),
}

/// One admitted connection, counted until dropped.
#[derive(Debug)]
pub struct Admission {
    caps: Arc<ConnectionCaps>,
    source: Option<Source>,
}

impl ConnectionCaps {
    /// At most `max_total` connections, at most `max_per_source` from one source unless
    /// `exempt` says the peer is a trusted proxy.
    pub fn new(max_total: usize, max_per_source: usize, exempt: Exempt) -> Self {
        Self {
            max_total,
            max_per_source,
            exempt,
            open: Mutex::default(),
            started: Instant::now(),
            refused: AtomicU64::new(0),
            logged_at: AtomicU64::new(0),
        }
    }

    /// Counts a connection from `peer`, or refuses it (and logs the refusal, at most once
    /// per [`LOG_INTERVAL`]).
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Admission, Refusal> {
        let source = (!(self.exempt)(peer)).then(|| Source::of(peer));
        let admitted = self.count(source);
        if let Err(refusal) = admitted {
            self.log_refusal(peer, refusal);
        }
        admitted.map(|()| Admission {
            caps: self.clone(),
            source,
        })
    }

    fn count(&self, source: Option<Source>) -> Result<(), Refusal> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.total >= self.max_total {
            return Err(Refusal::Total(self.max_total));
        }
        if let Some(source) = source {
            let from_source = open.by_source.entry(source).or_default();
            if *from_source >= self.max_per_source {
                return Err(Refusal::PerSource(self.max_per_source));
            }
            *from_source += 1;
        }
        open.total += 1;
        Ok(())
    }

    fn release(&self, source: Option<Source>) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.total -= 1;
        if let Some(source) = source
            && let Some(from_source) = open.by_source.get_mut(&source)
        {
            *from_source -= 1;
            if *from_source == 0 {
                open.by_source.remove(&source);
            }
        }
    }

    fn log_refusal(&self, peer: IpAddr, refusal: Refusal) {
        self.refused.fetch_add(1, Ordering::Relaxed);
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX) + 1;
        let last = self.logged_at.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= LOG_INTERVAL.as_millis() as u64;
        if due
            && self
                .logged_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let refused = self.refused.swap(0, Ordering::Relaxed);
            tracing::warn!(%peer, %refusal, refused, "refusing connections over the cap");
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.caps.release(self.source);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(total: usize, per_source: usize) -> Arc<ConnectionCaps> {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        Arc::new(ConnectionCaps::new(
            total,
            per_source,
            Arc::new(move |ip| ip == proxy),
        ))
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_ipv6_64_is_one_source_and_a_closed_connection_frees_its_place() {
        let caps = caps(10, 2);
        let _a = caps.admit(ip("2001:db8::1")).unwrap();
        let b = caps.admit(ip("2001:db8::2")).unwrap();
        assert_eq!(
            caps.admit(ip("2001:db8::3")).unwrap_err(),
            Refusal::PerSource(2)
        );
        assert!(caps.admit(ip("2001:db8:0:1::1")).is_ok());
        drop(b);
        assert!(caps.admit(ip("2001:db8::3")).is_ok());
    }

    #[test]
    fn trusted_proxies_skip_the_per_source_cap_but_not_the_total() {
        let caps = caps(3, 1);
        let held: Vec<_> = (0..3)
            .map(|_| caps.admit(ip("10.0.0.1")).unwrap())
            .collect();
        assert_eq!(caps.admit(ip("192.0.2.1")).unwrap_err(), Refusal::Total(3));
        drop(held);
        let _mapped = caps.admit(ip("::ffff:192.0.2.1")).unwrap();
        assert_eq!(
            caps.admit(ip("192.0.2.1")).unwrap_err(),
            Refusal::PerSource(1)
        );
    }
}
