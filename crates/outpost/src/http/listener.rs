//! The TCP listener and the serve loop: `TCP_NODELAY` on every connection, the connection
//! caps and timeouts (`connection`), the peer address as
//! `ConnectInfo<SocketAddr>`, graceful shutdown: on the signal the listener closes (new
//! connections are refused), the requests in flight finish (`in_flight`),
//! then the streams close, all within the grace period.
//!
//! Without `TCP_NODELAY`, a multi-chunk SSE response on a session stalls ~44 ms per
//! request on Nagle's algorithm and delayed ACKs (measured: 23 req/s instead of ~7,000).
//! rmcp never sets it: the listener is ours. So is the per-connection loop: `axum::serve`
//! has no header, body or idle timeout and no connection cap.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, serve::Listener};
use tokio::{net::TcpListener, sync::watch};
use tokio_util::sync::CancellationToken;

use super::{
    connection::{
        self,
        caps::{ConnectionCaps, Exempt},
    },
    in_flight::{InFlight, InFlightCount},
};
use crate::config::ConnectionLimits;

/// Failure to start or run the HTTP server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound.
    /// The OS's reason is the error's source, not part of its message: error reports print
    /// the chain, and would print it twice.
    #[error("cannot listen on {addr}")]
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

/// How the serve loop admits and times connections.
#[derive(Debug, Clone)]
pub struct Connections {
    /// The timeouts every connection gets.
    pub limits: ConnectionLimits,
    /// The caps on open connections.
    pub caps: Arc<ConnectionCaps>,
}

impl Connections {
    /// Connections timed and capped by `limits`; peers `exempt` says are trusted proxies
    /// skip the per-source cap.
    pub fn new(limits: ConnectionLimits, exempt: Exempt) -> Self {
        let caps = ConnectionCaps::new(
            limits.max_connections,
            limits.max_connections_per_source,
            exempt,
        );
        Self {
            limits,
            caps: Arc::new(caps),
        }
    }
}

/// How long before the end of the grace period the streams are told to end (at most a quarter
/// of the grace period).
const STREAMS_END_AHEAD: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `shutdown_signal` resolves; then stops accepting, lets
/// the requests in flight finish, cancels `streams` (which ends SSE streams and sessions, and
/// answers the session requests still running with an error) and waits for connections to
/// close, `grace` at most from the signal.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    connections: Connections,
    shutdown_signal: impl Future<Output = ()> + Send + 'static,
    streams: CancellationToken,
    grace: Duration,
) -> Result<(), ServeError> {
    let in_flight = Arc::new(InFlightCount::default());
    let app = InFlight::new(router, in_flight.clone());
    let signalled = CancellationToken::new();
    let stop_accepting = signalled.clone();
    tokio::spawn(async move {
        shutdown_signal.await;
        tracing::info!("shutting down: finishing requests in flight, then closing streams");
        stop_accepting.cancel();
    });
    let server = accept_loop(listener, app, connections, signalled.clone());
    let drained = async {
        signalled.cancelled().await;
        let deadline = tokio::time::Instant::now() + grace;
        // The streams are told to end a little before the deadline, so that their last
        // words (a request's error answer, the end of each SSE body) are written before the
        // connections are dropped, rather than cut mid-chunk.
        let streams_end = deadline - (grace / 4).min(STREAMS_END_AHEAD);
        if tokio::time::timeout_at(streams_end, in_flight.idle())
            .await
            .is_err()
        {
            tracing::warn!(
                ?grace,
                "requests still in flight at the end of the grace period: ending them"
            );
        }
        streams.cancel();
        tokio::time::sleep_until(deadline).await;
    };
    tokio::select! {
        () = server => {}
        () = drained => {
            tracing::warn!(?grace, "connections still open after the grace period; exiting");
        }
    }
    streams.cancel();
    Ok(())
}

/// Accepts connections until `shutdown`, each served on its own task, then waits for them
/// to close.
async fn accept_loop(
    mut listener: TcpListener,
    app: InFlight<Router>,
    connections: Connections,
    shutdown: CancellationToken,
) {
    // Every connection task holds a receiver: once all are dropped, every connection is closed.
    let (closed_tx, closed_rx) = watch::channel(());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = Listener::accept(&mut listener) => accepted,
            () = shutdown.cancelled() => break,
        };
        let Ok(admission) = connections.caps.admit(peer.ip()) else {
            // Closed at once, unread: the client sees the connection reset or closed.
            drop(stream);
            continue;
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::warn!(%error, "cannot set TCP_NODELAY");
        }
        let app = app.clone();
        let limits = connections.limits;
        let shutdown = shutdown.clone();
        let closed_rx = closed_rx.clone();
        tokio::spawn(async move {
            connection::serve(stream, peer, app, limits, shutdown, admission).await;
            drop(closed_rx);
        });
    }
    drop(listener);
    drop(closed_rx);
    closed_tx.closed().await;
}
