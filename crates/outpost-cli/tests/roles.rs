//! `outpost serve --role auth|mcp` as processes: nonsense combinations are refused naming the
//! setting; the auth role serves the authorization server and no MCP; the MCP role on the
//! auth role's store refuses a token naming no grant, and one whose grant was revoked there
//! within seconds; and an MCP role that introspects makes one introspection call for concurrent requests bearing the same new
//! token (the endpoint is served by the test on loopback and counts its calls).

mod common;

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    process::Command,
    sync::{
        Arc, Barrier,
        atomic::{AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use common::{OUTPOST, TempDir, free_port, revoke_grant, role_token, start, start_on};
use serde_json::{Value, json};

/// `outpost serve ARGS` run to its end (it must refuse to start): exit code, stderr.
fn refused(args: &[&str]) -> (i32, String) {
    let output = Command::new(OUTPOST)
        .arg("serve")
        .args(args)
        .args(["--bind", "127.0.0.1:0"])
        .output()
        .expect("run outpost serve");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn nonsense_role_combinations_are_refused_naming_the_setting() {
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "--role",
                "auth",
                "--resource",
                "http://127.0.0.1:9/mcp",
                "--issuer",
                "http://127.0.0.1:9",
            ],
            "--issuer does not apply to --role auth",
        ),
        (&["--role", "auth"], "--role auth needs --resource URL"),
        (&["--role", "mcp"], "--role mcp needs --issuer URL"),
        (
            &[
                "--role",
                "mcp",
                "--issuer",
                "http://127.0.0.1:9",
                "--resource",
                "http://127.0.0.1:9/mcp",
            ],
            "--resource is for --role auth",
        ),
        (
            &["--resource", "http://127.0.0.1:9/mcp"],
            "--resource is for --role auth",
        ),
    ];
    for (args, expected) in cases {
        let (code, stderr) = refused(args);
        assert_ne!(code, 0, "{args:?} started");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

fn post_mcp(base: &str, token: Option<&str>) -> reqwest::blocking::Response {
    let mut request = reqwest::blocking::Client::new()
        .post(format!("{base}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "roles-test", "version": "0"}}})
            .to_string(),
        );
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().expect("POST /mcp")
}

fn get(url: &str) -> reqwest::blocking::Response {
    reqwest::blocking::get(url).expect("GET")
}

#[test]
fn the_auth_role_serves_the_authorization_server_and_no_mcp() {
    let dir = TempDir::new("roles-auth-only");
    let resource = "https://mcp.example.com/mcp";
    let auth = start(&[
        "--role",
        "auth",
        "--store",
        &dir.store(),
        "--resource",
        resource,
    ]);
    let base = &auth.base;

    assert_eq!(post_mcp(base, None).status(), 404);
    assert_eq!(get(&format!("{base}/sse")).status(), 404);
    for path in ["", "/mcp"] {
        let metadata = get(&format!(
            "{base}/.well-known/oauth-protected-resource{path}"
        ));
        assert_eq!(metadata.status(), 404, "resource metadata at {path:?}");
    }
    let metadata: Value = get(&format!("{base}/.well-known/oauth-authorization-server"))
        .json()
        .expect("metadata JSON");
    assert_eq!(metadata["issuer"], base.as_str());
    assert_eq!(get(&format!("{base}/jwks.json")).status(), 200);
    assert_eq!(get(&format!("{base}/ready")).status(), 200);
}

#[test]
fn the_mcp_role_on_the_auth_roles_store_checks_each_tokens_grant() {
    let dir = TempDir::new("roles-shared-store");
    let store = dir.store();
    let mcp_port = free_port();
    let resource = format!("http://127.0.0.1:{mcp_port}/mcp");
    let auth = start(&["--role", "auth", "--store", &store, "--resource", &resource]);
    let mcp = start_on(
        &format!("127.0.0.1:{mcp_port}"),
        &["--role", "mcp", "--issuer", &auth.base, "--store", &store],
    );
    let metadata: Value = get(&format!(
        "{}/.well-known/oauth-protected-resource/mcp",
        mcp.base
    ))
    .json()
    .expect("metadata JSON");
    assert_eq!(metadata["authorization_servers"], json!([auth.base]));

    let (grantless, _) = role_token(&store, &auth.base, &resource, false);
    let refused = post_mcp(&mcp.base, Some(&grantless));
    assert_eq!(refused.status(), 401);
    let challenge = refused.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.contains("names no grant"), "{challenge}");

    let (token, grant) = role_token(&store, &auth.base, &resource, true);
    assert_eq!(post_mcp(&mcp.base, Some(&token)).status(), 200);
    revoke_grant(&store, grant);
    let revoked = Instant::now();
    while post_mcp(&mcp.base, Some(&token)).status() == 200 {
        assert!(
            revoked.elapsed() < Duration::from_secs(12),
            "the revoked grant's token still works at the MCP role"
        );
        thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(post_mcp(&mcp.base, Some(&token)).status(), 401);
}

/// An RFC 7662 endpoint on loopback that counts its calls and answers each, `active`, after
/// `delay` (long enough for concurrent requests to pile up behind the first).
struct IntrospectionEndpoint {
    url: String,
    calls: Arc<AtomicUsize>,
}

impl IntrospectionEndpoint {
    fn start(answer: Value, delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the endpoint");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let counted = counted.clone();
                let answer = answer.to_string();
                thread::spawn(move || serve_one(stream, &counted, &answer, delay));
            }
        });
        Self { url, calls }
    }
}

/// Reads one request (head and `Content-Length` body), counts it, answers `answer`.
fn serve_one(stream: TcpStream, calls: &AtomicUsize, answer: &str, delay: Duration) {
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    calls.fetch_add(1, Ordering::SeqCst);
    thread::sleep(delay);
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{answer}",
        answer.len()
    );
    let _ = reader.get_mut().write_all(response.as_bytes());
}

#[test]
fn concurrent_requests_with_one_new_token_make_one_introspection_call() {
    const REQUESTS: usize = 16;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let endpoint = IntrospectionEndpoint::start(
        json!({"active": true, "sub": "user-7", "username": "carol", "aud": format!("{base}/mcp"),
               "exp": exp, "scope": "mcp", "client_id": "app"}),
        Duration::from_millis(1500),
    );
    let introspect = format!("{}/introspect", endpoint.url);
    let server = start_on(
        &format!("127.0.0.1:{port}"),
        &[
            "--role",
            "mcp",
            "--issuer",
            &endpoint.url,
            "--introspection-endpoint",
            &introspect,
            "--introspection-client-id",
            "mcp-role",
            "--introspection-client-secret",
            "a-long-random-secret-of-the-mcp-role",
        ],
    );

    let start_together = Arc::new(Barrier::new(REQUESTS));
    let requests: Vec<_> = (0..REQUESTS)
        .map(|_| {
            let base = server.base.clone();
            let start_together = start_together.clone();
            thread::spawn(move || {
                start_together.wait();
                post_mcp(&base, Some("one-opaque-token")).status()
            })
        })
        .collect();
    for request in requests {
        assert_eq!(request.join().expect("request thread"), 200);
    }
    assert_eq!(
        endpoint.calls.load(Ordering::SeqCst),
        1,
        "one call for one token"
    );

    // Another token is another call.
    assert_eq!(
        post_mcp(&server.base, Some("another-opaque-token")).status(),
        200
    );
    assert_eq!(endpoint.calls.load(Ordering::SeqCst), 2);
}
