//! `--store redis://…` from the command line: the password from OUTPOST_STORE_PASSWORD or
//! --store-password-file (and never in an error), --store-prefix keeping deployments apart.

use std::{
    io::Write as _,
    net::{TcpListener, TcpStream},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

const OUTPOST: &str = env!("CARGO_BIN_EXE_outpost");
const PASSWORD: &str = "store-pass-7f3a";

/// A password-protected redis-server on a free port, killed on drop.
struct Redis {
    port: u16,
    child: Child,
}

impl Redis {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let child = Command::new("/usr/bin/redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--requirepass",
                PASSWORD,
            ])
            .arg("--dir")
            .arg(env!("CARGO_TARGET_TMPDIR"))
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { port, child }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn users(redis: &Redis, args: &[&str], env_password: Option<&str>, stdin: &str) -> Output {
    let mut command = Command::new(OUTPOST);
    command
        .arg("users")
        .args(args)
        .args(["--store", &format!("redis://127.0.0.1:{}", redis.port)])
        .env_remove("OUTPOST_STORE")
        .env_remove("OUTPOST_STORE_PASSWORD")
        .env_remove("OUTPOST_STORE_PREFIX")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(password) = env_password {
        command.env("OUTPOST_STORE_PASSWORD", password);
    }
    let mut child = command.spawn().expect("run outpost");
    let _ = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes());
    child.wait_with_output().expect("wait for outpost")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn users_live_in_redis_under_their_prefix() {
    let redis = Redis::start();
    let prefix = ["--store-prefix", "cli-a:"];
    let added = users(
        &redis,
        &["add", "alice", "--password-stdin", prefix[0], prefix[1]],
        Some(PASSWORD),
        "alice-password\n",
    );
    assert!(added.status.success(), "add: {}", text(&added.stderr));

    let file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("store-password-{}", std::process::id()));
    std::fs::write(&file, format!("{PASSWORD}\n")).expect("write the password file");
    let file_arg = file.display().to_string();
    let listed = users(
        &redis,
        &[
            "list",
            "--store-password-file",
            &file_arg,
            prefix[0],
            prefix[1],
        ],
        None,
        "",
    );
    let _ = std::fs::remove_file(&file);
    assert!(listed.status.success(), "list: {}", text(&listed.stderr));
    assert!(
        text(&listed.stdout).starts_with("alice\t"),
        "{}",
        text(&listed.stdout)
    );

    let elsewhere = users(
        &redis,
        &["list", "--store-prefix", "cli-b:"],
        Some(PASSWORD),
        "",
    );
    assert!(elsewhere.status.success(), "{}", text(&elsewhere.stderr));
    assert_eq!(
        text(&elsewhere.stdout),
        "",
        "another prefix is another store"
    );

    let wrong = users(&redis, &["list"], Some("wrong-pass-91c2"), "");
    assert!(!wrong.status.success());
    let stderr = text(&wrong.stderr);
    assert!(stderr.contains("redis://127.0.0.1"), "{stderr}");
    assert!(!stderr.contains("wrong-pass-91c2"), "{stderr}");
}
