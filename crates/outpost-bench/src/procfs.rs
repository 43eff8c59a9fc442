//! What the benchmarks read about a child process from `/proc`: its resident memory and its
//! open-file limit.

use anyhow::Context;

/// The resident set size (`VmRSS` in `/proc/PID/status`) of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/PID/status")
}

/// The soft open-file limit (`Max open files` in `/proc/PID/limits`) of process `pid`;
/// `None` when unreadable or unlimited.
pub fn open_files_soft_limit(pid: u32) -> Option<u64> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))
        .and_then(|values| values.split_whitespace().next())
        .and_then(|soft| soft.parse().ok())
}
