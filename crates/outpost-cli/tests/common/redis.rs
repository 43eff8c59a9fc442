//! A redis-server for the tests that put the store in Redis: Debian's `/usr/bin/redis-server`
//! on a free loopback port, without persistence, optionally password-protected, killed when
//! dropped; and its `INFO commandstats` counters, read over a plain socket so that the tests
//! see exactly what the server under test asked of Redis.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use super::free_port;

/// A running redis-server.
pub struct Redis {
    /// Its loopback port.
    pub port: u16,
    password: Option<String>,
    child: Child,
}

impl Redis {
    /// Starts redis-server (requiring `password`, if given) and waits until it accepts
    /// connections.
    pub fn start(password: Option<&str>) -> Self {
        let port = free_port();
        let mut command = Command::new("/usr/bin/redis-server");
        command
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(env!("CARGO_TARGET_TMPDIR"))
            .stdout(Stdio::null());
        if let Some(password) = password {
            command.args(["--requirepass", password]);
        }
        let child = command.spawn().expect("start redis-server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            port,
            password: password.map(str::to_owned),
            child,
        }
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Runs one command (as the tests' own client, not the server under test) and returns
    /// the first line of its answer (`:1` for a `DEL` that deleted one key).
    #[allow(
        dead_code,
        reason = "not every test binary that shares `common` runs commands"
    )]
    pub fn run(&self, args: &[&str]) -> String {
        let (mut writer, mut reader) = self.connect();
        command(&mut writer, &mut reader, args)
    }

    /// A connection of the tests' own, authenticated when the server wants a password.
    fn connect(&self) -> (TcpStream, BufReader<TcpStream>) {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to redis");
        let mut reader = BufReader::new(stream.try_clone().expect("clone the socket"));
        let mut writer = stream;
        if let Some(password) = &self.password {
            let reply = command(&mut writer, &mut reader, &["AUTH", password]);
            assert_eq!(reply, "+OK", "AUTH");
        }
        (writer, reader)
    }

    /// How many times each command has run since start (`INFO commandstats`: `cmdstat_NAME`
    /// → `calls`), including commands run by scripts and the `info` calls of this method.
    pub fn command_calls(&self) -> HashMap<String, u64> {
        let (mut writer, mut reader) = self.connect();
        let reply = command(&mut writer, &mut reader, &["INFO", "commandstats"]);
        let length: usize = reply
            .strip_prefix('$')
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("INFO answered {reply}"));
        let mut text = vec![0; length + 2];
        reader.read_exact(&mut text).expect("read INFO");
        String::from_utf8_lossy(&text)
            .lines()
            .filter_map(|line| {
                let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
                let calls = stats.strip_prefix("calls=")?.split(',').next()?;
                Some((name.to_owned(), calls.parse().ok()?))
            })
            .collect()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends one command in RESP and returns the first line of the answer.
fn command(writer: &mut TcpStream, reader: &mut BufReader<TcpStream>, args: &[&str]) -> String {
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    writer.write_all(request.as_bytes()).expect("send to redis");
    let mut line = String::new();
    reader.read_line(&mut line).expect("read from redis");
    line.trim_end().to_owned()
}
