//! `outpost-bench scale`: one target served three ways — one instance directly, one instance
//! behind haproxy, `--instances` instances behind haproxy — each a fresh set of processes,
//! measured by the same load generator. The first two give what the balancer costs; the last
//! two what more instances give on this machine.
//!
//! Nothing is pinned: the instances, haproxy and the load generator share every core, which
//! is what limits a many-instance figure on a small machine (the table's last column says
//! how each setup compares with one instance behind the balancer). A target on Redis gets one
//! redis-server for the three setups, and each setup a fresh prefix that all its instances
//! share; the load carries the token the first instance minted.

use std::fmt::Write as _;

use anyhow::{Context, bail};

use crate::{
    LoadArgs,
    balancer::Haproxy,
    load::LoadReport,
    orchestrate::{ServerProcess, load},
    redis::RedisServer,
    targets::Target,
};

/// What `scale` measures.
#[derive(clap::Args, Clone)]
pub struct ScaleArgs {
    /// The target every instance serves (one whose answers do not depend on which instance
    /// gets a request: a token minted by one in-memory instance is unknown to the others, one
    /// minted on Redis is known to all).
    #[arg(long, value_enum, default_value_t = Target::Outpost)]
    target: Target,
    /// Instances behind the balancer in the last setup.
    #[arg(long, default_value_t = 3)]
    instances: usize,
    /// Tokio worker threads per instance.
    #[arg(long, default_value_t = 1)]
    server_threads: usize,
    #[command(flatten)]
    load: LoadArgs,
}

/// One setup's result.
struct Setup {
    name: String,
    report: LoadReport,
}

/// Runs the three setups and renders their table.
pub fn run(args: &ScaleArgs) -> anyhow::Result<String> {
    if !args.target.is_instance_independent() {
        bail!(
            "{} cannot be spread over instances (each would know only its own tokens or \
             sessions); use floor, rmcp, outpost, outpost-auth-redis or \
             outpost-parked-session-redis",
            args.target.name()
        );
    }
    let exe = std::env::current_exe().context("cannot locate the outpost-bench binary")?;
    let instances = args.instances.max(1);
    let redis = args
        .target
        .uses_redis()
        .then(RedisServer::start)
        .transpose()?;
    let mut setups = Vec::new();
    for (name, count, balanced) in [
        ("1 instance, direct".to_owned(), 1, false),
        ("1 instance, haproxy".to_owned(), 1, true),
        (format!("{instances} instances, haproxy"), instances, true),
    ] {
        eprintln!("measuring {} on {name} …", args.target.name());
        let report =
            measure(&exe, args, redis.as_ref(), count, balanced).with_context(|| name.clone())?;
        setups.push(Setup { name, report });
    }
    Ok(table(args, &setups))
}

fn measure(
    exe: &std::path::Path,
    args: &ScaleArgs,
    redis: Option<&RedisServer>,
    instances: usize,
    balanced: bool,
) -> anyhow::Result<LoadReport> {
    let store = redis.map(RedisServer::fresh_store);
    let servers = (0..instances)
        .map(|_| {
            ServerProcess::start(
                exe,
                None,
                args.target,
                args.server_threads,
                store.as_ref(),
                None,
            )
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let addrs: Vec<String> = servers.iter().map(|s| s.addr.clone()).collect();
    let balancer = balanced.then(|| Haproxy::start(&addrs)).transpose()?;
    let addr = match &balancer {
        Some(balancer) => balancer.addr.to_string(),
        None => addrs[0].clone(),
    };
    let token = servers[0].token.as_deref();
    load(exe, None, args.target, &addr, token, &args.load)
}

fn table(args: &ScaleArgs, setups: &[Setup]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "tools/call echo on {}, {} connections, {}s measured after {}s warm-up, {} thread(s) per \
         instance, unpinned, {} cores",
        args.target.name(),
        args.load.connections,
        args.load.duration,
        args.load.warmup,
        args.server_threads,
        std::thread::available_parallelism().map_or(0, usize::from),
    );
    let _ = writeln!(
        out,
        "{:<24} {:>10} {:>9} {:>9} {:>16} {:>7}",
        "setup", "req/s", "p50 ms", "p99 ms", "vs 1 + haproxy", "errors"
    );
    let reference = setups
        .get(1)
        .map(|s| s.report.requests_per_second())
        .filter(|rps| *rps > 0.0);
    for setup in setups {
        let rps = setup.report.requests_per_second();
        let ratio = reference.map_or("-".to_owned(), |base| format!("{:.2}×", rps / base));
        let _ = writeln!(
            out,
            "{:<24} {rps:>10.0} {:>9.3} {:>9.3} {ratio:>16} {:>7}",
            setup.name,
            f64::from(setup.report.p50_us) / 1000.0,
            f64::from(setup.report.p99_us) / 1000.0,
            setup.report.errors,
        );
    }
    out
}
