//! [`PendingAuthorizationStore`]: authorization requests between `/authorize` and the code,
//! kept in the store so that any instance can serve the login and consent steps of a request
//! another instance received.

use async_trait::async_trait;

use crate::{
    StoreError,
    model::{ClientId, TokenHash, UserId},
};

/// A validated authorization request (RFC 6749 §4.1.1) waiting for its user to sign in and
/// consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAuthorizationRecord {
    /// SHA-256 of the request's id: the id is a bearer secret the pages carry, kept like codes.
    pub id_hash: TokenHash,
    /// The client.
    pub client_id: ClientId,
    /// What the pages show as the client's name.
    pub client_name: String,
    /// For a metadata-document client, the host of its `client_id` URL.
    pub client_host: Option<String>,
    /// The redirect URI exactly as requested, or the client's one registered URI.
    pub redirect_uri: String,
    /// Whether the request named `redirect_uri` (RFC 6749 §4.1.3: the token request must then
    /// repeat it).
    pub redirect_uri_sent: bool,
    /// Space-delimited requested (or default) scope.
    pub scope: String,
    /// The RFC 8707 `resource`, when the request named one.
    pub resource: Option<String>,
    /// The PKCE S256 challenge (RFC 7636 §4.2).
    pub code_challenge: String,
    /// The client's `state`, returned unchanged.
    pub state: Option<String>,
    /// The user, once signed in.
    pub user_id: Option<UserId>,
    /// Expiry, unix seconds.
    pub expires_at: i64,
}

/// Pending authorization requests, each ending once: in a code or a refusal.
///
/// Expired requests are invisible; [`purge_expired`](Self::purge_expired) and every
/// [`insert`](Self::insert) remove them.
#[async_trait]
pub trait PendingAuthorizationStore: Send + Sync {
    /// Stores a new request ([`StoreError::Conflict`] if its id is taken). Requests expired at
    /// `now` are removed first; if `max_live` or more remain, those expiring soonest go until
    /// there is room, so a flood of requests displaces old ones instead of growing the store
    /// or refusing every new request.
    async fn insert(
        &self,
        record: PendingAuthorizationRecord,
        now: i64,
        max_live: usize,
    ) -> Result<(), StoreError>;
    /// The request, unless unknown or expired at `now`.
    async fn get(
        &self,
        id_hash: &TokenHash,
        now: i64,
    ) -> Result<Option<PendingAuthorizationRecord>, StoreError>;
    /// Records that `user_id` signed in to the request, atomically, if it exists and has not
    /// expired at `now`; returns the updated request, or `None`.
    async fn sign_in(
        &self,
        id_hash: &TokenHash,
        user_id: UserId,
        now: i64,
    ) -> Result<Option<PendingAuthorizationRecord>, StoreError>;
    /// Removes and returns the request if a user has signed in to it and it has not expired
    /// at `now`, atomically, so that it is decided once. A request nobody signed in to is left
    /// as it is (`None`).
    async fn take_signed_in(
        &self,
        id_hash: &TokenHash,
        now: i64,
    ) -> Result<Option<PendingAuthorizationRecord>, StoreError>;
    /// Removes every request `user_id` has signed in to and that is not decided yet, so that
    /// a sign-in with a password since changed cannot consent; returns how many.
    async fn remove_signed_in_of_user(&self, user_id: UserId) -> Result<u64, StoreError>;
    /// Removes the requests expired at `now`; returns how many.
    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError>;
}
