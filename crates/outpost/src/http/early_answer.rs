//! Answering a request before its body was read, without breaking the connection.
//!
//! A layer that refuses a request (401, 403) answers before the handler reads the body. hyper
//! cannot reuse an HTTP/1.1 connection whose request body is still unread, so it closes it right
//! after the answer — and a client that already sent (or is sending) the body on that kept-alive
//! connection sees "server disconnected" instead of the 401 it should act on (the official
//! Python SDK's httpx does, now and then). So a refusal first drains a small body; a body
//! larger than [`DRAIN_LIMIT`] is not read, and the answer says `Connection: close` so the client
//! knows not to reuse the connection.
//!
//! The layers that refuse requests (transport guard, bearer check, session owner, scope check)
//! share their plumbing here: [`refuse`] answers through [`after_draining`] as a
//! [`BoxedResponse`], and [`take_ready`] hands a future the readied inner service.

use std::{convert::Infallible, future::Future, pin::Pin};

use axum::{body::Body, extract::Request, response::Response};
use http::{HeaderValue, header};
use http_body_util::{BodyExt, Limited};

/// The boxed response future of a tower service that answers some requests itself.
pub type BoxedResponse = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

/// The most a refused request's body is read to keep its connection alive.
pub const DRAIN_LIMIT: usize = 64 * 1024;

/// Reads (and drops) up to [`DRAIN_LIMIT`] bytes of `body`, then returns `response` — with
/// `Connection: close` when the body was larger or could not be read.
pub async fn after_draining(body: Body, mut response: Response) -> Response {
    if Limited::new(body, DRAIN_LIMIT).collect().await.is_err() {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// [`after_draining`] as a service's response future: `response` for `request`, whose body is
/// drained first.
pub fn refuse(request: Request, response: Response) -> BoxedResponse {
    Box::pin(async move { Ok(after_draining(request.into_body(), response).await) })
}

/// The ready instance of a cloneable service, swapped for a fresh clone: a call that must move
/// the service into a future uses the one `poll_ready` readied, as tower requires.
pub fn take_ready<S: Clone>(service: &mut S) -> S {
    let clone = service.clone();
    std::mem::replace(service, clone)
}
