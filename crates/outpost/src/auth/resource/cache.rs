//! The two caches that keep token checks off the hot path.
//!
//! - [`ValidationCache`]: a verified token's [`Identity`], found by its [`TokenKey`] and
//!   reused until the token's `exp` plus the verifier's clock leeway — exactly as long as
//!   [`verify`](crate::auth::access_token::verify) would accept it, so the cache never changes
//!   an answer, only its cost (a short hash, a comparison and one read lock instead of an
//!   ECDSA verification).
//! - [`RevocationCache`]: the revocation answer for a grant, reused for a few seconds, so a
//!   revoked grant's tokens stop working within that window without a store read per request.
//!
//! Both are bounded: when full, expired entries are swept; if still full the new entry is not
//! kept (the request is still served, only uncached). A sweep also runs every
//! [`SWEEP_EVERY`] insertions, so expired entries do not linger.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError, RwLock},
    time::{Duration, Instant},
};

use sha2::{Digest, Sha256};

use super::identity::Identity;
use crate::{auth::access_token::CLOCK_LEEWAY, store::GrantId};

/// Insertions between sweeps of expired entries.
pub const SWEEP_EVERY: usize = 1024;

/// The SHA-256 of a token (or of its secret part, in a [`TokenKey`]).
pub type TokenDigest = [u8; 32];

/// The digest of the whole of `token`: what the external issuer's caches know it by.
pub fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

/// What the [`ValidationCache`] knows a token by, without keeping the credential: the SHA-256
/// of its secret part — a JWT's signature, after the last `.`; all of a token without a dot —
/// and, as it is, the rest up to that dot (a JWT's header and claims, which are no credential
/// without the signature).
///
/// Two tokens with the same key are the same token: equal public parts, and secret parts
/// with the same SHA-256. Hashing only the signature (86 characters for ES256) rather than
/// the whole token (~700) takes the hash from ~2% of a cached request's time to a fraction.
/// The price is memory: a cached token keeps its public part (~600 bytes for Outpost's own
/// tokens; an external issuer's may be longer), for as many tokens as the cache holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenKey<'a> {
    public: &'a str,
    secret: TokenDigest,
}

impl<'a> TokenKey<'a> {
    /// The key of `token`.
    pub fn of(token: &'a str) -> Self {
        // The public part keeps its final dot, so that `X` and `.X` are told apart.
        let secret_from = token.rfind('.').map_or(0, |dot| dot + 1);
        let (public, secret) = token.split_at(secret_from);
        Self {
            public,
            secret: Sha256::digest(secret.as_bytes()).into(),
        }
    }
}

struct Validated {
    /// The public part of the token's [`TokenKey`].
    public: Box<str>,
    identity: Arc<Identity>,
    /// Unix seconds after which the token is refused: `exp` + leeway.
    valid_until: i64,
}

#[derive(Default)]
struct ValidationEntries {
    map: HashMap<TokenDigest, Validated>,
    inserts: usize,
}

/// Verified tokens, until they expire.
pub struct ValidationCache {
    entries: RwLock<ValidationEntries>,
    capacity: usize,
}

impl ValidationCache {
    /// A cache holding at most `capacity` tokens.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: RwLock::new(ValidationEntries::default()),
            capacity,
        }
    }

    /// The identity of a token verified earlier and still valid at `now`.
    pub fn get(&self, key: &TokenKey<'_>, now: i64) -> Option<Arc<Identity>> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries
            .map
            .get(&key.secret)
            .filter(|entry| now <= entry.valid_until && *entry.public == *key.public)
            .map(|entry| entry.identity.clone())
    }

    /// Remembers a token verified at `now` that expires at `exp`.
    pub fn insert(&self, key: &TokenKey<'_>, identity: Arc<Identity>, exp: i64, now: i64) {
        let leeway = i64::try_from(CLOCK_LEEWAY.as_secs()).unwrap_or(0);
        self.insert_until(key, identity, exp.saturating_add(leeway), now);
    }

    /// Remembers a token verified at `now` that is refused after `valid_until` (Unix seconds:
    /// its `exp` plus the verifier's leeway). It takes the place of a token with the same
    /// secret part and another public part (a forgery that reuses a signature, which never
    /// verifies: the original is verified again on its next use).
    pub fn insert_until(
        &self,
        key: &TokenKey<'_>,
        identity: Arc<Identity>,
        valid_until: i64,
        now: i64,
    ) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        entries.inserts = entries.inserts.wrapping_add(1);
        if entries.map.len() >= self.capacity || entries.inserts.is_multiple_of(SWEEP_EVERY) {
            entries.map.retain(|_, entry| now <= entry.valid_until);
        }
        if entries.map.len() < self.capacity {
            entries.map.insert(
                key.secret,
                Validated {
                    public: key.public.into(),
                    identity,
                    valid_until,
                },
            );
        }
    }

    /// Forgets every token (the keys that verified them changed).
    pub fn clear(&self) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        entries.map.clear();
    }

    /// How many tokens are cached.
    pub fn len(&self) -> usize {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries.map.len()
    }

    /// Whether no token is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Revocation answers per grant, for a short time.
pub struct RevocationCache {
    entries: Mutex<HashMap<GrantId, (bool, Instant)>>,
    ttl: Duration,
    capacity: usize,
}

impl RevocationCache {
    /// A cache reusing each answer for `ttl`, holding at most `capacity` grants.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            ttl,
            capacity,
        }
    }

    /// The answer for `grant`, if one younger than the TTL is known.
    pub fn get(&self, grant: GrantId, now: Instant) -> Option<bool> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(&grant)
            .filter(|(_, at)| now.saturating_duration_since(*at) < self.ttl)
            .map(|(revoked, _)| *revoked)
    }

    /// Remembers the answer for `grant`, obtained at `now`.
    pub fn insert(&self, grant: GrantId, revoked: bool, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.capacity {
            let ttl = self.ttl;
            entries.retain(|_, (_, at)| now.saturating_duration_since(*at) < ttl);
        }
        if entries.len() < self.capacity {
            entries.insert(grant, (revoked, now));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::scope::Scope;

    fn identity(subject: &str) -> Arc<Identity> {
        Arc::new(Identity {
            subject: subject.into(),
            username: None,
            client_id: Some("client".into()),
            scopes: Scope::empty(),
            grant_id: None,
        })
    }

    #[test]
    fn tokens_are_cached_until_exp_plus_leeway() {
        let cache = ValidationCache::new(8);
        let key = TokenKey::of("h.p.sig-a");
        cache.insert(&key, identity("alice"), 1_000, 900);
        assert_eq!(cache.get(&key, 1_000).unwrap().subject, "alice");
        assert!(cache.get(&key, 1_060).is_some());
        assert!(cache.get(&key, 1_061).is_none());
        assert!(cache.get(&TokenKey::of("h.p.sig-b"), 900).is_none());
    }

    #[test]
    fn a_token_is_known_by_all_of_it() {
        let cache = ValidationCache::new(8);
        cache.insert(
            &TokenKey::of("header.claims.signature"),
            identity("alice"),
            1_000,
            0,
        );
        assert!(
            cache
                .get(&TokenKey::of("header.claims.signature"), 0)
                .is_some()
        );
        // The signature of a cached token under other claims, or under none.
        assert!(
            cache
                .get(&TokenKey::of("header.forged.signature"), 0)
                .is_none()
        );
        assert!(cache.get(&TokenKey::of("signature"), 0).is_none());
        assert!(cache.get(&TokenKey::of(".signature"), 0).is_none());
        // Other signatures under the same claims.
        assert!(
            cache
                .get(&TokenKey::of("header.claims.signaturf"), 0)
                .is_none()
        );
        assert!(cache.get(&TokenKey::of("header.claims."), 0).is_none());
        // A token without a dot is all secret.
        cache.insert(&TokenKey::of("opaque"), identity("bob"), 1_000, 0);
        assert_eq!(
            cache.get(&TokenKey::of("opaque"), 0).unwrap().subject,
            "bob"
        );
        assert!(cache.get(&TokenKey::of(".opaque"), 0).is_none());
    }

    #[test]
    fn a_full_cache_sweeps_expired_entries_then_stops_growing() {
        let cache = ValidationCache::new(2);
        let key = TokenKey::of;
        cache.insert(&key("a"), identity("a"), 100, 0);
        cache.insert(&key("b"), identity("b"), 10_000, 0);
        // Full: "a" has expired by now and is swept to make room.
        cache.insert(&key("c"), identity("c"), 10_000, 5_000);
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&key("a"), 5_000).is_none());
        assert!(cache.get(&key("c"), 5_000).is_some());
        // Full of live entries: the new one is not kept.
        cache.insert(&key("d"), identity("d"), 10_000, 5_000);
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&key("d"), 5_000).is_none());
    }

    #[test]
    fn revocation_answers_expire_after_the_ttl() {
        let cache = RevocationCache::new(Duration::from_secs(5), 2);
        let grant = GrantId::random();
        let t0 = Instant::now();
        assert_eq!(cache.get(grant, t0), None);
        cache.insert(grant, false, t0);
        assert_eq!(cache.get(grant, t0 + Duration::from_secs(4)), Some(false));
        assert_eq!(cache.get(grant, t0 + Duration::from_secs(5)), None);
        cache.insert(GrantId::random(), true, t0);
        cache.insert(GrantId::random(), true, t0 + Duration::from_secs(6));
        assert_eq!(cache.get(grant, t0 + Duration::from_secs(6)), None);
    }
}
