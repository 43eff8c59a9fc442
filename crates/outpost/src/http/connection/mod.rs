//! One client connection, served by hyper's HTTP/1 server: the caps that admit it
//! ([`caps`]), the header read and idle timeouts on its socket ([`activity`]), the body read
//! timeout on each request ([`body_deadline`]), and graceful shutdown.
//!
//! The hot path stays what `axum::serve` costs: one task per connection, and per request one
//! boxed body (the deadline wraps hyper's body where axum boxed it bare), the peer address
//! as `ConnectInfo<SocketAddr>`, and no other allocation.

pub mod activity;
pub mod body_deadline;
pub mod caps;

use std::{
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
    time::Duration,
};

use axum::{body::Body, extract::ConnectInfo};
use http::{Request, Response};
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tower::{Service, ServiceExt, util::Oneshot};

use crate::config::ConnectionLimits;
use activity::{Activity, AnsweredBody, Answering, WatchedIo};
use body_deadline::BodyDeadline;
use caps::Admission;

/// Serves `service` on `stream` from `peer` until the client or a timeout closes it; on
/// `shutdown`, finishes the request being answered and closes.
pub async fn serve<S>(
    stream: TcpStream,
    peer: SocketAddr,
    service: S,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
    _admission: Admission,
) where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone,
    S::Future: Send + 'static,
    S: Send + 'static,
{
    let activity = Arc::new(Activity::new(
        limits.header_read_timeout,
        limits.idle_timeout,
    ));
    let io = TokioIo::new(WatchedIo::new(stream, activity.clone()));
    let service = ConnectionService {
        inner: service,
        peer,
        activity,
        body_read_timeout: limits.body_read_timeout,
    };
    let connection = http1::Builder::new().serve_connection(io, service);
    tokio::pin!(connection);
    let mut shutting_down = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%peer, %error, "connection closed");
                }
                return;
            }
            () = shutdown.cancelled(), if !shutting_down => {
                shutting_down = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// The service of one connection: each request gets the peer address and its body deadline,
/// and counts as answered until its response body is done.
#[derive(Debug, Clone)]
struct ConnectionService<S> {
    inner: S,
    peer: SocketAddr,
    activity: Arc<Activity>,
    body_read_timeout: Duration,
}

impl<S> hyper::service::Service<Request<Incoming>> for ConnectionService<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone,
{
    type Response = Response<AnsweredBody>;
    type Error = Infallible;
    type Future = Answer<Oneshot<S, Request<Body>>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let answering = self.activity.answering();
        let timeout = self.body_read_timeout;
        let mut request = request.map(|body| Body::new(BodyDeadline::new(body, timeout)));
        request.extensions_mut().insert(ConnectInfo(self.peer));
        Answer {
            inner: self.inner.clone().oneshot(request),
            answering: Some(answering),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`ConnectionService`]: hands its request's [`Answering`] to the
    /// response body.
    struct Answer<F> {
        #[pin]
        inner: F,
        answering: Option<Answering>,
    }
}

impl<F> Future for Answer<F>
where
    F: Future<Output = Result<Response<Body>, Infallible>>,
{
    type Output = Result<Response<AnsweredBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(response) = ready!(this.inner.poll(cx));
        let answering = this.answering.take();
        Poll::Ready(Ok(response.map(|body| AnsweredBody::new(body, answering))))
    }
}
