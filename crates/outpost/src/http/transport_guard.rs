//! DNS-rebinding and cross-origin protection for the MCP endpoints.
//!
//! The MCP transport spec requires servers to validate `Origin` (403 for a present, disallowed
//! origin) and, for servers reachable on loopback, the `Host` header. rmcp checks both inside
//! its Streamable HTTP service, but the legacy HTTP+SSE endpoints do not pass through it, so
//! Outpost checks every MCP route here, once, with the same lists it hands to rmcp.

use std::{
    convert::Infallible,
    sync::Arc,
    task::{Context, Poll},
};

use axum::{
    body::Body,
    response::{IntoResponse, Response},
};
use futures::future::Either;
use http::{HeaderMap, Request, StatusCode, header};
use tower::{Layer, Service};

use crate::http::early_answer::{BoxedResponse, refuse};

/// Which `Host` and `Origin` values the MCP endpoints accept.
#[derive(Debug, Clone)]
pub struct TransportGuard {
    hosts: Arc<[String]>,
    origins: Arc<[OriginPattern]>,
}

/// One allowed origin: a scheme and host, with a fixed port or any port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OriginPattern {
    scheme: String,
    host: String,
    port: PortPattern,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortPattern {
    Any,
    Exactly(u16),
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GuardRejection {
    /// No `Host` header, or one that is not an authority.
    #[error("Bad Request: missing or malformed Host header")]
    MalformedHost,
    /// A `Host` this server does not answer to (possible DNS rebinding).
    #[error("Forbidden: Host header is not allowed")]
    HostNotAllowed,
    /// A browser origin this server does not accept.
    #[error("Forbidden: Origin header is not allowed")]
    OriginNotAllowed,
}

impl IntoResponse for GuardRejection {
    fn into_response(self) -> Response {
        let status = match self {
            GuardRejection::MalformedHost => StatusCode::BAD_REQUEST,
            GuardRejection::HostNotAllowed | GuardRejection::OriginNotAllowed => {
                StatusCode::FORBIDDEN
            }
        };
        (status, self.to_string()).into_response()
    }
}

impl TransportGuard {
    /// A guard accepting `hosts` (names, any port) and `origins` (`scheme://host[:port|:*]`).
    /// Malformed origin entries are ignored.
    pub fn new(hosts: Vec<String>, origins: &[String]) -> Self {
        Self {
            hosts: hosts.into_iter().map(|h| h.to_ascii_lowercase()).collect(),
            origins: origins
                .iter()
                .filter_map(|o| OriginPattern::parse(o))
                .collect(),
        }
    }

    /// Checks one request's headers.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), GuardRejection> {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .ok_or(GuardRejection::MalformedHost)?;
        if !self.plainly_allowed(host) {
            self.check_host(host)?;
        }
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        let origin = origin
            .to_str()
            .ok()
            .and_then(|o| url::Url::parse(o).ok())
            .ok_or(GuardRejection::OriginNotAllowed)?;
        if self.origins.iter().any(|pattern| pattern.matches(&origin)) {
            Ok(())
        } else {
            Err(GuardRejection::OriginNotAllowed)
        }
    }
}

impl TransportGuard {
    /// Whether `host` is `NAME` or `NAME:PORT` for an allowed `NAME` made of letters, digits,
    /// dots and hyphens and a port that fits in 16 bits: the common case, decided without
    /// [`check_host`](Self::check_host)'s parse (which copies the value). Anything else
    /// (brackets, user info, an odd port) is left to that parse.
    fn plainly_allowed(&self, host: &str) -> bool {
        let name = match host.rsplit_once(':') {
            Some((name, port)) if is_port(port) => name,
            Some(_) => return false,
            None => host,
        };
        name.bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'.' || byte == b'-')
            && self.allows(name)
    }

    /// Checks `host` as an authority (RFC 3986): its host, brackets trimmed, must be allowed.
    fn check_host(&self, host: &str) -> Result<(), GuardRejection> {
        let host = host
            .parse::<http::uri::Authority>()
            .map_err(|_| GuardRejection::MalformedHost)?;
        if self.allows(host.host().trim_matches(['[', ']'])) {
            Ok(())
        } else {
            Err(GuardRejection::HostNotAllowed)
        }
    }

    /// Whether `name` (a host without port or brackets) is one of the allowed hosts.
    fn allows(&self, name: &str) -> bool {
        self.hosts
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(name))
    }
}

/// One to five ASCII digits whose value fits in a `u16`, as an authority's port must.
fn is_port(port: &str) -> bool {
    (1..=5).contains(&port.len())
        && port.bytes().all(|byte| byte.is_ascii_digit())
        && port.parse::<u16>().is_ok()
}

impl OriginPattern {
    fn parse(pattern: &str) -> Option<Self> {
        let (rest, port) = match pattern.strip_suffix(":*") {
            Some(rest) => (rest, Some(PortPattern::Any)),
            None => (pattern, None),
        };
        let url = url::Url::parse(rest).ok()?;
        let port = port.or_else(|| url.port_or_known_default().map(PortPattern::Exactly))?;
        Some(Self {
            scheme: url.scheme().to_owned(),
            host: url.host_str()?.to_ascii_lowercase(),
            port,
        })
    }

    fn matches(&self, origin: &url::Url) -> bool {
        let port_matches = match self.port {
            PortPattern::Any => true,
            PortPattern::Exactly(port) => origin.port_or_known_default() == Some(port),
        };
        origin.scheme() == self.scheme
            && origin.host_str().map(str::to_ascii_lowercase).as_deref() == Some(&self.host)
            && port_matches
    }
}

impl<S> Layer<S> for TransportGuard {
    type Service = Guarded<S>;

    fn layer(&self, inner: S) -> Guarded<S> {
        Guarded {
            guard: self.clone(),
            inner,
        }
    }
}

/// A service behind a [`TransportGuard`]: refused requests never reach it.
///
/// A plain tower service rather than `axum::middleware::from_fn`, which boxes every request's
/// future: the guard runs on the hot path.
#[derive(Debug, Clone)]
pub struct Guarded<S> {
    guard: TransportGuard,
    inner: S,
}

impl<S> Service<Request<Body>> for Guarded<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<BoxedResponse, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        match self.guard.check(request.headers()) {
            Ok(()) => Either::Right(self.inner.call(request)),
            Err(rejection) => {
                tracing::warn!(%rejection, "refused MCP request");
                Either::Left(refuse(request, rejection.into_response()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> TransportGuard {
        TransportGuard::new(
            vec![
                "localhost".into(),
                "127.0.0.1".into(),
                "::1".into(),
                "mcp.example.com".into(),
            ],
            &[
                "http://localhost:*".into(),
                "https://mcp.example.com".into(),
            ],
        )
    }

    fn headers(host: &str, origin: Option<&str>) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(header::HOST, host.parse().unwrap());
        if let Some(origin) = origin {
            map.insert(header::ORIGIN, origin.parse().unwrap());
        }
        map
    }

    #[test]
    fn loopback_and_public_hosts_pass() {
        for host in ["localhost:8000", "127.0.0.1", "[::1]:9", "MCP.example.com"] {
            assert_eq!(guard().check(&headers(host, None)), Ok(()), "{host}");
        }
    }

    #[test]
    fn the_quick_host_check_answers_as_the_authority_parse_does() {
        let g = guard();
        let parts = [
            "",
            "localhost",
            "LocalHost",
            "127.0.0.1",
            "::1",
            "[::1]",
            "mcp.example.com",
            "evil.example",
            "a@localhost",
            "local host",
            "localhost.",
            "-",
            "[::1",
            "::1]",
        ];
        let ports = [
            "", ":", ":0", ":8000", ":08000", ":65535", ":65536", ":99999", ":123456", ":80a",
            ":-1", "::80",
        ];
        for name in parts {
            for port in ports {
                let host = format!("{name}{port}");
                let quick = g.plainly_allowed(&host).then_some(Ok(()));
                let parsed = g.check_host(&host);
                if let Some(quick) = quick {
                    assert_eq!(quick, parsed, "{host:?}");
                }
            }
        }
        for common in ["localhost:8000", "127.0.0.1", "MCP.example.com:443"] {
            assert!(g.plainly_allowed(common), "{common}");
        }
    }

    #[test]
    fn rebinding_host_is_forbidden() {
        assert_eq!(
            guard().check(&headers("evil.example:8000", None)),
            Err(GuardRejection::HostNotAllowed)
        );
    }

    #[test]
    fn origin_must_match_scheme_host_and_port() {
        let g = guard();
        assert_eq!(
            g.check(&headers("localhost", Some("http://localhost:6274"))),
            Ok(())
        );
        assert_eq!(
            g.check(&headers("localhost", Some("https://mcp.example.com"))),
            Ok(())
        );
        for bad in [
            "https://mcp.example.com:8443",
            "http://evil.example",
            "null",
            "garbage",
        ] {
            assert_eq!(
                g.check(&headers("localhost", Some(bad))),
                Err(GuardRejection::OriginNotAllowed),
                "{bad}"
            );
        }
    }
}
