//! Response headers every Outpost response carries.
//!
//! `nosniff` stops browsers from guessing content types; `no-referrer` keeps URLs (which may
//! carry codes or state) out of third-party logs. Pages set their own CSP and frame options.
//! One plain tower layer sets both: it wraps every request, so it stays off the heap.

use std::task::{Context, Poll};

use futures::{FutureExt, future::Map};
use http::{HeaderValue, Response, header};
use tower::{Layer, Service};

/// Adds the security headers to every response, unless a handler already set them.
#[derive(Debug, Clone, Copy, Default)]
pub struct SecurityHeadersLayer;

impl<S> Layer<S> for SecurityHeadersLayer {
    type Service = SecurityHeaders<S>;

    fn layer(&self, inner: S) -> SecurityHeaders<S> {
        SecurityHeaders { inner }
    }
}

/// The service [`SecurityHeadersLayer`] makes.
#[derive(Debug, Clone)]
pub struct SecurityHeaders<S> {
    inner: S,
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
        self.inner
            .call(request)
            .map(add_headers as AddHeaders<B, S::Error>)
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
