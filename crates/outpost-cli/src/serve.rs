//! `outpost serve`: flags → [`outpost::ServerConfig`] (and, unless `--no-auth`, the embedded
//! authorization server over the store, which also keeps the MCP sessions and the
//! `requestState` keys — or, with `--issuer`, no authorization server: tokens from an external
//! identity provider, the store keeping only sessions and keys) → the reference server.
//! Several instances may share one store and start at the same moment: the store is migrated
//! once, the demo users, the first signing key and the first request-state key are created
//! once.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::{Context, bail};
use outpost::auth::server::password::hash_password;
use outpost::{
    AuthMode, ConnectionLimits, Outpost, RequestStateKeys, ServerConfig,
    auth::{
        external::{ExternalIssuerConfig, ExternalTokens, IntrospectionSettings},
        resource::{ResourceServerConfig, canonical_resource},
        scope::Scope,
        server::{
            AuthorizationServer, Clock, DEFAULT_ACCESS_TOKEN_LIFETIME, SystemClock,
            forwarded::{ProxyRange, TrustedProxies},
        },
    },
    prometheus::PrometheusMetrics,
    store::{GrantStore, ScopeSet, Store, StoreError, UserId, UserRecord, Username},
};
use url::Url;

use crate::{
    client_args::ClientArgs, open_files, rate_limit_args::RateLimitArgs, store_arg::StoreArg,
};

/// The scope every request needs: granted by default, and what a `401` asks clients for.
const MCP_SCOPE: &str = "mcp";
/// Every scope the reference server knows: the baseline and what its tools require beyond it.
pub(crate) const SCOPES_SUPPORTED: [&str; 2] =
    [MCP_SCOPE, outpost_reference::tools::identity::ADMIN_SCOPE];

/// The users `--demo` ensures exist: name, password, and the scopes beyond the baseline each
/// may be granted (alice may be granted `mcp:admin`, bob not).
const DEMO_USERS: [(&str, &str, &str); 2] = [
    (
        "alice",
        "password123",
        outpost_reference::tools::identity::ADMIN_SCOPE,
    ),
    ("bob", "password456", ""),
];

/// Flags of `outpost serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8000", env = "OUTPOST_BIND")]
    bind: SocketAddr,
    /// Externally visible base URL (e.g. https://mcp.example.com); defaults to http://BIND.
    /// It is also the OAuth issuer (unless --issuer); the MCP resource is {BASE}/mcp.
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
    /// Serve without authentication (no authorization server; no store unless --store is
    /// given, which then keeps the sessions and request-state keys, shared by the instances on
    /// it). Development only: refused on a non-loopback bind.
    #[arg(long, env = "OUTPOST_NO_AUTH", conflicts_with = "demo")]
    no_auth: bool,
    #[command(flatten)]
    issuer: IssuerArgs,
    #[command(flatten)]
    rate_limits: RateLimitArgs,
    /// Serve 2025-xx sessions with Outpost's own session manager: an idle session is a record
    /// in the store (memory with --no-auth), served by any instance sharing it. Not yet:
    /// Last-Event-ID resumption.
    #[arg(long, env = "OUTPOST_PARKED_SESSIONS")]
    parked_sessions: bool,
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

/// Flags of the resource-server-only mode: tokens from an identity provider of your own.
#[derive(Debug, clap::Args)]
struct IssuerArgs {
    /// Trust this OAuth / OpenID issuer instead of running the embedded authorization server
    /// (no /authorize, /token, users or clients here): exactly its issuer identifier, as in
    /// its tokens' `iss` (e.g. https://tenant.eu.auth0.com/, https://kc.example/realms/acme).
    /// JWT access tokens are verified with the keys at its discovery document's jwks_uri.
    #[arg(
        long,
        env = "OUTPOST_ISSUER",
        value_name = "URL",
        conflicts_with_all = ["demo", "no_auth", "clients", "no_cimd", "no_dcr", "cimd_allow_private_addresses"]
    )]
    issuer: Option<String>,
    /// The audience tokens must carry (in `aud`); default {public-url}/mcp. For IdPs that
    /// cannot mint that audience, e.g. an Auth0 API identifier.
    #[arg(
        long,
        env = "OUTPOST_AUDIENCE",
        value_name = "AUD",
        requires = "issuer"
    )]
    audience: Option<String>,
    /// Accept only RFC 9068 access tokens (`typ: at+jwt`).
    #[arg(long, env = "OUTPOST_REQUIRE_AT_JWT", requires = "issuer")]
    require_at_jwt: bool,
    /// How far a token's exp and nbf may be off, for clock skew with the issuer.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration, env = "OUTPOST_CLOCK_LEEWAY")]
    clock_leeway: Duration,
    /// Check tokens by RFC 7662 introspection at this endpoint (opaque tokens) instead of
    /// verifying JWTs.
    #[arg(
        long,
        env = "OUTPOST_INTROSPECTION_ENDPOINT",
        value_name = "URL",
        requires_all = ["issuer", "introspection_client_id", "introspection_client_secret"]
    )]
    introspection_endpoint: Option<Url>,
    /// The client id Outpost authenticates to the introspection endpoint with.
    #[arg(
        long,
        env = "OUTPOST_INTROSPECTION_CLIENT_ID",
        value_name = "ID",
        requires = "introspection_endpoint"
    )]
    introspection_client_id: Option<String>,
    /// Its client secret (client_secret_basic); prefer the environment variable.
    #[arg(
        long,
        env = "OUTPOST_INTROSPECTION_CLIENT_SECRET",
        value_name = "SECRET",
        hide_env_values = true,
        requires = "introspection_endpoint"
    )]
    introspection_client_secret: Option<String>,
}

impl IssuerArgs {
    /// The external issuer's settings for the MCP endpoint under `base_url`, if `--issuer`.
    fn config(&self, base_url: &str) -> Option<ExternalIssuerConfig> {
        let issuer = self.issuer.clone()?;
        let audience = self
            .audience
            .clone()
            .unwrap_or_else(|| canonical_resource(base_url));
        let mut config = ExternalIssuerConfig::new(issuer, audience);
        config.require_at_jwt = self.require_at_jwt;
        config.clock_leeway = self.clock_leeway;
        if let (Some(endpoint), Some(client_id), Some(client_secret)) = (
            &self.introspection_endpoint,
            &self.introspection_client_id,
            &self.introspection_client_secret,
        ) {
            config.introspection = Some(IntrospectionSettings {
                endpoint: endpoint.clone(),
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
            });
        }
        Some(config)
    }
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
    if args.parked_sessions {
        server = server.with_parked_sessions();
    }
    if let Some(external) = args.issuer.config(&config.base_url()) {
        let store = args.store.open_with_keys().await?;
        let tokens = ExternalTokens::connect(external)
            .await
            .context("cannot use the external issuer (--issuer)")?;
        let mut resource = ResourceServerConfig::external(tokens.clone());
        resource.scopes_supported = Scope::parse(&SCOPES_SUPPORTED.join(" "))?;
        resource.baseline_scope = Scope::parse(MCP_SCOPE)?;
        resource.required_scopes = required_scopes;
        args.rate_limits.apply(&mut resource, &store);
        tracing::info!(
            issuer = %tokens.issuer(),
            audience = %tokens.audience(),
            tokens = if tokens.introspects() { "introspected" } else { "JWT, verified with the issuer's keys" },
            store = %args.store.display_url(),
            "resource server only: tokens from an external issuer"
        );
        config.auth = AuthMode::Bearer(resource);
        // The store keeps the MCP sessions, so they outlive a restart, and the request-state
        // keys; it is what /ready probes.
        server = server
            .with_store_health(store.health.clone())
            .with_session_store(store.mcp_sessions.clone())
            .with_request_state_keys(request_state_keys(&store).await?);
    } else if args.no_auth && args.store.is_given() {
        let store = args.store.open_with_keys().await?;
        tracing::info!(store = %args.store.display_url(), "sessions kept in the store, without authentication");
        server = server
            .with_session_store(store.mcp_sessions.clone())
            .with_store_health(store.health.clone())
            .with_request_state_keys(request_state_keys(&store).await?);
    } else if !args.no_auth {
        let store = args.store.open_with_keys().await?;
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
        args.rate_limits.apply(&mut resource, &store);
        tracing::info!(
            issuer = %authorization_server.issuer,
            resource = %authorization_server.default_resource,
            kid = %authorization_server.keyring().signing_key(authorization_server.now()).kid(),
            store = %args.store.display_url(),
            "authorization server enabled"
        );
        config.auth = AuthMode::Bearer(resource);
        // The same store keeps the MCP sessions, so they outlive a restart, and the keys that
        // seal requestState.
        server = server
            .with_authorization_server(authorization_server)
            .with_session_store(store.mcp_sessions.clone())
            .with_request_state_keys(request_state_keys(&store).await?);
    }
    let shutdown = server.shutdown_token();
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

/// The keys that seal requestState, from `store`, so that an MRTR retry may reach any
/// instance on the store.
async fn request_state_keys(store: &Store) -> anyhow::Result<RequestStateKeys> {
    let keys = RequestStateKeys::load(store.request_state_keys.clone())
        .await
        .context("cannot load the request-state keys")?;
    tracing::info!(kid = %keys.sealing_kid(), "request-state keys loaded");
    Ok(keys)
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

/// Creates the demo users that are missing, and gives an existing demo user the scopes the
/// demo allows them when they lack one (a store from before per-user scopes); passwords and
/// anything else of an existing user are left as they are. Another instance starting on the
/// same store at the same moment may create one first: its `Conflict` means the user exists,
/// which is all this asks.
async fn ensure_demo_users(store: &Store) -> anyhow::Result<()> {
    for (name, password, scopes) in DEMO_USERS {
        let username = Username::parse(name)?;
        let allowed_scopes = ScopeSet::parse(scopes)?;
        if let Some(user) = store.users.get_by_username(&username).await? {
            if allowed_scopes
                .iter()
                .any(|s| !user.allowed_scopes.contains(s))
            {
                let mut widened: Vec<&str> = user.allowed_scopes.iter().collect();
                widened.extend(allowed_scopes.iter());
                let widened = ScopeSet::from_tokens(widened)?;
                store.users.set_allowed_scopes(user.id, widened).await?;
                tracing::info!(user = name, scopes, "gave the demo user its scopes");
            }
            continue;
        }
        let created = store
            .users
            .create(UserRecord {
                id: UserId::random(),
                username,
                password_hash: hash_password(password)?,
                allowed_scopes,
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
        "--demo: anyone who can reach this server can log in as the demo users alice (who may \
         be granted mcp:admin) and bob, whose passwords are public (`outpost serve --help`)"
    );
    Ok(())
}
