//! `outpost-bench memory`: what idle sessions and open streams cost in resident memory, and
//! whether it comes back once they end. Each target runs in a fresh server child (one Tokio
//! worker, on core 0 when `taskset` is there); this process is the client (hyper, loopback).
//!
//! - `outpost-parked-session`, `outpost-parked-session-redis`: a warm-up (a few sessions
//!   opened and deleted), then `--sessions` idle 2025-11-25 sessions opened ([`sessions`]) and
//!   deleted;
//! - `outpost`: a warm-up, then `--streams` concurrent 2026-07-28 `subscriptions/listen`
//!   streams ([`streams`]) held open, then closed.
//!
//! The server's `VmRSS` is read after the warm-up, with everything open, once it has ended,
//! and after the server's glibc returned its free heap (`malloc_trim(0)`), each after
//! `--settle` seconds.

mod sessions;
mod streams;

use std::{fmt::Write as _, net::SocketAddr, path::Path, time::Duration};

use anyhow::{Context, bail};

use crate::{
    orchestrate::ServerProcess,
    procfs,
    redis::{RedisServer, RedisStore},
    targets::Target,
};

/// Sessions or streams opened and ended before the first reading.
const WARM_UP: usize = 50;

/// Descriptors the bench needs beyond its connections.
const HEADROOM: usize = 256;

/// What `memory` measures.
#[derive(clap::Args, Clone)]
pub struct MemoryArgs {
    /// Targets to measure: `outpost-parked-session`, `outpost-parked-session-redis` (idle
    /// sessions), `outpost` (listen streams).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_values_t = [
            Target::OutpostParkedSession,
            Target::OutpostParkedSessionRedis,
            Target::Outpost,
        ]
    )]
    targets: Vec<Target>,
    /// Idle sessions opened on a parked-session target.
    #[arg(long, default_value_t = 2_000)]
    sessions: usize,
    /// `subscriptions/listen` streams held open on `outpost`.
    #[arg(long, default_value_t = 10_000)]
    streams: usize,
    /// Seconds waited before each reading.
    #[arg(long, default_value_t = 3)]
    settle: u64,
}

/// What one target holds: idle sessions or open streams.
#[derive(Clone, Copy)]
enum Load {
    Sessions,
    Streams,
}

impl Load {
    fn of(target: Target) -> anyhow::Result<Self> {
        match target {
            Target::OutpostParkedSession | Target::OutpostParkedSessionRedis => Ok(Load::Sessions),
            Target::Outpost => Ok(Load::Streams),
            other => bail!(
                "memory measures outpost-parked-session, outpost-parked-session-redis and \
                 outpost, not {}",
                other.name()
            ),
        }
    }
}

/// One target's readings, KiB.
struct Readings {
    target: Target,
    load: Load,
    count: usize,
    open_files: Option<u64>,
    start: u64,
    held: u64,
    ended: u64,
    trimmed: u64,
}

impl Readings {
    /// What each session or stream cost.
    fn per_item_kib(&self) -> f64 {
        (self.held as f64 - self.start as f64) / self.count.max(1) as f64
    }
}

/// Measures every requested target and renders the table.
pub fn run(args: &MemoryArgs) -> anyhow::Result<String> {
    let loads = args
        .targets
        .iter()
        .map(|&target| Load::of(target))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let exe = std::env::current_exe().context("cannot locate the outpost-bench binary")?;
    let core = crate::orchestrate::taskset_available().then_some("0");
    let own_limit = outpost::http::open_files::raise_for(args.streams + HEADROOM);
    let redis = RedisServer::for_targets(&args.targets)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut readings = Vec::new();
    for (&target, &load) in args.targets.iter().zip(&loads) {
        eprintln!("memory: measuring {} …", target.name());
        let store = redis
            .as_ref()
            .filter(|_| target.uses_redis())
            .map(RedisServer::fresh_store);
        let reading = runtime
            .block_on(measure(&exe, core, target, load, store.as_ref(), args))
            .with_context(|| format!("measuring {}", target.name()))?;
        readings.push(reading);
    }
    Ok(table(own_limit, core.is_some(), args.settle, &readings))
}

/// One target in a fresh server child.
async fn measure(
    exe: &Path,
    core: Option<&str>,
    target: Target,
    load: Load,
    store: Option<&RedisStore>,
    args: &MemoryArgs,
) -> anyhow::Result<Readings> {
    let (count, max_connections) = match load {
        Load::Sessions => (args.sessions, None),
        Load::Streams => (args.streams, Some(args.streams + HEADROOM)),
    };
    let mut server = ServerProcess::start(exe, core, target, 1, store, max_connections)?;
    let addr: SocketAddr = server.addr.parse().context("the server's address")?;
    let settle = Duration::from_secs(args.settle);
    let pid = server.pid();
    let reading = || procfs::rss_kib(pid);

    hold_and_end(load, addr, WARM_UP).await.context("warm-up")?;
    tokio::time::sleep(settle).await;
    let start = reading()?;
    let held = match load {
        Load::Sessions => {
            let ids = sessions::open(addr, count).await?;
            tokio::time::sleep(settle).await;
            let held = reading()?;
            sessions::delete(addr, ids).await?;
            held
        }
        Load::Streams => {
            let streams = streams::open(addr, count).await?;
            tokio::time::sleep(settle).await;
            let held = reading()?;
            drop(streams);
            held
        }
    };
    tokio::time::sleep(settle).await;
    let ended = reading()?;
    server.trim_heap()?;
    let trimmed = reading()?;
    Ok(Readings {
        target,
        load,
        count,
        open_files: procfs::open_files_soft_limit(pid),
        start,
        held,
        ended,
        trimmed,
    })
}

/// Opens `count` of what `load` holds, then ends them (the warm-up).
async fn hold_and_end(load: Load, addr: SocketAddr, count: usize) -> anyhow::Result<()> {
    match load {
        Load::Sessions => sessions::delete(addr, sessions::open(addr, count).await?).await,
        Load::Streams => {
            drop(streams::open(addr, count).await?);
            Ok(())
        }
    }
}

/// The conditions line and one row per target.
fn table(own_limit: Option<u64>, pinned: bool, settle: u64, readings: &[Readings]) -> String {
    let mib = |kib: u64| kib as f64 / 1024.0;
    let limit = |limit: Option<u64>| limit.map_or_else(|| "?".to_owned(), |l| l.to_string());
    let mut out = format!(
        "server RSS (VmRSS), one Tokio worker{}, {settle}s settle before each reading; \
         open-file soft limit: bench {}\n",
        if pinned { " on core 0" } else { ", unpinned" },
        limit(own_limit),
    );
    let _ = writeln!(
        out,
        "{:<30} {:>16} {:>9} {:>9} {:>12} {:>9} {:>11} {:>7}",
        "target",
        "held",
        "start MiB",
        "held MiB",
        "per item KiB",
        "ended MiB",
        "trimmed MiB",
        "nofile"
    );
    for r in readings {
        let held = match r.load {
            Load::Sessions => format!("{} sessions", r.count),
            Load::Streams => format!("{} streams", r.count),
        };
        let _ = writeln!(
            out,
            "{:<30} {:>16} {:>9.1} {:>9.1} {:>12.2} {:>9.1} {:>11.1} {:>7}",
            r.target.name(),
            held,
            mib(r.start),
            mib(r.held),
            r.per_item_kib(),
            mib(r.ended),
            mib(r.trimmed),
            limit(r.open_files),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_item_cost_is_the_growth_over_the_count() {
        let readings = Readings {
            target: Target::OutpostParkedSession,
            load: Load::Sessions,
            count: 2_000,
            open_files: Some(1024),
            start: 10_000,
            held: 13_000,
            ended: 11_000,
            trimmed: 10_500,
        };
        assert!((readings.per_item_kib() - 1.5).abs() < f64::EPSILON);
        let table = table(Some(20_000), true, 3, &[readings]);
        assert!(table.contains("2000 sessions"), "{table}");
        assert!(table.contains("1.50"), "{table}");
    }
}
