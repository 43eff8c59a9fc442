//! Authorization requests between `/authorize` and the redirect back to the client.
//!
//! A validated authorization request (RFC 6749 §4.1.1) waits here while the user signs in and
//! consents. The pages carry only its random id (256 bits, [`Secret`]) in a hidden field, so
//! nothing the browser sends back can change the client, redirect URI, scope, resource or
//! PKCE challenge. Records live in memory, per instance, for [`PENDING_TTL`]; the store is
//! bounded ([`MAX_PENDING`]), expired records are dropped as new ones arrive.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
    time::Duration,
};

use outpost_oauth::{
    pkce::CodeChallenge,
    scope::Scope,
    secret::{RandomnessError, Secret},
};

use outpost_store::{ClientId, UserId};

/// How long a user has to sign in and consent: 10 minutes.
pub const PENDING_TTL: Duration = Duration::from_secs(600);
/// Pending requests kept at most; past it the oldest is dropped.
pub const MAX_PENDING: usize = 10_000;

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
    /// The redirect URI exactly as requested (the token request must repeat it).
    pub redirect_uri: String,
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

/// The pending requests of this instance.
#[derive(Debug, Default)]
pub struct PendingRequests {
    records: Mutex<HashMap<String, PendingAuthorization>>,
}

impl PendingRequests {
    /// Stores `request` (its `expires_at` is set from `now`) and returns its new id.
    pub fn insert(
        &self,
        mut request: PendingAuthorization,
        now: i64,
    ) -> Result<String, RandomnessError> {
        let id = Secret::generate()?.expose().to_owned();
        request.expires_at = now + i64::try_from(PENDING_TTL.as_secs()).unwrap_or(600);
        let mut records = self.lock();
        records.retain(|_, r| r.expires_at > now);
        if records.len() >= MAX_PENDING
            && let Some(oldest) = records
                .iter()
                .min_by_key(|(_, r)| r.expires_at)
                .map(|(k, _)| k.clone())
        {
            records.remove(&oldest);
        }
        records.insert(id.clone(), request);
        Ok(id)
    }

    /// The request `id`, unless unknown or expired at `now`.
    pub fn get(&self, id: &str, now: i64) -> Option<PendingAuthorization> {
        self.lock().get(id).filter(|r| r.expires_at > now).cloned()
    }

    /// Marks request `id` as signed in by `user_id`.
    pub fn sign_in(&self, id: &str, user_id: UserId) {
        if let Some(record) = self.lock().get_mut(id) {
            record.user_id = Some(user_id);
        }
    }

    /// Removes and returns request `id`, unless unknown or expired at `now`: each request
    /// ends once, in a code or a refusal.
    pub fn take(&self, id: &str, now: i64) -> Option<PendingAuthorization> {
        self.lock().remove(id).filter(|r| r.expires_at > now)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, PendingAuthorization>> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
