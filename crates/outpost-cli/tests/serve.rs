//! `outpost serve` as a process: refuses unsafe flags with a clear message, answers /health,
//! and exits promptly on SIGTERM even while a client holds a stream open.

use std::{
    io::{BufRead, BufReader},
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

const OUTPOST: &str = env!("CARGO_BIN_EXE_outpost");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn run_to_end(args: &[&str]) -> (i32, String) {
    let output = Command::new(OUTPOST)
        .args(args)
        .output()
        .expect("run outpost");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Polls `url` until it answers 200 or `deadline` passes.
fn wait_healthy(url: &str, child: &mut Child) {
    let client = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(response) = client.get(url).send()
            && response.status() == 200
        {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("outpost exited early with {status}");
        }
        assert!(Instant::now() < deadline, "{url} not healthy after 20s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn serve_without_auth_flag_explains_what_to_do() {
    let (code, stderr) = run_to_end(&["serve", "--bind", "127.0.0.1:0"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("--no-auth"), "{stderr}");
}

#[test]
fn no_auth_on_a_public_address_is_refused() {
    let (code, stderr) = run_to_end(&["serve", "--no-auth", "--bind", "0.0.0.0:0"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("non-loopback"), "{stderr}");
}

#[test]
fn health_answers_and_sigterm_drains_open_streams() {
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let mut child = Command::new(OUTPOST)
        .args(["serve", "--no-auth", "--bind", &bind])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start outpost");
    let base = format!("http://{bind}");
    wait_healthy(&format!("{base}/health"), &mut child);

    let health: serde_json::Value = reqwest::blocking::get(format!("{base}/health"))
        .and_then(|r| r.json())
        .expect("health JSON");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));

    // A legacy SSE stream stays open until the server ends it.
    let stream = reqwest::blocking::Client::new()
        .get(format!("{base}/sse"))
        .header("accept", "text/event-stream")
        .send()
        .expect("open /sse");
    assert_eq!(stream.status(), 200);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "outpost still running 10s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
    drop(stream);

    let stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let logs: Vec<String> = stderr.lines().map_while(Result::ok).collect();
    assert!(logs.iter().any(|l| l.contains("shutting down")), "{logs:?}");
}
