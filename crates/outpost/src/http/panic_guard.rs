//! A handler that panics — a tool calling `expect` on what it did not get — still gets its
//! caller an answer: `500` with a JSON-RPC `-32603` error, instead of a connection closed
//! without a word (hyper drops a connection whose service future panicked). The panic is
//! logged with its message; the server, and the session, go on. Only the future that makes
//! the answer is guarded: a stream whose body panics later ends as it would have.

use std::{
    any::Any,
    convert::Infallible,
    panic::{AssertUnwindSafe, catch_unwind},
    task::{Context, Poll},
};

use axum::{body::Body, extract::Request, response::Response};
use futures::{
    FutureExt,
    future::{CatchUnwind, Either, Map, Ready, ready},
};
use http::{HeaderValue, StatusCode, header};
use tower::{Layer, Service};

/// Answers for the wrapped service when it panics.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PanicGuardLayer;

impl<S> Layer<S> for PanicGuardLayer {
    type Service = PanicGuard<S>;

    fn layer(&self, inner: S) -> PanicGuard<S> {
        PanicGuard { inner }
    }
}

/// The service [`PanicGuardLayer`] makes.
#[derive(Debug, Clone)]
pub(crate) struct PanicGuard<S> {
    inner: S,
}

type Outcome = std::thread::Result<Result<Response, Infallible>>;
type Answered<F> =
    Map<CatchUnwind<AssertUnwindSafe<F>>, fn(Outcome) -> Result<Response, Infallible>>;

impl<S> Service<Request> for PanicGuard<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Answered<S::Future>, Ready<Result<Response, Infallible>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match catch_unwind(AssertUnwindSafe(|| self.inner.call(request))) {
            Ok(future) => Either::Left(
                AssertUnwindSafe(future)
                    .catch_unwind()
                    .map(answered as fn(Outcome) -> Result<Response, Infallible>),
            ),
            Err(panic) => Either::Right(ready(Ok(panicked(&*panic)))),
        }
    }
}

fn answered(outcome: Outcome) -> Result<Response, Infallible> {
    outcome.unwrap_or_else(|panic| Ok(panicked(&*panic)))
}

/// The answer to a request whose handler panicked with `panic`.
fn panicked(panic: &(dyn Any + Send)) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    tracing::error!(
        panic = message,
        "a request's handler panicked: answered 500"
    );
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": -32603, "message": "Internal error: the server failed while handling the request" },
    });
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_is_answered_500_with_a_json_rpc_error() {
        let service = PanicGuardLayer.layer(tower::service_fn(|_: Request| async {
            if true {
                panic!("a tool called expect on nothing");
            }
            Ok::<Response, Infallible>(Response::new(Body::empty()))
        }));
        let response = service.oneshot(Request::new(Body::empty())).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], -32603, "{body}");
        assert!(body["id"].is_null(), "{body}");
    }
}
