//! A client's answer to a server→client request that nothing awaits any more, answered with
//! an HTTP status the client can act on instead of rmcp's `500`.
//!
//! rmcp answers every failed `SessionManager::accept_message` with `500` and an ERROR log
//! line. An answer the session manager refuses as unawaited ([`UnawaitedAnswer`]) is the
//! client's late or stray message, or the loss of another instance, not a fault of this one.
//! So [`answer_unawaited`], in front of rmcp for POSTs that name a session, gives the request
//! a slot (a task-local: rmcp hands `accept_message` no request extensions for an answer);
//! the manager leaves its refusal there and accepts the message as far as rmcp is concerned
//! ([`refused_at_the_edge`]), and this middleware answers:
//!
//! - an id this server never gave a request: **`400 Bad Request`** (`reason: "unknown_request"`);
//! - the request that asked has ended (answered, cancelled, timed out): **`409 Conflict`**
//!   (`reason: "request_ended"`);
//! - the instance running it is gone: **`503 Service Unavailable`** (`reason:
//!   "instance_gone"`, no `Retry-After`: the answer cannot be delivered later; the client
//!   should retry its request).
//!
//! Each with a JSON-RPC error body (`id: null`). Without this middleware (rmcp's service used
//! directly), the manager returns the error and rmcp answers `500`, as before.

use std::sync::{Arc, OnceLock};

use axum::{extract::Request, middleware::Next, response::Response};
use http::{Method, StatusCode};
use rmcp::ErrorData;

use crate::mcp::{
    classify::{Era, RequestClass},
    jsonrpc_body::error_response,
    sessions::UnawaitedAnswer,
};

tokio::task_local! {
    /// Where the session manager leaves why it refused the request's answer.
    static REFUSED: Arc<OnceLock<UnawaitedAnswer>>;
}

/// axum middleware for `/mcp` with parked sessions: a POST naming a session whose answer the
/// session manager refuses as unawaited is answered with that refusal's status (see the
/// module docs) instead of rmcp's `500`.
pub(crate) async fn answer_unawaited(request: Request, next: Next) -> Response {
    let class = RequestClass::from_request(&request);
    if request.method() != Method::POST || class.era() != Era::Session || class.session().is_none()
    {
        return next.run(request).await;
    }
    let slot = Arc::new(OnceLock::new());
    let response = REFUSED.scope(slot.clone(), next.run(request)).await;
    match slot.get() {
        Some(refused) => refusal(*refused),
        None => response,
    }
}

/// Leaves `why` for [`answer_unawaited`] when it watches this request, and says whether it
/// does (the manager then accepts the message as far as rmcp is concerned).
pub(crate) fn refused_at_the_edge(why: UnawaitedAnswer) -> bool {
    REFUSED
        .try_with(|slot| {
            let _ = slot.set(why);
        })
        .is_ok()
}

/// The answer the client gets for an answer nothing awaits.
fn refusal(why: UnawaitedAnswer) -> Response {
    let (status, reason) = match why {
        UnawaitedAnswer::UnknownId => (StatusCode::BAD_REQUEST, "unknown_request"),
        UnawaitedAnswer::Ended => (StatusCode::CONFLICT, "request_ended"),
        UnawaitedAnswer::InstanceGone => (StatusCode::SERVICE_UNAVAILABLE, "instance_gone"),
    };
    let data = Some(serde_json::json!({ "reason": reason }));
    let error = match why {
        UnawaitedAnswer::InstanceGone => ErrorData::internal_error(why.to_string(), data),
        UnawaitedAnswer::UnknownId | UnawaitedAnswer::Ended => {
            ErrorData::invalid_request(why.to_string(), data)
        }
    };
    error_response(status, None, error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refusal_is_left_only_where_the_edge_watches() {
        assert!(
            !refused_at_the_edge(UnawaitedAnswer::Ended),
            "nobody watches: rmcp answers"
        );
        let slot = Arc::new(OnceLock::new());
        let left = REFUSED
            .scope(slot.clone(), async {
                refused_at_the_edge(UnawaitedAnswer::InstanceGone)
            })
            .await;
        assert!(left);
        assert_eq!(slot.get(), Some(&UnawaitedAnswer::InstanceGone));
    }

    #[test]
    fn each_refusal_has_its_status() {
        for (why, status) in [
            (UnawaitedAnswer::UnknownId, StatusCode::BAD_REQUEST),
            (UnawaitedAnswer::Ended, StatusCode::CONFLICT),
            (
                UnawaitedAnswer::InstanceGone,
                StatusCode::SERVICE_UNAVAILABLE,
            ),
        ] {
            assert_eq!(refusal(why).status(), status, "{why:?}");
        }
    }
}
