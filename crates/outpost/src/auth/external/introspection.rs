//! Opaque tokens: RFC 7662 introspection at the issuer, with a short cache.
//!
//! Outpost authenticates to the introspection endpoint with `client_secret_basic` (RFC 6749
//! §2.3.1) and sends `token` with `token_type_hint=access_token`. An `active: true` answer is
//! refused when its `token_type` names a refresh token (`refresh_token`, or RFC 8693's
//! `urn:ietf:params:oauth:token-type:refresh_token`), and otherwise held to the same rules as a
//! JWT (`jwt::check_claims`): `iss` (when given) the issuer, `aud` containing the audience,
//! `exp` not passed, `sub` present. Answers are cached by the token's SHA-256 for
//! [`ACTIVE_TTL`] (never past the token's `exp`), refusals for [`INACTIVE_TTL`]; so a token
//! revoked at the issuer stops working here within [`ACTIVE_TTL`]. The cache is bounded
//! ([`CAPACITY`]). An endpoint that refuses the token itself (`400` with
//! `unsupported_token_type`, `invalid_token` or `invalid_request`) is a refusal too. An
//! endpoint that cannot answer (or refuses Outpost's own credentials) is neither cached nor a
//! `401`: the request gets `503`.
//!
//! **Refusals per source**: each call whose answer refuses the token counts against the
//! address of the request that made it ([`Source`], read through the server's trusted
//! proxies), at most [`REFUSALS_PER_SOURCE`]; the count lives in the store every instance
//! shares. A source past its budget gets `429` with `Retry-After` for tokens not already
//! known, without a call (logged as a warning at most once a minute): random tokens cannot
//! make the issuer introspect more than the budget, about one a second. An attempt is reserved
//! before the call and given back when the token is active, the endpoint cannot answer or the
//! request went away first, so a burst of bad tokens has at most the budget introspected. A
//! client sees a refusal now and then (a token that expired before its refresh): the budget
//! leaves room for hundreds of clients behind one address, and every client of a balancer not
//! named by `--trusted-proxy` is one source. Requests without the peer's address, and any when
//! the store cannot answer, are not counted. A request waiting on the same token's call from
//! another source shares that call's answer, a `429` included.
//!
//! **Single flight**: requests bearing the same token while its answer is not cached make one
//! introspection call; the others wait for its answer (a `503` included) instead of each
//! asking the endpoint — a client that fires its first requests in parallel, or a burst after
//! the cache entry expired, costs the issuer one call. Should the request making the call be
//! cancelled (its client went away), one of the waiting ones makes it.

use std::{
    collections::HashMap,
    fmt,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::OnceCell;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use serde::Deserialize;
use url::{Url, form_urlencoded};

use super::{
    Expectations, ExternalRefusal,
    jwt::{Claims, check_claims},
};
use crate::auth::resource::{
    Identity,
    cache::{SWEEP_EVERY, TokenDigest},
};
use crate::ops::{degraded::bounded, log_limit::OncePerMinute};
use outpost_oauth::{
    forwarded::Source,
    issuer_client::{FetchError, IssuerClient},
};
use outpost_store::{Admission, Budget, Reservation, ThrottleStore};

/// How long an `active: true` answer is reused (never past the token's `exp`).
pub const ACTIVE_TTL: Duration = Duration::from_secs(5);
/// How long a refusal (`active: false`, or an answer that fails the checks) is reused.
pub const INACTIVE_TTL: Duration = Duration::from_secs(2);
/// Most answers kept.
pub const CAPACITY: usize = 10_000;
/// Introspections refusing the token, per source, before that source's unknown tokens are
/// answered `429` instead of introspected.
pub const REFUSALS_PER_SOURCE: Budget = Budget::new(300, Duration::from_secs(5 * 60));

/// OAuth error codes with which an introspection endpoint refuses the token it was asked
/// about, not Outpost's request: the token is invalid (`401`), as with `active: false`. Any
/// other refusal (`invalid_client`: Outpost's credentials) leaves the token unjudged (`503`).
const REFUSES_THE_TOKEN: [&str; 3] = ["unsupported_token_type", "invalid_token", "invalid_request"];

/// The introspection endpoint and the credentials Outpost presents to it.
#[derive(Clone)]
pub struct IntrospectionSettings {
    /// The RFC 7662 endpoint (`--introspection-endpoint`).
    pub endpoint: Url,
    /// The client id Outpost authenticates with (`--introspection-client-id`).
    pub client_id: String,
    /// Its secret (`--introspection-client-secret`).
    pub client_secret: String,
}

impl fmt::Debug for IntrospectionSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionSettings")
            .field("endpoint", &self.endpoint.as_str())
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

type Answer = Result<Arc<Identity>, String>;

/// The answer of one introspection call, shared by every request waiting for it.
type Flight = Arc<OnceCell<Result<Arc<Identity>, ExternalRefusal>>>;

/// Introspects tokens, caching the answers.
pub(crate) struct Introspector {
    endpoint: Url,
    authorization: String,
    client: IssuerClient,
    cache: Mutex<Cache>,
    /// The calls under way, by token digest.
    flights: Mutex<HashMap<TokenDigest, Flight>>,
    /// Whether an `invalid_request` answer was logged already.
    warned_invalid_request: AtomicBool,
    /// Where refusals are counted per source ([`REFUSALS_PER_SOURCE`]); `None`: nowhere.
    refusals: Option<Arc<dyn ThrottleStore>>,
    /// When a source past its budget was last logged.
    throttled_logged: OncePerMinute,
    /// When the store's failure to count was last logged.
    store_failure_logged: OncePerMinute,
}

#[derive(Default)]
struct Cache {
    answers: HashMap<TokenDigest, (Answer, Instant)>,
    inserts: usize,
}

#[derive(Deserialize)]
struct IntrospectionAnswer {
    active: bool,
    /// RFC 7662's `token_type`; a refresh token is no access token, however active.
    token_type: Option<String>,
    #[serde(flatten)]
    claims: Claims,
}

impl Introspector {
    /// Introspects at `settings`' endpoint through `client`, counting refusals per source in
    /// `refusals`.
    pub(crate) fn new(
        settings: IntrospectionSettings,
        client: IssuerClient,
        refusals: Option<Arc<dyn ThrottleStore>>,
    ) -> Self {
        let encode =
            |value: &str| form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>();
        let credentials = format!(
            "{}:{}",
            encode(&settings.client_id),
            encode(&settings.client_secret)
        );
        Self {
            endpoint: settings.endpoint,
            authorization: format!("Basic {}", STANDARD.encode(credentials)),
            client,
            cache: Mutex::new(Cache::default()),
            flights: Mutex::new(HashMap::new()),
            warned_invalid_request: AtomicBool::new(false),
            refusals,
            throttled_logged: OncePerMinute::default(),
            store_failure_logged: OncePerMinute::default(),
        }
    }

    /// Where refusals are counted per source, if they are.
    pub(crate) fn refusals(&self) -> Option<Arc<dyn ThrottleStore>> {
        self.refusals.clone()
    }

    /// The cached answer for the token with digest `key`, if still fresh.
    pub(crate) fn cached(&self, key: &TokenDigest) -> Option<Answer> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache
            .answers
            .get(key)
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(answer, _)| answer.clone())
    }

    /// The answer about `token` (digest `key`) for a request from `source`: from the cache,
    /// from the call another request is making for the same token, or from a call made now
    /// (and cached).
    pub(crate) async fn introspect(
        &self,
        token: &str,
        key: TokenDigest,
        expect: &Expectations,
        now: i64,
        source: Option<Source>,
    ) -> Result<Arc<Identity>, ExternalRefusal> {
        let flight = {
            let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
            match flights.get(&key) {
                Some(flight) => flight.clone(),
                None => {
                    // A call that just ended cached its answer before leaving `flights`.
                    if let Some(answer) = self.cached(&key) {
                        return answer.map_err(ExternalRefusal::Invalid);
                    }
                    flights.entry(key).or_default().clone()
                }
            }
        };
        let boarded = Boarded {
            flights: &self.flights,
            key,
            flight,
        };
        boarded
            .flight
            .get_or_init(|| self.call(token, key, expect, now, source))
            .await
            .clone()
    }

    /// Asks the endpoint about `token` (digest `key`) for a request from `source`, within
    /// that source's budget of refusals.
    async fn call(
        &self,
        token: &str,
        key: TokenDigest,
        expect: &Expectations,
        now: i64,
        source: Option<Source>,
    ) -> Result<Arc<Identity>, ExternalRefusal> {
        let attempt = match (&self.refusals, source) {
            (Some(refusals), Some(source)) => self.reserve(refusals, source, now).await?,
            _ => None,
        };
        let answer = self.ask_endpoint(token, key, expect, now).await;
        if let (Some(attempt), Err(ExternalRefusal::Invalid(_))) = (attempt, &answer) {
            attempt.count();
        }
        answer
    }

    /// Reserves one refusal attempt for `source`: `None` when the store cannot answer (the
    /// call goes ahead uncounted), a `429` refusal when the budget is spent.
    async fn reserve(
        &self,
        refusals: &Arc<dyn ThrottleStore>,
        source: Source,
        now: i64,
    ) -> Result<Option<Attempt>, ExternalRefusal> {
        let key = format!("introspection:source:{source}");
        match bounded(refusals.reserve(&key, REFUSALS_PER_SOURCE, now)).await {
            Ok(Admission::Reserved(reservation)) => Ok(Some(Attempt {
                refusals: refusals.clone(),
                reservation: Some(reservation),
            })),
            Ok(Admission::Refused { retry_after }) => {
                if self.throttled_logged.due(now) {
                    tracing::warn!(
                        %source,
                        retry_after,
                        "a source had {} tokens refused by introspection within {} s: its \
                         tokens not known yet get 429 (behind a load balancer, give it to \
                         --trusted-proxy, or every client is one source)",
                        REFUSALS_PER_SOURCE.attempts,
                        REFUSALS_PER_SOURCE.window.as_secs()
                    );
                }
                Err(ExternalRefusal::Throttled { retry_after })
            }
            Err(error) => {
                if self.store_failure_logged.due(now) {
                    tracing::warn!(%error, "refused introspections not counted: the store did not answer; introspecting anyway");
                }
                Ok(None)
            }
        }
    }

    /// Asks the endpoint about `token` (digest `key`) and caches the answer.
    async fn ask_endpoint(
        &self,
        token: &str,
        key: TokenDigest,
        expect: &Expectations,
        now: i64,
    ) -> Result<Arc<Identity>, ExternalRefusal> {
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .append_pair("token_type_hint", "access_token")
            .finish();
        let answered = self
            .client
            .post_form(&self.endpoint, Some(&self.authorization), form)
            .await;
        let (answer, ttl) = match answered {
            Ok(answer) => judge(answer, expect, now),
            // The endpoint refused the token itself (oidc-provider answers a JWT it cannot
            // introspect so): no identity, as `active: false` would say.
            Err(FetchError::Refused(error)) if REFUSES_THE_TOKEN.contains(&error.as_str()) => {
                // `invalid_request` may be about Outpost's request rather than the token:
                // said once, for an operator to look at should every token be refused.
                if error == "invalid_request"
                    && !self.warned_invalid_request.swap(true, Ordering::Relaxed)
                {
                    tracing::warn!(endpoint = %self.endpoint, "the introspection endpoint answered invalid_request: the token is refused; if every token is, check --introspection-endpoint and the client's settings there");
                }
                (
                    Err(format!(
                        "the introspection endpoint refused the access token ({error})"
                    )),
                    INACTIVE_TTL,
                )
            }
            Err(cause) => {
                return Err(ExternalRefusal::Unavailable(format!(
                    "the introspection endpoint {} (--introspection-endpoint) failed: {cause}",
                    self.endpoint
                )));
            }
        };
        self.remember(key, answer.clone(), ttl);
        answer.map_err(ExternalRefusal::Invalid)
    }

    fn remember(&self, key: TokenDigest, answer: Answer, ttl: Duration) {
        let now = Instant::now();
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.inserts = cache.inserts.wrapping_add(1);
        if cache.answers.len() >= CAPACITY || cache.inserts.is_multiple_of(SWEEP_EVERY) {
            cache.answers.retain(|_, (_, until)| now < *until);
        }
        if cache.answers.len() < CAPACITY {
            cache.answers.insert(key, (answer, now + ttl));
        }
    }
}

/// One introspection's reserved attempt: given back when dropped (the token was active, the
/// endpoint could not answer, or the request went away before the answer), unless
/// [`count`](Self::count)ed. Given back in a task of its own, so no request waits on the store
/// for it.
struct Attempt {
    refusals: Arc<dyn ThrottleStore>,
    reservation: Option<Reservation>,
}

impl Attempt {
    /// The introspection refused the token: the attempt keeps counting.
    fn count(mut self) {
        self.reservation = None;
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        let Some(reservation) = self.reservation.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let refusals = self.refusals.clone();
        runtime.spawn(async move {
            if let Err(error) = bounded(refusals.release(&reservation)).await {
                tracing::debug!(%error, key = %reservation.key, "cannot give back an introspection attempt");
            }
        });
    }
}

/// A request's place on a flight: leaving, the last one aboard — or any, once the answer is
/// in — takes the flight off the list (so one whose every request was cancelled does not
/// stay, and the next request makes a new call).
struct Boarded<'a> {
    flights: &'a Mutex<HashMap<TokenDigest, Flight>>,
    key: TokenDigest,
    flight: Flight,
}

impl Drop for Boarded<'_> {
    fn drop(&mut self) {
        let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
        let listed = flights
            .get(&self.key)
            .is_some_and(|listed| Arc::ptr_eq(listed, &self.flight));
        // Requests board under this lock: the list's reference and ours are all there are
        // when nobody else is aboard.
        if listed && (self.flight.initialized() || Arc::strong_count(&self.flight) == 2) {
            flights.remove(&self.key);
        }
    }
}

/// The answer and how long to keep it.
fn judge(answer: IntrospectionAnswer, expect: &Expectations, now: i64) -> (Answer, Duration) {
    if !answer.active {
        return (
            Err("the access token is not active (introspection)".to_owned()),
            INACTIVE_TTL,
        );
    }
    if answer
        .token_type
        .as_deref()
        .is_some_and(|kind| kind.to_ascii_lowercase().contains("refresh_token"))
    {
        return (
            Err("the token is a refresh token, not an access token (introspection)".to_owned()),
            INACTIVE_TTL,
        );
    }
    let mut claims = answer.claims;
    // RFC 7662 makes `iss` and `exp` optional: without them, the endpoint vouches for the
    // issuer and the cache for the lifetime.
    claims.iss.get_or_insert_with(|| expect.issuer.clone());
    let ttl_seconds = i64::try_from(ACTIVE_TTL.as_secs()).unwrap_or(i64::MAX);
    let exp = *claims.exp.get_or_insert(now.saturating_add(ttl_seconds));
    match check_claims(claims, expect, now) {
        Ok(verified) => {
            let left = u64::try_from(exp.saturating_sub(now)).unwrap_or(0);
            (
                Ok(Arc::new(verified.identity)),
                ACTIVE_TTL.min(Duration::from_secs(left)),
            )
        }
        Err(refusal) => (Err(refusal.reason()), INACTIVE_TTL),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect() -> Expectations {
        Expectations {
            issuer: "https://idp.example".into(),
            audience: "https://mcp.example/mcp".into(),
            audience_aliases: Vec::new(),
            require_at_jwt: false,
            leeway_seconds: 0,
            names_grants: false,
        }
    }

    fn answer(json: serde_json::Value) -> IntrospectionAnswer {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn active_answers_are_kept_briefly_and_never_past_exp() {
        let (identity, ttl) = judge(
            answer(
                serde_json::json!({"active": true, "sub": "alice", "aud": ["https://mcp.example/mcp"],
                "exp": 1_002, "scope": "mcp", "client_id": "app", "username": "alice@example"}),
            ),
            &expect(),
            1_000,
        );
        let identity = identity.unwrap();
        assert_eq!(identity.subject, "alice");
        assert_eq!(identity.username.as_deref(), Some("alice@example"));
        assert_eq!(identity.client_id.as_deref(), Some("app"));
        assert_eq!(ttl, Duration::from_secs(2));
        let (_, ttl) = judge(
            answer(
                serde_json::json!({"active": true, "sub": "a", "aud": "https://mcp.example/mcp", "exp": 9_000}),
            ),
            &expect(),
            1_000,
        );
        assert_eq!(ttl, ACTIVE_TTL);
    }

    #[test]
    fn inactive_and_foreign_answers_are_refusals() {
        let (refused, ttl) = judge(
            answer(serde_json::json!({"active": false})),
            &expect(),
            1_000,
        );
        assert!(refused.is_err());
        assert_eq!(ttl, INACTIVE_TTL);
        let (refused, _) = judge(
            answer(
                serde_json::json!({"active": true, "sub": "a", "aud": "https://other.example/mcp", "exp": 9_000}),
            ),
            &expect(),
            1_000,
        );
        assert!(refused.unwrap_err().contains("audience"));
        let (refused, _) = judge(
            answer(
                serde_json::json!({"active": true, "sub": "a", "aud": "https://mcp.example/mcp",
                "iss": "https://evil.example", "exp": 9_000}),
            ),
            &expect(),
            1_000,
        );
        assert!(refused.unwrap_err().contains("issued by"));
        for kind in [
            "refresh_token",
            "urn:ietf:params:oauth:token-type:refresh_token",
        ] {
            let (refused, _) = judge(
                answer(
                    serde_json::json!({"active": true, "sub": "a", "aud": "https://mcp.example/mcp",
                    "exp": 9_000, "token_type": kind}),
                ),
                &expect(),
                1_000,
            );
            assert!(refused.unwrap_err().contains("refresh token"), "{kind}");
        }
        let (bearer, _) = judge(
            answer(
                serde_json::json!({"active": true, "sub": "a", "aud": "https://mcp.example/mcp",
                "exp": 9_000, "token_type": "Bearer"}),
            ),
            &expect(),
            1_000,
        );
        assert!(bearer.is_ok());
    }
}
