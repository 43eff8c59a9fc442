//! Authorization requests between `/authorize` and the redirect back to the client.
//!
//! A validated authorization request (RFC 6749 §4.1.1) waits in the store
//! ([`PendingAuthorizationStore`]) while the user signs in and consents, so that any instance
//! sharing the store can serve each step. The pages carry only its random id (256 bits,
//! [`Secret`]) in a hidden field, so nothing the browser sends back can change the client,
//! redirect URI, scope, resource or PKCE challenge. The store keeps the SHA-256 of the id and
//! of the `BrowserBinding` of the browser that opened the request, as it does for codes: the
//! request is found only by that browser, with that id (see `browser`). A
//! request lives
//! [`PENDING_TTL`] and ends once: signing in is recorded atomically on a live request, and the
//! consent step takes it.
//!
//! Anyone can create pending requests, so they are bounded twice: [`PENDING_PER_SOURCE`] per
//! source address (through the [`throttle`](super::throttle) primitive; not applied without a
//! peer address), so that one address cannot crowd out everyone else's; and [`MAX_PENDING`]
//! in all, past which the requests expiring soonest make room (a flood from many addresses
//! displaces old requests rather than stopping every new login). Expired requests go as new
//! ones arrive and in the [`maintenance`](super::maintenance) purge.

use std::time::Duration;

use outpost_oauth::{
    pkce::CodeChallenge,
    scope::Scope,
    secret::{RandomnessError, Secret},
};

use super::{
    AuthorizationServer,
    browser::BrowserBinding,
    errors::ServerFailure,
    throttle::{ClientIp, ThrottleError, reserve_all},
};
use outpost_store::{
    Budget, ClientId, PendingAuthorizationRecord, PendingAuthorizationStore, StoreError, TokenHash,
    UserId, token_hash,
};

/// How long a user has to sign in and consent: 10 minutes.
pub const PENDING_TTL: Duration = Duration::from_secs(600);
/// Pending requests kept at most; past it those expiring soonest are dropped.
pub const MAX_PENDING: usize = 10_000;
/// Pending requests one source address may start per [`PENDING_TTL`].
pub const PENDING_PER_SOURCE: Budget = Budget::new(100, PENDING_TTL);

/// A validated authorization request.
#[derive(Debug, Clone)]
pub struct PendingAuthorization {
    /// The client.
    pub client_id: ClientId,
    /// What the client shows the user (its `client_name`, else its id).
    pub client_name: String,
    /// For a metadata-document client, the host of its `client_id` URL: shown next to the
    /// name, which the document asserts about itself.
    pub client_host: Option<String>,
    /// The redirect URI exactly as requested, or the client's one registered URI when the
    /// request named none.
    pub redirect_uri: String,
    /// Whether the request named `redirect_uri`: the token request must then repeat it (RFC
    /// 6749 §4.1.3).
    pub redirect_uri_sent: bool,
    /// The requested (or default) scope.
    pub scope: Scope,
    /// The RFC 8707 `resource`, when the request named one.
    pub resource: Option<String>,
    /// The PKCE S256 challenge.
    pub code_challenge: CodeChallenge,
    /// The client's `state`, returned unchanged.
    pub state: Option<String>,
    /// The user, once signed in; consent is accepted only then.
    pub user_id: Option<UserId>,
    /// When the record expires, Unix seconds.
    pub expires_at: i64,
}

/// Why a pending request could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum PendingError {
    /// The source started [`PENDING_PER_SOURCE`] requests lately.
    #[error("too many sign-in requests from this address; retry in {retry_after} seconds")]
    TooMany {
        /// Seconds until another request may start.
        retry_after: u64,
    },
    /// No id could be generated.
    #[error(transparent)]
    Randomness(#[from] RandomnessError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored request does not parse back.
    #[error("corrupt pending authorization: {0}")]
    Corrupt(String),
}

impl ServerFailure for PendingError {
    fn is_store_outage(&self) -> bool {
        matches!(self, Self::Store(error) if error.is_store_outage())
    }
}

impl From<ThrottleError> for PendingError {
    fn from(error: ThrottleError) -> Self {
        match error {
            ThrottleError::Refused { retry_after } => Self::TooMany { retry_after },
            ThrottleError::Store(error) => Self::Store(error),
        }
    }
}

/// The pending requests, seen through the server's store ([`AuthorizationServer::pending`]).
pub struct PendingRequests<'a> {
    server: &'a AuthorizationServer,
}

impl AuthorizationServer {
    /// The pending authorization requests.
    pub fn pending(&self) -> PendingRequests<'_> {
        PendingRequests { server: self }
    }
}

impl PendingRequests<'_> {
    fn store(&self) -> &dyn PendingAuthorizationStore {
        &*self.server.store.pending_authorizations
    }

    /// Stores `request` from `source` for the browser `browser` (its `expires_at` is set from
    /// `now`) and returns its new id.
    pub async fn insert(
        &self,
        mut request: PendingAuthorization,
        browser: &BrowserBinding,
        source: ClientIp,
        now: i64,
    ) -> Result<String, PendingError> {
        if source != ClientIp::Unknown {
            let key = format!("authorize:source:{}", source.key());
            reserve_all(
                &*self.server.store.throttles,
                &[(&key, PENDING_PER_SOURCE)],
                now,
            )
            .await?;
        }
        let id = Secret::generate()?.expose().to_owned();
        request.expires_at = now.saturating_add(PENDING_TTL.as_secs().try_into().unwrap_or(600));
        let record = record_of(&request, key(&id, browser));
        self.store().insert(record, now, MAX_PENDING).await?;
        Ok(id)
    }

    /// The request `id` of `browser`, unless unknown, another browser's, or expired at `now`.
    pub async fn get(
        &self,
        id: &str,
        browser: &BrowserBinding,
        now: i64,
    ) -> Result<Option<PendingAuthorization>, PendingError> {
        let record = self.store().get(&key(id, browser), now).await?;
        record.map(request_of).transpose()
    }

    /// Marks request `id` of `browser` as signed in by `user_id`; the request, or `None` when
    /// it is unknown, another browser's, or expired at `now`.
    pub async fn sign_in(
        &self,
        id: &str,
        browser: &BrowserBinding,
        user_id: UserId,
        now: i64,
    ) -> Result<Option<PendingAuthorization>, PendingError> {
        let record = self
            .store()
            .sign_in(&key(id, browser), user_id, now)
            .await?;
        record.map(request_of).transpose()
    }

    /// Removes and returns request `id` of `browser` if a user signed in to it and it is
    /// unexpired at `now`: each request is decided once, in a code or a refusal. Another
    /// browser's attempt leaves it as it is.
    pub async fn take_signed_in(
        &self,
        id: &str,
        browser: &BrowserBinding,
        now: i64,
    ) -> Result<Option<PendingAuthorization>, PendingError> {
        let record = self.store().take_signed_in(&key(id, browser), now).await?;
        record.map(request_of).transpose()
    }
}

/// The store key of request `id` opened by `browser`: both are base64url, so the `.` between
/// them keeps every pair distinct.
fn key(id: &str, browser: &BrowserBinding) -> TokenHash {
    token_hash(&format!("{id}.{}", browser.expose()))
}

fn record_of(request: &PendingAuthorization, id_hash: TokenHash) -> PendingAuthorizationRecord {
    PendingAuthorizationRecord {
        id_hash,
        client_id: request.client_id.clone(),
        client_name: request.client_name.clone(),
        client_host: request.client_host.clone(),
        redirect_uri: request.redirect_uri.clone(),
        redirect_uri_sent: request.redirect_uri_sent,
        scope: request.scope.to_string(),
        resource: request.resource.clone(),
        code_challenge: request.code_challenge.as_str().to_owned(),
        state: request.state.clone(),
        user_id: request.user_id,
        expires_at: request.expires_at,
    }
}

fn request_of(record: PendingAuthorizationRecord) -> Result<PendingAuthorization, PendingError> {
    let corrupt = |e: &dyn std::fmt::Display| PendingError::Corrupt(e.to_string());
    Ok(PendingAuthorization {
        scope: Scope::parse(&record.scope).map_err(|e| corrupt(&e))?,
        code_challenge: CodeChallenge::parse(Some(&record.code_challenge))
            .map_err(|e| corrupt(&e))?,
        client_id: record.client_id,
        client_name: record.client_name,
        client_host: record.client_host,
        redirect_uri: record.redirect_uri,
        redirect_uri_sent: record.redirect_uri_sent,
        resource: record.resource,
        state: record.state,
        user_id: record.user_id,
        expires_at: record.expires_at,
    })
}
