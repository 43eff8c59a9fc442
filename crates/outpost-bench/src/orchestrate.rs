//! Runs each target in its own server process and the load in another, pinned to separate
//! cores with `taskset` (util-linux) when it is available, so the server gets exactly one core
//! and the load generator never steals from it.
//!
//! Both child processes are this binary (hidden `serve` / `load` subcommands). The server's
//! stdin is a pipe held here: when this process ends, the server sees EOF and exits. A target
//! that keeps its state in Redis gets a fresh store (prefix) per measurement in one
//! redis-server started here for the whole run (unpinned: it is the target's store, not the
//! target).

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use anyhow::{Context, bail};

use crate::{
    LoadArgs, RunArgs,
    load::LoadReport,
    redis::{RedisServer, RedisStore},
    targets::Target,
};

/// How long a server may take to print its address.
const STARTUP_DEADLINE: Duration = Duration::from_secs(30);

/// Core the server runs on; the load generator gets the other one.
const SERVER_CORE: &str = "0";
const LOAD_CORE: &str = "1";

/// One target's result in one round.
pub struct Measurement {
    /// Which pass over the targets (from 0).
    pub round: usize,
    /// What was measured.
    pub target: Target,
    /// What the load generator saw.
    pub report: LoadReport,
}

/// Measures every requested target, in order, `args.rounds` times: interleaving the targets
/// spreads background noise over all of them instead of one.
pub fn run(args: &RunArgs) -> anyhow::Result<Vec<Measurement>> {
    let exe = std::env::current_exe().context("cannot locate the outpost-bench binary")?;
    let pinned = args.pin && taskset_available();
    if args.pin && !pinned {
        eprintln!("warning: `taskset` not found; server and load generator are not pinned");
    }
    let redis = args
        .targets
        .iter()
        .any(|target| target.uses_redis())
        .then(RedisServer::start)
        .transpose()?;
    let mut measurements = Vec::new();
    for round in 0..args.rounds.max(1) {
        for &target in &args.targets {
            eprintln!("round {}: measuring {} …", round + 1, target.name());
            let store = redis.as_ref().filter(|_| target.uses_redis());
            let report = measure(&exe, pinned, target, store, args)
                .with_context(|| format!("measuring {}", target.name()))?;
            measurements.push(Measurement {
                round,
                target,
                report,
            });
        }
    }
    Ok(measurements)
}

fn measure(
    exe: &Path,
    pinned: bool,
    target: Target,
    redis: Option<&RedisServer>,
    args: &RunArgs,
) -> anyhow::Result<LoadReport> {
    let store = redis.map(RedisServer::fresh_store);
    let server = ServerProcess::start(
        exe,
        pinned.then_some(SERVER_CORE),
        target,
        args.server_threads,
        store.as_ref(),
    )?;
    let report = load(
        exe,
        pinned.then_some(LOAD_CORE),
        target,
        &server.addr,
        server.token.as_deref(),
        &args.load,
    );
    drop(server);
    report
}

/// Runs the load generator against `addr` (on `core`, if given) and returns its report.
pub fn load(
    exe: &Path,
    core: Option<&str>,
    target: Target,
    addr: &str,
    token: Option<&str>,
    args: &LoadArgs,
) -> anyhow::Result<LoadReport> {
    let mut load = command(exe, core);
    load.args([
        "load",
        "--target",
        target.name(),
        "--addr",
        addr,
        "--connections",
        &args.connections.to_string(),
        "--duration",
        &args.duration.to_string(),
        "--warmup",
        &args.warmup.to_string(),
    ]);
    if let Some(token) = token {
        load.args(["--token", token]);
    }
    let output = load
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run the load generator")?;
    if !output.status.success() {
        bail!("the load generator failed ({})", output.status);
    }
    serde_json::from_slice(&output.stdout).context("the load generator printed no report")
}

/// A running `outpost-bench serve` child.
pub struct ServerProcess {
    child: Child,
    /// Where it listens (`host:port`).
    pub addr: String,
    /// The bearer token requests must carry, for a target that requires one.
    pub token: Option<String>,
}

impl ServerProcess {
    /// Starts a server for `target` with `threads` runtime workers (on `core`, if given; on
    /// `store`, for a target that uses Redis) and waits for its address.
    pub fn start(
        exe: &Path,
        core: Option<&str>,
        target: Target,
        threads: usize,
        store: Option<&RedisStore>,
    ) -> anyhow::Result<Self> {
        let mut command = command(exe, core);
        command.args([
            "serve",
            "--target",
            target.name(),
            "--threads",
            &threads.to_string(),
        ]);
        if let Some(store) = store {
            command.args(["--store-url", &store.url, "--store-prefix", &store.prefix]);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start the server process")?;
        let stdout = child.stdout.take().context("server stdout is not piped")?;
        let (lines, line) = mpsc::channel();
        std::thread::spawn(move || {
            let mut first = String::new();
            let _ = BufReader::new(stdout).read_line(&mut first);
            let _ = lines.send(first);
        });
        let mut server = Self {
            child,
            addr: String::new(),
            token: None,
        };
        let first = line.recv_timeout(STARTUP_DEADLINE).unwrap_or_default();
        let Some(announced) = first.trim().strip_prefix("LISTENING ") else {
            bail!("the server did not start (said {first:?})");
        };
        let mut words = announced.split(' ');
        server.addr = words.next().unwrap_or_default().to_owned();
        server.token = words.next().map(str::to_owned);
        Ok(server)
    }
}

impl Drop for ServerProcess {
    /// Ends the server: closes its stdin, then kills it if it is still there.
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `exe`, under `taskset -c <core>` when pinning.
fn command(exe: &Path, core: Option<&str>) -> Command {
    match core {
        Some(core) => {
            let mut command = Command::new("taskset");
            command.args(["-c", core]).arg(exe);
            command
        }
        None => Command::new(exe),
    }
}

fn taskset_available() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("taskset").is_file()))
}
