//! The TCP listener and the serve loop: `TCP_NODELAY` on every connection, the peer address
//! as `ConnectInfo<SocketAddr>`, graceful shutdown: on the signal the listener closes (new
//! connections are refused), the requests in flight finish ([`in_flight`](super::in_flight)),
//! then the streams close, all within the grace period.
//!
//! Without `TCP_NODELAY`, a multi-chunk SSE response on a session stalls ~44 ms per
//! request on Nagle's algorithm and delayed ACKs (measured: 23 req/s instead of ~7,000).
//! rmcp never sets it: the listener is ours.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, ServiceExt, serve::ListenerExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::in_flight::{InFlight, InFlightCount};

/// Failure to start or run the HTTP server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// Why the OS refused.
        source: std::io::Error,
    },
    /// The accept loop failed.
    #[error("HTTP server failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Binds `addr`.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })
}

/// Serves `router` on `listener` until `shutdown_signal` resolves; then stops accepting, lets
/// the requests in flight finish, cancels `streams` (which ends SSE streams and sessions) and
/// waits for connections to close, `grace` at most from the signal.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown_signal: impl Future<Output = ()> + Send + 'static,
    streams: CancellationToken,
    grace: Duration,
) -> Result<(), ServeError> {
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::warn!(%error, "cannot set TCP_NODELAY");
        }
    });
    let in_flight = Arc::new(InFlightCount::default());
    // The peer address reaches handlers as `ConnectInfo<SocketAddr>` (the authorization
    // server's per-IP throttles read it).
    let app = ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<SocketAddr>(
        InFlight::new(router, in_flight.clone()),
    );
    let signalled = CancellationToken::new();
    let stop_accepting = signalled.clone();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown_signal.await;
        tracing::info!("shutting down: finishing requests in flight, then closing streams");
        stop_accepting.cancel();
    });
    let drained = async {
        signalled.cancelled().await;
        let deadline = tokio::time::Instant::now() + grace;
        if tokio::time::timeout_at(deadline, in_flight.idle())
            .await
            .is_err()
        {
            tracing::warn!(?grace, "requests still in flight after the grace period");
        }
        streams.cancel();
        tokio::time::sleep_until(deadline).await;
    };
    let result = tokio::select! {
        result = server => result.map_err(ServeError::from),
        () = drained => {
            tracing::warn!(?grace, "connections still open after the grace period; exiting");
            Ok(())
        }
    };
    streams.cancel();
    result
}
