//! Runs each target in its own server process and the load in another, pinned to separate
//! cores with `taskset` (util-linux) when it is available, so the server gets exactly one core
//! and the load generator never steals from it.
//!
//! Both child processes are this binary (hidden `serve` / `load` subcommands). The server's
//! stdin is a pipe held here: when this process ends, the server sees EOF and exits; a line
//! `trim` on it asks the server to return its free heap to the OS ([`ServerProcess::trim_heap`]). A target
//! that keeps its state in Redis gets a fresh store (prefix) per measurement in one
//! redis-server started here for the whole run (unpinned: it is the target's store, not the
//! target).

use std::{
    io::{BufRead, BufReader, Write},
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
    targets::{TRIM_COMMAND, TRIMMED, Target},
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
    let redis = RedisServer::for_targets(&args.targets)?;
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
        None,
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

/// How long a server may take to return freed memory when asked ([`ServerProcess::trim_heap`]).
const TRIM_DEADLINE: Duration = Duration::from_secs(30);

/// A running `outpost-bench serve` child.
pub struct ServerProcess {
    child: Child,
    /// The lines it prints after `LISTENING`.
    lines: mpsc::Receiver<String>,
    /// Where it listens (`host:port`).
    pub addr: String,
    /// The bearer token requests must carry, for a target that requires one.
    pub token: Option<String>,
}

impl ServerProcess {
    /// Starts a server for `target` with `threads` runtime workers (on `core`, if given; on
    /// `store`, for a target that uses Redis; admitting `max_connections` connections in all
    /// and from one source, with its open-file limit raised for them, if given) and waits for
    /// its address.
    pub fn start(
        exe: &Path,
        core: Option<&str>,
        target: Target,
        threads: usize,
        store: Option<&RedisStore>,
        max_connections: Option<usize>,
    ) -> anyhow::Result<Self> {
        Self::start_as(
            command(exe, core),
            STARTUP_DEADLINE,
            target,
            threads,
            store,
            max_connections,
        )
    }

    /// The same, run as `command` (this binary, or a tool that runs it) with the server's
    /// arguments added, given `deadline` to print its address.
    pub fn start_as(
        mut command: Command,
        deadline: Duration,
        target: Target,
        threads: usize,
        store: Option<&RedisStore>,
        max_connections: Option<usize>,
    ) -> anyhow::Result<Self> {
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
        if let Some(max_connections) = max_connections {
            command.args(["--max-connections", &max_connections.to_string()]);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start the server process")?;
        let stdout = child.stdout.take().context("server stdout is not piped")?;
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Self {
            child,
            lines,
            addr: String::new(),
            token: None,
        };
        let first = server.lines.recv_timeout(deadline).unwrap_or_default();
        let Some(announced) = first.trim().strip_prefix("LISTENING ") else {
            bail!("the server did not start (said {first:?})");
        };
        let mut words = announced.split(' ');
        server.addr = words.next().unwrap_or_default().to_owned();
        server.token = words.next().map(str::to_owned);
        Ok(server)
    }

    /// Its process id (`taskset` execs the server, so the id is the server's).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Asks the server to return the free memory of its heap to the OS (glibc's
    /// `malloc_trim(0)`) and waits until it has.
    pub fn trim_heap(&mut self) -> anyhow::Result<()> {
        let stdin = self
            .child
            .stdin
            .as_mut()
            .context("server stdin is closed")?;
        writeln!(stdin, "{TRIM_COMMAND}").context("cannot write to the server")?;
        stdin.flush()?;
        match self.lines.recv_timeout(TRIM_DEADLINE) {
            Ok(line) if line == TRIMMED => Ok(()),
            Ok(line) => bail!("the server answered {line:?} to {TRIM_COMMAND:?}"),
            Err(_) => bail!("the server did not trim its heap within {TRIM_DEADLINE:?}"),
        }
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

/// Whether `taskset` (util-linux) is on the `PATH`.
pub fn taskset_available() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("taskset").is_file()))
}
