//! The tower plumbing: [`FastPathService`] is what `/mcp` is routed to, with rmcp's service
//! (and its layers) behind it as the fallback.
//!
//! axum clones a route's service for every request. rmcp's `StreamableHttpService` is costly to
//! clone (its config holds the allowed host and origin lists as `Vec<String>`), so the fallback
//! sits behind an `Arc` and is cloned only when a request actually goes to it: a fast-path
//! answer costs two `Arc` clones here, not a config copy.

use std::{
    convert::Infallible,
    sync::Arc,
    task::{Context, Poll},
};

use axum::{extract::Request, response::Response};
use rmcp::ServerHandler;
use tower::Service;

use super::FastPath;
use crate::http::early_answer::BoxedResponse;

/// `POST /mcp` answered by the fast path where it can, by `fallback` otherwise.
pub struct FastPathService<H, S> {
    fast: FastPath<H>,
    fallback: Arc<S>,
}

impl<H, S> FastPathService<H, S> {
    pub(super) fn new(fast: FastPath<H>, fallback: S) -> Self {
        Self {
            fast,
            fallback: Arc::new(fallback),
        }
    }
}

impl<H, S> Clone for FastPathService<H, S> {
    fn clone(&self) -> Self {
        Self {
            fast: self.fast.clone(),
            fallback: self.fallback.clone(),
        }
    }
}

impl<H, S> Service<Request> for FastPathService<H, S>
where
    H: ServerHandler + Send + Sync + 'static,
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxedResponse;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Readiness is checked on the fallback's clone, when one is used.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let fast = self.fast.clone();
        let fallback = self.fallback.clone();
        Box::pin(async move {
            let response = fast
                .answer(request, |request| async move {
                    let mut fallback = S::clone(&fallback);
                    std::future::poll_fn(|cx| fallback.poll_ready(cx)).await?;
                    fallback.call(request).await
                })
                .await;
            Ok(response)
        })
    }
}
