//! The set of signing keys: the key that signs, keys published to sign next, and retired keys
//! that still verify.
//!
//! Rotation (`outpost keys rotate`) publishes a new key first and lets it sign only
//! [`PUBLICATION_LEAD`] later, retiring the old key at that moment: every instance sharing the
//! store reloads its keys more often than that, so by the time any instance signs with the new
//! key, every instance (and every cached JWK Set) already verifies it. The first key of a store
//! signs at once: nothing was signed before it. A retired key keeps verifying until every token
//! it signed has expired: it signed nothing after `retired_at`, so that is `retired_at + max
//! access-token lifetime + clock leeway`; after that it is dropped from verification and from
//! the JWK Set (RFC 7517 §5). Tokens name their key by `kid` (RFC 7515 §4.1.4); an unknown
//! `kid` is an error, never a reason to try every key. Times are Unix seconds, as in the
//! signing-key record.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    access_token::CLOCK_LEEWAY,
    signing_key::{PublicJwk, SigningKey, SigningKeyError},
};

/// How long a rotated-in key is published before it signs: longer than the interval at which
/// every instance reloads its keys from the store (the authorization server reloads every
/// minute), so no instance ever meets a token signed by a key it has not loaded.
pub const PUBLICATION_LEAD: Duration = Duration::from_secs(120);

/// A key with its lifecycle times, as stored in a signing-key record.
#[derive(Debug, Clone)]
pub struct KeyringEntry {
    /// The key.
    pub key: SigningKey,
    /// When the key was created and published (Unix seconds). It signs from
    /// `created_at + PUBLICATION_LEAD`, or at once if it is the only key.
    pub created_at: i64,
    /// When the key stops signing (Unix seconds), possibly ahead; `None` while no successor is
    /// known.
    pub retired_at: Option<i64>,
}

impl KeyringEntry {
    /// Loads a stored record's fields (`kid`, `algorithm`, `private_key_pem`, `created_at`,
    /// `retired_at`).
    pub fn from_stored(
        kid: &str,
        algorithm: &str,
        private_key_pem: &str,
        created_at: i64,
        retired_at: Option<i64>,
    ) -> Result<Self, SigningKeyError> {
        Ok(Self {
            key: SigningKey::from_stored(kid, algorithm, private_key_pem)?,
            created_at,
            retired_at,
        })
    }

    /// Whether the key has not stopped signing at `now`.
    fn unretired_at(&self, now: i64) -> bool {
        self.retired_at.is_none_or(|retired_at| now < retired_at)
    }

    /// When a key published at `created_at` may start signing.
    fn signs_from(&self) -> i64 {
        self.created_at.saturating_add(lead_seconds())
    }

    /// Orders keys by age: creation time, then kid (so every instance picks the same one).
    fn age_key(&self) -> (i64, &str) {
        (self.created_at, self.key.kid())
    }
}

fn lead_seconds() -> i64 {
    i64::try_from(PUBLICATION_LEAD.as_secs()).unwrap_or(i64::MAX)
}

/// A JWK Set (RFC 7517 §5): the body of `/jwks.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    /// The public keys.
    pub keys: Vec<PublicJwk>,
}

/// Why a keyring could not be built.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    /// No stored key is active (unretired): generate one with [`Keyring::generate`] or rotate.
    #[error("no active signing key: generate or rotate one")]
    NoActiveKey,
    /// Generating a key failed.
    #[error(transparent)]
    Key(#[from] SigningKeyError),
}

/// What [`Keyring::rotate`] changed, to be written to the store.
#[derive(Debug, Clone)]
pub struct KeyRotation {
    /// The new key, published now, signing from `now + PUBLICATION_LEAD`.
    pub successor: KeyringEntry,
    /// The keys it replaces, by kid, each with when it stops signing: the current key when the
    /// successor starts; a key that was still waiting for its own lead at once (it never
    /// signed).
    pub retirements: Vec<(String, i64)>,
}

/// The signing key, the keys published to succeed it, and the retired keys still valid for
/// verification.
#[derive(Debug, Clone)]
pub struct Keyring {
    /// Every key that may verify, in no particular order.
    keys: Vec<KeyringEntry>,
    max_token_lifetime: Duration,
}

impl Keyring {
    /// A keyring with one new key, created at `now`, that signs at once. `max_token_lifetime`
    /// is the longest access-token lifetime the issuer uses: it decides how long retired keys
    /// stay.
    pub fn generate(now: i64, max_token_lifetime: Duration) -> Result<Self, KeyringError> {
        let first = KeyringEntry {
            key: SigningKey::generate()?,
            created_at: now,
            retired_at: None,
        };
        Ok(Self {
            keys: vec![first],
            max_token_lifetime,
        })
    }

    /// A keyring from stored keys, as of `now` ([`NoActiveKey`](KeyringError::NoActiveKey)
    /// if none is unretired). Unretired keys older than the one that signs, once it signs by
    /// its own lead (two instances rotating at once), count as retired from when it started.
    /// Keys past their verification window are left out (see [`Keyring::expired_kids`] to
    /// delete them from the store).
    pub fn from_entries(
        entries: impl IntoIterator<Item = KeyringEntry>,
        max_token_lifetime: Duration,
        now: i64,
    ) -> Result<Self, KeyringError> {
        let mut keyring = Self {
            keys: entries.into_iter().collect(),
            max_token_lifetime,
        };
        let signer = keyring.signer(now).ok_or(KeyringError::NoActiveKey)?;
        let (signer_age, signer_started) = {
            let entry = &keyring.keys[signer];
            (
                (entry.created_at, entry.key.kid().to_owned()),
                entry.signs_from(),
            )
        };
        if signer_started <= now {
            for entry in &mut keyring.keys {
                if entry.retired_at.is_none()
                    && (entry.created_at, entry.key.kid()) < (signer_age.0, signer_age.1.as_str())
                {
                    entry.retired_at = Some(signer_started);
                }
            }
        }
        keyring.prune(now);
        Ok(keyring)
    }

    /// Which key signs at `now`, among the keys unretired then: the newest whose publication
    /// lead has passed; when none has (a store's first key, or a rotation of it within its
    /// lead), the one a rotation scheduled to retire (it was signing when its successor was
    /// published), else the oldest. `None` when every key is retired.
    fn signer(&self, now: i64) -> Option<usize> {
        let unretired = || {
            self.keys
                .iter()
                .enumerate()
                .filter(|(_, e)| e.unretired_at(now))
        };
        let by_age = |(_, a): &(usize, &KeyringEntry), (_, b): &(usize, &KeyringEntry)| {
            a.age_key().cmp(&b.age_key())
        };
        unretired()
            .filter(|(_, e)| e.signs_from() <= now)
            .max_by(by_age)
            .or_else(|| {
                unretired()
                    .filter(|(_, e)| e.retired_at.is_some())
                    .min_by(by_age)
            })
            .or_else(|| unretired().min_by(by_age))
            .map(|(i, _)| i)
    }

    /// Publishes a new key created at `now`, which signs from `now + PUBLICATION_LEAD`, when
    /// the key signing now retires; a key still waiting for its lead is retired at once (it
    /// never signed). Store every change ([`KeyRotation`]).
    pub fn rotate(&mut self, now: i64) -> Result<KeyRotation, KeyringError> {
        let successor = KeyringEntry {
            key: SigningKey::generate()?,
            created_at: now,
            retired_at: None,
        };
        let retires_at = successor.signs_from();
        let signer = self.signer(now);
        let mut retirements = Vec::new();
        for (index, entry) in self.keys.iter_mut().enumerate() {
            if !entry.unretired_at(now) {
                continue;
            }
            let at = if Some(index) == signer {
                retires_at
            } else {
                now
            };
            entry.retired_at = Some(at);
            retirements.push((entry.key.kid().to_owned(), at));
        }
        self.keys.push(successor.clone());
        self.prune(now);
        Ok(KeyRotation {
            successor,
            retirements,
        })
    }

    /// Drops retired keys whose tokens have all expired, never the newest key (so a keyring
    /// always has one to sign with); returns their `kid`s so the store can delete them.
    pub fn prune(&mut self, now: i64) -> Vec<String> {
        let window = self.verification_window();
        let newest = self
            .keys
            .iter()
            .max_by(|a, b| a.age_key().cmp(&b.age_key()))
            .map(|entry| entry.key.kid().to_owned());
        let (expired, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.keys)
            .into_iter()
            .partition(|entry| {
                !still_verifies(entry, window, now) && Some(entry.key.kid()) != newest.as_deref()
            });
        self.keys = kept;
        expired
            .into_iter()
            .map(|e| e.key.kid().to_owned())
            .collect()
    }

    /// The `kid`s among `entries` that no longer verify anything at `now` (to delete from the
    /// store without building a keyring).
    pub fn expired_kids<'a>(
        &self,
        entries: impl IntoIterator<Item = &'a KeyringEntry>,
        now: i64,
    ) -> Vec<String> {
        let window = self.verification_window();
        entries
            .into_iter()
            .filter(|entry| !still_verifies(entry, window, now))
            .map(|entry| entry.key.kid().to_owned())
            .collect()
    }

    /// How long after its retirement a key still verifies: the longest token lifetime plus the
    /// clock leeway that verification allows.
    pub fn verification_window(&self) -> Duration {
        self.max_token_lifetime + CLOCK_LEEWAY
    }

    /// The key that signs a token issued at `now` (see [`Keyring::from_entries`] for the rule).
    /// Time alone moves signing to a published successor: no reload is needed for that. A
    /// keyring whose keys have all retired by `now` (none was rotated in since it was built)
    /// keeps signing with its newest key rather than failing.
    pub fn signing_key(&self, now: i64) -> &SigningKey {
        let newest = || {
            self.keys
                .iter()
                .max_by(|a, b| a.age_key().cmp(&b.age_key()))
        };
        self.signer(now)
            .map(|index| &self.keys[index])
            .or_else(newest)
            .map(|entry| &entry.key)
            .expect("a keyring always holds a key: it is built with one and prune keeps the newest")
    }

    /// The key named `kid`, if it may verify a token at `now`.
    pub fn verification_key(&self, kid: &str, now: i64) -> Option<&SigningKey> {
        let window = self.verification_window();
        self.entries()
            .find(|entry| entry.key.kid() == kid && still_verifies(entry, window, now))
            .map(|entry| &entry.key)
    }

    /// Every key (for persistence).
    pub fn entries(&self) -> impl Iterator<Item = &KeyringEntry> {
        self.keys.iter()
    }

    /// The public keys of every key that may verify a token at `now`, upcoming ones included:
    /// they are published before they sign.
    pub fn jwks(&self, now: i64) -> JwkSet {
        let window = self.verification_window();
        JwkSet {
            keys: self
                .entries()
                .filter(|entry| still_verifies(entry, window, now))
                .map(|entry| entry.key.public_jwk().clone())
                .collect(),
        }
    }
}

fn still_verifies(entry: &KeyringEntry, window: Duration, now: i64) -> bool {
    match entry.retired_at {
        None => true,
        Some(retired_at) => {
            let window = i64::try_from(window.as_secs()).unwrap_or(i64::MAX);
            now <= retired_at.saturating_add(window)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIFETIME: Duration = Duration::from_secs(3600);
    const T0: i64 = 1_800_000_000;
    const LEAD: i64 = PUBLICATION_LEAD.as_secs() as i64;

    fn kids(keyring: &Keyring, now: i64) -> Vec<String> {
        keyring.jwks(now).keys.into_iter().map(|k| k.kid).collect()
    }

    #[test]
    fn a_rotated_key_is_published_before_it_signs() {
        let mut keyring = Keyring::generate(T0, LIFETIME).unwrap();
        let old = keyring.signing_key(T0).kid().to_owned();
        let rotation = keyring.rotate(T0 + 10).unwrap();
        let new = rotation.successor.key.kid().to_owned();
        assert_ne!(old, new);
        assert_eq!(rotation.retirements, vec![(old.clone(), T0 + 10 + LEAD)]);

        // Published at once (JWK Set, verification), signing only after the lead.
        assert_eq!(kids(&keyring, T0 + 10), vec![old.clone(), new.clone()]);
        assert!(keyring.verification_key(&new, T0 + 10).is_some());
        assert_eq!(keyring.signing_key(T0 + 10 + LEAD - 1).kid(), old);
        assert_eq!(keyring.signing_key(T0 + 10 + LEAD).kid(), new);

        // Last token signed with the old key, just before the switch, expires 3600 s later,
        // +60 s leeway.
        let last = T0 + 10 + LEAD + 3600 + 60;
        assert!(keyring.verification_key(&old, last).is_some());
        assert!(keyring.verification_key(&old, last + 1).is_none());
    }

    #[test]
    fn a_store_rebuilt_keyring_switches_at_the_same_second() {
        let mut keyring = Keyring::generate(T0, LIFETIME).unwrap();
        let old = keyring.signing_key(T0).kid().to_owned();
        let rotation = keyring.rotate(T0 + 10).unwrap();
        let new = rotation.successor.key.kid().to_owned();
        let saved: Vec<KeyringEntry> = keyring.entries().map(stored).collect();
        for (now, signer) in [(T0 + 11, &old), (T0 + 10 + LEAD, &new)] {
            let rebuilt = Keyring::from_entries(saved.clone(), LIFETIME, now).unwrap();
            assert_eq!(rebuilt.signing_key(now).kid(), signer.as_str(), "at {now}");
            assert!(rebuilt.verification_key(&new, now).is_some());
            assert!(rebuilt.verification_key(&old, now).is_some());
        }
    }

    #[test]
    fn a_key_rotated_in_its_first_second_keeps_signing_until_the_lead() {
        let mut keyring = Keyring::generate(T0, LIFETIME).unwrap();
        let old = keyring.signing_key(T0).kid().to_owned();
        let new = keyring.rotate(T0).unwrap().successor.key.kid().to_owned();
        let saved: Vec<KeyringEntry> = keyring.entries().map(stored).collect();
        let rebuilt = Keyring::from_entries(saved, LIFETIME, T0 + 1).unwrap();
        for keyring in [&keyring, &rebuilt] {
            assert_eq!(keyring.signing_key(T0 + 1).kid(), old);
            assert_eq!(keyring.signing_key(T0 + LEAD).kid(), new);
        }
    }

    #[test]
    fn rotating_again_before_the_lead_supersedes_the_waiting_key() {
        let mut keyring = Keyring::generate(T0, LIFETIME).unwrap();
        let old = keyring.signing_key(T0).kid().to_owned();
        let first = keyring
            .rotate(T0 + 10)
            .unwrap()
            .successor
            .key
            .kid()
            .to_owned();
        let second = keyring.rotate(T0 + 20).unwrap();
        assert_eq!(
            second.retirements,
            vec![(old.clone(), T0 + 20 + LEAD), (first.clone(), T0 + 20)]
        );
        let next = second.successor.key.kid().to_owned();
        assert_eq!(keyring.signing_key(T0 + 10 + LEAD).kid(), old);
        assert_eq!(keyring.signing_key(T0 + 20 + LEAD).kid(), next);
    }

    #[test]
    fn retired_keys_go_once_their_tokens_expire() {
        let mut keyring = Keyring::generate(T0, LIFETIME).unwrap();
        let old = keyring.signing_key(T0).kid().to_owned();
        keyring.rotate(T0 + 10).unwrap();
        let saved: Vec<KeyringEntry> = keyring.entries().map(stored).collect();
        let later = T0 + 10 + LEAD + 3661;
        let rebuilt = Keyring::from_entries(saved.clone(), LIFETIME, later).unwrap();
        assert_eq!(rebuilt.entries().count(), 1);
        assert_eq!(rebuilt.expired_kids(&saved, later), vec![old]);
    }

    #[test]
    fn unknown_kid_has_no_key() {
        let keyring = Keyring::generate(T0, LIFETIME).unwrap();
        assert!(keyring.verification_key("nope", T0).is_none());
    }

    #[test]
    fn jwks_serializes_as_a_jwk_set() {
        let keyring = Keyring::generate(T0, LIFETIME).unwrap();
        let json = serde_json::to_value(keyring.jwks(T0)).unwrap();
        let key = &json["keys"][0];
        assert!(key["x"].is_string() && key["y"].is_string());
        assert_eq!(key["kid"], keyring.signing_key(T0).kid());
    }

    fn stored(entry: &KeyringEntry) -> KeyringEntry {
        let key = &entry.key;
        KeyringEntry::from_stored(
            key.kid(),
            key.algorithm(),
            &key.to_pem().unwrap(),
            entry.created_at,
            entry.retired_at,
        )
        .unwrap()
    }

    #[test]
    fn from_entries_needs_an_active_key() {
        let mut keyring = Keyring::generate(T0, LIFETIME).unwrap();
        keyring.rotate(T0 + 1).unwrap();
        let retired_only: Vec<KeyringEntry> = keyring
            .entries()
            .filter(|e| e.retired_at.is_some())
            .cloned()
            .collect();
        assert!(matches!(
            Keyring::from_entries(retired_only, LIFETIME, T0 + 1 + LEAD),
            Err(KeyringError::NoActiveKey)
        ));
    }

    #[test]
    fn two_unretired_keys_pick_the_newest_published_one() {
        let a = Keyring::generate(T0, LIFETIME).unwrap();
        let b = Keyring::generate(T0 + 5, LIFETIME).unwrap();
        let entries = vec![a.keys[0].clone(), b.keys[0].clone()];
        let now = T0 + 5 + LEAD;
        let keyring = Keyring::from_entries(entries, LIFETIME, now).unwrap();
        assert_eq!(keyring.signing_key(now).kid(), b.keys[0].key.kid());
        assert!(keyring.verification_key(a.keys[0].key.kid(), now).is_some());
    }
}
