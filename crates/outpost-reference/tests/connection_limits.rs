//! Connection timeouts and caps, over real TCP on loopback with short limits: a header that
//! trickles, a body that trickles and an idle keep-alive connection are closed; an SSE stream
//! that delivers outlives the idle timeout; the caps refuse one connection too many, per
//! source (a trusted proxy exempt) and in total.

mod common;

use std::{
    net::{IpAddr, SocketAddr},
    time::{Duration, Instant},
};

use common::{TestApp, spawn_app_with};
use futures::StreamExt;
use outpost::{ConnectionLimits, ServerConfig};
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
};

fn limits(header: u64, body: u64, idle: u64) -> ConnectionLimits {
    ConnectionLimits {
        header_read_timeout: Duration::from_millis(header),
        body_read_timeout: Duration::from_millis(body),
        idle_timeout: Duration::from_millis(idle),
        ..ConnectionLimits::default()
    }
}

async fn spawn(limits: ConnectionLimits) -> TestApp {
    spawn_app_with(ServerConfig {
        connection_limits: limits,
        ..ServerConfig::default()
    })
    .await
}

/// A connection to `app` from the loopback address `from`.
async fn connect_from(app: &TestApp, from: &str) -> TcpStream {
    let from: IpAddr = from.parse().unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    socket.connect(app.addr).await.expect("connect")
}

/// Whether `/health` answers 200 on `stream` (kept alive).
async fn healthy(stream: &mut TcpStream) -> bool {
    let request = b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n";
    if stream.write_all(request).await.is_err() {
        return false;
    }
    let mut buf = [0; 1024];
    match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await {
        Ok(Ok(n)) => buf[..n].starts_with(b"HTTP/1.1 200"),
        _ => false,
    }
}

/// Reads until the server closes `stream`; what it sent, or `None` if still open after `wait`.
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    tokio::time::timeout(wait, async {
        let mut buf = [0; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .ok()
    .map(|()| received)
}

#[tokio::test]
async fn a_header_that_trickles_is_cut_by_the_header_timeout() {
    let app = spawn(limits(1_000, 10_000, 10_000)).await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let started = Instant::now();
    stream
        .write_all(b"POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let (mut read, mut write) = stream.split();
    let trickle = async {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if write.write_all(b"x").await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    let closed = async {
        let mut buf = [0; 256];
        while let Ok(n) = read.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    tokio::select! {
        () = trickle => unreachable!(),
        () = closed => {}
        () = tokio::time::sleep(Duration::from_secs(4)) => panic!("header still read after 4 s"),
    }
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(900), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(2_500), "{elapsed:?}");
}

/// On rmcp's path and on the fast path (a 2026-07-28 call, whose body the fast path reads).
#[tokio::test]
async fn a_body_that_trickles_is_cut_by_the_body_timeout() {
    let stateless_call = "mcp-protocol-version: 2026-07-28\r\nmcp-method: tools/call\r\n\
                          mcp-name: echo\r\n";
    for extra_headers in ["", stateless_call] {
        body_trickles(extra_headers).await;
    }
}

async fn body_trickles(extra_headers: &str) {
    let app = spawn(limits(5_000, 1_000, 10_000)).await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         accept: application/json, text/event-stream\r\n{extra_headers}content-length: 100\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    while started.elapsed() < Duration::from_secs(4) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _ = stream.write_all(b" ").await;
        if let Some(received) = closed_within(&mut stream, Duration::from_millis(1)).await {
            answer = received;
            break;
        }
    }
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(2_500), "{elapsed:?}");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{extra_headers}: {answer}"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let app = spawn(limits(5_000, 5_000, 1_000)).await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    assert!(healthy(&mut stream).await);
    let idle_since = Instant::now();
    let closed = closed_within(&mut stream, Duration::from_secs(4)).await;
    assert_eq!(closed, Some(Vec::new()), "still open after 4 s");
    let idle = idle_since.elapsed();
    assert!(idle >= Duration::from_millis(900), "{idle:?}");
    assert!(idle < Duration::from_millis(2_500), "{idle:?}");
}

#[tokio::test]
async fn an_sse_stream_that_delivers_outlives_the_idle_and_header_timeouts() {
    let app = spawn_app_with(ServerConfig {
        connection_limits: limits(300, 300, 300),
        sse_keep_alive: Duration::from_millis(100),
        ..ServerConfig::default()
    })
    .await;
    let version = "2025-11-25";
    let init = app
        .http
        .post(app.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(&json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": version,
                "capabilities": {},
                "clientInfo": { "name": "outpost-tests", "version": "1.0.0" }
            }
        }))
        .send()
        .await
        .unwrap();
    let session = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let stream = app
        .http
        .get(app.url("/mcp"))
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", version)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut chunks = stream.bytes_stream();
    let until = Instant::now() + Duration::from_millis(1_500);
    let mut received = 0;
    while Instant::now() < until {
        let chunk = tokio::time::timeout(Duration::from_secs(1), chunks.next()).await;
        assert!(
            matches!(chunk, Ok(Some(Ok(_)))),
            "the stream ended: {chunk:?}"
        );
        received += 1;
    }
    assert!(received >= 5, "{received} chunks");
}

#[tokio::test]
async fn the_per_source_cap_refuses_one_more_from_a_source_but_not_others() {
    let app = spawn_app_with(ServerConfig {
        connection_limits: ConnectionLimits {
            max_connections_per_source: 2,
            ..ConnectionLimits::default()
        },
        trusted_proxies: outpost::auth::server::forwarded::TrustedProxies::new(["127.0.0.3"
            .parse()
            .unwrap()]),
        ..ServerConfig::default()
    })
    .await;
    let mut held = Vec::new();
    for from in [
        "127.0.0.2",
        "127.0.0.2",
        "127.0.0.3",
        "127.0.0.3",
        "127.0.0.3",
    ] {
        let mut stream = connect_from(&app, from).await;
        assert!(healthy(&mut stream).await, "{from} refused");
        held.push(stream);
    }
    let mut over = connect_from(&app, "127.0.0.2").await;
    assert!(
        !healthy(&mut over).await,
        "a third connection from one source"
    );
    let mut other = connect_from(&app, "127.0.0.4").await;
    assert!(healthy(&mut other).await);
    drop(held.remove(0));
    let mut again = connect_from(&app, "127.0.0.2").await;
    let admitted = async {
        while !healthy(&mut again).await {
            again = connect_from(&app, "127.0.0.2").await;
        }
    };
    tokio::time::timeout(Duration::from_secs(2), admitted)
        .await
        .expect("a closed connection frees its place");
}

#[tokio::test]
async fn the_total_cap_refuses_one_connection_too_many() {
    let app = spawn_app_with(ServerConfig {
        connection_limits: ConnectionLimits {
            max_connections: 2,
            ..ConnectionLimits::default()
        },
        ..ServerConfig::default()
    })
    .await;
    let mut first = connect_from(&app, "127.0.0.2").await;
    let mut second = connect_from(&app, "127.0.0.3").await;
    assert!(healthy(&mut first).await && healthy(&mut second).await);
    let mut third = connect_from(&app, "127.0.0.4").await;
    assert!(!healthy(&mut third).await);
    assert!(healthy(&mut first).await, "the admitted ones still answer");
}
