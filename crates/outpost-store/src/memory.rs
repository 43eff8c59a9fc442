//! The in-memory backend: every concern in maps behind one mutex.
//!
//! For tests and throwaway runs; nothing survives the process. One lock over all the maps
//! makes each trait method atomic, and lets deletes cascade the way the SQLite foreign keys do,
//! so both backends pass the same conformance tests. The authorization server's short-lived
//! state (pending requests, throttle attempts, metadata documents) refers to nothing else and
//! has a lock each, in the submodules.

mod client_documents;
mod events;
mod pending;
mod throttles;

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
};

use async_trait::async_trait;

use crate::request_state_keys::RequestStateKeyRecord;

use super::{
    StoreError,
    model::{
        AuthorizationCodeRecord, ClientId, ClientRecord, ConsentRecord, GrantId, GrantRecord,
        McpSessionRecord, PasswordHash, RefreshTokenRecord, ScopeSet, SigningKeyRecord, TokenHash,
        UserId, UserRecord, Username,
    },
    sealed::{KeyEncryptionKeyId, SealedSecret},
    traits::{
        AuthorizationCodeStore, ClientStore, ConsentStore, DOCUMENT_CLIENT_PREFIX, GrantStore,
        McpSessionStore, NewRefreshToken, Redemption, Rotation, SessionAdmission, SessionCaps,
        SigningKeyStore, StoreHealth, UserStore,
    },
};

mod request_state_keys;

/// An issued code and, once redeemed, the grant its redemption started.
struct StoredCode {
    record: AuthorizationCodeRecord,
    redeemed_for: Option<GrantId>,
}

#[derive(Default)]
struct State {
    users: HashMap<UserId, UserRecord>,
    clients: HashMap<ClientId, ClientRecord>,
    codes: HashMap<TokenHash, StoredCode>,
    grants: HashMap<GrantId, GrantRecord>,
    refresh_tokens: HashMap<TokenHash, RefreshTokenRecord>,
    keys: Vec<SigningKeyRecord>,
    consents: HashMap<(UserId, ClientId), ConsentRecord>,
    mcp_sessions: HashMap<String, McpSessionRecord>,
    /// The sessions made by `create_counted`, which count against the caps.
    counted_mcp_sessions: HashSet<String>,
    request_state_keys: Vec<RequestStateKeyRecord>,
}

impl State {
    fn require_user_and_client(&self, user: UserId, client: &ClientId) -> Result<(), StoreError> {
        if !self.users.contains_key(&user) {
            return Err(StoreError::NotFound(format!("user {user}")));
        }
        if !self.clients.contains_key(client) {
            return Err(StoreError::NotFound(format!("client {client}")));
        }
        Ok(())
    }

    /// Drops whatever refers to users or clients that no longer exist.
    fn cascade(&mut self) {
        let (users, clients) = (&self.users, &self.clients);
        let live = |u: &UserId, c: &ClientId| users.contains_key(u) && clients.contains_key(c);
        self.codes
            .retain(|_, code| live(&code.record.user_id, &code.record.client_id));
        self.grants
            .retain(|_, grant| live(&grant.user_id, &grant.client_id));
        self.consents.retain(|(user, client), _| live(user, client));
        let grants = &self.grants;
        self.refresh_tokens
            .retain(|_, token| grants.contains_key(&token.grant_id));
    }
}

/// Every store concern, in memory.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    pending: Mutex<pending::PendingRequests>,
    throttles: Mutex<throttles::Attempts>,
    documents: Mutex<client_documents::Documents>,
    events: Mutex<events::Events>,
    event_listeners: crate::event_listeners::EventListeners,
    /// [`McpSessionStore::changes_here`].
    session_changes: AtomicU64,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

/// Every method leaves the maps consistent before it can panic, so a poisoned lock still
/// guards valid state.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Makes room for one more entry in a map of expiring entries bounded to `max`: drops the
/// entries expired at `now`, then those expiring soonest.
fn make_room<K, V>(entries: &mut HashMap<K, V>, max: usize, now: i64, expiry: impl Fn(&V) -> i64)
where
    K: Clone + Eq + std::hash::Hash + Ord,
{
    entries.retain(|_, entry| expiry(entry) > now);
    let excess = (entries.len() + 1).saturating_sub(max);
    if excess == 0 {
        return;
    }
    let mut by_expiry: Vec<(i64, K)> = entries
        .iter()
        .map(|(key, entry)| (expiry(entry), key.clone()))
        .collect();
    by_expiry.sort_unstable();
    for (_, key) in by_expiry.into_iter().take(excess) {
        entries.remove(&key);
    }
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn create(&self, user: UserRecord) -> Result<(), StoreError> {
        let mut state = self.state();
        let key = user.username.key();
        if state.users.contains_key(&user.id)
            || state.users.values().any(|u| u.username.key() == key)
        {
            return Err(StoreError::Conflict(format!("user {}", user.username)));
        }
        state.users.insert(user.id, user);
        Ok(())
    }

    async fn get_by_username(&self, username: &Username) -> Result<Option<UserRecord>, StoreError> {
        let key = username.key();
        Ok(self
            .state()
            .users
            .values()
            .find(|u| u.username.key() == key)
            .cloned())
    }

    async fn get(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        Ok(self.state().users.get(&id).cloned())
    }

    async fn list(&self) -> Result<Vec<UserRecord>, StoreError> {
        let mut users: Vec<_> = self.state().users.values().cloned().collect();
        users.sort_by_key(|u| u.username.key());
        Ok(users)
    }

    async fn delete(&self, username: &Username) -> Result<(), StoreError> {
        let mut state = self.state();
        let key = username.key();
        let before = state.users.len();
        state.users.retain(|_, u| u.username.key() != key);
        if state.users.len() == before {
            return Err(StoreError::NotFound(format!("user {username}")));
        }
        state.cascade();
        Ok(())
    }

    async fn set_password_hash(&self, id: UserId, hash: PasswordHash) -> Result<(), StoreError> {
        match self.state().users.get_mut(&id) {
            Some(user) => {
                user.password_hash = hash;
                Ok(())
            }
            None => Err(StoreError::NotFound(format!("user {id}"))),
        }
    }

    async fn set_allowed_scopes(&self, id: UserId, scopes: ScopeSet) -> Result<(), StoreError> {
        match self.state().users.get_mut(&id) {
            Some(user) => {
                user.allowed_scopes = scopes;
                Ok(())
            }
            None => Err(StoreError::NotFound(format!("user {id}"))),
        }
    }
}

#[async_trait]
impl ClientStore for MemoryStore {
    async fn insert(&self, client: ClientRecord) -> Result<(), StoreError> {
        let mut state = self.state();
        if state.clients.contains_key(&client.client_id) {
            return Err(StoreError::Conflict(format!("client {}", client.client_id)));
        }
        state.clients.insert(client.client_id.clone(), client);
        Ok(())
    }

    async fn upsert(&self, mut client: ClientRecord) -> Result<(), StoreError> {
        let mut state = self.state();
        if let Some(existing) = state.clients.get(&client.client_id) {
            client.created_at = existing.created_at;
        }
        state.clients.insert(client.client_id.clone(), client);
        Ok(())
    }

    async fn get(&self, client_id: &ClientId) -> Result<Option<ClientRecord>, StoreError> {
        Ok(self.state().clients.get(client_id).cloned())
    }

    async fn delete(&self, client_id: &ClientId) -> Result<(), StoreError> {
        let mut state = self.state();
        if state.clients.remove(client_id).is_none() {
            return Err(StoreError::NotFound(format!("client {client_id}")));
        }
        state.cascade();
        Ok(())
    }

    async fn purge_unused_documents(&self, before: i64) -> Result<Vec<ClientId>, StoreError> {
        let mut state = self.state();
        let in_use: HashSet<&ClientId> = state
            .codes
            .values()
            .map(|code| &code.record.client_id)
            .chain(state.grants.values().map(|grant| &grant.client_id))
            .chain(state.consents.keys().map(|(_, client)| client))
            .collect();
        let unused: Vec<ClientId> = state
            .clients
            .values()
            .filter(|c| c.client_id.as_str().starts_with(DOCUMENT_CLIENT_PREFIX))
            .filter(|c| c.created_at < before && !in_use.contains(&c.client_id))
            .map(|c| c.client_id.clone())
            .collect();
        for id in &unused {
            state.clients.remove(id);
        }
        Ok(unused)
    }
}

#[async_trait]
impl AuthorizationCodeStore for MemoryStore {
    async fn insert(&self, code: AuthorizationCodeRecord) -> Result<(), StoreError> {
        let mut state = self.state();
        state.require_user_and_client(code.user_id, &code.client_id)?;
        if state.codes.contains_key(&code.code_hash) {
            return Err(StoreError::Conflict("authorization code".into()));
        }
        let stored = StoredCode {
            record: code,
            redeemed_for: None,
        };
        state.codes.insert(stored.record.code_hash.clone(), stored);
        Ok(())
    }

    async fn redeem(
        &self,
        code_hash: &TokenHash,
        grant_id: GrantId,
        now: i64,
    ) -> Result<Redemption, StoreError> {
        let mut state = self.state();
        let Some(code) = state.codes.get_mut(code_hash) else {
            return Ok(Redemption::Invalid);
        };
        Ok(match code.redeemed_for {
            Some(grant_id) => Redemption::Replayed { grant_id },
            None if code.record.expires_at <= now => Redemption::Invalid,
            None => {
                code.redeemed_for = Some(grant_id);
                Redemption::Redeemed(code.record.clone())
            }
        })
    }

    async fn expire_codes_of_user(&self, user_id: UserId, now: i64) -> Result<u64, StoreError> {
        let mut ended = 0;
        for code in self.state().codes.values_mut() {
            let record = &mut code.record;
            if record.user_id == user_id && code.redeemed_for.is_none() && record.expires_at > now {
                record.expires_at = now;
                ended += 1;
            }
        }
        Ok(ended)
    }

    async fn purge_expired(&self, before: i64) -> Result<u64, StoreError> {
        let mut state = self.state();
        let count = state.codes.len();
        state
            .codes
            .retain(|_, code| code.record.expires_at >= before);
        Ok((count - state.codes.len()) as u64)
    }
}

#[async_trait]
impl GrantStore for MemoryStore {
    async fn create_grant(&self, grant: GrantRecord) -> Result<(), StoreError> {
        let mut state = self.state();
        state.require_user_and_client(grant.user_id, &grant.client_id)?;
        if state.grants.contains_key(&grant.grant_id) {
            return Err(StoreError::Conflict(format!("grant {}", grant.grant_id)));
        }
        state.grants.insert(grant.grant_id, grant);
        Ok(())
    }

    async fn get_grant(&self, grant_id: GrantId) -> Result<Option<GrantRecord>, StoreError> {
        Ok(self.state().grants.get(&grant_id).cloned())
    }

    async fn insert_refresh_token(&self, token: RefreshTokenRecord) -> Result<(), StoreError> {
        let mut state = self.state();
        if !state.grants.contains_key(&token.grant_id) {
            return Err(StoreError::NotFound(format!("grant {}", token.grant_id)));
        }
        if state.refresh_tokens.contains_key(&token.token_hash) {
            return Err(StoreError::Conflict("refresh token".into()));
        }
        state.refresh_tokens.insert(token.token_hash.clone(), token);
        Ok(())
    }

    async fn get_refresh_token(
        &self,
        token_hash: &TokenHash,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        Ok(self.state().refresh_tokens.get(token_hash).cloned())
    }

    async fn rotate(
        &self,
        presented: &TokenHash,
        successor: NewRefreshToken,
        now: i64,
        concurrent_since: i64,
    ) -> Result<Rotation, StoreError> {
        let mut state = self.state();
        let Some(token) = state.refresh_tokens.get(presented).cloned() else {
            return Ok(Rotation::Unknown);
        };
        let grant_id = token.grant_id;
        let Some(grant) = state.grants.get_mut(&grant_id) else {
            return Ok(Rotation::Unknown);
        };
        if grant.revoked_at.is_some() {
            return Ok(Rotation::Revoked { grant_id });
        }
        if token.rotated_at.is_some_and(|at| at < concurrent_since) {
            grant.revoked_at = Some(now);
            return Ok(Rotation::Reused { grant_id });
        }
        if token.expires_at <= now {
            return Ok(Rotation::Expired);
        }
        let grant = grant.clone();
        if state.refresh_tokens.contains_key(&successor.token_hash) {
            return Err(StoreError::Conflict("refresh token".into()));
        }
        if let Some(old) = state.refresh_tokens.get_mut(presented) {
            old.rotated_at.get_or_insert(now);
        }
        let successor = RefreshTokenRecord {
            token_hash: successor.token_hash,
            grant_id,
            expires_at: successor.expires_at,
            rotated_at: None,
        };
        state
            .refresh_tokens
            .insert(successor.token_hash.clone(), successor.clone());
        Ok(Rotation::Rotated { grant, successor })
    }

    async fn revoke_grant(&self, grant_id: GrantId, now: i64) -> Result<(), StoreError> {
        match self.state().grants.get_mut(&grant_id) {
            Some(grant) => {
                grant.revoked_at.get_or_insert(now);
                Ok(())
            }
            None => Err(StoreError::NotFound(format!("grant {grant_id}"))),
        }
    }

    async fn revoke_grants_of_user(&self, user_id: UserId, now: i64) -> Result<u64, StoreError> {
        let mut revoked = 0;
        for grant in self.state().grants.values_mut() {
            if grant.user_id == user_id && grant.revoked_at.is_none() {
                grant.revoked_at = Some(now);
                revoked += 1;
            }
        }
        Ok(revoked)
    }

    async fn is_revoked(&self, grant_id: GrantId) -> Result<bool, StoreError> {
        Ok(self
            .state()
            .grants
            .get(&grant_id)
            .is_none_or(|g| g.revoked_at.is_some()))
    }

    async fn purge_expired(&self, now: i64, idle_grants_before: i64) -> Result<u64, StoreError> {
        let mut state = self.state();
        let before = state.refresh_tokens.len() + state.grants.len();
        state
            .refresh_tokens
            .retain(|_, token| token.expires_at > now);
        let families: std::collections::HashSet<GrantId> =
            state.refresh_tokens.values().map(|t| t.grant_id).collect();
        state.grants.retain(|id, grant| {
            grant.revoked_at.is_none()
                && (grant.created_at >= idle_grants_before || families.contains(id))
        });
        state.cascade();
        Ok((before - state.refresh_tokens.len() - state.grants.len()) as u64)
    }
}

#[async_trait]
impl SigningKeyStore for MemoryStore {
    async fn insert(&self, key: SigningKeyRecord) -> Result<(), StoreError> {
        let mut state = self.state();
        if state.keys.iter().any(|k| k.kid == key.kid) {
            return Err(StoreError::Conflict(format!("signing key {}", key.kid)));
        }
        state.keys.push(key);
        Ok(())
    }

    async fn insert_if_no_active(&self, key: SigningKeyRecord) -> Result<bool, StoreError> {
        let mut state = self.state();
        if state.keys.iter().any(|k| k.retired_at.is_none()) {
            return Ok(false);
        }
        if state.keys.iter().any(|k| k.kid == key.kid) {
            return Err(StoreError::Conflict(format!("signing key {}", key.kid)));
        }
        state.keys.push(key);
        Ok(true)
    }

    async fn list(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let mut keys = self.state().keys.clone();
        keys.sort_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)));
        Ok(keys)
    }

    async fn retire(&self, kid: &str, at: i64) -> Result<(), StoreError> {
        match self.state().keys.iter_mut().find(|k| k.kid == kid) {
            Some(key) => {
                key.retired_at = Some(at);
                Ok(())
            }
            None => Err(StoreError::NotFound(format!("signing key {kid}"))),
        }
    }

    async fn reseal(
        &self,
        kid: &str,
        from: Option<&KeyEncryptionKeyId>,
        sealed: SealedSecret,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        let key = state.keys.iter_mut().find(|k| k.kid == kid);
        Ok(key.is_some_and(|key| key.private_key.reseal(from, sealed)))
    }
}

#[async_trait]
impl ConsentStore for MemoryStore {
    async fn remember(&self, consent: ConsentRecord) -> Result<(), StoreError> {
        let mut state = self.state();
        state.require_user_and_client(consent.user_id, &consent.client_id)?;
        state
            .consents
            .insert((consent.user_id, consent.client_id.clone()), consent);
        Ok(())
    }

    async fn get(
        &self,
        user_id: UserId,
        client_id: &ClientId,
    ) -> Result<Option<ConsentRecord>, StoreError> {
        Ok(self
            .state()
            .consents
            .get(&(user_id, client_id.clone()))
            .cloned())
    }
}

impl State {
    /// The record for `session_id`, created at `now` if missing; its expiry pushed to at least
    /// `expires_at`.
    fn mcp_session_entry(
        &mut self,
        session_id: &str,
        now: i64,
        expires_at: i64,
    ) -> &mut McpSessionRecord {
        let record = self
            .mcp_sessions
            .entry(session_id.to_owned())
            .or_insert_with(|| McpSessionRecord {
                session_id: session_id.to_owned(),
                owner: None,
                state: None,
                data: None,
                created_at: now,
                expires_at,
            });
        record.expires_at = record.expires_at.max(expires_at);
        record
    }
}

#[async_trait]
impl McpSessionStore for MemoryStore {
    async fn save_state(
        &self,
        session_id: &str,
        state: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let mut store = self.state();
        store.mcp_session_entry(session_id, now, expires_at).state = Some(state.to_owned());
        self.session_changed();
        Ok(())
    }

    async fn record_owner(
        &self,
        session_id: &str,
        owner: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let mut store = self.state();
        if let Some(existing) = store.mcp_sessions.get(session_id)
            && existing
                .owner
                .as_deref()
                .is_some_and(|known| known != owner)
        {
            return Err(StoreError::Conflict(format!(
                "owner of MCP session {session_id}"
            )));
        }
        store.mcp_session_entry(session_id, now, expires_at).owner = Some(owner.to_owned());
        self.session_changed();
        Ok(())
    }

    async fn get(
        &self,
        session_id: &str,
        now: i64,
    ) -> Result<Option<McpSessionRecord>, StoreError> {
        let store = self.state();
        Ok(store
            .mcp_sessions
            .get(session_id)
            .filter(|record| record.expires_at > now)
            .cloned())
    }

    async fn replace_data(
        &self,
        session_id: &str,
        expected: Option<&str>,
        data: &str,
    ) -> Result<bool, StoreError> {
        let mut store = self.state();
        let record = store
            .mcp_sessions
            .get_mut(session_id)
            .ok_or_else(|| StoreError::NotFound(format!("MCP session {session_id}")))?;
        if record.data.as_deref() != expected {
            return Ok(false);
        }
        record.data = Some(data.to_owned());
        self.session_changed();
        Ok(true)
    }

    async fn create_counted(
        &self,
        session_id: &str,
        state: &str,
        owner: Option<&str>,
        now: i64,
        expires_at: i64,
        caps: SessionCaps,
    ) -> Result<SessionAdmission, StoreError> {
        let mut store = self.state();
        if store.mcp_sessions.contains_key(session_id) {
            return Err(StoreError::Conflict(format!("MCP session {session_id}")));
        }
        let (mut total, mut owned) = (0, 0);
        for id in &store.counted_mcp_sessions {
            let Some(record) = store.mcp_sessions.get(id) else {
                continue;
            };
            if record.expires_at > now {
                total += 1;
                if owner.is_some() && record.owner.as_deref() == owner {
                    owned += 1;
                }
            }
        }
        if owner.is_some() && owned >= caps.per_owner {
            return Ok(SessionAdmission::OwnerAtCap);
        }
        if total >= caps.total {
            return Ok(SessionAdmission::StoreAtCap);
        }
        let record = store.mcp_session_entry(session_id, now, expires_at);
        record.state = Some(state.to_owned());
        record.owner = owner.map(str::to_owned);
        store.counted_mcp_sessions.insert(session_id.to_owned());
        Ok(SessionAdmission::Created)
    }

    async fn touch(&self, session_id: &str, expires_at: i64) -> Result<(), StoreError> {
        let mut store = self.state();
        let record = store
            .mcp_sessions
            .get_mut(session_id)
            .ok_or_else(|| StoreError::NotFound(format!("MCP session {session_id}")))?;
        record.expires_at = record.expires_at.max(expires_at);
        Ok(())
    }

    async fn delete(&self, session_id: &str) -> Result<(), StoreError> {
        let mut store = self.state();
        store.counted_mcp_sessions.remove(session_id);
        store
            .mcp_sessions
            .remove(session_id)
            .map(|_| self.session_changed())
            .ok_or_else(|| StoreError::NotFound(format!("MCP session {session_id}")))
    }

    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        let mut store = self.state();
        let before = store.mcp_sessions.len();
        store
            .mcp_sessions
            .retain(|_, record| record.expires_at > now);
        let State {
            mcp_sessions,
            counted_mcp_sessions,
            ..
        } = &mut *store;
        counted_mcp_sessions.retain(|id| mcp_sessions.contains_key(id));
        let removed = (before - store.mcp_sessions.len()) as u64;
        if removed > 0 {
            self.session_changed();
        }
        Ok(removed)
    }

    async fn changes_here(&self) -> Result<Option<u64>, StoreError> {
        Ok(Some(self.session_changes.load(Ordering::Acquire)))
    }
}

impl MemoryStore {
    /// Called under the state lock by every change to an existing session.
    fn session_changed(&self) {
        self.session_changes.fetch_add(1, Ordering::AcqRel);
    }
}

#[async_trait]
impl StoreHealth for MemoryStore {
    /// Memory always answers.
    async fn check(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
