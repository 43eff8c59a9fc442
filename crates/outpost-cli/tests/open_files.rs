//! `outpost serve` raises its open-file soft limit towards what `--max-connections` needs,
//! as far as the hard limit allows: started with a soft limit of 1024, the running server's
//! limit covers `--max-connections` (or reaches the hard limit, and the log says why not).

mod common;

use std::process::{Command, Stdio};

use common::{OUTPOST, Server, free_port, wait_healthy};

/// The soft and hard open-file limits of process `pid`, from `/proc/PID/limits`.
fn open_file_limits(pid: u32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("read limits");
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .expect("a Max open files line");
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect();
    (numbers[0], numbers[1])
}

#[test]
fn serve_raises_the_soft_open_file_limit_for_its_connections() {
    let bind = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new("sh")
        .args(["-c", "ulimit -Sn 1024 && exec \"$0\" \"$@\"", OUTPOST])
        .args([
            "serve",
            "--no-auth",
            "--bind",
            &bind,
            "--max-connections",
            "4000",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start outpost");
    let base = format!("http://{bind}");
    wait_healthy(&format!("{base}/health"), &mut child);
    let server = Server { child, base };

    let (soft, hard) = open_file_limits(server.child.id());
    if hard >= 4000 + 256 {
        assert!(soft >= 4000 + 256, "soft limit {soft} (hard {hard})");
    } else {
        assert_eq!(soft, hard, "raised as far as the hard limit allows");
    }
}
