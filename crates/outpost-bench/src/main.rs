//! `outpost-bench`: how much Outpost costs on the hot path, as a ratio of the cheapest server
//! that could possibly answer the same request.
//!
//! Run it with `cargo run --release -p outpost-bench` (see the crate README for flags and
//! how to read the table). It measures `tools/call echo` against six targets — the bare-axum
//! floor, bare rmcp, Outpost (2026-07-28 stateless: without bearer authentication, with it on
//! an in-memory store, with it on Redis) and Outpost (a 2025-11-25 session) — each in a fresh
//! server process pinned to core 0, with the load generator pinned to core 1.
//!
//! `outpost-bench scale` measures one target behind a real load balancer (haproxy), on one
//! instance and on several. `outpost-bench soak` runs one `outpost serve` under mixed traffic
//! for a long time and watches its memory. `outpost-bench memory` measures what idle
//! sessions and open `subscriptions/listen` streams cost in resident memory and whether it is
//! returned once they end. `outpost-bench instructions` counts each target's instructions per
//! request under callgrind: exact where req/s move with the machine's noise.
//!
//! Modules: [`targets`] builds and serves the servers, [`load`] is the load generator,
//! [`wire`] the requests and answer checks, [`orchestrate`] the processes, [`report`] the
//! table, [`balancer`] the haproxy child, [`redis`] the redis-server child (with
//! [`listening`], what both need), [`scale`] the balanced measurement, [`soak`] the soak,
//! [`memory`] the memory measurement, [`procfs`] what those two read of a child and
//! [`instructions`] the instruction count.

mod balancer;
mod instructions;
mod listening;
mod load;
mod memory;
mod orchestrate;
mod procfs;
mod redis;
mod report;
mod scale;
mod soak;
mod targets;
mod wire;

use std::{net::SocketAddr, time::Duration};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::targets::Target;

/// Benchmarks `tools/call echo` on Outpost against a bare-axum floor and bare rmcp.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Internal>,
    #[command(flatten)]
    run: RunArgs,
}

/// How the load generator loads one server.
#[derive(Args, Clone)]
pub struct LoadArgs {
    /// Measured seconds per target.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Unmeasured warm-up seconds per target.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
}

/// What the orchestrating run measures and how.
#[derive(Args, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    load: LoadArgs,
    /// Passes over all targets; the table shows medians, each ratio taken within its pass.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Targets to measure, in order.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Target::ALL)]
    targets: Vec<Target>,
    /// Tokio worker threads in the server process.
    #[arg(long, default_value_t = 1)]
    server_threads: usize,
    /// Pin the server to core 0 and the load generator to core 1 with `taskset`.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pin: bool,
}

/// `scale`, and the child processes the orchestrator starts (hidden; not meant to be run by
/// hand).
#[derive(Subcommand)]
enum Internal {
    /// One target served by 1 instance directly, then by 1 and by `--instances` instances
    /// behind haproxy (round robin, no affinity): what the balancer costs and what more
    /// instances give on this machine.
    Scale(scale::ScaleArgs),
    /// One `outpost serve --demo` on SQLite under mixed traffic (stateless calls with tokens,
    /// sessions opened and deleted, logins, refreshes, revocations) for `--duration` seconds;
    /// prints the server's memory curve and fails on any unexpected answer or on memory that
    /// keeps growing after the warm-up.
    Soak(soak::SoakArgs),
    /// Instructions per request of each target's server, counted by callgrind (valgrind):
    /// exact and repeatable where req/s move with the machine's noise; user space only.
    Instructions(instructions::InstructionsArgs),
    /// Resident memory of a server child: idle 2025-11-25 parked sessions (SQLite, Redis) and
    /// open 2026-07-28 `subscriptions/listen` streams, held and then ended (and after
    /// `malloc_trim`).
    Memory(memory::MemoryArgs),
    /// Serve one target on a loopback port until stdin closes.
    #[command(hide = true)]
    Serve {
        #[arg(long, value_enum)]
        target: Target,
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// The Redis of a target that keeps its state there (`redis://HOST:PORT`).
        #[arg(long, requires = "store_prefix")]
        store_url: Option<String>,
        /// The prefix of its keys in that Redis.
        #[arg(long, requires = "store_url")]
        store_prefix: Option<String>,
        /// Connections admitted in all and from one source (the open-file limit is raised
        /// for them); Outpost's defaults if absent.
        #[arg(long)]
        max_connections: Option<usize>,
    },
    /// Load one server and print the report as JSON.
    #[command(hide = true)]
    Load {
        #[arg(long, value_enum)]
        target: Target,
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long)]
        connections: usize,
        #[arg(long)]
        duration: u64,
        #[arg(long)]
        warmup: u64,
        /// Bearer token to send with every request.
        #[arg(long)]
        token: Option<String>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Internal::Serve {
            target,
            threads,
            store_url,
            store_prefix,
            max_connections,
        }) => {
            let redis = store_url
                .zip(store_prefix)
                .map(|(url, prefix)| redis::RedisStore { url, prefix });
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads.max(1))
                .enable_all()
                .build()?
                .block_on(targets::serve(target, redis, max_connections))
        }
        Some(Internal::Load {
            target,
            addr,
            connections,
            duration,
            warmup,
            token,
        }) => {
            let plan = load::LoadPlan {
                addr,
                target,
                connections: connections.max(1),
                warmup: Duration::from_secs(warmup),
                duration: Duration::from_secs(duration.max(1)),
                token,
            };
            let report = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(load::run(plan))?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
        Some(Internal::Soak(args)) => soak::run(&args).context("soak failed"),
        Some(Internal::Memory(args)) => {
            print!(
                "{}",
                memory::run(&args).context("memory benchmark aborted")?
            );
            Ok(())
        }
        Some(Internal::Instructions(args)) => {
            print!(
                "{}",
                instructions::run(&args).context("instruction count aborted")?
            );
            Ok(())
        }
        Some(Internal::Scale(args)) => {
            print!("{}", scale::run(&args).context("scale benchmark aborted")?);
            Ok(())
        }
        None => {
            let measurements = orchestrate::run(&cli.run).context("benchmark aborted")?;
            let conditions = conditions(&cli.run);
            print!("{}", report::table(&conditions, &measurements));
            Ok(())
        }
    }
}

/// The line above the table: enough to reproduce the run.
fn conditions(args: &RunArgs) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|name| name.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    format!(
        "tools/call echo, {} connections, {}s measured after {}s warm-up, {} round(s), server {} thread(s){}, {cpu}",
        args.load.connections,
        args.load.duration,
        args.load.warmup,
        args.rounds.max(1),
        args.server_threads,
        if args.pin {
            ", server on core 0 / load on core 1"
        } else {
            ", unpinned"
        },
    )
}
