//! The storage traits, one per concern.
//!
//! Each trait is what one part of the authorization server needs, no more, so that a backend
//! (memory, SQLite, later Redis) is a set of small impls rather than one wide interface. Every
//! operation that must be atomic to be safe — redeeming a code, rotating a refresh token — is a
//! single trait method, so each backend makes it atomic its own way (a mutex, a transaction, a
//! script) instead of callers composing reads and writes.
//!
//! Lookups return `Ok(None)` for something absent; mutations of something absent return
//! [`StoreError::NotFound`]. Times are unix seconds, passed in by the caller so that tests and
//! callers share one clock.

mod client_documents;
mod events;
mod health;
mod pending;
mod throttle;

use async_trait::async_trait;

pub use self::{
    client_documents::{ClientDocumentRecord, ClientDocumentStore, DocumentOutcome},
    events::{EventId, EventRetention, EventStore, InvalidEventId, StoredEvent},
    health::StoreHealth,
    pending::{PendingAuthorizationRecord, PendingAuthorizationStore},
    throttle::{Admission, Allowance, Budget, Reservation, ThrottleStore},
};
pub use super::request_state_keys::RequestStateKeyStore;

use super::{
    StoreError,
    model::{
        AuthorizationCodeRecord, ClientId, ClientRecord, ConsentRecord, GrantId, GrantRecord,
        McpSessionRecord, PasswordHash, RefreshTokenRecord, ScopeSet, SigningKeyRecord, TokenHash,
        UserId, UserRecord, Username,
    },
    sealed::{KeyEncryptionKeyId, SealedSecret},
};

/// Local users.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Adds a user; [`StoreError::Conflict`] if the id or the username (case-insensitively) is
    /// taken.
    async fn create(&self, user: UserRecord) -> Result<(), StoreError>;
    /// The user with this username, compared case-insensitively.
    async fn get_by_username(&self, username: &Username) -> Result<Option<UserRecord>, StoreError>;
    /// The user with this id.
    async fn get(&self, id: UserId) -> Result<Option<UserRecord>, StoreError>;
    /// All users, by username (case-insensitively).
    async fn list(&self) -> Result<Vec<UserRecord>, StoreError>;
    /// Removes a user and everything issued to them (codes, grants, tokens, consents).
    async fn delete(&self, username: &Username) -> Result<(), StoreError>;
    /// Replaces a user's password hash.
    async fn set_password_hash(&self, id: UserId, hash: PasswordHash) -> Result<(), StoreError>;
    /// Replaces the scopes beyond the baseline a user may be granted
    /// ([`UserRecord::allowed_scopes`]); [`StoreError::NotFound`] if there is no such user.
    async fn set_allowed_scopes(&self, id: UserId, scopes: ScopeSet) -> Result<(), StoreError>;
}

/// How the ids of metadata-document clients (an `https` URL) begin.
pub const DOCUMENT_CLIENT_PREFIX: &str = "https://";

/// Registered OAuth clients.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Adds a client; [`StoreError::Conflict`] if the client id is taken.
    async fn insert(&self, client: ClientRecord) -> Result<(), StoreError>;
    /// Adds a client, or replaces the metadata of the client with its id while keeping that
    /// client's `created_at` and everything issued to it (codes, grants, consents): how
    /// metadata-document and pre-registered clients are kept current.
    async fn upsert(&self, client: ClientRecord) -> Result<(), StoreError>;
    /// The client with this id.
    async fn get(&self, client_id: &ClientId) -> Result<Option<ClientRecord>, StoreError>;
    /// Removes a client and everything issued to it.
    async fn delete(&self, client_id: &ClientId) -> Result<(), StoreError>;
    /// Removes the metadata-document clients (ids starting `https://`) first stored before
    /// `before` to which nothing was issued (no code, grant or consent): rows that anyone can
    /// make this server create by presenting a client id URL. Returns the ids removed.
    async fn purge_unused_documents(&self, before: i64) -> Result<Vec<ClientId>, StoreError>;
}

/// Authorization codes between `/authorize` and `/token`.
#[async_trait]
pub trait AuthorizationCodeStore: Send + Sync {
    /// Records an issued code. The user and client must exist ([`StoreError::NotFound`]).
    async fn insert(&self, code: AuthorizationCodeRecord) -> Result<(), StoreError>;
    /// Redeems a code, atomically, so a code is redeemed at most once (RFC 6749 §4.1.2): the
    /// first redemption marks it spent on behalf of `grant_id` (the grant the caller is about
    /// to create) and returns it; every later one answers [`Redemption::Replayed`] with that
    /// grant, for the caller to revoke. Spent codes are remembered until
    /// [`purge_expired`](Self::purge_expired) drops them.
    async fn redeem(
        &self,
        code_hash: &TokenHash,
        grant_id: GrantId,
        now: i64,
    ) -> Result<Redemption, StoreError>;
    /// Ends every code of `user_id` not redeemed yet: each expires at `now` (an earlier
    /// expiry stays), so none of them starts a grant later — a changed password must not
    /// leave a code obtained with the old one usable. Redeemed codes keep what they
    /// remember for replays. Returns how many it ended.
    async fn expire_codes_of_user(&self, user_id: UserId, now: i64) -> Result<u64, StoreError>;
    /// Forgets codes that expired before `before`, spent or not; returns how many.
    async fn purge_expired(&self, before: i64) -> Result<u64, StoreError>;
}

/// The outcome of presenting an authorization code ([`AuthorizationCodeStore::redeem`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption {
    /// First use of a live code: it is now spent.
    Redeemed(AuthorizationCodeRecord),
    /// The code was already spent, for this grant (RFC 6749 §4.1.2: the authorization server
    /// SHOULD revoke what was issued from it).
    Replayed {
        /// The grant the first redemption started.
        grant_id: GrantId,
    },
    /// Unknown, or expired at `now`.
    Invalid,
}

/// What a refresh token was exchanged for, to be issued to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefreshToken {
    /// SHA-256 of the successor token.
    pub token_hash: TokenHash,
    /// Its expiry, unix seconds.
    pub expires_at: i64,
}

/// The outcome of presenting a refresh token ([`GrantStore::rotate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was current: it is now rotated and its successor stored.
    Rotated {
        /// The grant the tokens belong to (scope, resource, user, client).
        grant: GrantRecord,
        /// The stored successor.
        successor: RefreshTokenRecord,
    },
    /// The token had already been rotated, before the window of requests racing that
    /// rotation: someone replayed it, so the whole grant has just been revoked (OAuth 2.1
    /// §4.3.1, refresh token rotation).
    Reused {
        /// The grant now revoked.
        grant_id: GrantId,
    },
    /// The token's grant is revoked.
    Revoked {
        /// The revoked grant.
        grant_id: GrantId,
    },
    /// The token expired.
    Expired,
    /// No such token.
    Unknown,
}

/// Grants and their refresh-token families.
#[async_trait]
pub trait GrantStore: Send + Sync {
    /// Records a grant. The user and client must exist ([`StoreError::NotFound`]).
    async fn create_grant(&self, grant: GrantRecord) -> Result<(), StoreError>;
    /// The grant with this id.
    async fn get_grant(&self, grant_id: GrantId) -> Result<Option<GrantRecord>, StoreError>;
    /// Adds a refresh token to an existing grant ([`StoreError::NotFound`] otherwise).
    async fn insert_refresh_token(&self, token: RefreshTokenRecord) -> Result<(), StoreError>;
    /// The refresh token with this hash, rotated or not.
    async fn get_refresh_token(
        &self,
        token_hash: &TokenHash,
    ) -> Result<Option<RefreshTokenRecord>, StoreError>;
    /// Exchanges a current refresh token for `successor`, atomically: marks the presented one
    /// rotated at `now` and stores the successor in the same grant.
    ///
    /// A token already rotated at or after `concurrent_since` was rotated by a request racing
    /// this one (a client refreshing from two places at once): it gets a successor of its
    /// own, in the same grant, and keeps its first rotation time, so the window closes when
    /// it would have. A token rotated before `concurrent_since` was replayed: the grant is
    /// revoked (see [`Rotation`]).
    async fn rotate(
        &self,
        presented: &TokenHash,
        successor: NewRefreshToken,
        now: i64,
        concurrent_since: i64,
    ) -> Result<Rotation, StoreError>;
    /// Revokes a grant and with it every token of its family. Revoking twice keeps the first
    /// time.
    async fn revoke_grant(&self, grant_id: GrantId, now: i64) -> Result<(), StoreError>;
    /// Revokes every grant of `user_id` not revoked yet, at `now` (a password change ends
    /// what the old password let clients obtain); how many it revoked.
    async fn revoke_grants_of_user(&self, user_id: UserId, now: i64) -> Result<u64, StoreError>;
    /// Whether tokens of this grant must be refused: revoked, or gone (fails closed).
    async fn is_revoked(&self, grant_id: GrantId) -> Result<bool, StoreError>;
    /// Forgets what can no longer be used: refresh tokens expired at `now`, revoked grants
    /// (their tokens are refused either way: a missing grant counts as revoked), and grants
    /// left without refresh tokens that were created before `idle_grants_before` (the caller
    /// passes `now` minus the access-token lifetime and leeway, so no live access token
    /// refers to them). Returns how many rows went.
    async fn purge_expired(&self, now: i64, idle_grants_before: i64) -> Result<u64, StoreError>;
}

/// Keys that sign access tokens, shared by every instance.
#[async_trait]
pub trait SigningKeyStore: Send + Sync {
    /// Adds a key; [`StoreError::Conflict`] if the kid is taken.
    async fn insert(&self, key: SigningKeyRecord) -> Result<(), StoreError>;
    /// Adds `key` unless some stored key is unretired (active), atomically: of several
    /// instances starting on a store without an active key at the same moment, exactly one
    /// stores its key (`true`); the others get `false` and load the stored one, so they all
    /// sign with the same key.
    async fn insert_if_no_active(&self, key: SigningKeyRecord) -> Result<bool, StoreError>;
    /// Every key, retired or not, oldest first.
    async fn list(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;
    /// Marks a key retired at `at` (it no longer signs; it stays listed for verification).
    async fn retire(&self, kid: &str, at: i64) -> Result<(), StoreError>;
    /// Replaces the private key of key `kid` with `sealed` if it is still as `from` says — in
    /// the clear (`None`) or sealed with that key-encryption key —, atomically: of several
    /// instances sealing one key at the same moment, one writes (`true`) and the others find
    /// it changed (`false`). `false` too if there is no such key.
    async fn reseal(
        &self,
        kid: &str,
        from: Option<&KeyEncryptionKeyId>,
        sealed: SealedSecret,
    ) -> Result<bool, StoreError>;
}

/// Remembered consent per user and client.
#[async_trait]
pub trait ConsentStore: Send + Sync {
    /// Remembers consent, replacing what was remembered for this user and client. The user and
    /// client must exist ([`StoreError::NotFound`]).
    async fn remember(&self, consent: ConsentRecord) -> Result<(), StoreError>;
    /// What this user approved for this client.
    async fn get(
        &self,
        user_id: UserId,
        client_id: &ClientId,
    ) -> Result<Option<ConsentRecord>, StoreError>;
}

/// The caps [`McpSessionStore::create_counted`] checks before it creates a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCaps {
    /// Most live counted sessions one owner may hold.
    pub per_owner: u64,
    /// Most live counted sessions the whole store may hold.
    pub total: u64,
}

/// What [`McpSessionStore::create_counted`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionAdmission {
    /// The session was created.
    Created,
    /// Nothing was created: the owner holds [`SessionCaps::per_owner`] live sessions.
    OwnerAtCap,
    /// Nothing was created: the store holds [`SessionCaps::total`] live sessions.
    StoreAtCap,
}

/// Streamable HTTP MCP sessions, so that a session outlives the process that created it.
///
/// A record has two writers that may come in either order: [`McpSessionStore::save_state`]
/// (the transport, after the `initialize` handshake) and [`McpSessionStore::record_owner`] (the
/// session-owner check, when it sees the new session id); each creates the record or fills its
/// own field, never the other's. Expired records are invisible to [`McpSessionStore::get`].
#[async_trait]
pub trait McpSessionStore: Send + Sync {
    /// Stores the session's rmcp state (JSON): creates the record (created at `now`, no owner)
    /// or replaces the state of the existing one, keeping its owner. The expiry becomes the
    /// later of the stored one and `expires_at`.
    async fn save_state(
        &self,
        session_id: &str,
        state: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError>;
    /// Binds the session to `owner`: creates the record (created at `now`, no state yet) or
    /// sets the owner of the existing one, keeping its state; the expiry becomes the later of
    /// the stored one and `expires_at`. An owner is never replaced: a different owner already
    /// recorded is [`StoreError::Conflict`].
    async fn record_owner(
        &self,
        session_id: &str,
        owner: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError>;
    /// The session, unless unknown or expired at `now`.
    async fn get(&self, session_id: &str, now: i64)
    -> Result<Option<McpSessionRecord>, StoreError>;
    /// Replaces the session's handler data (`data`, JSON text) if it is still `expected`
    /// (`None`: never written), atomically, so that concurrent requests of one session each
    /// read, change and write it without losing another's change: `Ok(true)` when replaced,
    /// `Ok(false)` when another writer changed it first (read it again and retry). The owner,
    /// state and expiry stay as they are. [`StoreError::NotFound`] if there is no such record.
    async fn replace_data(
        &self,
        session_id: &str,
        expected: Option<&str>,
        data: &str,
    ) -> Result<bool, StoreError>;
    /// Creates the record of a new session that counts against `caps`, with its `state` and
    /// its `owner` (`None` without authentication: only the total applies), created at `now`
    /// and expiring at `expires_at` — unless `owner` already holds `caps.per_owner` live
    /// counted sessions ([`SessionAdmission::OwnerAtCap`], checked first) or the store holds
    /// `caps.total` ([`SessionAdmission::StoreAtCap`]). The counts and the write are one atomic
    /// step, so instances sharing the store never admit more than the caps between them. A
    /// session stops counting once deleted or expired at the `now` of a later call; records
    /// made by [`McpSessionStore::save_state`] or [`McpSessionStore::record_owner`] never
    /// count. [`StoreError::Conflict`] if a record with this id exists.
    async fn create_counted(
        &self,
        session_id: &str,
        state: &str,
        owner: Option<&str>,
        now: i64,
        expires_at: i64,
        caps: SessionCaps,
    ) -> Result<SessionAdmission, StoreError>;
    /// Pushes the session's expiry to `expires_at` (never earlier than it is);
    /// [`StoreError::NotFound`] if there is no such record.
    async fn touch(&self, session_id: &str, expires_at: i64) -> Result<(), StoreError>;
    /// Removes the session; [`StoreError::NotFound`] if there is no such record.
    async fn delete(&self, session_id: &str) -> Result<(), StoreError>;
    /// Removes every session expired at `now`; returns how many.
    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError>;
    /// A count of the changes to existing sessions made through this store, that moves with
    /// every one of them (a delete or purge, replaced data, a new state or owner), so that a
    /// reader holding a copy of a record can tell, without reading it again, that nothing
    /// changed since, or `None` when the store cannot tell now. Memory and SQLite count the
    /// changes made through them in this process (another process writing the same SQLite
    /// file does not move the count: a reader that must see those reads the record); Redis
    /// counts those made through it at once and every other instance's as soon as their
    /// notice arrives (pub/sub), and answers `None` while it cannot hear them.
    async fn changes_here(&self) -> Result<Option<u64>, StoreError>;
    /// Like [`McpSessionStore::changes_here`], narrowed to one session: a count that moves
    /// with every change to session `session_id` (and may move with other sessions'), so a
    /// reader of that session's record need not read it again while the count stands even
    /// as other sessions change. By default, [`McpSessionStore::changes_here`]; Redis counts
    /// per group of session ids.
    async fn changes_to(&self, session_id: &str) -> Result<Option<u64>, StoreError> {
        let _ = session_id;
        self.changes_here().await
    }
}
