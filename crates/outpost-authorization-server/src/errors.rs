//! OAuth error responses, mapped once at the edge.
//!
//! RFC 6749 §5.2: a JSON body `{"error": …, "error_description": …}`, status 400, except
//! `invalid_client`, which is 401 with `WWW-Authenticate: Basic` — the scheme the token
//! endpoint accepts, which RFC 6749 requires when the client tried HTTP Basic and RFC 9110
//! §15.5.2 on every 401. RFC 7591 §3.2.2 adds the registration errors (`invalid_redirect_uri`,
//! `invalid_client_metadata`), RFC 8707 §2 `invalid_target`; a throttle's refusal is
//! `too_many_requests`, 429 with `Retry-After`, and too much argon2 work at once
//! `temporarily_unavailable`, 503 with `Retry-After`. Every answer carries
//! `Cache-Control: no-store` (RFC 6749 §5.1). Internal failures answer `server_error` with a
//! generic description; the cause goes to the log only.
//!
//! Degraded mode: a store that cannot be reached ([`StoreError::Unavailable`], wherever it
//! comes from — `?` on a store call, a throttle, a client lookup) is not a failure of the
//! request but a temporary condition: `temporarily_unavailable` (the RFC 6749 §4.1.2.1 code,
//! with the §5.2 body shape), `503 Service Unavailable`, `Retry-After:`
//! [`RETRY_AFTER_SECONDS`]. Clients keep their tokens and registrations and retry, instead of
//! treating a `server_error` as final. [`ServerFailure`] tells the pages the same apart.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use std::borrow::Cow;

use crate::password::limit::{Argon2Error, BUSY_RETRY_AFTER};
use outpost_oauth::error_description::sanitized;
use outpost_store::StoreError;

/// An OAuth error, as answered by the token, revocation, introspection and registration
/// endpoints. The `String`s are the `error_description`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    /// A parameter is missing, repeated, or malformed (RFC 6749 §5.2).
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    /// Client authentication failed (RFC 6749 §5.2): 401.
    #[error("invalid_client: {description}")]
    InvalidClient {
        /// What failed.
        description: String,
    },
    /// The code or refresh token is invalid, expired, revoked, reused, or not this client's
    /// (RFC 6749 §5.2).
    #[error("invalid_grant: {0}")]
    InvalidGrant(String),
    /// The client may not use this grant type (RFC 6749 §5.2).
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(String),
    /// The grant type is not supported (RFC 6749 §5.2).
    #[error("unsupported_grant_type: {0}")]
    UnsupportedGrantType(String),
    /// The scope is unknown or exceeds what was granted (RFC 6749 §5.2).
    #[error("invalid_scope: {0}")]
    InvalidScope(String),
    /// The `resource` is not the one the grant is bound to (RFC 8707 §2).
    #[error("invalid_target: {0}")]
    InvalidTarget(String),
    /// A registration's redirect URI is refused (RFC 7591 §3.2.2).
    #[error("invalid_redirect_uri: {0}")]
    InvalidRedirectUri(String),
    /// A registration's metadata is refused (RFC 7591 §3.2.2).
    #[error("invalid_client_metadata: {0}")]
    InvalidClientMetadata(String),
    /// A rate limit refused the request ([`throttle`](super::throttle)): 429 with
    /// `Retry-After` (RFC 6585 §4). Not an RFC 6749 code; the body has the same shape.
    #[error("too_many_requests: {description}")]
    TooManyRequests {
        /// What was refused, and when to retry.
        description: String,
        /// Seconds until the request may be retried.
        retry_after: u64,
    },
    /// The server cannot take the request now — its store does not answer, or too much
    /// argon2 work is in progress ([`password::limit`](crate::password::limit)): 503 with
    /// `Retry-After` (RFC 6749 §4.1.2.1 names the code; RFC 9110 §15.6.4 the status). The
    /// description is generic; the cause goes to the log.
    #[error("temporarily_unavailable: {description}")]
    TemporarilyUnavailable {
        /// What happened and when to retry.
        description: String,
        /// Seconds until the request may be retried.
        retry_after: u64,
    },
    /// Something failed inside the server; the description is generic.
    #[error("server_error: {0}")]
    ServerError(String),
}

/// Seconds a client is asked to wait before retrying while the store does not answer.
pub const RETRY_AFTER_SECONDS: u64 = 5;

/// A failure inside the server, as the edge sees it: the store out of reach is temporary
/// (`503`, retry), anything else is an internal error (`500`). The pages and [`OAuthError`]
/// ask it of whatever failed.
pub trait ServerFailure: std::fmt::Display {
    /// Whether this is the store being unreachable ([`StoreError::Unavailable`]).
    fn is_store_outage(&self) -> bool {
        false
    }
}

impl ServerFailure for StoreError {
    fn is_store_outage(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl ServerFailure for &str {}
impl ServerFailure for Argon2Error {}
impl ServerFailure for outpost_oauth::secret::RandomnessError {}
impl ServerFailure for axum::http::header::InvalidHeaderValue {}

impl OAuthError {
    /// `invalid_client`, saying what failed.
    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::InvalidClient {
            description: description.into(),
        }
    }

    /// An internal failure: logged, answered as `server_error`.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "authorization server failure");
        Self::ServerError("the authorization server failed; try again later".into())
    }

    /// The store out of reach: logged, answered as `temporarily_unavailable`.
    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::warn!(%cause, "store unavailable: answering 503");
        Self::TemporarilyUnavailable {
            description: format!(
                "the authorization server cannot reach its store; retry in \
                 {RETRY_AFTER_SECONDS} seconds"
            ),
            retry_after: RETRY_AFTER_SECONDS,
        }
    }

    /// The `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient { .. } => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnauthorizedClient(_) => "unauthorized_client",
            Self::UnsupportedGrantType(_) => "unsupported_grant_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::InvalidTarget(_) => "invalid_target",
            Self::InvalidRedirectUri(_) => "invalid_redirect_uri",
            Self::InvalidClientMetadata(_) => "invalid_client_metadata",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::TemporarilyUnavailable { .. } => "temporarily_unavailable",
            Self::ServerError(_) => "server_error",
        }
    }

    /// The `error_description`.
    pub fn description(&self) -> &str {
        match self {
            Self::InvalidClient { description, .. }
            | Self::TooManyRequests { description, .. }
            | Self::TemporarilyUnavailable { description, .. } => description,
            Self::InvalidRequest(d)
            | Self::InvalidGrant(d)
            | Self::UnauthorizedClient(d)
            | Self::UnsupportedGrantType(d)
            | Self::InvalidScope(d)
            | Self::InvalidTarget(d)
            | Self::InvalidRedirectUri(d)
            | Self::InvalidClientMetadata(d)
            | Self::ServerError(d) => d,
        }
    }

    /// The HTTP status: 401 for `invalid_client`, 429 for `too_many_requests`, 503 for
    /// `temporarily_unavailable`, 500 for `server_error`, 400 otherwise.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidClient { .. } => StatusCode::UNAUTHORIZED,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::TemporarilyUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::ServerError(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl From<Argon2Error> for OAuthError {
    fn from(error: Argon2Error) -> Self {
        match error {
            Argon2Error::Busy(_) => Self::TemporarilyUnavailable {
                description: "the server is busy; retry shortly".into(),
                retry_after: BUSY_RETRY_AFTER,
            },
            other => Self::internal(other),
        }
    }
}

impl From<StoreError> for OAuthError {
    fn from(error: StoreError) -> Self {
        if error.is_store_outage() {
            return Self::unavailable(error);
        }
        Self::internal(error)
    }
}

impl From<crate::users::DirectoryError> for OAuthError {
    fn from(error: crate::users::DirectoryError) -> Self {
        if error.is_store_outage() {
            return Self::unavailable(error);
        }
        Self::internal(error)
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'static str,
    error_description: Cow<'a, str>,
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code(),
            // RFC 6749 §5.2's character set.
            error_description: sanitized(self.description()),
        };
        let mut response = (self.status(), Json(body)).into_response();
        let headers = response.headers_mut();
        no_store(headers);
        match self {
            Self::InvalidClient { .. } => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"outpost\""),
                );
            }
            Self::TooManyRequests { retry_after, .. }
            | Self::TemporarilyUnavailable { retry_after, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            }
            _ => {}
        }
        response
    }
}

/// `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1): responses carrying or
/// about credentials are never cached.
pub fn no_store(headers: &mut axum::http::HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// A JSON body with `status` and the no-store headers: every successful answer here.
pub fn no_store_json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let mut response = (status, Json(body)).into_response();
    no_store(response.headers_mut());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_rfc_6749() {
        assert_eq!(
            OAuthError::InvalidGrant("x".into()).status(),
            StatusCode::BAD_REQUEST
        );
        let client = OAuthError::invalid_client("x");
        assert_eq!(client.status(), StatusCode::UNAUTHORIZED);
        let response = client.into_response();
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            "Basic realm=\"outpost\""
        );
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    }

    #[test]
    fn an_unreachable_store_is_temporarily_unavailable_other_failures_are_server_errors() {
        let outage = OAuthError::from(StoreError::Unavailable("connection refused".into()));
        assert_eq!(outage.code(), "temporarily_unavailable");
        assert!(
            !outage.description().contains("refused"),
            "the cause stays in the log"
        );
        let response = outage.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");

        let failure = OAuthError::from(StoreError::Backend("disk I/O error".into()));
        assert_eq!(failure.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(failure.code(), "server_error");
    }
}
