//! The resource server as one tower service in front of the MCP routes.
//!
//! Every request passes three checks, in this order, each a file of its own: the bearer token
//! ([`super::bearer`]: `401`), the session it names ([`super::session_owner`]: `404` for
//! someone else's), and the scope of the tool it calls ([`super::scope_check`]: `403`); with
//! request limits configured, the caller's limits come right after the token
//! ([`super::rate_limit`]: `429`). They
//! share one [`Identity`], looked up once, and one refusal path (the body is drained first so
//! the connection survives: [`after_draining`]). When the store cannot answer the first two
//! (a revocation status not cached, an owner not in memory), the answer is the `503` of
//! [`store_unavailable`].
//!
//! A `GET` whose token names a checked grant may open a stream that outlives the grant: its
//! event-stream answer ends once the grant is revoked ([`super::stream_revocation`]).
//!
//! Most requests are decided from the caches and headers alone (and, with limits, a local
//! permit); they go on to the MCP service with nothing boxed. A request that needs an await —
//! a revocation answer not cached, a batch of permits to take from the store, a session owner
//! to read from the store, a body to read for its tool name, an answer to watch
//! for a new session or a stream, or a refusal — takes one boxed future that runs the checks
//! in order.

use std::{
    convert::Infallible,
    sync::Arc,
    task::{Context, Poll},
};

use axum::{body::Body, extract::Request, response::Response};
use futures::future::Either;
use tower::{Layer, Service};

#[cfg(feature = "external-issuer")]
use axum::extract::ConnectInfo;
#[cfg(feature = "external-issuer")]
use outpost_oauth::forwarded::{Source, TrustedProxies};
#[cfg(feature = "external-issuer")]
use std::net::SocketAddr;

use super::{
    ResourceServerConfig,
    bearer::{RevocationRefusal, TokenCheck, Verdict},
    canonical_resource,
    identity::Identity,
    metadata::MetadataUrls,
    rate_limit::{LimitVerdict, RequestLimiter, rate_limited},
    scope_check::{ScopeCheck, ScopeVerdict},
    session_owner::{OwnerCheck, OwnerVerdict, StoredOwners, not_found},
    stream_revocation::{Revocable, StillGranted},
};
use crate::{
    config::ServerConfig,
    http::{
        early_answer::{BoxedResponse, refuse, take_ready},
        held_body::is_event_stream,
    },
    mcp::{classify::RequestClass, legacy_sse::directory::LegacyDirectory},
    ops::{degraded::store_unavailable, request_facts::RequestFacts},
    store::GrantId,
};

/// Requires a valid bearer token, the caller's own sessions and the tools' scopes on every
/// request of the wrapped service, which sees each request with an `Arc<Identity>` in its
/// extensions.
#[derive(Clone)]
pub struct ResourceServerLayer {
    checks: Arc<Checks>,
}

struct Checks {
    tokens: TokenCheck,
    limits: Option<RequestLimiter>,
    owners: OwnerCheck,
    scopes: ScopeCheck,
    /// How often an open stream asks whether its grant still stands.
    stream_revocation_interval: std::time::Duration,
    /// The proxies whose forwarding headers name the client, for limits per source.
    #[cfg(feature = "external-issuer")]
    trusted_proxies: TrustedProxies,
}

impl Checks {
    /// Whether the answer to a `method` request of `identity` is watched for its grant's
    /// revocation: a `GET` may open a stream that outlives the token's grant.
    fn watches_stream(&self, method: &http::Method, identity: &Identity) -> bool {
        *method == http::Method::GET && self.tokens.watches_grant_of(identity)
    }

    /// The source a request is counted under by limits per source: its peer's address, or
    /// the client a trusted proxy forwards for; `None` without the peer's address (a router
    /// served without connect info).
    #[cfg(feature = "external-issuer")]
    fn source(&self, request: &Request) -> Option<Source> {
        let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() else {
            static WARNED: std::sync::Once = std::sync::Once::new();
            WARNED.call_once(|| {
                tracing::warn!(
                    "requests reach the resource server without the peer's address (axum's \
                     ConnectInfo<SocketAddr>): refused introspections are not limited per \
                     source. Serve the router with \
                     into_make_service_with_connect_info::<SocketAddr>()"
                );
            });
            return None;
        };
        let client = self
            .trusted_proxies
            .client_address(peer.ip(), request.headers());
        Some(Source::of(client))
    }

    /// The request limits' verdict for `identity` (no limit: pass).
    fn limit(&self, identity: &Identity) -> LimitVerdict {
        match &self.limits {
            Some(limiter) => limiter.verdict(identity),
            None => LimitVerdict::Pass,
        }
    }
}

impl ResourceServerLayer {
    /// Checks for `config` on `server`: tokens for its canonical MCP URL, refusals naming the
    /// protected resource metadata of the request's endpoint, sessions idling out after its
    /// `session_idle_timeout` (their owners also kept in `stored`, and legacy sessions' in
    /// `legacy` when those are shared), bodies read up to its `max_request_body_bytes`, the
    /// client's address read through its `trusted_proxies`.
    pub(crate) fn new(
        config: &ResourceServerConfig,
        server: &ServerConfig,
        stored: StoredOwners,
        legacy: Option<Arc<LegacyDirectory>>,
    ) -> Self {
        let base_url = server.base_url();
        let resource_metadata = MetadataUrls::new(&base_url);
        let scopes = ScopeCheck::new(
            config.required_scopes.clone(),
            resource_metadata.clone(),
            server.max_request_body_bytes,
        );
        Self {
            checks: Arc::new(Checks {
                tokens: TokenCheck::new(config, canonical_resource(&base_url), resource_metadata),
                limits: config.request_limits.as_ref().and_then(RequestLimiter::new),
                owners: OwnerCheck::new(server.session_idle_timeout, stored, legacy),
                scopes,
                stream_revocation_interval: config.stream_revocation_interval,
                #[cfg(feature = "external-issuer")]
                trusted_proxies: server.trusted_proxies.clone(),
            }),
        }
    }
}

impl<S> Layer<S> for ResourceServerLayer {
    type Service = ResourceServer<S>;

    fn layer(&self, inner: S) -> ResourceServer<S> {
        ResourceServer {
            checks: self.checks.clone(),
            inner,
        }
    }
}

/// A service behind a [`ResourceServerLayer`].
#[derive(Clone)]
pub struct ResourceServer<S> {
    checks: Arc<Checks>,
    inner: S,
}

impl<S> Service<Request> for ResourceServer<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<S::Future, BoxedResponse>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let (identity, revocation) = match self.checks.tokens.check(&request) {
            Verdict::Refuse(challenge) => {
                tracing::debug!(?challenge, "refused MCP request");
                let era = RequestClass::from_request(&request).era();
                let response = self.checks.tokens.refusal(challenge, era);
                return Either::Right(refuse(request, response));
            }
            Verdict::Accept(identity) => (identity, None),
            Verdict::AskRevocation(identity, grant) => (identity, Some(grant)),
            #[cfg(feature = "external-issuer")]
            Verdict::AskIssuer(token, key) => {
                let inner = take_ready(&mut self.inner);
                return Either::Right(Box::pin(asked_issuer(
                    self.checks.clone(),
                    inner,
                    request,
                    token,
                    key,
                )));
            }
        };
        // Logged with the answer, refusals from here on included.
        RequestFacts::record_identity(request.extensions(), &identity);
        let limit = self.checks.limit(&identity);
        if let LimitVerdict::Refuse(refusal) = limit {
            return Either::Right(rate_limited(request, refusal));
        }
        let class = RequestClass::from_request(&request);
        let method = request.method();
        let owner = self
            .checks
            .owners
            .verdict(&class, method, &identity.subject);
        let scope = self.checks.scopes.verdict(&class, method, &identity.scopes);
        let watch_stream = self.checks.watches_stream(method, &identity);
        if revocation.is_none()
            && !watch_stream
            && matches!(limit, LimitVerdict::Pass)
            && matches!(owner, OwnerVerdict::Pass)
            && matches!(scope, ScopeVerdict::Pass)
        {
            request.extensions_mut().insert(identity);
            return Either::Left(self.inner.call(request));
        }
        let pending = Pending {
            class: class.into_owned(),
            identity,
            revocation,
            limit,
            owner,
            scope,
            watch_stream,
        };
        let inner = take_ready(&mut self.inner);
        Either::Right(Box::pin(checked(
            self.checks.clone(),
            inner,
            request,
            pending,
        )))
    }
}

/// The checks of a request whose token the external issuer must be asked about first.
#[cfg(feature = "external-issuer")]
async fn asked_issuer<S>(
    checks: Arc<Checks>,
    inner: S,
    request: Request,
    token: String,
    key: super::cache::TokenDigest,
) -> Result<Response, Infallible>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    use super::bearer::IssuerRefusal;
    let source = checks.source(&request);
    let (identity, revocation) = match checks.tokens.ask_issuer(&token, key, source).await {
        Ok(asked) => asked,
        Err(IssuerRefusal::Refused(challenge)) => {
            tracing::debug!(?challenge, "refused MCP request");
            let era = RequestClass::from_request(&request).era();
            let response = checks.tokens.refusal(challenge, era);
            return refuse(request, response).await;
        }
        Err(IssuerRefusal::Unavailable(why)) => {
            return crate::ops::degraded::issuer_unavailable(request, &why).await;
        }
        Err(IssuerRefusal::Throttled(retry_after)) => {
            return super::rate_limit::too_many_refused_tokens(request, retry_after).await;
        }
    };
    let limit = checks.limit(&identity);
    if let LimitVerdict::Refuse(refusal) = limit {
        return rate_limited(request, refusal).await;
    }
    let class = RequestClass::from_request(&request);
    let owner = checks
        .owners
        .verdict(&class, request.method(), &identity.subject);
    let scope = checks
        .scopes
        .verdict(&class, request.method(), &identity.scopes);
    let watch_stream = checks.watches_stream(request.method(), &identity);
    let pending = Pending {
        class: class.into_owned(),
        identity,
        revocation,
        limit,
        owner,
        scope,
        watch_stream,
    };
    checked(checks, inner, request, pending).await
}

/// `response`'s stream, ended once `identity`'s grant is revoked.
fn revocable(checks: &Arc<Checks>, identity: Arc<Identity>, response: Response) -> Response {
    let every = checks.stream_revocation_interval;
    let checks = checks.clone();
    let still_granted: StillGranted = Arc::new(move || {
        let (checks, identity) = (checks.clone(), identity.clone());
        Box::pin(async move { checks.tokens.still_granted(&identity).await })
    });
    response.map(|body| Body::new(Revocable::new(body, every, still_granted)))
}

/// What the synchronous part decided for a request that needs an await.
struct Pending {
    class: RequestClass,
    identity: Arc<Identity>,
    revocation: Option<GrantId>,
    limit: LimitVerdict,
    owner: OwnerVerdict,
    scope: ScopeVerdict,
    /// Whether an event-stream answer ends when the grant is revoked ([`Revocable`]).
    watch_stream: bool,
}

/// Every check in order, with the awaits the synchronous part could not make.
async fn checked<S>(
    checks: Arc<Checks>,
    mut inner: S,
    mut request: Request,
    pending: Pending,
) -> Result<Response, Infallible>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let Pending {
        class,
        identity,
        revocation,
        limit,
        owner,
        scope,
        watch_stream,
    } = pending;
    if let Some(grant) = revocation {
        match checks.tokens.ask_revocation(grant).await {
            Ok(()) => {}
            Err(RevocationRefusal::Revoked(challenge)) => {
                let response = checks.tokens.refusal(challenge, class.era());
                return refuse(request, response).await;
            }
            Err(RevocationRefusal::Unknown(why)) => {
                return store_unavailable(request, &why).await;
            }
        }
    }
    if let (LimitVerdict::Ask { subject, client }, Some(limiter)) = (limit, &checks.limits)
        && let Err(refusal) = limiter.ask(&identity, subject, client).await
    {
        return rate_limited(request, refusal).await;
    }
    let method = request.method().clone();
    let watch = match owner {
        OwnerVerdict::Pass => false,
        OwnerVerdict::Watch => true,
        OwnerVerdict::NotFound => return refuse(request, not_found()).await,
        OwnerVerdict::AskStore => {
            let session = class.session().unwrap_or_default();
            match checks
                .owners
                .owned_in_store(class.era(), session, &identity.subject)
                .await
            {
                Ok(true) => {}
                Ok(false) => return refuse(request, not_found()).await,
                Err(error) => return store_unavailable(request, &error.to_string()).await,
            }
            // A resumed session's DELETE forgets it once it has ended.
            method == http::Method::DELETE
        }
    };
    match scope {
        ScopeVerdict::Pass => {}
        ScopeVerdict::Refuse(response) => return refuse(request, response).await,
        ScopeVerdict::ReadBody => match checks
            .scopes
            .check_body(request, class.era(), &identity.scopes)
            .await
        {
            Ok(with_body) => request = with_body,
            Err(response) => return Ok(response),
        },
    }
    let subject = identity.subject.clone();
    let watched = watch_stream.then(|| identity.clone());
    request.extensions_mut().insert(identity);
    let mut response = inner.call(request).await?;
    if let Some(identity) = watched
        && is_event_stream(&response)
    {
        response = revocable(&checks, identity, response);
    }
    if !watch {
        return Ok(response);
    }
    Ok(checks
        .owners
        .watch(&class, &method, subject, response)
        .await)
}
