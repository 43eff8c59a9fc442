//! `outpost serve`: flags → [`outpost::ServerConfig`] (and, unless `--no-auth`, the embedded
//! authorization server over the store, which also keeps the MCP sessions and the
//! `requestState` keys) → the reference server. Several instances may share one store and
//! start at the same moment: the store is migrated once, the demo users, the first signing key
//! and the first request-state key are created once.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::{Context, bail};
use outpost::auth::server::password::hash_password;
use outpost::{
    AuthMode, ConnectionLimits, Outpost, RequestStateKeys, ServerConfig,
    auth::{
        resource::{ResourceServerConfig, canonical_resource},
        scope::Scope,
        server::{
            AuthorizationServer, Clock, DEFAULT_ACCESS_TOKEN_LIFETIME, SystemClock,
            forwarded::{ProxyRange, TrustedProxies},
        },
    },
    prometheus::PrometheusMetrics,
    store::{GrantStore, Store, StoreError, UserId, UserRecord, Username},
};
use url::Url;

use crate::{client_args::ClientArgs, open_files, store_arg::StoreArg};

/// The scope every request needs: granted by default, and what a `401` asks clients for.
const MCP_SCOPE: &str = "mcp";
/// Every scope the reference server knows: the baseline and what its tools require beyond it.
const SCOPES_SUPPORTED: [&str; 2] = [MCP_SCOPE, outpost_reference::tools::identity::ADMIN_SCOPE];

/// The users `--demo` ensures exist: name and password.
const DEMO_USERS: [(&str, &str); 2] = [("alice", "password123"), ("bob", "password456")];

/// Flags of `outpost serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8000", env = "OUTPOST_BIND")]
    bind: SocketAddr,
    /// Externally visible base URL (e.g. https://mcp.example.com); defaults to http://BIND.
    /// It is also the OAuth issuer; the MCP resource is {BASE}/mcp.
    #[arg(long, env = "OUTPOST_PUBLIC_URL")]
    public_url: Option<Url>,
    #[command(flatten)]
    store: StoreArg,
    #[command(flatten)]
    clients: ClientArgs,
    /// Ensure the demo users alice / password123 and bob / password456 exist. Refused on a
    /// non-loopback bind unless --demo-on-public-bind is also given.
    #[arg(long, env = "OUTPOST_DEMO")]
    demo: bool,
    /// Allow --demo on a non-loopback bind (anyone who reaches the server can log in as the
    /// demo users).
    #[arg(long, requires = "demo")]
    demo_on_public_bind: bool,
    /// Serve without authentication (no authorization server, no store). Development only:
    /// refused on a non-loopback bind.
    #[arg(long, env = "OUTPOST_NO_AUTH", conflicts_with = "demo")]
    no_auth: bool,
    /// Close a session after this much inactivity (e.g. 5m, 90s).
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration, env = "OUTPOST_SESSION_IDLE_TIMEOUT")]
    session_idle_timeout: Duration,
    /// Largest accepted request body, in bytes.
    #[arg(long, default_value_t = 4 * 1024 * 1024, env = "OUTPOST_MAX_BODY_BYTES")]
    max_body_bytes: usize,
    /// Another browser origin allowed to call /mcp (repeatable; `:*` for any port).
    #[arg(
        long = "allow-origin",
        env = "OUTPOST_ALLOW_ORIGINS",
        value_delimiter = ','
    )]
    allow_origins: Vec<String>,
    /// A reverse proxy or load balancer whose Forwarded / X-Forwarded-For headers name the
    /// client, for per-source rate limits: a CIDR (10.0.0.0/8, fd00::/8) or one address
    /// (repeatable). Without it those headers are ignored.
    #[arg(
        long = "trusted-proxy",
        value_name = "CIDR",
        env = "OUTPOST_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    trusted_proxies: Vec<ProxyRange>,
    /// Close a connection whose request header has not fully arrived this long after its
    /// first byte (after the accept, on a new connection).
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration, env = "OUTPOST_HEADER_READ_TIMEOUT")]
    header_read_timeout: Duration,
    /// Fail a request (408) whose body has not fully arrived this long after the server began
    /// reading it.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration, env = "OUTPOST_BODY_READ_TIMEOUT")]
    body_read_timeout: Duration,
    /// Close a keep-alive connection with no request for this long (a request being answered,
    /// an SSE stream included, is never idle).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration, env = "OUTPOST_IDLE_TIMEOUT")]
    idle_timeout: Duration,
    /// Most open connections; more are closed at once.
    #[arg(long, default_value_t = 10_000, env = "OUTPOST_MAX_CONNECTIONS")]
    max_connections: usize,
    /// Most open connections from one IPv4 address or IPv6 /64 (--trusted-proxy peers exempt).
    #[arg(
        long,
        default_value_t = 256,
        env = "OUTPOST_MAX_CONNECTIONS_PER_SOURCE"
    )]
    max_connections_per_source: usize,
    /// Serve Prometheus metrics at http://ADDR/metrics, on a listener of its own (never the
    /// public one; keep it on a private address). Off by default; metrics are recorded anyway.
    #[arg(long, value_name = "ADDR", env = "OUTPOST_METRICS_BIND")]
    metrics_bind: Option<SocketAddr>,
}

/// Runs the reference server until SIGINT/SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    if args.demo && !args.bind.ip().is_loopback() && !args.demo_on_public_bind {
        bail!(
            "refusing --demo on non-loopback address {}: the demo users' passwords are public. \
             Bind to 127.0.0.1 (--bind), create real users with `outpost users add NAME`, \
             or add --demo-on-public-bind if you really mean it",
            args.bind
        );
    }
    if let Some(metrics_bind) = args.metrics_bind
        && metrics_bind.port() == args.bind.port()
        && (metrics_bind.ip() == args.bind.ip()
            || metrics_bind.ip().is_unspecified()
            || args.bind.ip().is_unspecified())
    {
        bail!(
            "refusing --metrics-bind {metrics_bind}: it is the public address {}; give the \
             metrics a listener of their own (another port, e.g. 127.0.0.1:9100)",
            args.bind
        );
    }
    open_files::raise_for(args.max_connections);
    // Before anything records: metric handles are resolved on first use.
    let metrics = PrometheusMetrics::install()?;
    let mut config = ServerConfig {
        bind: args.bind,
        public_url: args.public_url,
        auth: AuthMode::Disabled,
        session_idle_timeout: args.session_idle_timeout,
        max_request_body_bytes: args.max_body_bytes,
        extra_allowed_origins: args.allow_origins,
        trusted_proxies: TrustedProxies::new(args.trusted_proxies),
        connection_limits: ConnectionLimits {
            header_read_timeout: args.header_read_timeout,
            body_read_timeout: args.body_read_timeout,
            idle_timeout: args.idle_timeout,
            max_connections: args.max_connections,
            max_connections_per_source: args.max_connections_per_source,
        },
        ..ServerConfig::default()
    };
    if args.no_auth {
        config.validate()?;
    } else {
        // Checked before the store is touched; the auth mode is set below.
        let mut probe = config.clone();
        probe.bind = SocketAddr::from(([127, 0, 0, 1], 0));
        probe.validate()?;
    }
    // Bound first, so that `--bind …:0` yields the real port in the issuer and resource URLs.
    let listener = outpost::http::listener::bind(config.bind).await?;
    config.bind = listener.local_addr().context("local address")?;

    let reference = outpost_reference::ReferenceServer::new();
    let required_scopes = reference.required_scopes()?;
    let mut server = Outpost::with_factory(move || reference.for_session());
    if !args.no_auth {
        let store = args.store.open().await?;
        if args.demo {
            ensure_demo_users(&store).await?;
        } else if store.users.list().await?.is_empty() {
            let store_url = args.store.display_url();
            tracing::warn!(
                store = %store_url,
                "the store has no user, so nobody can log in: create one with \
                 `outpost users add NAME --store {store_url}` (or start with --demo for the \
                 demo users)",
            );
        }
        let authorization_server = args
            .clients
            .apply(authorization_server(&store, &config.base_url()).await?)
            .await?;
        let grants: Arc<dyn GrantStore> = store.grants.clone();
        let mut resource = ResourceServerConfig::new(
            authorization_server.issuer.clone(),
            authorization_server.keyring.clone(),
            Arc::new(grants),
        );
        resource.scopes_supported = Scope::parse(&SCOPES_SUPPORTED.join(" "))?;
        resource.baseline_scope = Scope::parse(MCP_SCOPE)?;
        resource.required_scopes = required_scopes;
        tracing::info!(
            issuer = %authorization_server.issuer,
            resource = %authorization_server.default_resource,
            kid = %authorization_server.keyring().signing_key(authorization_server.now()).kid(),
            store = %args.store.display_url(),
            "authorization server enabled"
        );
        config.auth = AuthMode::Bearer(resource);
        // The same store keeps the MCP sessions, so they outlive a restart, and the keys that
        // seal requestState, so that an MRTR retry may reach any instance on the store.
        let request_state_keys = RequestStateKeys::load(store.request_state_keys.clone())
            .await
            .context("cannot load the request-state keys")?;
        tracing::info!(kid = %request_state_keys.sealing_kid(), "request-state keys loaded");
        server = server
            .with_authorization_server(authorization_server)
            .with_session_store(store.mcp_sessions.clone())
            .with_request_state_keys(request_state_keys);
    }
    let shutdown = server.shutdown_token();
    tokio::spawn(metrics.clone().upkeep(shutdown.clone().cancelled_owned()));
    if let Some(metrics_bind) = args.metrics_bind {
        let listener = outpost::http::listener::bind(metrics_bind).await?;
        tracing::info!(addr = %listener.local_addr()?, "serving Prometheus metrics at /metrics");
        tokio::spawn(async move {
            if let Err(error) = metrics.serve(listener, shutdown.cancelled_owned()).await {
                tracing::error!(%error, "the metrics listener failed");
            }
        });
    }
    server
        .with_config(config)
        .serve_on(listener, outpost::shutdown_signal())
        .await
        .context("outpost serve")
}

/// The embedded authorization server for `base_url` (the issuer; the resource is
/// `{base_url}/mcp`), its keyring loaded from `store` (a first start generates the key).
pub async fn authorization_server(
    store: &Store,
    base_url: &str,
) -> anyhow::Result<AuthorizationServer> {
    let keyring =
        AuthorizationServer::load_keyring(store, DEFAULT_ACCESS_TOKEN_LIFETIME, SystemClock.now())
            .await
            .context("cannot load the signing keys")?;
    let mut server = AuthorizationServer::new(
        base_url,
        canonical_resource(base_url),
        store.clone(),
        keyring,
        SCOPES_SUPPORTED.map(str::to_owned).to_vec(),
    );
    server.default_scope = Scope::parse(MCP_SCOPE)?;
    Ok(server)
}

/// Creates the demo users that are missing; existing users are left as they are. Another
/// instance starting on the same store at the same moment may create one first: its
/// `Conflict` means the user exists, which is all this asks.
async fn ensure_demo_users(store: &Store) -> anyhow::Result<()> {
    for (name, password) in DEMO_USERS {
        let username = Username::parse(name)?;
        if store.users.get_by_username(&username).await?.is_some() {
            continue;
        }
        let created = store
            .users
            .create(UserRecord {
                id: UserId::random(),
                username,
                password_hash: hash_password(password)?,
                created_at: SystemClock.now(),
            })
            .await;
        match created {
            Ok(()) => tracing::info!(user = name, "created demo user"),
            Err(StoreError::Conflict(_)) => {}
            Err(error) => return Err(error.into()),
        }
    }
    tracing::warn!(
        "--demo: anyone who can reach this server can log in as the demo users alice and bob, \
         whose passwords are public (`outpost serve --help`)"
    );
    Ok(())
}
