//! `outpost serve`: flags → [`outpost::ServerConfig`] (and, unless `--no-auth`, the embedded
//! authorization server over the store, which also keeps the MCP sessions and the
//! `requestState` keys — or, with `--issuer`, no authorization server: tokens from an external
//! identity provider, the store keeping only sessions and keys) → the reference server.
//! Several instances may share one store and start at the same moment: the store is migrated
//! once, the demo users, the first signing key and the first request-state key are created
//! once. `--role auth|mcp` splits the authorization server and the MCP endpoint into two
//! processes ([`roles`]).

mod heap_trim;
mod roles;

use std::{net::SocketAddr, time::Duration};

use anyhow::{Context, bail};
use outpost::{
    AuthMode, ConnectionLimits, Outpost, ServerConfig, SessionLimits,
    auth::{
        external::{ExternalIssuerConfig, IntrospectionSettings},
        resource::canonical_resource,
        scope::Scope,
        server::{
            AuthorizationServer, Clock, DEFAULT_ACCESS_TOKEN_LIFETIME, SystemClock,
            forwarded::{ProxyRange, TrustedProxies},
            upstream::{UpstreamOidc, UpstreamSettings},
        },
    },
    prometheus::PrometheusMetrics,
    store::{EventRetention, Store},
};
use url::Url;

use crate::{
    client_args::ClientArgs,
    otlp_args::{self, OtlpArgs},
    rate_limit_args::RateLimitArgs,
    store_arg::StoreArg,
};

/// The scope every request needs: granted by default, and what a `401` asks clients for.
pub(crate) const MCP_SCOPE: &str = "mcp";
/// Every scope the reference server knows: the baseline and what its tools require beyond it.
pub(crate) const SCOPES_SUPPORTED: [&str; 2] =
    [MCP_SCOPE, outpost_reference::tools::identity::ADMIN_SCOPE];

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
    #[command(flatten)]
    pages: crate::page_args::PageArgs,
    /// Ensure the demo users alice / password123 and bob / password456 exist. Refused on a
    /// non-loopback bind unless --demo-on-public-bind is also given.
    #[arg(long, env = "OUTPOST_DEMO", value_parser = clap::builder::BoolishValueParser::new())]
    demo: bool,
    /// Allow --demo on a non-loopback bind (anyone who reaches the server can log in as the
    /// demo users).
    #[arg(long, requires = "demo")]
    demo_on_public_bind: bool,
    /// Serve without authentication (no authorization server; no store unless --store is
    /// given, which then keeps the sessions and request-state keys, shared by the instances on
    /// it). Development only: refused on a non-loopback bind.
    #[arg(long, env = "OUTPOST_NO_AUTH", conflicts_with = "demo", value_parser = clap::builder::BoolishValueParser::new())]
    no_auth: bool,
    #[command(flatten)]
    issuer: IssuerArgs,
    #[command(flatten)]
    role: roles::RoleArgs,
    #[command(flatten)]
    upstream: UpstreamArgs,
    #[command(flatten)]
    rate_limits: RateLimitArgs,
    /// Keep 2025-xx sessions in this process's memory (rmcp's session manager, ~50 KiB per
    /// idle session, known to this instance only) instead of parking them in the store.
    #[arg(long, env = "OUTPOST_IN_MEMORY_SESSIONS", value_parser = clap::builder::BoolishValueParser::new())]
    in_memory_sessions: bool,
    /// Events a session's GET stream keeps for Last-Event-ID.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..), env = "OUTPOST_EVENT_RETENTION_COUNT")]
    event_retention_count: u32,
    /// How long those events are kept (e.g. 5m, 90s).
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration, env = "OUTPOST_EVENT_RETENTION_AGE")]
    event_retention_age: Duration,
    /// How often the reference server reports a subscribed resource as updated (e.g. 10s,
    /// 500ms): the cadence of `notifications/resources/updated`.
    #[arg(long, default_value = "10s", value_parser = parse_update_interval, env = "OUTPOST_RESOURCE_UPDATE_INTERVAL")]
    resource_update_interval: Duration,
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
    /// How long after a refresh token's first use presenting it again gets a token of its
    /// own (a client refreshing from parallel requests) instead of revoking the grant as a
    /// replay (OAuth 2.1 §4.3.1). 0s, the default, revokes on every reuse; a few seconds keep
    /// such clients signed in, and leave a replay within them undetected.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration, env = "OUTPOST_REFRESH_RACE_WINDOW")]
    refresh_race_window: Duration,
    /// On SIGTERM, SIGHUP or Ctrl-C: how long requests in flight may take to finish and
    /// streams to close before the process exits anyway.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, env = "OUTPOST_SHUTDOWN_GRACE")]
    shutdown_grace: Duration,
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
    /// Most sessions open at once: 2024-11-05 /sse streams on this instance, and live
    /// 2025-xx sessions in the store (across the instances sharing it); one more is refused
    /// with 503 and Retry-After.
    #[arg(long, default_value_t = 10_000, env = "OUTPOST_MAX_SESSIONS")]
    max_sessions: usize,
    /// Most sessions one subject (token `sub`) holds open: /sse streams on this instance, and
    /// 2025-xx sessions in the store; one more is refused with 429.
    #[arg(long, default_value_t = 100, env = "OUTPOST_MAX_SESSIONS_PER_SUBJECT")]
    max_sessions_per_subject: usize,
    /// Serve Prometheus metrics at http://ADDR/metrics, on a listener of its own (never the
    /// public one; keep it on a private address). Off by default; metrics are recorded anyway.
    #[arg(long, value_name = "ADDR", env = "OUTPOST_METRICS_BIND")]
    metrics_bind: Option<SocketAddr>,
    #[command(flatten)]
    otlp: OtlpArgs,
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
    #[arg(long, env = "OUTPOST_REQUIRE_AT_JWT", requires = "issuer", value_parser = clap::builder::BoolishValueParser::new())]
    require_at_jwt: bool,
    /// How far an external issuer's token's exp and nbf (--issuer; an upstream ID token's exp
    /// and iat) may be off, for clock skew with it. Outpost's own tokens allow 60 s.
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

/// Upstream OpenID login: users sign in at an OpenID provider instead of the password page;
/// Outpost stays the MCP clients' authorization server.
#[derive(Debug, clap::Args)]
struct UpstreamArgs {
    /// Sign users in at this OpenID provider (its issuer URL, exactly as in its discovery
    /// document) instead of the password page. Register
    /// `{public-url}/oauth/upstream/callback` as a redirect URI there.
    #[arg(
        long,
        env = "OUTPOST_UPSTREAM_OIDC",
        value_name = "ISSUER_URL",
        conflicts_with_all = ["issuer", "no_auth", "demo"],
        requires_all = ["upstream_client_id", "upstream_client_secret"]
    )]
    upstream_oidc: Option<String>,
    /// Outpost's client id at the upstream provider.
    #[arg(
        long,
        env = "OUTPOST_UPSTREAM_CLIENT_ID",
        value_name = "ID",
        requires = "upstream_oidc"
    )]
    upstream_client_id: Option<String>,
    /// Outpost's client secret at the upstream provider (better from the environment
    /// variable than on a command line).
    #[arg(
        long,
        env = "OUTPOST_UPSTREAM_CLIENT_SECRET",
        value_name = "SECRET",
        hide_env_values = true,
        requires = "upstream_oidc"
    )]
    upstream_client_secret: Option<String>,
    /// Only users whose email the provider verified, in one of these domains, may sign in
    /// (comma-separated; subdomains are not included).
    #[arg(
        long,
        env = "OUTPOST_UPSTREAM_ALLOWED_DOMAINS",
        value_name = "DOMAIN",
        value_delimiter = ',',
        requires = "upstream_oidc"
    )]
    upstream_allowed_domains: Vec<String>,
}

impl UpstreamArgs {
    fn settings(&self, clock_leeway: Duration) -> Option<UpstreamSettings> {
        let mut settings = UpstreamSettings::new(
            self.upstream_oidc.clone()?,
            self.upstream_client_id.clone().unwrap_or_default(),
            self.upstream_client_secret.clone().unwrap_or_default(),
        );
        settings.allowed_domains = self.upstream_allowed_domains.clone();
        settings.clock_leeway = clock_leeway;
        Some(settings)
    }
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
    args.role.check(&args)?;
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
    // Before anything records: metric handles are resolved on first use.
    let metrics = PrometheusMetrics::install()?;
    let otlp = args.otlp.start()?;
    let mut config = ServerConfig {
        bind: args.bind,
        public_url: args.public_url,
        auth: AuthMode::Disabled,
        session_idle_timeout: args.session_idle_timeout,
        session_event_retention: EventRetention {
            max_count: args.event_retention_count,
            max_age: args.event_retention_age,
        },
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
        session_limits: SessionLimits {
            max_sessions: args.max_sessions,
            max_sessions_per_subject: args.max_sessions_per_subject,
        },
        shutdown_grace: args.shutdown_grace,
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

    let reference = outpost_reference::ReferenceServer::with_resource_update_interval(
        args.resource_update_interval,
    );
    let resource_updates = reference.resource_update_task();
    let mut builder = Outpost::builder_with_factory(move || reference.for_session())
        .listener(listener)
        .scopes_supported(SCOPES_SUPPORTED);
    if args.in_memory_sessions {
        builder = builder.in_memory_sessions();
    }
    let auth_role = args.role.role() == roles::Role::Auth;
    let store = if !args.no_auth || args.store.is_given() {
        Some(args.store.open_with_keys().await?)
    } else {
        None
    };
    if let Some(external) = args.issuer.config(&config.base_url()) {
        let external = match &store {
            Some(store) => roles::with_grant_revocation(&args.role, &args.store, external, store),
            None => external,
        };
        builder = builder.external_issuer(external);
    } else if args.no_auth {
        builder = builder.no_auth();
    } else {
        if args.demo {
            builder = builder.demo_users().allow_demo_users_on_public_bind();
        }
        let upstream = args.upstream.settings(args.issuer.clock_leeway);
        let (clients, pages, role) = (args.clients, args.pages, args.role);
        let role = auth_role.then_some(role);
        let refresh_race_window = args.refresh_race_window;
        builder = builder.configure_authorization_server(move |mut server| async move {
            server.refresh_race_window = refresh_race_window;
            prepare_authorization_server(server, pages, role, clients, upstream)
                .await
                .map_err(|error| format!("{error:#}"))
        });
    }
    if let Some(store) = store {
        let (limits, throttled) = (args.rate_limits, store.clone());
        builder = builder
            .configure_resource_server(move |resource| limits.apply(resource, &throttled))
            .opened_store(store, args.store.display_url());
    }
    let mut server = builder.config(config).build().await?;
    if auth_role {
        server = server.without_mcp();
    }
    if !args.in_memory_sessions {
        server = server.with_standalone_stream_task(resource_updates);
    }
    let shutdown = server.shutdown_token();
    heap_trim::spawn(shutdown.clone());
    if let Some(metrics_bind) = args.metrics_bind {
        let listener = outpost::http::listener::bind(metrics_bind).await?;
        tracing::info!(addr = %listener.local_addr()?, "serving Prometheus metrics at /metrics");
        tokio::spawn(async move {
            if let Err(error) = metrics.serve(listener, shutdown.cancelled_owned()).await {
                tracing::error!(%error, "the metrics listener failed");
            }
        });
    }
    let served = server
        .serve(outpost::shutdown_signal())
        .await
        .context("outpost serve");
    otlp_args::finish(otlp).await;
    served
}

/// The embedded authorization server as the flags shape it: branded or replaced pages, the
/// MCP role's resource for the auth role (`role`), the pre-registered clients, upstream login.
async fn prepare_authorization_server(
    server: AuthorizationServer,
    pages: crate::page_args::PageArgs,
    role: Option<roles::RoleArgs>,
    clients: ClientArgs,
    upstream: Option<UpstreamSettings>,
) -> anyhow::Result<AuthorizationServer> {
    let mut server = pages.apply(server)?;
    if let Some(role) = role {
        server = roles::for_mcp_role(&role, server)?;
    }
    let server = clients.apply(server).await?;
    with_upstream(server, upstream).await
}

/// `server` with users signing in at the upstream provider when `--upstream-oidc` is given.
async fn with_upstream(
    server: AuthorizationServer,
    upstream: Option<UpstreamSettings>,
) -> anyhow::Result<AuthorizationServer> {
    let Some(settings) = upstream else {
        return Ok(server);
    };
    let upstream = UpstreamOidc::connect(settings, &server.issuer)
        .await
        .context("cannot use the upstream provider (--upstream-oidc)")?;
    tracing::info!(
        provider = %upstream.settings().issuer,
        client_id = %upstream.settings().client_id,
        redirect_uri = %upstream.redirect_uri(),
        "users sign in at the upstream provider (register the redirect URI there)"
    );
    Ok(server.with_upstream_oidc(upstream))
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

/// `--resource-update-interval`: a duration, more than zero (a timer cannot tick every 0 s).
fn parse_update_interval(text: &str) -> Result<Duration, String> {
    let interval = humantime::parse_duration(text).map_err(|error| error.to_string())?;
    if interval.is_zero() {
        return Err("must be more than zero".to_owned());
    }
    Ok(interval)
}
