//! A `redis-server` for one test (or one test binary): started on a free loopback port in a
//! temporary directory, ready once it answers `PING`, stopped when dropped.
//!
//! The server runs under a small shell that stops it when the test process closes the
//! shell's stdin, so a server survives neither its handle nor a test binary that exits
//! without dropping it (a shared `static` server).

#![allow(dead_code)]

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// Runs redis-server with the given arguments, stops it when stdin closes, then removes the
/// directory it worked in ($1) unless a restart is under way (the `restarting` marker).
const SUPERVISOR: &str = r#"dir="$1"; shift; "$0" "$@" & pid=$!; cat >/dev/null; kill "$pid"; wait "$pid"; [ -e "$dir/restarting" ] || rm -rf "$dir""#;

/// One redis-server.
pub struct RedisServer {
    pub port: u16,
    dir: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

impl RedisServer {
    /// A server without persistence, with `extra` arguments.
    pub fn start(extra: &[&str]) -> Self {
        Self::start_with(&["--save", "", "--appendonly", "no"], extra)
    }

    /// A server with an append-only file, so data survives [`pause`](Self::pause).
    pub fn start_persistent() -> Self {
        Self::start_with(&["--save", "", "--appendonly", "yes"], &[])
    }

    fn start_with(persistence: &[&str], extra: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(format!("outpost-redis-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let port = free_port();
        let mut args: Vec<String> = ["--bind", "127.0.0.1", "--dir"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.push(dir.display().to_string());
        args.extend(persistence.iter().map(|s| s.to_string()));
        if !extra.contains(&"--tls-port") {
            args.extend(["--port".to_string(), port.to_string()]);
        }
        args.extend(extra.iter().map(|s| s.replace("{port}", &port.to_string())));
        let mut server = Self {
            port,
            dir,
            args,
            child: None,
        };
        server.launch();
        server
    }

    /// The directory the server works in.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops the server (it writes its AOF as it goes) and waits until it has exited.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }

    /// Stops the server, keeping its directory (and data) for [`resume`](Self::resume).
    pub fn pause(&mut self) {
        std::fs::write(self.dir.join("restarting"), b"").expect("marker");
        self.stop();
    }

    /// Starts the server again on the same port and directory.
    pub fn resume(&mut self) {
        let _ = std::fs::remove_file(self.dir.join("restarting"));
        self.launch();
    }

    fn launch(&mut self) {
        let child = Command::new("sh")
            .arg("-c")
            .arg(SUPERVISOR)
            .arg(REDIS_SERVER)
            .arg(&self.dir)
            .args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        if !self.args.iter().any(|a| a == "--tls-port") {
            wait_for_ping(self.port);
        } else {
            wait_for_listen(self.port);
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn wait_for_ping(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            // `+PONG`, or `-NOAUTH` from a server that wants a password: either way it is up.
            let mut reply = [0u8; 1];
            if stream.write_all(b"PING\r\n").is_ok()
                && stream.read_exact(&mut reply).is_ok()
                && matches!(&reply, b"+" | b"-")
            {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("redis-server on port {port} did not answer PING");
}

fn wait_for_listen(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("redis-server did not listen on port {port}");
}
