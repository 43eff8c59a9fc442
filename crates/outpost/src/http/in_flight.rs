//! Requests in flight, so that a shutdown lets them finish before it closes the streams.
//!
//! On SIGTERM the listener stops accepting at once, but closing the streams (the server's
//! shutdown token: SSE streams, rmcp's sessions and its stateless requests) at once would cut
//! off the answer of a call still running in a session, or streamed. So [`InFlight`] counts
//! the requests whose answer is not done — from the request until the handler answers, and
//! for an SSE answer (`text/event-stream`) until its body ends or is dropped — and the serve
//! loop closes the streams once none is left (or a second before the grace period is over).
//! `GET` requests are not counted: they open streams that only the shutdown ends; nor is an
//! SSE answer marked [`EndedByShutdown`] once it starts (a 2026-07-28 listen stream, which
//! ends with its final result when the shutdown closes the streams).
//!
//! One plain tower service around the router: a counter increment per request, and a body
//! wrapper only for SSE answers.

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll, ready},
};

use axum::body::Body;
use http::{Method, Request, Response};
use tokio::sync::Notify;
use tower::Service;

use super::held_body::{hold, is_event_stream};

/// The count of requests in flight, shared by a serve loop and its [`InFlight`] service.
#[derive(Debug, Default)]
pub struct InFlightCount {
    count: AtomicUsize,
    idle: Notify,
}

impl InFlightCount {
    /// Resolves once no request is in flight.
    pub async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.count.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }

    fn enter(self: &Arc<Self>) -> Guard {
        self.count.fetch_add(1, Ordering::AcqRel);
        Guard(self.clone())
    }
}

/// One request in flight; dropped when its answer is done.
#[derive(Debug)]
struct Guard(Arc<InFlightCount>);

impl Drop for Guard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// A response extension: this SSE answer runs until the shutdown ends it, so it is not in
/// flight once it starts (counted, it would hold every shutdown for the whole grace period).
#[derive(Debug, Clone, Copy)]
pub(crate) struct EndedByShutdown;

/// `inner` with its requests counted in `count`.
#[derive(Debug, Clone)]
pub struct InFlight<S> {
    inner: S,
    count: Arc<InFlightCount>,
}

impl<S> InFlight<S> {
    /// Counts the requests of `inner` in `count`.
    pub fn new(inner: S, count: Arc<InFlightCount>) -> Self {
        Self { inner, count }
    }
}

impl<S, B> Service<Request<B>> for InFlight<S>
where
    S: Service<Request<B>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Counted<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let guard = (request.method() != Method::GET).then(|| self.count.enter());
        Counted {
            inner: self.inner.call(request),
            guard,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`InFlight`]: holds the request's guard until the handler
    /// answers, then hands it to an SSE body.
    pub struct Counted<F> {
        #[pin]
        inner: F,
        guard: Option<Guard>,
    }
}

impl<F, E> Future for Counted<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let guard = this.guard.take();
        Poll::Ready(result.map(|response| match guard {
            Some(guard)
                if is_event_stream(&response)
                    && response.extensions().get::<EndedByShutdown>().is_none() =>
            {
                hold(response, guard)
            }
            _ => response,
        }))
    }
}
