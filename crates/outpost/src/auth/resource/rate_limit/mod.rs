//! Per-principal request limits on the MCP routes: at most so many requests per subject (the
//! token's `sub`) and per OAuth client (its `client_id`), across every instance sharing the
//! store (`outpost serve --rate-limit 50/s --rate-limit-client 200/s`). Off by default.
//!
//! **What counts**: each HTTP request to `/mcp` (and the legacy `/sse`, `/message`) whose token
//! is valid, once, when it arrives: a GET stream or a `subscriptions/listen` request is one
//! request however many events it carries, and a request refused for its token is not
//! counted against anyone. The limit is checked right after the token, before the session
//! and scope checks.
//!
//! **Across instances**: the budget is the store's ([`ThrottleStore::reserve_many`], the same
//! primitive as the authorization server's throttles), taken in batches into a local
//! allowance (`allowance`), so a request under its limit costs two uncontended locks and no
//! await; the store is asked about once per batch. A batch is spent only in the clock second
//! it was reserved in, so the budget holds exactly, whichever instances the requests reach.
//! `50/s` means at most 50 in each clock second; `3000/m` at most 3000 in any 60 seconds
//! (counted by whole seconds), which lets a client burst.
//!
//! **Refusal**: `429 Too Many Requests`, `Retry-After` (seconds), and a JSON-RPC error with
//! the request's `id`: code `-32603`, for the reasons `ops::degraded` gives for its `503`
//! (the implementation-defined codes -32000…-32099 are already taken by MCP and its SDKs, so
//! a code of ours could mean something else to a client), with `data: {"reason":
//! "rate_limited", "limit": "subject" | "client", "rate": "50/s", "retryAfter": N}`; the
//! HTTP status and `Retry-After` tell the client to slow down.
//!
//! **When the store does not answer**, requests go through (logged): a limit protects the
//! server, it does not decide who may use it, so an outage of the store does not take the
//! MCP routes down with it.

mod allowance;
mod rate;

use std::{fmt, sync::Arc};

use axum::extract::Request;
use http::StatusCode;
use rmcp::ErrorData;

use self::allowance::{Allowances, Take};
pub use self::rate::{Rate, RateError};
use super::identity::Identity;
use crate::{
    clock::unix_now, http::early_answer::BoxedResponse, ops::degraded::retry_later,
    store::ThrottleStore,
};

/// The request limits of [`ResourceServerConfig::request_limits`](super::ResourceServerConfig):
/// per subject, per client, or both, counted in `store`.
#[derive(Clone)]
pub struct RequestLimits {
    /// At most this many requests per subject (the token's `sub`).
    pub per_subject: Option<Rate>,
    /// At most this many requests per OAuth client (the token's `client_id`); tokens that
    /// name no client are not limited by it.
    pub per_client: Option<Rate>,
    /// Where the budgets are counted: the store every instance shares.
    pub store: Arc<dyn ThrottleStore>,
}

impl RequestLimits {
    /// No limit yet, counted in `store`.
    pub fn new(store: Arc<dyn ThrottleStore>) -> Self {
        Self {
            per_subject: None,
            per_client: None,
            store,
        }
    }
}

impl fmt::Debug for RequestLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestLimits")
            .field("per_subject", &self.per_subject)
            .field("per_client", &self.per_client)
            .finish_non_exhaustive()
    }
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Principal {
    Subject,
    Client,
}

impl Principal {
    fn name(self) -> &'static str {
        match self {
            Principal::Subject => "subject",
            Principal::Client => "client",
        }
    }
}

/// A request over its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    principal: Principal,
    rate: Rate,
    retry_after: u64,
}

impl Refusal {
    fn new(principal: Principal, rate: Rate, retry_after: u64) -> Self {
        Self {
            principal,
            rate,
            retry_after,
        }
    }
}

/// What the limits say about a request without awaiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitVerdict {
    /// Under every limit: a local permit of each was spent.
    Pass,
    /// Over a limit.
    Refuse(Refusal),
    /// The store must be asked for the limits marked (the others' permits are spent).
    Ask {
        /// The subject's limit.
        subject: bool,
        /// The client's limit.
        client: bool,
    },
}

/// The limits in force, with their local allowances.
pub(crate) struct RequestLimiter {
    subject: Option<Allowances>,
    client: Option<Allowances>,
    store: Arc<dyn ThrottleStore>,
}

impl RequestLimiter {
    /// The limiter for `limits`; `None` when they set no limit (nothing to check).
    pub(crate) fn new(limits: &RequestLimits) -> Option<Self> {
        if limits.per_subject.is_none() && limits.per_client.is_none() {
            return None;
        }
        Some(Self {
            subject: limits
                .per_subject
                .map(|rate| Allowances::new(rate, "mcp-rate:subject:")),
            client: limits
                .per_client
                .map(|rate| Allowances::new(rate, "mcp-rate:client:")),
            store: limits.store.clone(),
        })
    }

    /// Spends the local permits `identity`'s request needs, if they are here.
    pub(crate) fn verdict(&self, identity: &Identity) -> LimitVerdict {
        let now = unix_now();
        if let Some(allowances) = &self.subject {
            match allowances.take(&identity.subject, now) {
                Take::Taken => {}
                Take::Refused(retry_after) => {
                    return LimitVerdict::Refuse(Refusal::new(
                        Principal::Subject,
                        allowances.rate(),
                        retry_after,
                    ));
                }
                Take::Ask => {
                    return LimitVerdict::Ask {
                        subject: true,
                        client: self.client.is_some() && identity.client_id.is_some(),
                    };
                }
            }
        }
        let (Some(allowances), Some(client_id)) = (&self.client, &identity.client_id) else {
            return LimitVerdict::Pass;
        };
        match allowances.take(client_id, now) {
            Take::Taken => LimitVerdict::Pass,
            Take::Refused(retry_after) => LimitVerdict::Refuse(Refusal::new(
                Principal::Client,
                allowances.rate(),
                retry_after,
            )),
            Take::Ask => LimitVerdict::Ask {
                subject: false,
                client: true,
            },
        }
    }

    /// Spends the permits [`verdict`](Self::verdict) could not, asking the store.
    pub(crate) async fn ask(
        &self,
        identity: &Identity,
        subject: bool,
        client: bool,
    ) -> Result<(), Refusal> {
        if let (true, Some(allowances)) = (subject, &self.subject) {
            allowances
                .ask(&identity.subject, self.store.as_ref(), unix_now)
                .await
                .map_err(|retry_after| {
                    Refusal::new(Principal::Subject, allowances.rate(), retry_after)
                })?;
        }
        if let (true, Some(allowances), Some(client_id)) =
            (client, &self.client, &identity.client_id)
        {
            let refused =
                |retry_after| Refusal::new(Principal::Client, allowances.rate(), retry_after);
            match allowances.take(client_id, unix_now()) {
                Take::Taken => {}
                Take::Refused(retry_after) => return Err(refused(retry_after)),
                Take::Ask => allowances
                    .ask(client_id, self.store.as_ref(), unix_now)
                    .await
                    .map_err(refused)?,
            }
        }
        Ok(())
    }
}

/// The `429` of a request over its limit (the body is read for the request's `id`).
pub(crate) fn rate_limited(request: Request, refusal: Refusal) -> BoxedResponse {
    let Refusal {
        principal,
        rate,
        retry_after,
    } = refusal;
    tracing::debug!(limit = principal.name(), %rate, retry_after, "request over its limit: 429");
    let who = match principal {
        Principal::Subject => "user",
        Principal::Client => "client",
    };
    let error = ErrorData::internal_error(
        format!("Too many requests: this {who} may make {rate} requests; retry in {retry_after} s"),
        Some(serde_json::json!({
            "reason": "rate_limited",
            "limit": principal.name(),
            "rate": rate.to_string(),
            "retryAfter": retry_after,
        })),
    );
    retry_later(request, StatusCode::TOO_MANY_REQUESTS, retry_after, error)
}

/// The `429` of a request from a source past its budget of refused introspections
/// ([`REFUSALS_PER_SOURCE`](crate::auth::external::introspection::REFUSALS_PER_SOURCE)): its
/// token is not known here and is not introspected until the budget has room again.
#[cfg(feature = "external-issuer")]
pub(crate) fn too_many_refused_tokens(request: Request, retry_after: u64) -> BoxedResponse {
    let error = ErrorData::internal_error(
        format!(
            "Too many unknown or invalid access tokens from this address; retry in {retry_after} s"
        ),
        Some(serde_json::json!({
            "reason": "refused_tokens",
            "retryAfter": retry_after,
        })),
    );
    retry_later(request, StatusCode::TOO_MANY_REQUESTS, retry_after, error)
}
