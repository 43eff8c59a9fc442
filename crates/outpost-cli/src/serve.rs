//! `outpost serve`: flags → [`outpost::ServerConfig`] → the reference server.

use std::{net::SocketAddr, time::Duration};

use anyhow::Context;
use outpost::{AuthMode, Outpost, ServerConfig};
use url::Url;

/// Flags of `outpost serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8000", env = "OUTPOST_BIND")]
    bind: SocketAddr,
    /// Externally visible base URL (e.g. https://mcp.example.com); defaults to http://BIND.
    #[arg(long, env = "OUTPOST_PUBLIC_URL")]
    public_url: Option<Url>,
    /// Serve without authentication. Development only: refused on a non-loopback bind.
    #[arg(long, env = "OUTPOST_NO_AUTH")]
    no_auth: bool,
    /// Close a legacy session after this much inactivity (e.g. 5m, 90s).
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
}

/// Runs the reference server until SIGINT/SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    if !args.no_auth {
        anyhow::bail!(
            "this build has no authorization server yet: run `outpost serve --no-auth` \
             (loopback development only)"
        );
    }
    let config = ServerConfig {
        bind: args.bind,
        public_url: args.public_url,
        auth: AuthMode::Disabled,
        session_idle_timeout: args.session_idle_timeout,
        max_request_body_bytes: args.max_body_bytes,
        extra_allowed_origins: args.allow_origins,
        ..ServerConfig::default()
    };
    {
        let reference = outpost_reference::ReferenceServer::new();
        Outpost::with_factory(move || reference.for_session())
    }
    .with_config(config)
    .serve(outpost::shutdown_signal())
    .await
    .context("outpost serve")
}
