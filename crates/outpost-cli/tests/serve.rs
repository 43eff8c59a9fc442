//! `outpost serve` as a process: starts with its authorization server by default (over a SQLite
//! store that keeps the signing key across restarts), refuses unsafe flags with a clear
//! message, answers /health, and exits promptly on SIGTERM even while a client holds a stream
//! open, after the calls in flight have their answers (new connections are refused at once).
//! `--trusted-proxy` makes the forwarded client the throttled source. `outpost keys rotate`
//! publishes the key that signs two minutes later; `keys list` shows
//! it. A 2025-11-25 session outlives a SIGTERM restart on the same store, still bound to its
//! owner.

mod common;

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use common::{
    OUTPOST, TempDir, free_port, jsonrpc_answer, spawn_on, start, start_on, token, wait_healthy,
};

use serde_json::{Value, json};

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

fn get_json(url: &str) -> serde_json::Value {
    let response = reqwest::blocking::get(url).expect("GET");
    assert_eq!(response.status(), 200, "{url}");
    response.json().expect("JSON")
}

/// The key ids `/jwks.json` publishes.
fn kids(base: &str) -> Vec<String> {
    get_json(&format!("{base}/jwks.json"))["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|key| key["kid"].as_str().expect("kid").to_owned())
        .collect()
}

#[test]
fn serve_starts_with_auth_by_default() {
    let dir = TempDir::new("serve-default-auth");
    let store = dir.store();
    let server = start(&["--store", &store]);
    let base = &server.base;

    let unauthenticated = reqwest::blocking::Client::new()
        .post(format!("{base}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .expect("POST /mcp");
    assert_eq!(unauthenticated.status(), 401);
    let challenge = unauthenticated
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(challenge.contains("resource_metadata="), "{challenge}");

    let metadata = get_json(&format!("{base}/.well-known/oauth-authorization-server"));
    assert_eq!(metadata["issuer"], base.as_str());
    let resource = get_json(&format!("{base}/.well-known/oauth-protected-resource/mcp"));
    assert_eq!(resource["resource"], format!("{base}/mcp"));
    assert_eq!(resource["authorization_servers"][0], base.as_str());
}

#[test]
fn restart_keeps_the_signing_key_and_rotation_changes_it() {
    let dir = TempDir::new("serve-restart-rotate");
    let store = dir.store();
    let first = kids(&start(&["--store", &store]).base);
    assert_eq!(first.len(), 1, "{first:?}");
    let again = kids(&start(&["--store", &store]).base);
    assert_eq!(again, first, "a restart on the same store keeps the key");

    let rotated = Command::new(OUTPOST)
        .args(["keys", "rotate", "--store", &store])
        .output()
        .expect("run outpost keys rotate");
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let new_kid = String::from_utf8_lossy(&rotated.stdout).trim().to_owned();
    assert!(!new_kid.is_empty());
    assert_ne!(new_kid, first[0]);

    let after = kids(&start(&["--store", &store]).base);
    assert!(after.contains(&new_kid), "{after:?} lacks {new_kid}");
    // The retired key keeps verifying the tokens it signed until they expire.
    assert!(after.contains(&first[0]), "{after:?}");

    let listed = Command::new(OUTPOST)
        .args(["keys", "list", "--store", &store])
        .output()
        .expect("run outpost keys list");
    assert!(listed.status.success());
    let listing = String::from_utf8_lossy(&listed.stdout);
    let state = |kid: &str| {
        listing
            .lines()
            .find(|line| line.starts_with(kid))
            .and_then(|line| line.split('\t').nth(1))
            .map(str::to_owned)
    };
    // Published at once, signing after its lead; until then the old key signs, and retires
    // when the lead is over.
    assert_eq!(state(&new_kid).as_deref(), Some("published"), "{listing}");
    assert_eq!(state(&first[0]).as_deref(), Some("signing"), "{listing}");
    let old_line = listing.lines().find(|line| line.starts_with(&first[0]));
    assert!(
        old_line.is_some_and(|line| line.contains("\tretires 20")),
        "{listing}"
    );
}

#[test]
fn demo_on_a_public_address_needs_the_explicit_flag() {
    let dir = TempDir::new("serve-demo-public");
    let store = dir.store();
    let (code, stderr) = run_to_end(&["serve", "--demo", "--store", &store, "--bind", "0.0.0.0:0"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("--demo-on-public-bind"), "{stderr}");
}

#[test]
fn demo_creates_the_demo_users() {
    let dir = TempDir::new("serve-demo-users");
    let store = dir.store();
    // An alice from before per-user scopes: the demo gives her mcp:admin, keeping her password.
    let mut add = Command::new(OUTPOST)
        .args([
            "users",
            "add",
            "alice",
            "--password-stdin",
            "--store",
            &store,
        ])
        .stdin(Stdio::piped())
        .spawn()
        .expect("run outpost users add");
    std::io::Write::write_all(
        &mut add.stdin.take().expect("stdin"),
        b"alice kept her own\n",
    )
    .expect("write the password");
    assert!(add.wait().expect("users add").success());
    drop(start(&["--demo", "--store", &store]));
    let output = Command::new(OUTPOST)
        .args(["users", "list", "--store", &store])
        .output()
        .expect("run outpost users list");
    assert!(output.status.success());
    let listing = String::from_utf8_lossy(&output.stdout);
    let scopes_of = |name: &str| {
        let line = listing
            .lines()
            .find(|l| l.starts_with(&format!("{name}\t")));
        line.and_then(|l| l.split('\t').nth(2)).map(str::to_owned)
    };
    assert_eq!(
        scopes_of("alice").as_deref(),
        Some("mcp:admin"),
        "{listing}"
    );
    assert_eq!(scopes_of("bob").as_deref(), Some("-"), "{listing}");
}

#[test]
fn a_bad_trusted_proxy_range_is_refused_with_its_flag() {
    let (code, stderr) = run_to_end(&["serve", "--trusted-proxy", "10.0.0.0/33"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("--trusted-proxy"), "{stderr}");
    assert!(stderr.contains("not an IP range"), "{stderr}");
}

#[test]
fn a_bad_logo_or_template_directory_is_refused_naming_the_file() {
    let dir = TempDir::new("bad-pages");
    let store = dir.store();
    let logo = dir.0.join("logo.txt");
    std::fs::write(&logo, "not an image").unwrap();
    let logo = logo.to_str().unwrap();
    let (code, stderr) = run_to_end(&["serve", "--store", &store, "--brand-logo", logo]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("refusing the logo") && stderr.contains("logo.txt"),
        "{stderr}"
    );
    assert!(
        stderr.contains("not a PNG, JPEG, GIF, WebP or SVG image"),
        "{stderr}"
    );

    let templates = dir.0.join("templates");
    std::fs::create_dir(&templates).unwrap();
    std::fs::write(
        templates.join("login.html"),
        "<form>{{ request_id }}</form>",
    )
    .unwrap();
    let templates = templates.to_str().unwrap();
    let (code, stderr) = run_to_end(&["serve", "--store", &store, "--page-templates", templates]);
    assert_ne!(code, 0);
    assert!(stderr.contains("--page-templates"), "{stderr}");
    assert!(
        stderr.contains("login.html does not keep the form contract") && stderr.contains("csrf"),
        "{stderr}"
    );
}

#[test]
fn a_trusted_proxy_s_forwarded_client_is_the_throttled_source() {
    let dir = TempDir::new("serve-trusted-proxy");
    let store = dir.store();
    let server = start(&["--store", &store, "--trusted-proxy", "127.0.0.1/32"]);
    let introspect = |forwarded_for: &str| {
        reqwest::blocking::Client::new()
            .post(format!("{}/introspect", server.base))
            .basic_auth("no-such-client", Some("guess"))
            .header("x-forwarded-for", forwarded_for)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("token=t")
            .send()
            .expect("POST /introspect")
            .status()
            .as_u16()
    };
    // The failed-client budget (10 per source and client id) of one forwarded address…
    for _ in 0..10 {
        assert_eq!(introspect("192.0.2.1"), 401);
    }
    assert_eq!(introspect("192.0.2.1"), 429);
    // …is not another's, though both came through the same proxy.
    assert_eq!(introspect("192.0.2.2"), 401);
}

#[test]
fn no_auth_on_a_public_address_is_refused() {
    let (code, stderr) = run_to_end(&["serve", "--no-auth", "--bind", "0.0.0.0:0"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("non-loopback"), "{stderr}");
}

#[test]
fn health_answers_and_sigterm_drains_open_streams() {
    let (mut child, bind) = serve_no_auth();
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

    let status = terminate(&mut child);
    assert!(status.success(), "exit status {status}");
    drop(stream);

    let stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let logs: Vec<String> = stderr.lines().map_while(Result::ok).collect();
    assert!(logs.iter().any(|l| l.contains("shutting down")), "{logs:?}");
}

#[test]
fn sigterm_lets_calls_in_flight_finish_and_refuses_new_connections() {
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let mut server = spawn_on(&bind, &["--no-auth"]);
    wait_healthy(&format!("{}/health", server.base), &mut server.child);

    // A tool that takes 3 s, called stateless (2026-07-28) and in a 2025-11-25 session.
    let session = open_session(&server.base, "");
    let calls = [
        long_running_call(&server.base, None),
        long_running_call(&server.base, Some(session)),
    ];
    std::thread::sleep(Duration::from_secs(1));
    signal_term(&server.child);
    let signalled = Instant::now();

    // While the calls are still running, the listener is closed: a new connection is refused.
    let refused = loop {
        match std::net::TcpStream::connect(&bind) {
            Err(error) => break error,
            Ok(_) => {
                assert!(
                    signalled.elapsed() < Duration::from_secs(1),
                    "new connections still accepted 1 s after SIGTERM"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    };
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    assert!(
        calls.iter().all(|call| !call.is_finished()),
        "the calls were to be in flight"
    );

    // The calls in flight complete with their normal answers…
    for call in calls {
        let (status, answer) = call.join().expect("the call");
        assert_eq!(status, 200, "{answer}");
        let text = answer["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default();
        assert!(
            text.starts_with("Long running operation completed"),
            "{answer}"
        );
    }
    // …and the process exits 0 right after.
    let status = wait_exit(&mut server.child, Duration::from_secs(5));
    assert!(status.success(), "exit status {status}");
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "{:?}",
        signalled.elapsed()
    );
}

/// Starts a 3 s `longRunningOperation` call on a thread: stateless (2026-07-28) without a
/// `session`, in it (2025-11-25) with one. The thread returns the status and JSON-RPC answer.
fn long_running_call(base: &str, session: Option<String>) -> std::thread::JoinHandle<(u16, Value)> {
    let url = format!("{base}/mcp");
    std::thread::spawn(move || {
        let arguments = json!({ "duration": 3, "steps": 3 });
        let mut params = json!({ "name": "longRunningOperation", "arguments": arguments });
        let mut request = reqwest::blocking::Client::new()
            .post(url)
            .header("accept", "application/json, text/event-stream");
        request = match &session {
            Some(session) => request
                .header("mcp-protocol-version", "2025-11-25")
                .header("mcp-session-id", session),
            None => {
                params["_meta"] = json!({
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientCapabilities": {},
                    "io.modelcontextprotocol/clientInfo": { "name": "outpost-cli-tests", "version": "1.0.0" }
                });
                request
                    .header("mcp-protocol-version", "2026-07-28")
                    .header("mcp-method", "tools/call")
                    .header("mcp-name", "longRunningOperation")
            }
        };
        let response = request
            .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params }))
            .send()
            .expect("POST /mcp");
        let status = response.status().as_u16();
        (status, jsonrpc_answer(&response.text().expect("body")))
    })
}

/// `outpost serve --no-auth` on a free loopback port, its stderr piped; the child and the
/// address.
fn serve_no_auth() -> (Child, String) {
    let bind = format!("127.0.0.1:{}", free_port());
    let child = Command::new(OUTPOST)
        .args(["serve", "--no-auth", "--bind", &bind])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start outpost");
    (child, bind)
}

/// An issuer other machines reach over plain http is served, with a warning at start that
/// passwords and tokens would cross the network readable; https and loopback get none.
#[test]
fn a_plain_http_issuer_off_loopback_is_warned_about() {
    let dir = TempDir::new("plain-http-issuer");
    let store = dir.store();
    let started_logs = |public_url: Option<&str>| match public_url {
        Some(url) => start_logs(&["--store", &store, "--public-url", url]),
        None => start_logs(&["--store", &store]),
    };
    let warned = |logs: &[String]| logs.iter().any(|line| line.contains("plain http"));
    let logs = started_logs(Some("http://mcp.example.com"));
    assert!(warned(&logs), "{logs:?}");
    for quiet in [Some("https://mcp.example.com"), None] {
        let logs = started_logs(quiet);
        assert!(!warned(&logs), "{quiet:?}: {logs:?}");
    }
}

/// The lines `outpost serve ARGS` logs between its start and a SIGTERM once healthy, on a
/// loopback port of its own.
fn start_logs(args: &[&str]) -> Vec<String> {
    let bind = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(OUTPOST)
        .arg("serve")
        .args(args)
        .args(["--bind", &bind])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start outpost");
    wait_healthy(&format!("http://{bind}/health"), &mut child);
    assert!(terminate(&mut child).success());
    let stderr = BufReader::new(child.stderr.take().expect("stderr"));
    stderr.lines().map_while(Result::ok).collect()
}

/// Development shortcuts reachable from elsewhere are said at start: demo users left with
/// their public passwords (a start without `--demo` after one with it), the demo or no
/// authentication behind a public URL that is not loopback (a proxy forwarding to loopback).
#[test]
fn shortcuts_others_may_reach_are_warned_about() {
    let dir = TempDir::new("shortcuts-warned");
    let store = dir.store();
    let said = |logs: &[String], words: &str| logs.iter().any(|line| line.contains(words));
    let public_url = ["--public-url", "https://mcp.example.com"];

    let demo = start_logs(&["--demo", "--store", &store]);
    assert!(!said(&demo, "public passwords"), "{demo:?}");
    let left = start_logs(&["--store", &store]);
    assert!(
        said(&left, "demo users with their public passwords"),
        "{left:?}"
    );
    assert!(said(&left, "alice, bob"), "{left:?}");
    let proxied = start_logs(&["--demo", "--store", &store, public_url[0], public_url[1]]);
    assert!(
        said(&proxied, "whoever reaches it can sign in as them"),
        "{proxied:?}"
    );

    let open = start_logs(&["--no-auth", public_url[0], public_url[1]]);
    assert!(said(&open, "WITHOUT AUTHENTICATION"), "{open:?}");
    let local = start_logs(&["--no-auth"]);
    assert!(!said(&local, "WITHOUT AUTHENTICATION"), "{local:?}");
}

/// Sends SIGTERM and waits (up to 10 s) for the process to exit.
fn terminate(child: &mut Child) -> ExitStatus {
    signal_term(child);
    wait_exit(child, Duration::from_secs(10))
}

/// Sends SIGTERM to `child`.
fn signal_term(child: &Child) {
    signal(child, "-TERM");
}

/// Sends `signal` (`-TERM`, `-HUP`, …) to `child`.
fn signal(child: &Child, signal: &str) {
    let killed = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
}

/// The terminal that started the server going away (SIGHUP) shuts it down gracefully, as
/// SIGTERM does, rather than killing it mid-request.
#[test]
fn sighup_shuts_down_gracefully() {
    let (mut child, bind) = serve_no_auth();
    wait_healthy(&format!("http://{bind}/health"), &mut child);
    signal(&child, "-HUP");
    let status = wait_exit(&mut child, Duration::from_secs(10));
    assert!(status.success(), "exit status {status}");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    assert!(stderr.contains("shutting down"), "{stderr}");
}

/// Waits up to `limit` for `child` to exit.
fn wait_exit(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "outpost still running {limit:?} after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// POSTs `body` to `/mcp` as the holder of `token`, in `session` when given.
fn mcp_post(
    base: &str,
    token: &str,
    session: Option<&str>,
    body: &Value,
) -> reqwest::blocking::Response {
    let mut request = reqwest::blocking::Client::new()
        .post(format!("{base}/mcp"))
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .json(body);
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    request.send().expect("POST /mcp")
}

fn mcp_delete(base: &str, token: &str, session: &str) -> reqwest::blocking::Response {
    reqwest::blocking::Client::new()
        .delete(format!("{base}/mcp"))
        .bearer_auth(token)
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .expect("DELETE /mcp")
}

/// Opens an initialized 2025-11-25 session as the holder of `token`; returns its id.
fn open_session(base: &str, token: &str) -> String {
    let initialize = json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": { "name": "outpost-cli-tests", "version": "1.0.0" }
        }
    });
    let response = mcp_post(base, token, None, &initialize);
    assert_eq!(response.status(), 200);
    let id = response.headers()["mcp-session-id"]
        .to_str()
        .expect("session id")
        .to_owned();
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    assert_eq!(mcp_post(base, token, Some(&id), &initialized).status(), 202);
    id
}

/// `whoami` in `session`: the status, and the subject it names when it answers.
fn whoami(base: &str, token: &str, session: &str) -> (u16, Option<String>) {
    let call = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": "whoami" }
    });
    let response = mcp_post(base, token, Some(session), &call);
    let status = response.status().as_u16();
    if status != 200 {
        return (status, None);
    }
    let answer = jsonrpc_answer(&response.text().expect("body"));
    let subject = answer["result"]["structuredContent"]["subject"]
        .as_str()
        .map(str::to_owned);
    (status, subject)
}

#[test]
fn sessions_survive_a_restart_and_keep_their_owner() {
    let dir = TempDir::new("serve-sessions");
    let store = dir.store();
    let bind = format!("127.0.0.1:{}", free_port());
    let mut server = start_on(&bind, &["--store", &store]);
    let base = server.base.clone();
    let (alice, bob) = (token(&store, &base, "alice"), token(&store, &base, "bob"));

    let kept = open_session(&base, &alice);
    assert_eq!(whoami(&base, &alice, &kept), (200, Some("alice".into())));
    let ended = open_session(&base, &alice);
    assert_eq!(mcp_delete(&base, &alice, &ended).status(), 204);

    let status = terminate(&mut server.child);
    assert!(status.success(), "exit status {status}");
    let _server = start_on(&bind, &["--store", &store]);

    // No re-initialize: the stored session is resumed for its owner.
    assert_eq!(whoami(&base, &alice, &kept), (200, Some("alice".into())));
    assert_eq!(whoami(&base, &alice, &kept), (200, Some("alice".into())));
    // Someone else, or a session deleted before the restart: 404.
    assert_eq!(whoami(&base, &bob, &kept).0, 404);
    assert_eq!(mcp_delete(&base, &bob, &kept).status(), 404);
    assert_eq!(whoami(&base, &alice, &ended).0, 404);
    // Deleting the resumed session ends it.
    assert_eq!(mcp_delete(&base, &alice, &kept).status(), 204);
    assert_eq!(whoami(&base, &alice, &kept).0, 404);
}

/// A token request whose body does not arrive in time is `408` on the authorization server's
/// endpoints too, as on `/mcp` (axum's extractor answered `400`).
#[test]
fn a_token_request_whose_body_trickles_is_408() {
    use std::io::{Read, Write};
    let bind = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(OUTPOST)
        .args(["serve", "--store", "memory://", "--bind", &bind])
        .args(["--body-read-timeout", "1s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start outpost");
    wait_healthy(&format!("http://{bind}/health"), &mut child);
    let mut stream = std::net::TcpStream::connect(&bind).expect("connect");
    stream
        .write_all(
            format!(
                "POST /token HTTP/1.1\r\nhost: {bind}\r\n\
                 content-type: application/x-www-form-urlencoded\r\ncontent-length: 100\r\n\r\ngrant"
            )
            .as_bytes(),
        )
        .expect("head");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut answer = [0; 64];
    let read = stream.read(&mut answer).expect("an answer within 5 s");
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    terminate(&mut child);
}
