//! Response headers every Outpost response carries.
//!
//! `nosniff` stops browsers from guessing content types; `no-referrer` keeps URLs (which may
//! carry codes or state) out of third-party logs. Pages set their own CSP and frame options.
//! Behind an `https` public URL, `Strict-Transport-Security` (one year, this host only: other
//! hosts of the domain may not serve https) tells browsers never to reach the server — its
//! sign-in pages among them — over plain http again (RFC 6797); browsers ignore it on plain
//! http, so a TLS-terminating proxy in front changes nothing. One plain tower layer sets
//! them: it wraps every request, so it stays off the heap.

use std::task::{Context, Poll};

use futures::{FutureExt, future::Map};
use http::{HeaderValue, Response, header};
use tower::{Layer, Service};

/// `Strict-Transport-Security`'s value: a year, this host only.
const HSTS: &str = "max-age=31536000";

/// Adds the security headers to every response, unless a handler already set them.
#[derive(Debug, Clone, Copy, Default)]
pub struct SecurityHeadersLayer {
    /// Whether responses carry `Strict-Transport-Security`.
    hsts: bool,
}

impl SecurityHeadersLayer {
    /// The headers for a server whose public URL is `base_url`: with
    /// `Strict-Transport-Security` when it is `https`.
    pub fn for_base_url(base_url: &str) -> Self {
        Self {
            hsts: base_url
                .get(..8)
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://")),
        }
    }
}

impl<S> Layer<S> for SecurityHeadersLayer {
    type Service = SecurityHeaders<S>;

    fn layer(&self, inner: S) -> SecurityHeaders<S> {
        SecurityHeaders {
            inner,
            hsts: self.hsts,
        }
    }
}

/// The service [`SecurityHeadersLayer`] makes.
#[derive(Debug, Clone)]
pub struct SecurityHeaders<S> {
    inner: S,
    hsts: bool,
}

type AddHeaders<B, E> = fn(Result<Response<B>, E>) -> Result<Response<B>, E>;

impl<S, Req, B> Service<Req> for SecurityHeaders<S>
where
    S: Service<Req, Response = Response<B>>,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = Map<S::Future, AddHeaders<B, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let add = if self.hsts {
            add_headers_and_hsts as AddHeaders<B, S::Error>
        } else {
            add_headers as AddHeaders<B, S::Error>
        };
        self.inner.call(request).map(add)
    }
}

fn add_headers<B, E>(result: Result<Response<B>, E>) -> Result<Response<B>, E> {
    result.map(|mut response| {
        let headers = response.headers_mut();
        headers
            .entry(header::X_CONTENT_TYPE_OPTIONS)
            .or_insert(HeaderValue::from_static("nosniff"));
        headers
            .entry(header::REFERRER_POLICY)
            .or_insert(HeaderValue::from_static("no-referrer"));
        response
    })
}

fn add_headers_and_hsts<B, E>(result: Result<Response<B>, E>) -> Result<Response<B>, E> {
    add_headers(result).map(|mut response| {
        response
            .headers_mut()
            .entry(header::STRICT_TRANSPORT_SECURITY)
            .or_insert(HeaderValue::from_static(HSTS));
        response
    })
}
