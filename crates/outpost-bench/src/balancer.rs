//! A real load balancer in front of several server processes: Debian's `haproxy`, started as a
//! child on a free loopback port with a generated configuration (round robin per request, no
//! affinity, keep-alive to the clients and pooled connections to the servers), stopped when
//! dropped.

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::Context;

use crate::listening::{free_loopback_port, wait_until_listening};

/// Where Debian installs haproxy; `OUTPOST_BENCH_HAPROXY` overrides it.
const DEFAULT_HAPROXY: &str = "/usr/sbin/haproxy";

/// How long haproxy may take to accept connections.
const STARTUP_DEADLINE: Duration = Duration::from_secs(10);

/// A running haproxy in front of `backends`.
pub struct Haproxy {
    child: Child,
    config: PathBuf,
    /// Where clients connect.
    pub addr: SocketAddr,
}

impl Haproxy {
    /// Starts haproxy on a free loopback port, balancing round robin over `backends`
    /// (`host:port` each).
    pub fn start(backends: &[String]) -> anyhow::Result<Self> {
        let binary =
            std::env::var("OUTPOST_BENCH_HAPROXY").unwrap_or_else(|_| DEFAULT_HAPROXY.to_owned());
        let addr = free_loopback_port()?;
        let config = std::env::temp_dir().join(format!(
            "outpost-bench-haproxy-{}-{}.cfg",
            std::process::id(),
            addr.port()
        ));
        std::fs::write(&config, configuration(addr, backends))
            .with_context(|| format!("cannot write {}", config.display()))?;
        let child = Command::new(&binary)
            .arg("-f")
            .arg(&config)
            .arg("-db")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {binary} (Debian: apt-get install haproxy)"))?;
        let mut balancer = Self {
            child,
            config,
            addr,
        };
        wait_until_listening(&mut balancer.child, "haproxy", addr, STARTUP_DEADLINE)?;
        Ok(balancer)
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config);
    }
}

/// The configuration: HTTP mode, one thread (the machine's cores belong to the servers and the
/// load generator), per-request round robin, no health checks (the servers are up for the
/// whole measurement).
fn configuration(addr: SocketAddr, backends: &[String]) -> String {
    let servers: String = backends
        .iter()
        .enumerate()
        .map(|(i, backend)| format!("    server s{i} {backend}\n"))
        .collect();
    format!(
        "global\n    nbthread 1\n    maxconn 4096\n\
         defaults\n    mode http\n    option http-keep-alive\n    timeout connect 2s\n    \
         timeout client 30s\n    timeout server 30s\n\
         frontend mcp\n    bind {addr}\n    default_backend outpost\n\
         backend outpost\n    balance roundrobin\n    http-reuse always\n{servers}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_backend_is_a_server_of_one_round_robin_backend() {
        let config = configuration(
            "127.0.0.1:9000".parse().unwrap(),
            &["127.0.0.1:1".into(), "127.0.0.1:2".into()],
        );
        assert!(config.contains("bind 127.0.0.1:9000"), "{config}");
        assert!(config.contains("balance roundrobin"), "{config}");
        assert!(config.contains("server s0 127.0.0.1:1\n"), "{config}");
        assert!(config.contains("server s1 127.0.0.1:2\n"), "{config}");
        assert!(!config.contains("cookie"), "no affinity: {config}");
    }
}
