//! CORS only where a browser is involved: requests with an `Origin` header go through
//! tower-http's [`Cors`]; the others (every non-browser MCP client) skip it, so the hot path
//! pays nothing for it. Preflights always carry `Origin`. Responses to requests without
//! `Origin` get no `Vary: Origin`, which is safe because nothing on these routes is cacheable
//! (POST answers and event streams).

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use axum::extract::Request;
use futures::future::Either;
use http::header;
use tower::{Layer, Service};
use tower_http::cors::{Cors, CorsLayer};

use super::early_answer::take_ready;

/// Applies a [`CorsLayer`] to requests that carry `Origin`.
#[derive(Debug, Clone)]
pub struct BrowserCorsLayer {
    cors: Arc<CorsLayer>,
}

impl BrowserCorsLayer {
    /// `cors` for browser requests, nothing for the rest.
    pub fn new(cors: CorsLayer) -> Self {
        Self {
            cors: Arc::new(cors),
        }
    }
}

impl<S> Layer<S> for BrowserCorsLayer {
    type Service = BrowserCors<S>;

    fn layer(&self, inner: S) -> BrowserCors<S> {
        BrowserCors {
            cors: self.cors.clone(),
            inner,
        }
    }
}

/// The service of a [`BrowserCorsLayer`]. axum clones a route's service for every request,
/// so it holds the CORS settings behind an `Arc` and wraps the inner service in [`Cors`] only
/// for a request with `Origin` (a `CorsLayer` clone allocates).
#[derive(Debug, Clone)]
pub struct BrowserCors<S> {
    cors: Arc<CorsLayer>,
    inner: S,
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
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if request.headers().contains_key(header::ORIGIN) {
            // `Cors` forwards readiness to the inner service, which is ready.
            let mut browser = self.cors.layer(take_ready(&mut self.inner));
            Either::Right(browser.call(request))
        } else {
            Either::Left(self.inner.call(request))
        }
    }
}
