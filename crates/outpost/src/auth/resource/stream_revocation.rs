//! Streams end when their grant is revoked.
//!
//! A revoked grant's tokens are refused from the next request on ([`super::bearer`]), but a
//! stream opened before — a session's GET stream, a 2024-11-05 `/sse` stream — stays open
//! for hours and would keep delivering to whoever held the token. So the event-stream answer
//! of a `GET` whose token names a checked grant is wrapped in a [`Revocable`] body, which asks
//! every [`ResourceServerConfig::stream_revocation_interval`](super::ResourceServerConfig::stream_revocation_interval)
//! whether the grant still stands (the revocation cache first, the store when its answer is
//! stale) and ends the stream when it does not. The client then reconnects with its token,
//! gets `401`, and must sign in again. An answer the store cannot give does not end the
//! stream: an outage is not a revocation.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::body::{Body, Bytes};
use futures::future::BoxFuture;
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep, sleep};

/// Asks whether the stream's grant still stands.
pub(crate) type StillGranted = Arc<dyn Fn() -> BoxFuture<'static, bool> + Send + Sync>;

/// A stream body that ends once its grant is revoked; see the [module docs](self).
pub(crate) struct Revocable {
    inner: Body,
    every: Duration,
    next_check: Pin<Box<Sleep>>,
    checking: Option<BoxFuture<'static, bool>>,
    still_granted: StillGranted,
}

impl Revocable {
    /// `inner`, asking `still_granted` every `every`.
    pub(crate) fn new(inner: Body, every: Duration, still_granted: StillGranted) -> Self {
        Self {
            inner,
            every,
            next_check: Box::pin(sleep(every)),
            checking: None,
            still_granted,
        }
    }
}

impl http_body::Body for Revocable {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        loop {
            if let Some(check) = &mut this.checking {
                match check.as_mut().poll(cx) {
                    Poll::Ready(true) => {
                        this.checking = None;
                        this.next_check.as_mut().reset(Instant::now() + this.every);
                    }
                    Poll::Ready(false) => {
                        tracing::debug!("the stream's grant was revoked: ending the stream");
                        return Poll::Ready(None);
                    }
                    Poll::Pending => break,
                }
            } else if this.next_check.as_mut().poll(cx).is_ready() {
                this.checking = Some((this.still_granted)());
            } else {
                break;
            }
        }
        Pin::new(&mut this.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use futures::{FutureExt as _, StreamExt as _};
    use http_body_util::BodyExt as _;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_stream_flows_while_granted_and_ends_when_revoked() {
        let granted = Arc::new(AtomicBool::new(true));
        let answer = granted.clone();
        let still_granted: StillGranted =
            Arc::new(move || futures::future::ready(answer.load(Ordering::SeqCst)).boxed());
        let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        let events = tokio_stream_of(receiver);
        let mut body = Revocable::new(
            Body::from_stream(events),
            Duration::from_secs(30),
            still_granted,
        );
        sender.send(Ok(Bytes::from("data: 1\n\n"))).await.unwrap();
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "data: 1\n\n");

        // A check that finds the grant standing changes nothing.
        tokio::time::advance(Duration::from_secs(31)).await;
        sender.send(Ok(Bytes::from("data: 2\n\n"))).await.unwrap();
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "data: 2\n\n");

        // Revoked: at the next check the stream ends, although its source is still open.
        granted.store(false, Ordering::SeqCst);
        tokio::time::advance(Duration::from_secs(31)).await;
        assert!(body.frame().await.is_none());
        drop(sender);
    }

    fn tokio_stream_of(
        mut receiver: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
    ) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
        futures::stream::poll_fn(move |cx| receiver.poll_recv(cx)).boxed()
    }
}
