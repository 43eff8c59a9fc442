//! The servers under test, each an axum `Router` served by Outpost's own serve loop
//! (`TCP_NODELAY`, same runtime), so only what answers `/mcp` differs between them.
//!
//! - `floor`: parses the JSON-RPC body into `serde_json::Value` and answers a fixed-shape
//!   result. Nothing real can be cheaper; every other target is reported as a ratio of it.
//! - `rmcp`: rmcp's `StreamableHttpService` over the reference handler, configured like Outpost
//!   configures it (JSON responses, sessions allowed), without anything in front.
//! - `outpost`, `outpost-session`: `Outpost::router()` over the same handler; the two differ
//!   only in the requests the load generator sends (2026-07-28 stateless vs a 2025-11-25
//!   session, parked — the default — in a memory store).
//! - `outpost-auth`: `outpost` in `AuthMode::Bearer`, as `outpost serve` runs it: every
//!   request carries an ES256 access token bound to a grant in a store, so each one pays the
//!   bearer layer (cached verification, cached revocation check, baseline scope) and the
//!   per-tool scope check.
//! - `outpost-auth-limited`: `outpost-auth` with request limits per subject and per client
//!   (`--rate-limit`, `--rate-limit-client`) too high to refuse: each request spends a local
//!   permit of each, and the in-memory store is asked once per batch.
//! - `outpost-auth-redis`: `outpost-auth` with its user, client, grant and signing key in Redis
//!   (`--store redis://`): the revocation check asks Redis once per grant per cache period.
//!   Instances on the same Redis and prefix share the key and the grant, so a token minted by
//!   one verifies on all of them.
//! - `outpost-parked-session`, `outpost-parked-session-redis`: `outpost-session` with
//!   the session records in a SQLite file (`outpost serve`'s default store) or in Redis: every
//!   request loads its session from a cache that is read again after a second, or at once
//!   when the store tells of a change to a session, so any instance serves it.

use std::{io::Write, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{Json, Router, body::Bytes, http::StatusCode, response::IntoResponse, routing::post};
use outpost_reference::ReferenceServer;
use rmcp::transport::{
    StreamableHttpServerConfig, StreamableHttpService,
    streamable_http_server::session::local::LocalSessionManager,
};
use serde_json::{Value, json};
use tokio::{io::AsyncBufReadExt, net::TcpListener};
use tokio_util::sync::CancellationToken;

use crate::redis::RedisStore;

mod authenticated;

/// What is being measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// Bare axum: parse into `serde_json::Value`, answer a fixed-shape result.
    Floor,
    /// rmcp's `StreamableHttpService`, 2026-07-28 stateless requests.
    Rmcp,
    /// Outpost's router, 2026-07-28 stateless requests.
    Outpost,
    /// Outpost's router, one 2025-11-25 session per connection.
    OutpostSession,
    /// Outpost's router with bearer authentication, 2026-07-28 stateless requests.
    OutpostAuth,
    /// `outpost-auth` with per-subject and per-client request limits that never refuse.
    OutpostAuthLimited,
    /// The same with the grant and the signing key in Redis.
    OutpostAuthRedis,
    /// Outpost's router, one 2025-11-25 parked session per connection, records in SQLite.
    OutpostParkedSession,
    /// The same with the records in Redis.
    OutpostParkedSessionRedis,
}

impl Target {
    /// Every target, floor first (the others are reported relative to it).
    pub const ALL: [Target; 9] = [
        Target::Floor,
        Target::Rmcp,
        Target::Outpost,
        Target::OutpostAuth,
        Target::OutpostAuthLimited,
        Target::OutpostAuthRedis,
        Target::OutpostSession,
        Target::OutpostParkedSession,
        Target::OutpostParkedSessionRedis,
    ];

    /// The name used on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Target::Floor => "floor",
            Target::Rmcp => "rmcp",
            Target::Outpost => "outpost",
            Target::OutpostSession => "outpost-session",
            Target::OutpostAuth => "outpost-auth",
            Target::OutpostAuthLimited => "outpost-auth-limited",
            Target::OutpostAuthRedis => "outpost-auth-redis",
            Target::OutpostParkedSession => "outpost-parked-session",
            Target::OutpostParkedSessionRedis => "outpost-parked-session-redis",
        }
    }

    /// Whether any of several instances can answer any request: no per-process token or
    /// session is involved, or what the token needs (key, grant) is in the store they share.
    pub fn is_instance_independent(self) -> bool {
        matches!(
            self,
            Target::Floor
                | Target::Rmcp
                | Target::Outpost
                | Target::OutpostAuthRedis
                | Target::OutpostParkedSessionRedis
        )
    }

    /// Whether the server keeps its state in a Redis the orchestrator provides.
    pub fn uses_redis(self) -> bool {
        matches!(
            self,
            Target::OutpostAuthRedis | Target::OutpostParkedSessionRedis
        )
    }

    /// Whether the load generator opens a session on each connection.
    pub fn opens_session(self) -> bool {
        matches!(
            self,
            Target::OutpostSession
                | Target::OutpostParkedSession
                | Target::OutpostParkedSessionRedis
        )
    }

    /// The router to serve and, for the authenticated targets, the bearer token requests must
    /// carry; `redis` is the store of a target that [uses Redis](Target::uses_redis).
    async fn router(self, redis: Option<&RedisStore>) -> anyhow::Result<(Router, Option<String>)> {
        let reference = ReferenceServer::new();
        let router = match self {
            Target::Floor => Router::new().route("/mcp", post(floor)),
            Target::Rmcp => {
                let config = StreamableHttpServerConfig::default().with_json_response(true);
                let service = StreamableHttpService::new(
                    move || Ok(reference.for_session()),
                    Arc::new(LocalSessionManager::default()),
                    config,
                );
                Router::new().route_service("/mcp", service)
            }
            Target::Outpost | Target::OutpostSession => {
                outpost::Outpost::with_factory(move || reference.for_session()).router()
            }
            Target::OutpostParkedSession => {
                let file = std::env::temp_dir()
                    .join(format!("outpost-bench-sessions-{}.db", std::process::id()));
                let _ = std::fs::remove_file(&file);
                let url = format!("sqlite://{}", file.display());
                let store = outpost::store::open(&url)
                    .await
                    .with_context(|| format!("cannot open the store at {url}"))?;
                parked(reference, store)
            }
            Target::OutpostParkedSessionRedis => {
                let redis = redis.context("outpost-parked-session-redis needs --store-url")?;
                let options = outpost::store::StoreOptions {
                    prefix: Some(redis.prefix.clone()),
                    ..outpost::store::StoreOptions::default()
                };
                let store = outpost::store::open_with(&redis.url, &options)
                    .await
                    .with_context(|| format!("cannot open the store at {}", redis.url))?;
                parked(reference, store)
            }
            Target::OutpostAuth => return authenticated::in_memory(reference, None).await,
            Target::OutpostAuthLimited => {
                return authenticated::in_memory(reference, Some(authenticated::UNREACHED_RATE))
                    .await;
            }
            Target::OutpostAuthRedis => {
                let redis = redis.context("outpost-auth-redis needs --store-url")?;
                return authenticated::on_redis(reference, redis).await;
            }
        };
        Ok((router, None))
    }
}

/// The floor's handler: one parse, one fixed-shape answer echoing the message.
async fn floor(body: Bytes) -> axum::response::Response {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let message = request
        .pointer("/params/arguments/message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Json(json!({
        "jsonrpc": "2.0",
        "id": request.get("id").cloned().unwrap_or(Value::Null),
        "result": {
            "content": [{ "type": "text", "text": format!("Echo: {message}") }],
            "isError": false,
        },
    }))
    .into_response()
}

/// Outpost's router with parked sessions kept in `store`.
fn parked(reference: ReferenceServer, store: outpost::store::Store) -> Router {
    outpost::Outpost::with_factory(move || reference.for_session())
        .with_session_store(store.mcp_sessions.clone())
        .router()
}

/// Logs and metrics on, as `outpost serve` runs them: Prometheus' recorder installed, and every
/// INFO line formatted as JSON (`OUTPOST_LOG_FORMAT=text`: as text) and appended to the
/// batches of Outpost's log writer — whose thread shares the server's core — that throws them
/// away (a terminal would measure the terminal). Every target pays it; only Outpost's emit
/// request lines and metrics. `OUTPOST_LOG` filters as it does for `outpost serve`
/// (`OUTPOST_LOG=warn`: no request lines, to see what they cost).
fn observed() -> outpost::log_writer::FlushGuard {
    if let Err(error) = outpost::prometheus::PrometheusMetrics::install() {
        eprintln!("metrics: {error}");
    }
    let (writer, guard) = outpost::log_writer::BatchedLogWriter::new(std::io::sink());
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("OUTPOST_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rmcp=warn")),
        )
        .with_writer(writer.clone())
        .with_ansi(false);
    if std::env::var("OUTPOST_LOG_FORMAT").is_ok_and(|format| format == "text") {
        subscriber.init();
    } else {
        if let Err(error) = outpost::json_lines::write_request_lines_to(writer) {
            eprintln!("request lines: {error}");
        }
        subscriber.json().init();
    }
    guard
}

/// The line on a server's stdin that asks it to return its free heap to the OS.
pub const TRIM_COMMAND: &str = "trim";

/// The line the server prints on stdout once it has.
pub const TRIMMED: &str = "TRIMMED";

/// Serves `target` (on `redis`, for a target that [uses Redis](Target::uses_redis)) on a
/// loopback port, prints `LISTENING <addr>` (then ` <token>` for a target that needs one) on
/// stdout, and runs until stdin closes (the orchestrator holds the other end, so the server
/// never outlives it); each [`TRIM_COMMAND`] line on stdin is answered by [`trim_heap`] and
/// [`TRIMMED`]. `max_connections`, if given, is the cap on connections in all and from one
/// source (the load comes from one address), with the open-file limit raised for it.
pub async fn serve(
    target: Target,
    redis: Option<RedisStore>,
    max_connections: Option<usize>,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .context("cannot bind a loopback port")?;
    let addr = listener.local_addr()?;
    let _flush_on_exit = observed();
    let mut limits = outpost::ConnectionLimits::default();
    if let Some(max_connections) = max_connections {
        outpost::http::open_files::raise_for(max_connections);
        limits.max_connections = max_connections;
        limits.max_connections_per_source = max_connections;
    }
    let (router, token) = target.router(redis.as_ref()).await?;
    let mut stdout = std::io::stdout().lock();
    match token {
        Some(token) => writeln!(stdout, "LISTENING {addr} {token}")?,
        None => writeln!(stdout, "LISTENING {addr}")?,
    }
    stdout.flush()?;
    drop(stdout);

    let stdin_closed = async {
        let mut commands = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(command)) = commands.next_line().await {
            if command == TRIM_COMMAND {
                trim_heap();
                println!("{TRIMMED}");
            }
        }
    };
    outpost::http::listener::serve(
        listener,
        router,
        outpost::http::listener::Connections::new(limits, std::sync::Arc::new(|_| false)),
        stdin_closed,
        CancellationToken::new(),
        Duration::from_millis(100),
    )
    .await?;
    Ok(())
}

/// Returns the free memory at the top and inside glibc's heaps to the OS (`malloc_trim(0)`): what
/// `outpost-bench memory` compares with the RSS before it, to tell memory held from memory
/// freed but kept by the allocator.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn trim_heap() {
    // SAFETY: malloc_trim only walks and releases the allocator's own free lists; it takes the
    // arena locks itself and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// No glibc, no `malloc_trim`: nothing to do.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim_heap() {}
