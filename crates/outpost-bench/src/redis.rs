//! The Redis that `outpost-auth-redis` keeps its state in: Debian's `redis-server`, started
//! as a child on a free loopback port without persistence (`--save "" --appendonly no`) and
//! killed when dropped. The orchestrator owns it, so it outlives the server processes that use
//! it; each measurement gets a key prefix of its own ([`RedisServer::fresh_store`]), so it
//! starts from an empty store while the instances of one measurement share theirs.

use std::{
    cell::Cell,
    net::SocketAddr,
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::Context;

use crate::{
    listening::{free_loopback_port, wait_until_listening},
    targets::Target,
};

/// Where Debian installs redis-server; `OUTPOST_BENCH_REDIS_SERVER` overrides it.
const DEFAULT_REDIS_SERVER: &str = "/usr/bin/redis-server";

/// How long redis-server may take to accept connections.
const STARTUP_DEADLINE: Duration = Duration::from_secs(10);

/// A running redis-server.
pub struct RedisServer {
    child: Child,
    addr: SocketAddr,
    /// Prefixes handed out so far.
    stores: Cell<usize>,
}

/// One store in that Redis: what a server process is told on its command line.
#[derive(Debug, Clone)]
pub struct RedisStore {
    /// `redis://127.0.0.1:PORT`.
    pub url: String,
    /// The prefix of every key of this store.
    pub prefix: String,
}

impl RedisServer {
    /// One redis-server for a run of `targets`, when any of them [uses
    /// Redis](Target::uses_redis).
    pub fn for_targets(targets: &[Target]) -> anyhow::Result<Option<Self>> {
        targets
            .iter()
            .any(|target| target.uses_redis())
            .then(Self::start)
            .transpose()
    }

    /// Starts redis-server on a free loopback port and waits until it accepts connections.
    pub fn start() -> anyhow::Result<Self> {
        let binary = std::env::var("OUTPOST_BENCH_REDIS_SERVER")
            .unwrap_or_else(|_| DEFAULT_REDIS_SERVER.to_owned());
        let addr = free_loopback_port()?;
        let child = Command::new(&binary)
            .args(["--bind", "127.0.0.1", "--port", &addr.port().to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| {
                format!("cannot start {binary} (Debian: apt-get install redis-server)")
            })?;
        let mut server = Self {
            child,
            addr,
            stores: Cell::new(0),
        };
        wait_until_listening(&mut server.child, "redis-server", addr, STARTUP_DEADLINE)?;
        Ok(server)
    }

    /// A store nobody has used yet: a prefix unique to this process and call.
    pub fn fresh_store(&self) -> RedisStore {
        let n = self.stores.get();
        self.stores.set(n + 1);
        RedisStore {
            url: format!("redis://{}", self.addr),
            prefix: format!("outpost-bench:{}:{n}:", std::process::id()),
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
