//! Reading a request body whole, with the answers clients act on when it cannot be: `413`
//! past the limit (at once when `Content-Length` says so), `408` when it does not arrive
//! within the body read timeout (`http::connection::body_deadline`), `400` when the
//! connection fails. Axum's `Bytes` extractor answers `400` for all three.

use axum::{
    body::{Body, Bytes},
    response::{IntoResponse, Response},
};
#[cfg(feature = "authorization-server")]
use axum::{extract::Request, middleware::Next};
use http::{HeaderMap, StatusCode, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::http::connection::body_deadline::BodyReadTimeout;

/// Why a request body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyReadError {
    /// Longer than the limit (said by `Content-Length`, or found while reading).
    #[error("Payload Too Large: request body exceeds {0} bytes")]
    TooLarge(usize),
    /// The body did not arrive within the body read timeout.
    #[error("Request Timeout: the request body did not arrive in time")]
    TimedOut,
    /// The connection failed while the body was read.
    #[error("Bad Request: cannot read request body: {0}")]
    Read(String),
}

impl IntoResponse for BodyReadError {
    fn into_response(self) -> Response {
        let status = match self {
            BodyReadError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            BodyReadError::TimedOut => StatusCode::REQUEST_TIMEOUT,
            BodyReadError::Read(_) => StatusCode::BAD_REQUEST,
        };
        (status, self.to_string()).into_response()
    }
}

/// Reads a whole body, refusing more than `limit` bytes: at once when `Content-Length` says
/// so, else as soon as the limit is crossed while reading.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, BodyReadError> {
    refuse_declared_past(headers, limit)?;
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
            Err(BodyReadError::TooLarge(limit))
        }
        Err(error) => Err(BodyReadError::of_failed_read(&*error)),
    }
}

/// [`BodyReadError::TooLarge`] when the request's `Content-Length` says more than `limit`.
pub fn refuse_declared_past(headers: &HeaderMap, limit: usize) -> Result<(), BodyReadError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(BodyReadError::TooLarge(limit));
    }
    Ok(())
}

impl BodyReadError {
    /// What a read that failed with `error` was: the body read timeout, or a failed
    /// connection.
    pub fn of_failed_read(error: &(dyn std::error::Error + 'static)) -> Self {
        if BodyReadTimeout::is_cause_of(error) {
            BodyReadError::TimedOut
        } else {
            BodyReadError::Read(error.to_string())
        }
    }
}

/// Middleware: reads the body of a request for a handler that takes it whole (the embedded
/// authorization server's forms and JSON, [`outpost_authorization_server::MAX_BODY_BYTES`] at
/// most), so that a body that cannot be read gets [`read_limited`]'s answer rather than the
/// extractor's `400`.
#[cfg(feature = "authorization-server")]
pub(crate) async fn read_before_handler(request: Request, next: Next) -> Response {
    if request.method() == http::Method::GET || request.method() == http::Method::HEAD {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let limit = outpost_authorization_server::MAX_BODY_BYTES;
    match read_limited(&parts.headers, body, limit).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(error) => error.into_response(),
    }
}
