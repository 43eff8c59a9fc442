//! Typed server settings, validated once at start-up.
//!
//! The binary fills a [`ServerConfig`] from flags and environment; the library never parses
//! flags itself. [`ServerConfig::validate`] rejects combinations that would be unsafe (an
//! unauthenticated server on a non-loopback address) with an error that names the setting.

use std::{net::SocketAddr, time::Duration};

use url::Url;

use crate::auth::resource::ResourceServerConfig;

/// How `/mcp` requests are authenticated.
#[derive(Debug, Clone, Default)]
pub enum AuthMode {
    /// Every request is served without credentials. Development only: loopback binds only.
    #[default]
    Disabled,
    /// The MCP routes require an OAuth bearer access token (the server is an OAuth resource
    /// server, `auth::resource`); the protected resource metadata is served.
    Bearer(ResourceServerConfig),
}

/// Settings for one Outpost server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address the HTTP listener binds to.
    pub bind: SocketAddr,
    /// The externally visible base URL (scheme, host, optional port, no path), used to accept
    /// the public `Host`/`Origin` and to build absolute URLs. Defaults to `http://{bind}`.
    pub public_url: Option<Url>,
    /// How requests are authenticated.
    pub auth: AuthMode,
    /// A session (2024-11-05 … 2025-11-25) with no traffic for this long is closed.
    pub session_idle_timeout: Duration,
    /// How many events a parked session's GET stream keeps for `Last-Event-ID`, and for how
    /// long (default: 256 events, 5 minutes).
    pub session_event_retention: crate::store::EventRetention,
    /// Largest accepted JSON-RPC POST body; larger bodies get `413 Payload Too Large`.
    pub max_request_body_bytes: usize,
    /// Extra browser origins allowed to call the MCP endpoints, besides the public URL's own
    /// origin and loopback origins (`scheme://host:port`, `:*` for any port).
    pub extra_allowed_origins: Vec<String>,
    /// Interval of SSE keep-alive comments on idle streams.
    pub sse_keep_alive: Duration,
    /// How long graceful shutdown waits for open connections before it gives up.
    pub shutdown_grace: Duration,
    /// Timeouts and caps on client connections (slow headers, trickling bodies, idle
    /// keep-alives, connection floods).
    pub connection_limits: ConnectionLimits,
    /// Caps on the sessions this instance holds open (each 2024-11-05 `/sse` stream).
    pub session_limits: SessionLimits,
    /// Serve the landing page at `GET /` (default): the server's name, version and MCP URL,
    /// how to connect, its revisions, authentication and status. Set it to `false` when the
    /// application embedding [`crate::Outpost::router`] serves its own `/`.
    pub landing_page: bool,
    /// Reverse proxies (load balancers) whose `Forwarded` / `X-Forwarded-For` headers name the
    /// client, for the limits per source: the embedded authorization server's throttles
    /// (added to its own trusted proxies), the per-source connection cap (which they are
    /// exempt from) and an external issuer's refused introspections. None by default (the
    /// headers are ignored).
    pub trusted_proxies: outpost_oauth::forwarded::TrustedProxies,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8000)),
            public_url: None,
            auth: AuthMode::Disabled,
            session_idle_timeout: Duration::from_secs(5 * 60),
            session_event_retention: crate::store::EventRetention {
                max_count: 256,
                max_age: Duration::from_secs(5 * 60),
            },
            max_request_body_bytes: 4 * 1024 * 1024,
            extra_allowed_origins: Vec::new(),
            sse_keep_alive: Duration::from_secs(15),
            shutdown_grace: Duration::from_secs(10),
            connection_limits: ConnectionLimits::default(),
            session_limits: SessionLimits::default(),
            landing_page: true,
            trusted_proxies: Default::default(),
        }
    }
}

/// Caps on open sessions (`mcp::session_limits`), each counted on its own: the 2024-11-05
/// `/sse` streams one instance holds, and the live parked 2025-xx sessions in the store, across
/// every instance sharing it (in-memory sessions are not counted). One session over a cap is
/// refused before anything is kept for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Open sessions of each kind at most; one more gets `503 Service Unavailable` with
    /// `Retry-After`.
    pub max_sessions: usize,
    /// Open sessions at most per subject (the access token's `sub`); one more gets `429 Too
    /// Many Requests`. Without authentication only [`SessionLimits::max_sessions`] applies.
    pub max_sessions_per_subject: usize,
}

impl Default for SessionLimits {
    /// Far above what a client needs (an editor opens a session or two per window), low
    /// enough that one subject cannot hold every slot.
    fn default() -> Self {
        Self {
            max_sessions: 10_000,
            max_sessions_per_subject: 100,
        }
    }
}

/// Timeouts and caps on client connections. None of them touches a request being answered:
/// a long tool call or an SSE stream is never idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A request's whole header must arrive within this, from its first byte (from the accept
    /// on a new connection), however slowly it trickles; else the connection is closed.
    pub header_read_timeout: Duration,
    /// A request's whole body must arrive within this once the handler starts reading it;
    /// else the read fails (`408` where the body is read for JSON-RPC) and the connection
    /// closes.
    pub body_read_timeout: Duration,
    /// A keep-alive connection with no request for this long is closed.
    pub idle_timeout: Duration,
    /// Open connections at most; one more is closed at once.
    pub max_connections: usize,
    /// Open connections at most from one source (an IPv4 address, an IPv6 /64); peers in
    /// the trusted proxy ranges are exempt.
    pub max_connections_per_source: usize,
}

impl Default for ConnectionLimits {
    /// Generous for real clients (a header arrives in one packet; a 4 MiB body at 1 Mbit/s
    /// takes ~34 s; clients keep a few connections each), tight for connections held open
    /// on purpose.
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(20),
            body_read_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            max_connections_per_source: 256,
        }
    }
}

impl ConnectionLimits {
    /// Refuses a zero timeout or cap, naming its flag.
    fn validate(&self) -> Result<(), ConfigError> {
        let zero = [
            ("header-read-timeout", self.header_read_timeout.is_zero()),
            ("body-read-timeout", self.body_read_timeout.is_zero()),
            ("idle-timeout", self.idle_timeout.is_zero()),
            ("max-connections", self.max_connections == 0),
            (
                "max-connections-per-source",
                self.max_connections_per_source == 0,
            ),
        ];
        match zero.into_iter().find(|(_, is_zero)| *is_zero) {
            Some((flag, _)) => Err(ConfigError::ZeroConnectionLimit(flag)),
            None => Ok(()),
        }
    }
}

/// A setting that cannot be served as given.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// An unauthenticated server would be reachable from other machines.
    #[error(
        "refusing to serve without authentication on non-loopback address {0}: \
         bind to 127.0.0.1 or ::1 (--bind), or enable authentication"
    )]
    NoAuthOnPublicBind(SocketAddr),
    /// The public URL is not a plain `http(s)://host[:port]` base (shown without its
    /// password, if it had one).
    #[error(
        "--public-url {0} must be an http or https URL with a host and no user, password, \
         path, query or fragment"
    )]
    InvalidPublicUrl(Url),
    /// A wildcard address (`0.0.0.0`, `::`) without a public URL: the server would name
    /// itself after the wildcard (issuer, resource, accepted `Host`), which no client reaches.
    #[error(
        "binding {0} needs --public-url: the URL clients reach this server at (its issuer and \
         resource, and the Host it accepts), e.g. --public-url https://mcp.example.com"
    )]
    WildcardBindWithoutPublicUrl(SocketAddr),
    /// A request body limit of zero would reject every request.
    #[error("max request body must be at least 1 byte")]
    ZeroBodyLimit,
    /// A connection or session timeout or cap of zero would refuse every client.
    #[error("--{0} must be more than zero")]
    ZeroConnectionLimit(&'static str),
}

impl ServerConfig {
    /// Checks the settings once, before anything is bound.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if matches!(self.auth, AuthMode::Disabled) && !self.bind.ip().is_loopback() {
            return Err(ConfigError::NoAuthOnPublicBind(self.bind));
        }
        self.validate_listener()
    }

    /// The checks that do not depend on serving MCP or on authentication: the address and
    /// public URL, the body and connection limits.
    pub(crate) fn validate_listener(&self) -> Result<(), ConfigError> {
        if self.bind.ip().is_unspecified() && self.public_url.is_none() {
            return Err(ConfigError::WildcardBindWithoutPublicUrl(self.bind));
        }
        if let Some(url) = &self.public_url {
            let plain_base = matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some()
                && url.username().is_empty()
                && url.password().is_none()
                && url.path() == "/"
                && url.query().is_none()
                && url.fragment().is_none();
            if !plain_base {
                let mut shown = url.clone();
                if shown.password().is_some() {
                    let _ = shown.set_password(Some("…"));
                }
                return Err(ConfigError::InvalidPublicUrl(shown));
            }
        }
        if self.max_request_body_bytes == 0 {
            return Err(ConfigError::ZeroBodyLimit);
        }
        if self.session_limits.max_sessions == 0 {
            return Err(ConfigError::ZeroConnectionLimit("max-sessions"));
        }
        if self.session_limits.max_sessions_per_subject == 0 {
            return Err(ConfigError::ZeroConnectionLimit("max-sessions-per-subject"));
        }
        if self.session_idle_timeout.is_zero() {
            return Err(ConfigError::ZeroConnectionLimit("session-idle-timeout"));
        }
        self.connection_limits.validate()
    }

    /// The externally visible base URL, without a trailing slash: `public_url`, or
    /// `http://{bind}` when none is set.
    pub fn base_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.as_str().trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.bind),
        }
    }

    /// `Host` values the MCP endpoints accept: loopback names and the public URL's host.
    /// Anything else is refused (DNS rebinding protection).
    pub fn allowed_hosts(&self) -> Vec<String> {
        let mut hosts = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ];
        if let Some(host) = self.public_url.as_ref().and_then(Url::host_str) {
            hosts.push(host.trim_matches(['[', ']']).to_owned());
        }
        hosts
    }

    /// Browser origins the MCP endpoints accept: loopback on any port, the public URL's
    /// origin, and [`ServerConfig::extra_allowed_origins`].
    pub fn allowed_origins(&self) -> Vec<String> {
        let mut origins: Vec<String> = ["localhost", "127.0.0.1", "[::1]"]
            .iter()
            .flat_map(|host| [format!("http://{host}:*"), format!("https://{host}:*")])
            .collect();
        if let Some(url) = &self.public_url {
            origins.push(url.origin().ascii_serialization());
        }
        origins.extend(self.extra_allowed_origins.iter().cloned());
        origins
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unauthenticated_server_refuses_public_bind() {
        let config = ServerConfig {
            bind: "0.0.0.0:8000".parse().unwrap(),
            ..ServerConfig::default()
        };
        assert_eq!(
            config.validate(),
            Err(ConfigError::NoAuthOnPublicBind(
                "0.0.0.0:8000".parse().unwrap()
            ))
        );
    }

    #[test]
    fn a_zero_session_idle_timeout_is_refused() {
        let config = ServerConfig {
            session_idle_timeout: Duration::ZERO,
            ..ServerConfig::default()
        };
        let refused = config.validate();
        assert_eq!(
            refused,
            Err(ConfigError::ZeroConnectionLimit("session-idle-timeout"))
        );
        assert_eq!(
            refused.unwrap_err().to_string(),
            "--session-idle-timeout must be more than zero"
        );
    }

    #[test]
    fn loopback_bind_without_auth_is_allowed() {
        for bind in ["127.0.0.1:8000", "[::1]:9000"] {
            let config = ServerConfig {
                bind: bind.parse().unwrap(),
                ..ServerConfig::default()
            };
            assert_eq!(config.validate(), Ok(()));
        }
    }

    #[test]
    fn bearer_auth_allows_a_public_bind() {
        use std::sync::{Arc, RwLock};

        use crate::auth::{keyring::Keyring, resource::ResourceServerConfig};

        let keyring = Keyring::generate(0, Duration::from_secs(3600)).unwrap();
        let grants: Arc<dyn crate::store::GrantStore> = crate::store::Store::memory().grants;
        let resource = ResourceServerConfig::new(
            "https://auth.example.com",
            Arc::new(RwLock::new(keyring)),
            Arc::new(grants),
        );
        let config = ServerConfig {
            bind: "0.0.0.0:8000".parse().unwrap(),
            public_url: Some("https://mcp.example.com".parse().unwrap()),
            auth: AuthMode::Bearer(resource),
            ..ServerConfig::default()
        };
        assert_eq!(config.validate(), Ok(()));
        // Without the public URL the server would call itself http://0.0.0.0:8000.
        let nameless = ServerConfig {
            public_url: None,
            ..config
        };
        assert_eq!(
            nameless.validate(),
            Err(ConfigError::WildcardBindWithoutPublicUrl(
                "0.0.0.0:8000".parse().unwrap()
            ))
        );
    }

    #[test]
    fn public_url_with_path_is_rejected() {
        let config = ServerConfig {
            public_url: Some("https://mcp.example.com/base".parse().unwrap()),
            ..ServerConfig::default()
        };
        assert!(matches!(
            config.validate(),
            Err(ConfigError::InvalidPublicUrl(_))
        ));
    }

    /// Credentials in the issuer would be published in every metadata document.
    #[test]
    fn public_url_with_credentials_is_rejected_without_showing_them() {
        for url in [
            "https://user@mcp.example.com",
            "https://user:secret@mcp.example.com",
        ] {
            let config = ServerConfig {
                public_url: Some(url.parse().unwrap()),
                ..ServerConfig::default()
            };
            let error = config.validate().expect_err(url);
            assert!(matches!(error, ConfigError::InvalidPublicUrl(_)), "{url}");
            assert!(!error.to_string().contains("secret"), "{error}");
        }
    }

    #[test]
    fn public_url_host_and_origin_are_accepted() {
        let config = ServerConfig {
            public_url: Some("https://mcp.example.com".parse().unwrap()),
            ..ServerConfig::default()
        };
        assert_eq!(config.base_url(), "https://mcp.example.com");
        assert!(
            config
                .allowed_hosts()
                .contains(&"mcp.example.com".to_owned())
        );
        assert!(
            config
                .allowed_origins()
                .contains(&"https://mcp.example.com".to_owned())
        );
    }
}
