//! `outpost-bench soak`: one `outpost serve --demo` on a SQLite store under mixed traffic for
//! a long time (30 minutes by default), its resident memory sampled, to show that nothing
//! leaks and nothing fails when a server runs for a while.
//!
//! [`server`] starts the process and reads its memory, [`oauth`] plays users and apps through
//! the authorization server, [`traffic`] runs the mix, [`curve`] prints the samples and judges
//! whether memory stayed flat after the warm-up. The run fails (non-zero exit) on any
//! unexpected answer or when memory is not flat.
//!
//! The load is bounded in count and time and goes to loopback only. The logins stay within
//! every authorization-server budget: they use the right password (failed-login budgets never
//! fill), one registration in all (20 per source per 10 min), and one pending request per
//! login, at most 100 per source per 10 minutes (with the default 15 s between logins: 40).

mod curve;
mod oauth;
mod server;
mod traffic;

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::{Context, bail};
use clap::Args;
use tokio::time::Instant;

use self::{
    curve::Sample,
    server::ServerProcess,
    traffic::{Counters, Mix},
};

/// How long, how much, and how memory is judged.
#[derive(Args, Clone, Debug)]
pub struct SoakArgs {
    /// Seconds of traffic.
    #[arg(long, default_value_t = 1800)]
    duration: u64,
    /// Seconds after which memory must stop growing (at most a third of the duration).
    #[arg(long, default_value_t = 300)]
    warmup: u64,
    /// Seconds between memory samples.
    #[arg(long, default_value_t = 10)]
    sample_every: u64,
    /// How much the last third's peak may exceed the first sample after the warm-up, percent.
    #[arg(long, default_value_t = 10.0)]
    tolerance: f64,
    /// Concurrent stateless callers.
    #[arg(long, default_value_t = 4)]
    stateless_callers: usize,
    /// Milliseconds each stateless caller pauses between calls.
    #[arg(long, default_value_t = 1)]
    call_pause_ms: u64,
    /// Concurrent session users (each session: open, 5 calls, DELETE).
    #[arg(long, default_value_t = 2)]
    session_users: usize,
    /// Seconds between logins through the login form.
    #[arg(long, default_value_t = 15)]
    login_every: u64,
    /// Seconds between refresh-token rotations.
    #[arg(long, default_value_t = 5)]
    refresh_every: u64,
    /// The `outpost` binary (default: next to this one, as `cargo build --release -p
    /// outpost-cli -p outpost-bench` leaves it).
    #[arg(long)]
    outpost: Option<PathBuf>,
    /// Also write the curve as CSV to this file.
    #[arg(long)]
    csv: Option<PathBuf>,
}

/// Runs the soak, printing the curve as it goes and the verdict at the end.
pub fn run(args: &SoakArgs) -> anyhow::Result<()> {
    let binary = match &args.outpost {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("outpost"),
    };
    let warmup = args.warmup.min(args.duration / 3);
    let mut server = ServerProcess::start(&binary)?;
    println!(
        "soak: outpost serve --demo (SQLite) on {}, {} s of traffic, warm-up {warmup} s, \
         a sample every {} s",
        server.addr(),
        args.duration,
        args.sample_every
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(soak(args, &mut server));
    let samples = match outcome {
        Ok(samples) => samples,
        Err(error) => {
            print_log_tail(&server);
            return Err(error);
        }
    };
    if let Some(path) = &args.csv {
        std::fs::write(path, curve::csv(&samples))
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("soak: curve written to {}", path.display());
    }
    let verdict =
        curve::flatness(&samples, warmup, args.tolerance).context("no sample after the warm-up")?;
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "soak: RSS {:.1} MiB at {} s (after the warm-up), last third's peak {:.1} MiB at {} s: \
         {:+.1}% ({} within {}%)",
        mib(verdict.baseline.1),
        verdict.baseline.0,
        mib(verdict.last_third_max.1),
        verdict.last_third_max.0,
        verdict.growth_percent,
        if verdict.flat {
            "flat:"
        } else {
            "NOT flat: not"
        },
        args.tolerance
    );
    let errors = samples.last().map_or(0, Sample::total_errors);
    if errors > 0 {
        print_log_tail(&server);
        bail!("{errors} unexpected answers (listed above)");
    }
    if !verdict.flat {
        bail!("the server's memory grew after the warm-up");
    }
    println!("soak: no unexpected answer; memory flat after the warm-up");
    Ok(())
}

/// The traffic and the sampling, until the duration is over; the samples.
async fn soak(args: &SoakArgs, server: &mut ServerProcess) -> anyhow::Result<Vec<Sample>> {
    let base = format!("http://{}", server.addr());
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()?;
    let mix = Mix {
        stateless_callers: args.stateless_callers,
        session_users: args.session_users,
        call_pause: Duration::from_millis(args.call_pause_ms),
        login_every: Duration::from_secs(args.login_every.max(1)),
        refresh_every: Duration::from_secs(args.refresh_every.max(1)),
    };
    let counters = Arc::new(Counters::default());
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.duration);
    let traffic = tokio::spawn({
        let counters = counters.clone();
        async move { traffic::run(http, &base, &mix, counters, deadline).await }
    });

    println!("{}", curve::table_header());
    let mut samples = Vec::new();
    let every = Duration::from_secs(args.sample_every.max(1));
    let mut next = start;
    loop {
        let sample = Sample::take(start.elapsed().as_secs(), server.rss_kib()?, &counters);
        println!("{}", curve::table_row(&sample));
        samples.push(sample);
        next += every;
        if next > deadline {
            break;
        }
        tokio::time::sleep_until(next).await;
    }
    traffic.await.context("the traffic panicked")??;
    let last = Sample::take(start.elapsed().as_secs(), server.rss_kib()?, &counters);
    println!("{}", curve::table_row(&last));
    samples.push(last);
    for (kind, message, count) in counters.error_list() {
        println!("soak: {count} × {} error: {message}", kind.name());
    }
    Ok(samples)
}

/// The end of the server's log, when something went wrong.
fn print_log_tail(server: &ServerProcess) {
    if let Ok(log) = std::fs::read_to_string(server.log()) {
        let lines: Vec<&str> = log.lines().collect();
        eprintln!("soak: the server's last log lines:");
        for line in &lines[lines.len().saturating_sub(20)..] {
            eprintln!("  {line}");
        }
    }
}
