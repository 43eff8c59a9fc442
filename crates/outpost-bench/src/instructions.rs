//! `instructions`: what each target costs in instructions per request, counted by callgrind.
//!
//! Requests per second on a shared cloud machine move by 10% or more from one run to the next,
//! more than most changes to the hot path. An instruction count repeats exactly: each target's
//! server runs under `valgrind --tool=callgrind` with counting off, a warm-up load runs,
//! counting is switched on (`callgrind_control -i on`), the measured load runs, and counting
//! is switched off and dumped. The figure is the server's instructions over the requests the
//! load generator completed meanwhile.
//!
//! What it does not see: the kernel (its TCP work is about half of a request's time, the same
//! for every target), cache misses and the cost of each instruction. Valgrind also hides the
//! CPU's SHA extensions, so a target that hashes its bearer token pays SHA-256 in software
//! here (~6k instructions) where it does not natively. Read it beside the req/s table, not
//! instead of it.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use clap::Args;

use crate::{
    LoadArgs,
    orchestrate::{self, ServerProcess},
    redis::RedisServer,
    targets::Target,
};

/// How long a server under valgrind may take to print its address.
const STARTUP_DEADLINE: Duration = Duration::from_secs(180);

/// How long a dump may take to appear once asked for.
const DUMP_DEADLINE: Duration = Duration::from_secs(60);

/// Debian's valgrind; `OUTPOST_BENCH_VALGRIND` overrides it.
const DEFAULT_VALGRIND: &str = "valgrind";

/// What `instructions` measures.
#[derive(Args)]
pub struct InstructionsArgs {
    /// Targets to count, in order (with `floor` among them, each is also given as a ratio).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_values_t = [Target::Floor, Target::Outpost, Target::OutpostAuth]
    )]
    targets: Vec<Target>,
    /// Counted seconds per target (under valgrind a server answers ~50 times slower).
    #[arg(long, default_value_t = 3)]
    duration: u64,
    /// Uncounted warm-up seconds per target.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 8)]
    connections: usize,
}

/// One target's count.
struct Count {
    target: Target,
    requests: u64,
    instructions: u64,
}

impl Count {
    /// Instructions per completed request.
    fn per_request(&self) -> f64 {
        self.instructions as f64 / self.requests.max(1) as f64
    }
}

/// Counts every target in turn and returns the table.
pub fn run(args: &InstructionsArgs) -> anyhow::Result<String> {
    let exe = std::env::current_exe().context("cannot locate the outpost-bench binary")?;
    let dir = std::env::temp_dir().join(format!("outpost-bench-callgrind-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let counts = count_all(&exe, &dir, args);
    // The dumps go, counted or not.
    let _ = std::fs::remove_dir_all(&dir);
    Ok(table(args, &counts?))
}

/// Counts every target in turn, its dumps in `dir`.
fn count_all(exe: &Path, dir: &Path, args: &InstructionsArgs) -> anyhow::Result<Vec<Count>> {
    let redis = RedisServer::for_targets(&args.targets)?;
    let mut counts = Vec::new();
    for &target in &args.targets {
        eprintln!("counting {} …", target.name());
        let store = redis.as_ref().filter(|_| target.uses_redis());
        counts.push(
            count_one(exe, dir, target, store, args)
                .with_context(|| format!("counting {}", target.name()))?,
        );
    }
    Ok(counts)
}

/// Counts `target` (on a fresh store in `redis`, for a target that uses Redis).
fn count_one(
    exe: &Path,
    dir: &Path,
    target: Target,
    redis: Option<&RedisServer>,
    args: &InstructionsArgs,
) -> anyhow::Result<Count> {
    let out = dir.join(format!("{}.callgrind", target.name()));
    let valgrind =
        std::env::var("OUTPOST_BENCH_VALGRIND").unwrap_or_else(|_| DEFAULT_VALGRIND.to_owned());
    let mut command = Command::new(&valgrind);
    command
        .args(["--tool=callgrind", "--instr-atstart=no"])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(exe);
    let store = redis.map(RedisServer::fresh_store);
    let server =
        ServerProcess::start_as(command, STARTUP_DEADLINE, target, 1, store.as_ref(), None)
            .with_context(|| format!("is valgrind installed ({valgrind})?"))?;
    let load = |duration: u64| {
        let plan = LoadArgs {
            duration,
            warmup: 0,
            connections: args.connections,
        };
        orchestrate::load(
            exe,
            None,
            target,
            &server.addr,
            server.token.as_deref(),
            &plan,
        )
    };
    load(args.warmup.max(1))?;
    control(server.pid(), &["-i", "on"])?;
    let report = load(args.duration.max(1))?;
    control(server.pid(), &["-i", "off"])?;
    control(server.pid(), &["-d"])?;
    let instructions = dumped_total(&first_dump(&out))?;
    drop(server);
    if report.errors > 0 {
        bail!("{} requests failed", report.errors);
    }
    Ok(Count {
        target,
        requests: report.requests,
        instructions,
    })
}

/// Runs `callgrind_control ARGS PID`.
fn control(pid: u32, args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new("callgrind_control")
        .args(args)
        .arg(pid.to_string())
        .output()
        .context("cannot run callgrind_control (valgrind's package has it)")?;
    if !output.status.success() {
        bail!(
            "callgrind_control {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// Where callgrind writes the first dump asked of a run writing to `out`.
fn first_dump(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

/// The instruction total of the dump at `path`, once it is complete.
fn dumped_total(path: &Path) -> anyhow::Result<u64> {
    let deadline = Instant::now() + DUMP_DEADLINE;
    loop {
        if let Some(total) = std::fs::read_to_string(path)
            .ok()
            .as_deref()
            .and_then(total_of)
        {
            return Ok(total);
        }
        if Instant::now() > deadline {
            bail!(
                "no complete dump at {} within {DUMP_DEADLINE:?}",
                path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The `totals:` line of a callgrind dump: the count of its one event (`Ir`).
fn total_of(dump: &str) -> Option<u64> {
    dump.lines()
        .find_map(|line| line.strip_prefix("totals:"))
        .and_then(|total| total.split_whitespace().next())
        .and_then(|total| total.parse().ok())
}

/// The counts as a table, each also as the floor's count over the target's when the floor
/// was counted (comparable with the req/s table's `vs floor`).
fn table(args: &InstructionsArgs, counts: &[Count]) -> String {
    let floor = counts
        .iter()
        .find(|count| count.target == Target::Floor)
        .map(Count::per_request);
    let mut out = format!(
        "tools/call echo under callgrind, {} connections, {}s counted after {}s warm-up; user-space instructions only\n",
        args.connections, args.duration, args.warmup
    );
    out.push_str(&format!(
        "{:<30} {:>9} {:>20} {:>9}\n",
        "target", "requests", "instructions/request", "floor/it"
    ));
    for count in counts {
        let ratio = floor.map_or_else(
            || "-".to_owned(),
            |floor| format!("{:.2}×", floor / count.per_request()),
        );
        out.push_str(&format!(
            "{:<30} {:>9} {:>20.0} {:>9}\n",
            count.target.name(),
            count.requests,
            count.per_request(),
            ratio
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_is_read_from_a_dump() {
        let dump = "version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nsummary: 0\n\nfn=(1) main\n3 5\n\ntotals: 180237256\n";
        assert_eq!(total_of(dump), Some(180_237_256));
        assert_eq!(total_of("events: Ir\nsummary: 12\n"), None);
        assert_eq!(
            first_dump(Path::new("/tmp/x/floor.callgrind")),
            Path::new("/tmp/x/floor.callgrind.1")
        );
    }

    #[test]
    fn targets_are_given_as_ratios_to_the_floor() {
        let args = InstructionsArgs {
            targets: vec![Target::Floor, Target::OutpostAuth],
            duration: 3,
            warmup: 2,
            connections: 8,
        };
        let counts = [
            Count {
                target: Target::Floor,
                requests: 1000,
                instructions: 58_000_000,
            },
            Count {
                target: Target::OutpostAuth,
                requests: 500,
                instructions: 40_000_000,
            },
        ];
        let table = table(&args, &counts);
        assert!(table.contains("58000"), "{table}");
        assert!(table.contains("80000"), "{table}");
        assert!(table.contains("0.72×"), "{table}");
    }
}
