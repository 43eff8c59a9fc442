//! The set of signing keys: one active key that signs, retired keys that still verify.
//!
//! Rotation (`outpost keys rotate`) adds a new active key and retires the old one. A retired key
//! keeps verifying until every token it signed has expired: it signed nothing after
//! `retired_at`, so that is `retired_at + max access-token lifetime + clock leeway`; after that
//! it is dropped from verification and from the JWK Set (RFC 7517 §5). Tokens name their key
//! by `kid` (RFC 7515 §4.1.4); an unknown `kid` is an error, never a reason to try every key.
//! Times are Unix seconds, as in the signing-key record.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    access_token::CLOCK_LEEWAY,
    signing_key::{PublicJwk, SigningKey, SigningKeyError},
};

/// A key with its lifecycle times, as stored in a signing-key record.
#[derive(Debug, Clone)]
pub struct KeyringEntry {
    /// The key.
    pub key: SigningKey,
    /// When the key was created (Unix seconds).
    pub created_at: i64,
    /// When the key stopped signing (Unix seconds); `None` for the active key.
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

/// The active key and the retired keys still valid for verification.
#[derive(Debug, Clone)]
pub struct Keyring {
    active: KeyringEntry,
    retired: Vec<KeyringEntry>,
    max_token_lifetime: Duration,
}

impl Keyring {
    /// A keyring with one new active key, created at `now`. `max_token_lifetime` is the
    /// longest access-token lifetime the issuer uses: it decides how long retired keys stay.
    pub fn generate(now: i64, max_token_lifetime: Duration) -> Result<Self, KeyringError> {
        let active = KeyringEntry {
            key: SigningKey::generate()?,
            created_at: now,
            retired_at: None,
        };
        Ok(Self {
            active,
            retired: Vec::new(),
            max_token_lifetime,
        })
    }

    /// A keyring from stored keys. The newest unretired key is the active one; any other
    /// unretired key (two instances rotating at once) is treated as retired when the active one
    /// was created. Keys past their verification window are left out (see
    /// [`Keyring::expired_kids`] to delete them from the store).
    pub fn from_entries(
        entries: impl IntoIterator<Item = KeyringEntry>,
        max_token_lifetime: Duration,
        now: i64,
    ) -> Result<Self, KeyringError> {
        let mut entries: Vec<KeyringEntry> = entries.into_iter().collect();
        let active_index = entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.retired_at.is_none())
            .max_by_key(|(_, e)| (e.created_at, e.key.kid().to_owned()))
            .map(|(i, _)| i)
            .ok_or(KeyringError::NoActiveKey)?;
        let active = entries.swap_remove(active_index);
        for entry in &mut entries {
            entry.retired_at.get_or_insert(active.created_at);
        }
        let mut keyring = Self {
            active,
            retired: entries,
            max_token_lifetime,
        };
        keyring.prune(now);
        Ok(keyring)
    }

    /// Adds a new active key created at `now` and retires the current one at `now`. Returns
    /// the new entry (to store); the old entry's `retired_at` is now set (store it too).
    pub fn rotate(&mut self, now: i64) -> Result<&KeyringEntry, KeyringError> {
        let next = KeyringEntry {
            key: SigningKey::generate()?,
            created_at: now,
            retired_at: None,
        };
        let mut previous = std::mem::replace(&mut self.active, next);
        previous.retired_at = Some(now);
        self.retired.push(previous);
        self.prune(now);
        Ok(&self.active)
    }

    /// Drops retired keys whose tokens have all expired; returns their `kid`s so the store can
    /// delete them.
    pub fn prune(&mut self, now: i64) -> Vec<String> {
        let window = self.verification_window();
        let (expired, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.retired)
            .into_iter()
            .partition(|entry| !still_verifies(entry, window, now));
        self.retired = kept;
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

    /// The key that signs new tokens.
    pub fn active(&self) -> &SigningKey {
        &self.active.key
    }

    /// The key named `kid`, if it may verify a token at `now`.
    pub fn verification_key(&self, kid: &str, now: i64) -> Option<&SigningKey> {
        let window = self.verification_window();
        self.entries()
            .find(|entry| entry.key.kid() == kid && still_verifies(entry, window, now))
            .map(|entry| &entry.key)
    }

    /// Every entry: the active one first, then the retired ones (for persistence).
    pub fn entries(&self) -> impl Iterator<Item = &KeyringEntry> {
        std::iter::once(&self.active).chain(self.retired.iter())
    }

    /// The public keys of every key that may still verify a token at `now`.
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

    fn kids(keyring: &Keyring, now: i64) -> Vec<String> {
        keyring.jwks(now).keys.into_iter().map(|k| k.kid).collect()
    }

    #[test]
    fn rotation_keeps_the_old_key_until_its_tokens_expire() {
        let mut keyring = Keyring::generate(T0, LIFETIME).unwrap();
        let old = keyring.active().kid().to_owned();
        let new = keyring.rotate(T0 + 10).unwrap().key.kid().to_owned();
        assert_ne!(old, new);
        assert_eq!(keyring.active().kid(), new);
        assert_eq!(kids(&keyring, T0 + 10), vec![new.clone(), old.clone()]);

        // Last token signed at T0+10 with the old key expires at T0+10+3600, +60 s leeway.
        let last = T0 + 10 + 3600 + 60;
        assert!(keyring.verification_key(&old, last).is_some());
        assert!(keyring.prune(last).is_empty());
        assert!(keyring.verification_key(&old, last + 1).is_none());
        assert_eq!(kids(&keyring, last + 1), vec![new.clone()]);
        assert_eq!(keyring.prune(last + 1), vec![old.clone()]);
        assert_eq!(keyring.entries().count(), 1);
        assert!(keyring.verification_key(&new, last + 1).is_some());
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
        assert_eq!(key["kid"], keyring.active().kid());
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
    fn from_entries_restores_the_keyring() {
        let mut keyring = Keyring::generate(T0, LIFETIME).unwrap();
        keyring.rotate(T0 + 100).unwrap();
        let saved: Vec<KeyringEntry> = keyring.entries().map(stored).collect();

        let restored = Keyring::from_entries(saved.clone(), LIFETIME, T0 + 200).unwrap();
        assert_eq!(restored.active().kid(), keyring.active().kid());
        assert_eq!(kids(&restored, T0 + 200), kids(&keyring, T0 + 200));

        // Much later the retired key is gone, and reported for deletion.
        let later = T0 + 100 + 3661;
        let restored = Keyring::from_entries(saved.clone(), LIFETIME, later).unwrap();
        assert_eq!(restored.entries().count(), 1);
        let old = saved[1].key.kid().to_owned();
        assert_eq!(restored.expired_kids(&saved, later), vec![old]);
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
            Keyring::from_entries(retired_only, LIFETIME, T0 + 2),
            Err(KeyringError::NoActiveKey)
        ));
    }

    #[test]
    fn two_unretired_keys_pick_the_newest() {
        let a = Keyring::generate(T0, LIFETIME).unwrap();
        let b = Keyring::generate(T0 + 5, LIFETIME).unwrap();
        let entries = vec![a.active.clone(), b.active.clone()];
        let keyring = Keyring::from_entries(entries, LIFETIME, T0 + 6).unwrap();
        assert_eq!(keyring.active().kid(), b.active().kid());
        assert!(keyring.verification_key(a.active().kid(), T0 + 6).is_some());
    }
}
