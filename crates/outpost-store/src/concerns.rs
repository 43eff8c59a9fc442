//! Every method of every store trait, written once: [`for_each_concern!`] hands each trait,
//! with the [`Store`](crate::Store) field that holds it, to a macro that implements the trait
//! for a wrapper by delegation — the metering wrapper ([`crate::metered`]) and the outage
//! switch of the tests (`outage`). A method added to a trait is added here, and every wrapper
//! gets it.

/// Calls `$callback!(field: Trait { fn method(&self, arg: Type, …) -> Ok; … })` once per
/// store trait, `Ok` being the method's `Result<Ok, StoreError>` success type.
macro_rules! for_each_concern {
    ($callback:ident) => {
        $callback!(users: UserStore {
            fn create(&self, user: UserRecord) -> ();
            fn get_by_username(&self, username: &Username) -> Option<UserRecord>;
            fn get(&self, id: UserId) -> Option<UserRecord>;
            fn list(&self) -> Vec<UserRecord>;
            fn delete(&self, username: &Username) -> ();
            fn set_password_hash(&self, id: UserId, hash: PasswordHash) -> ();
            fn set_allowed_scopes(&self, id: UserId, scopes: ScopeSet) -> ();
        });

        $callback!(clients: ClientStore {
            fn insert(&self, client: ClientRecord) -> ();
            fn upsert(&self, client: ClientRecord) -> ();
            fn get(&self, client_id: &ClientId) -> Option<ClientRecord>;
            fn delete(&self, client_id: &ClientId) -> ();
            fn purge_unused_documents(&self, before: i64) -> Vec<ClientId>;
        });

        $callback!(codes: AuthorizationCodeStore {
            fn insert(&self, code: AuthorizationCodeRecord) -> ();
            fn redeem(&self, code_hash: &TokenHash, grant_id: GrantId, now: i64) -> Redemption;
            fn expire_codes_of_user(&self, user_id: UserId, now: i64) -> u64;
            fn purge_expired(&self, before: i64) -> u64;
        });

        $callback!(grants: GrantStore {
            fn create_grant(&self, grant: GrantRecord) -> ();
            fn get_grant(&self, grant_id: GrantId) -> Option<GrantRecord>;
            fn insert_refresh_token(&self, token: RefreshTokenRecord) -> ();
            fn get_refresh_token(&self, token_hash: &TokenHash) -> Option<RefreshTokenRecord>;
            fn rotate(&self, presented: &TokenHash, successor: NewRefreshToken, now: i64, concurrent_since: i64) -> Rotation;
            fn revoke_grant(&self, grant_id: GrantId, now: i64) -> ();
            fn revoke_grants_of_user(&self, user_id: UserId, now: i64) -> u64;
            fn is_revoked(&self, grant_id: GrantId) -> bool;
            fn purge_expired(&self, now: i64, idle_grants_before: i64) -> u64;
        });

        $callback!(keys: SigningKeyStore {
            fn insert(&self, key: SigningKeyRecord) -> ();
            fn insert_if_no_active(&self, key: SigningKeyRecord) -> bool;
            fn list(&self) -> Vec<SigningKeyRecord>;
            fn retire(&self, kid: &str, at: i64) -> ();
            fn reseal(&self, kid: &str, from: Option<&KeyEncryptionKeyId>, sealed: SealedSecret) -> bool;
        });

        $callback!(consents: ConsentStore {
            fn remember(&self, consent: ConsentRecord) -> ();
            fn get(&self, user_id: UserId, client_id: &ClientId) -> Option<ConsentRecord>;
        });

        $callback!(mcp_sessions: McpSessionStore {
            fn save_state(&self, session_id: &str, state: &str, now: i64, expires_at: i64) -> ();
            fn record_owner(&self, session_id: &str, owner: &str, now: i64, expires_at: i64) -> ();
            fn get(&self, session_id: &str, now: i64) -> Option<McpSessionRecord>;
            fn replace_data(&self, session_id: &str, expected: Option<&str>, data: &str) -> bool;
            fn create_counted(&self, session_id: &str, state: &str, owner: Option<&str>, now: i64,
                expires_at: i64, caps: SessionCaps) -> SessionAdmission;
            fn touch(&self, session_id: &str, expires_at: i64) -> ();
            fn delete(&self, session_id: &str) -> ();
            fn purge_expired(&self, now: i64) -> u64;
            fn changes_here(&self) -> Option<u64>;
            fn changes_to(&self, session_id: &str) -> Option<u64>;
        });

        $callback!(pending_authorizations: PendingAuthorizationStore {
            fn insert(&self, record: PendingAuthorizationRecord, now: i64, max_live: usize) -> ();
            fn get(&self, id_hash: &TokenHash, now: i64) -> Option<PendingAuthorizationRecord>;
            fn sign_in(&self, id_hash: &TokenHash, user_id: UserId, now: i64)
                -> Option<PendingAuthorizationRecord>;
            fn take_signed_in(&self, id_hash: &TokenHash, now: i64) -> Option<PendingAuthorizationRecord>;
            fn remove_signed_in_of_user(&self, user_id: UserId) -> u64;
            fn purge_expired(&self, now: i64) -> u64;
        });

        $callback!(throttles: ThrottleStore {
            fn reserve(&self, key: &str, budget: Budget, now: i64) -> Admission;
            fn reserve_many(&self, key: &str, budget: Budget, count: u32, now: i64) -> Allowance;
            fn release(&self, reservation: &Reservation) -> ();
            fn purge_expired(&self, now: i64) -> u64;
        });

        $callback!(client_documents: ClientDocumentStore {
            fn get(&self, client_id: &ClientId, now: i64) -> Option<ClientDocumentRecord>;
            fn put(&self, record: ClientDocumentRecord, now: i64, max_entries: usize) -> ();
            fn purge_expired(&self, now: i64) -> u64;
        });

        $callback!(request_state_keys: RequestStateKeyStore {
            fn list(&self) -> Vec<RequestStateKeyRecord>;
            fn insert_first(&self, key: RequestStateKeyRecord) -> bool;
            fn rotate(&self, next: RequestStateKeyRecord, published_after: i64) -> bool;
            fn purge_superseded(&self, before: i64) -> u64;
            fn reseal(&self, kid: &str, from: Option<&KeyEncryptionKeyId>, sealed: SealedSecret) -> bool;
        });

        $callback!(health: StoreHealth {
            fn check(&self) -> ();
        });
    };
}

pub(crate) use for_each_concern;
