//! The body read timeout: [`BodyDeadline`] wraps every request body, so that a body that
//! trickles (a byte now and then, never finishing) cannot hold a request, and its connection,
//! open for ever. The deadline starts the first time a read has to wait, so a body that is
//! already buffered when the handler reads it costs no timer.

use std::{
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use axum::{BoxError, body::Bytes};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::Sleep;

/// The request body did not arrive within the body read timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyReadTimeout(pub Duration);

impl BodyReadTimeout {
    /// Whether `error`, or an error it wraps, is a body read timeout.
    pub fn is_cause_of(error: &(dyn std::error::Error + 'static)) -> bool {
        std::iter::successors(Some(error), |error| error.source()).any(|error| error.is::<Self>())
    }
}

pin_project_lite::pin_project! {
    /// A request body whose reading fails with [`BodyReadTimeout`] once it has waited
    /// `timeout` for the rest of the body.
    pub struct BodyDeadline {
        #[pin]
        body: Incoming,
        timeout: Duration,
        #[pin]
        deadline: Option<Sleep>,
    }
}

impl BodyDeadline {
    /// `body`, to be read within `timeout` of its first wait.
    pub fn new(body: Incoming, timeout: Duration) -> Self {
        Self {
            body,
            timeout,
            deadline: None,
        }
    }
}

impl Body for BodyDeadline {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        if let Poll::Ready(frame) = this.body.poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(BoxError::from)));
        }
        if this.deadline.is_none() {
            this.deadline.set(Some(tokio::time::sleep(*this.timeout)));
        }
        match this.deadline.as_pin_mut().map(|deadline| deadline.poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(Some(Err(BodyReadTimeout(*this.timeout).into()))),
            _ => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
