//! What the children that listen on a loopback port (haproxy, redis-server) need: a free port
//! to be given, and waiting until they accept connections on it.

use std::{
    net::{SocketAddr, TcpListener, TcpStream},
    process::Child,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

/// A loopback address with a port nobody listens on (bound, read, released).
pub fn free_loopback_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind a loopback port")?;
    Ok(listener.local_addr()?)
}

/// Waits until `child` (called `name` in errors) accepts connections on `addr`; fails if it
/// exits first or `deadline` passes.
pub fn wait_until_listening(
    child: &mut Child,
    name: &str,
    addr: SocketAddr,
    deadline: Duration,
) -> anyhow::Result<()> {
    let give_up = Instant::now() + deadline;
    while Instant::now() < give_up {
        if let Some(status) = child.try_wait()? {
            bail!("{name} exited at start ({status})");
        }
        if TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("{name} did not listen on {addr} within {deadline:?}")
}
