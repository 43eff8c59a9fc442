//! A response body that holds a value until the body ends or is dropped: how an SSE answer
//! keeps counting as in flight (`in_flight.rs`) or as an open stream (`ops/request_log.rs`)
//! for as long as it streams, not only until its head is sent.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use axum::body::{Body, Bytes, HttpBody};
use http::{Response, header};
use http_body::{Frame, SizeHint};

/// `response` with `held` kept alive by its body, dropped when the body ends or is dropped.
pub(crate) fn hold<T: Send + Unpin + 'static>(response: Response<Body>, held: T) -> Response<Body> {
    response.map(|body| Body::new(HeldBody { body, _held: held }))
}

/// Whether `response` is an SSE stream (`text/event-stream`).
pub(crate) fn is_event_stream(response: &Response<Body>) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"text/event-stream"))
}

/// A body and what it holds until it ends or is dropped.
struct HeldBody<T> {
    body: Body,
    _held: T,
}

impl<T: Send + Unpin + 'static> HttpBody for HeldBody<T> {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
