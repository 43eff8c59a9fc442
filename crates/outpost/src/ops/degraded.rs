//! Degraded mode on the MCP routes: what a request gets when the answer it needs is in a store
//! that does not answer.
//!
//! Three checks on `/mcp` may need the store: the revocation of the token's grant (once per
//! grant per revocation-cache TTL), the owner of a session this instance does not hold, and
//! the restore of such a session. Each is bounded by [`STORE_ANSWER_TIMEOUT`] ([`bounded`]),
//! so a store that stalls cannot hold a request, and "could not tell" is its own outcome:
//! neither a revoked token (`401`, which sends clients to sign in again for our outage) nor an
//! unknown session (`404`, which makes them drop it). It is answered with
//! [`store_unavailable`]: `503 Service Unavailable`, `Retry-After: 5` and a JSON-RPC error.
//!
//! The JSON-RPC error is `-32603 Internal error` (JSON-RPC 2.0 §5.1), with
//! `data: {"reason": "store_unavailable", "retryAfter": 5}`. The implementation-defined range
//! -32000…-32099 is not used: MCP and its SDKs already take codes from it (-32002 resource not
//! found, -32020…-32022, -32042; the SDKs' -32000 connection closed and -32001 request
//! timeout), so a code of ours could collide with one a client already interprets; -32603
//! means "the server failed this request", which every client surfaces as it is, while the
//! HTTP status and `Retry-After` say that the failure is temporary. The error keeps the
//! request's `id` when the body (up to [`DRAIN_LIMIT`]) is one JSON-RPC message, `null`
//! otherwise (a GET stream, a batch, a larger body).

use std::{future::Future, time::Duration};

use axum::extract::Request;
use http::{HeaderValue, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use rmcp::{ErrorData, model::RequestId};

use super::log_limit::OncePerMinute;
use crate::{
    clock::unix_now,
    http::early_answer::{BoxedResponse, DRAIN_LIMIT},
    mcp::jsonrpc_body::{error_response, request_id_of},
    store::StoreError,
};

/// The longest a request waits for the store's answer to one of its checks.
pub(crate) const STORE_ANSWER_TIMEOUT: Duration = Duration::from_secs(3);

/// What a refused request's `Retry-After` says: a few seconds, about one revocation-cache
/// TTL, so a client retrying after it sees a store that came back.
pub(crate) const RETRY_AFTER_SECONDS: u64 = 5;

/// `answer` bounded by [`STORE_ANSWER_TIMEOUT`]: no answer in time is
/// [`StoreError::Unavailable`].
pub(crate) async fn bounded<T>(
    answer: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(STORE_ANSWER_TIMEOUT, answer)
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::Unavailable(format!(
                "no answer within {} s",
                STORE_ANSWER_TIMEOUT.as_secs()
            )))
        })
}

/// The answer to `request` when the store could not answer one of its checks (`why`, for
/// the log): the body is read up to [`DRAIN_LIMIT`] for the request's `id` (which also keeps
/// a kept-alive connection usable), then `503` with `Retry-After` and the JSON-RPC error.
pub(crate) fn store_unavailable(request: Request, why: &str) -> BoxedResponse {
    warn_store_unavailable(why);
    unavailable(request, Unavailable::Store)
}

/// The same `503` when the external issuer could not answer (an introspection endpoint
/// that fails): `reason` `issuer_unavailable`.
#[cfg(feature = "external-issuer")]
pub(crate) fn issuer_unavailable(request: Request, why: &str) -> BoxedResponse {
    tracing::warn!(%why, "token issuer unavailable: answering 503");
    unavailable(request, Unavailable::Issuer)
}

/// Logs that the store did not answer, at most once a minute: an outage fails every
/// request, and `outpost_requests_total{status="503"}` counts them.
fn warn_store_unavailable(why: &str) {
    static LOGGED: OncePerMinute = OncePerMinute::new();
    if LOGGED.due(unix_now()) {
        tracing::warn!(%why, "store unavailable: answering 503 (again within a minute: not logged)");
    }
}

/// What did not answer.
#[derive(Clone, Copy)]
enum Unavailable {
    Store,
    #[cfg(feature = "external-issuer")]
    Issuer,
}

/// The same `503` for a request whose body was read already, `id` its id (the session
/// manager could not write a new session's record: `mcp::session_limits`).
pub(crate) fn store_unavailable_for(id: Option<&RequestId>, why: &str) -> axum::response::Response {
    warn_store_unavailable(why);
    retry_after_response(
        StatusCode::SERVICE_UNAVAILABLE,
        id,
        RETRY_AFTER_SECONDS,
        unavailable_error(Unavailable::Store),
    )
}

/// `status` with `Retry-After: retry_after` seconds and the JSON-RPC `error` answering `id`.
pub(crate) fn retry_after_response(
    status: StatusCode,
    id: Option<&RequestId>,
    retry_after: u64,
    error: ErrorData,
) -> axum::response::Response {
    let mut response = error_response(status, id, error);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
}

fn unavailable(request: Request, what: Unavailable) -> BoxedResponse {
    retry_later(
        request,
        StatusCode::SERVICE_UNAVAILABLE,
        RETRY_AFTER_SECONDS,
        unavailable_error(what),
    )
}

/// The JSON-RPC error saying what did not answer.
fn unavailable_error(what: Unavailable) -> ErrorData {
    let (message, reason) = match what {
        Unavailable::Store => (
            "Service temporarily unavailable: the server's store does not answer; retry in a \
             few seconds",
            "store_unavailable",
        ),
        #[cfg(feature = "external-issuer")]
        Unavailable::Issuer => (
            "Service temporarily unavailable: the token issuer does not answer; retry in a few \
             seconds",
            "issuer_unavailable",
        ),
    };
    unavailable_for(message, reason, RETRY_AFTER_SECONDS)
}

/// The `-32603` JSON-RPC error of a `503`: `message`, with `data.reason` (a short code a client
/// may branch on) and `data.retryAfter` (seconds, as the `Retry-After` header says).
pub(crate) fn unavailable_for(message: &str, reason: &str, retry_after: u64) -> ErrorData {
    ErrorData::internal_error(
        message.to_owned(),
        Some(serde_json::json!({
            "reason": reason,
            "retryAfter": retry_after,
        })),
    )
}

/// `request` answered `status` with `Retry-After: retry_after` seconds and the JSON-RPC
/// `error`: the body is read up to [`DRAIN_LIMIT`] for the request's `id` (which also keeps a
/// kept-alive connection usable; a larger body closes the connection). Shared by the `503` of
/// an outage and the `429` of a request limit (`auth::resource::rate_limit`).
pub(crate) fn retry_later(
    request: Request,
    status: StatusCode,
    retry_after: u64,
    error: ErrorData,
) -> BoxedResponse {
    Box::pin(async move {
        let (id, read) = match Limited::new(request.into_body(), DRAIN_LIMIT)
            .collect()
            .await
        {
            Ok(body) => (request_id_of(&body.to_bytes()), true),
            Err(_) => (None, false),
        };
        let mut response = retry_after_response(status, id.as_ref(), retry_after, error);
        if !read {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        Ok(response)
    })
}

#[cfg(test)]
mod tests {
    use axum::{body::Body, response::Response};

    use super::*;

    async fn answer(body: &'static str) -> (Response, serde_json::Value) {
        let request = Request::post("/mcp").body(Body::from(body)).unwrap();
        let response = store_unavailable(request, "test").await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 4096).await.unwrap();
        let json = serde_json::from_slice(&bytes).unwrap();
        (Response::from_parts(parts, Body::empty()), json)
    }

    #[tokio::test]
    async fn the_answer_is_a_503_with_retry_after_and_the_request_id() {
        let (response, json) =
            answer(r#"{"jsonrpc":"2.0","id":"req-7","method":"tools/call","params":{}}"#).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
        assert_eq!(json["jsonrpc"], "2.0");
        assert_eq!(json["id"], "req-7");
        assert_eq!(json["error"]["code"], -32603);
        assert_eq!(json["error"]["data"]["reason"], "store_unavailable");

        let (_, json) = answer(r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#).await;
        assert!(json["id"].is_null(), "a batch has no one id");
        let (_, json) = answer("[5]").await;
        assert!(
            json["id"].is_null(),
            "an array is no message, so it has no id"
        );
        let (_, json) = answer("").await;
        assert!(json["id"].is_null(), "no body, no id");
    }

    #[tokio::test(start_paused = true)]
    async fn a_store_that_never_answers_is_unavailable_after_the_timeout() {
        let never = std::future::pending::<Result<(), StoreError>>();
        assert!(matches!(
            bounded(never).await,
            Err(StoreError::Unavailable(_))
        ));
    }
}
