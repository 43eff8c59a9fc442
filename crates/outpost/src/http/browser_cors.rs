//! CORS only where a browser is involved: requests with an `Origin` header go through
//! tower-http's [`Cors`]; the others (every non-browser MCP client) skip it, so the hot path
//! pays nothing for it. Preflights always carry `Origin`. Responses to requests without
//! `Origin` get no `Vary: Origin`, which is safe because nothing on these routes is cacheable
//! (POST answers and event streams).

use std::task::{Context, Poll};

use axum::extract::Request;
use futures::future::Either;
use http::header;
use tower::{Layer, Service};
use tower_http::cors::{Cors, CorsLayer};

/// Applies a [`CorsLayer`] to requests that carry `Origin`.
#[derive(Debug, Clone)]
pub struct BrowserCorsLayer {
    cors: CorsLayer,
}

impl BrowserCorsLayer {
    /// `cors` for browser requests, nothing for the rest.
    pub fn new(cors: CorsLayer) -> Self {
        Self { cors }
    }
}

impl<S: Clone> Layer<S> for BrowserCorsLayer {
    type Service = BrowserCors<S>;

    fn layer(&self, inner: S) -> BrowserCors<S> {
        BrowserCors {
            browser: self.cors.layer(inner.clone()),
            plain: inner,
        }
    }
}

/// The service of a [`BrowserCorsLayer`].
#[derive(Debug, Clone)]
pub struct BrowserCors<S> {
    browser: Cors<S>,
    plain: S,
}

impl<S, B> Service<Request<B>> for BrowserCors<S>
where
    S: Service<Request<B>> + Clone,
    Cors<S>: Service<Request<B>, Response = S::Response, Error = S::Error>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<S::Future, <Cors<S> as Service<Request<B>>>::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        // Both are polled: whichever the request picks must be ready.
        match self.plain.poll_ready(cx)? {
            Poll::Ready(()) => self.browser.poll_ready(cx),
            Poll::Pending => Poll::Pending,
        }
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if request.headers().contains_key(header::ORIGIN) {
            Either::Right(self.browser.call(request))
        } else {
            Either::Left(self.plain.call(request))
        }
    }
}
