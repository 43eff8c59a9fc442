//! Signing keys and request-state keys: a hash of JSON records each, with retirement, and
//! creation and activation times, kept beside them for the scripts that insert the first key
//! and rotate atomically. Sealing a key at rest replaces its record only if it is still the
//! one read (`record_replace.lua`).

use std::collections::HashMap;

use async_trait::async_trait;

use outpost_store::{
    KeyEncryptionKeyId, RequestStateKeyRecord, RequestStateKeyStore, SealedSecret,
    SigningKeyRecord, SigningKeyStore, StoreError,
};

use crate::{
    RedisStore, parse_time,
    records::{self, decode, encode},
};

#[async_trait]
impl SigningKeyStore for RedisStore {
    async fn insert(&self, key: SigningKeyRecord) -> Result<(), StoreError> {
        let stored: bool = self
            .query(
                "storing a signing key",
                redis::cmd("HSETNX")
                    .arg(self.key("signing_keys"))
                    .arg(&key.kid)
                    .arg(encode(&records::SigningKey::from(&key)))
                    .clone(),
            )
            .await?;
        if !stored {
            return Err(StoreError::Conflict(format!("signing key {}", key.kid)));
        }
        Ok(())
    }

    async fn insert_if_no_active(&self, key: SigningKeyRecord) -> Result<bool, StoreError> {
        let args = [key.kid.clone(), encode(&records::SigningKey::from(&key))];
        let stored: i64 = self
            .eval(
                "storing the first signing key",
                &self.scripts.signing_key_insert_if_no_active,
                &args,
            )
            .await?;
        match stored {
            -1 => Err(StoreError::Conflict(format!("signing key {}", key.kid))),
            stored => Ok(stored == 1),
        }
    }

    async fn list(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("HGETALL")
            .arg(self.key("signing_keys"))
            .cmd("HGETALL")
            .arg(self.key("signing_keys:retired"));
        let (keys, retired): (HashMap<String, String>, HashMap<String, String>) =
            self.atomically("listing signing keys", pipe).await?;
        let mut listed = Vec::with_capacity(keys.len());
        for (kid, text) in keys {
            let retired_at = retired
                .get(&kid)
                .map(|at| parse_time("signing key retired_at", at))
                .transpose()?;
            let key: records::SigningKey = decode("signing key", &text)?;
            listed.push(key.into_record(retired_at)?);
        }
        listed.sort_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)));
        Ok(listed)
    }

    async fn retire(&self, kid: &str, at: i64) -> Result<(), StoreError> {
        let retired: i64 = self
            .eval(
                "retiring a signing key",
                &self.scripts.signing_key_retire,
                &[kid.to_owned(), at.to_string()],
            )
            .await?;
        if retired == 0 {
            return Err(StoreError::NotFound(format!("signing key {kid}")));
        }
        Ok(())
    }

    async fn reseal(
        &self,
        kid: &str,
        from: Option<&KeyEncryptionKeyId>,
        sealed: SealedSecret,
    ) -> Result<bool, StoreError> {
        self.reseal_record::<records::SigningKey>("signing_keys", kid, from, &sealed)
            .await
    }
}

impl RedisStore {
    /// Replaces the secret of the key `kid` in the hash `hash` by `sealed`, if it is still
    /// sealed with `from` (`None`: in the clear) and unchanged since read; whether it was.
    async fn reseal_record<R: records::Resealable>(
        &self,
        hash: &str,
        kid: &str,
        from: Option<&KeyEncryptionKeyId>,
        sealed: &SealedSecret,
    ) -> Result<bool, StoreError> {
        let Some(text) = self.read_field(hash, kid).await? else {
            return Ok(false);
        };
        let key: R = decode(R::WHAT, &text)?;
        if !key.is_sealed_with(from) {
            return Ok(false);
        }
        let next = encode(&key.resealed(sealed));
        self.replace_if_unchanged(hash, kid, text, next).await
    }

    /// The value of `field` in the hash `hash` (after the prefix).
    async fn read_field(&self, hash: &str, field: &str) -> Result<Option<String>, StoreError> {
        self.query(
            "reading a key",
            redis::cmd("HGET").arg(self.key(hash)).arg(field).clone(),
        )
        .await
    }

    /// Replaces `field`'s value `read` in the hash `hash` by `next`, unless it changed since
    /// it was read; whether it did.
    async fn replace_if_unchanged(
        &self,
        hash: &str,
        field: &str,
        read: String,
        next: String,
    ) -> Result<bool, StoreError> {
        let args = [hash.to_owned(), field.to_owned(), read, next];
        let replaced: i64 = self
            .eval("sealing a key", &self.scripts.record_replace, &args)
            .await?;
        Ok(replaced == 1)
    }

    /// Stores `key` if `condition` holds: `first` (no key yet) or a time after which no key
    /// may have been published.
    async fn add_request_state_key(
        &self,
        key: &RequestStateKeyRecord,
        condition: String,
    ) -> Result<bool, StoreError> {
        let args = [
            key.kid.clone(),
            encode(&records::RequestStateKey::from(key)),
            key.created_at.to_string(),
            key.activates_at.to_string(),
            condition,
        ];
        let stored: i64 = self
            .eval(
                "storing a request-state key",
                &self.scripts.request_state_key_add,
                &args,
            )
            .await?;
        match stored {
            -1 => Err(StoreError::Conflict(format!(
                "request-state key {}",
                key.kid
            ))),
            stored => Ok(stored == 1),
        }
    }
}

#[async_trait]
impl RequestStateKeyStore for RedisStore {
    async fn list(&self) -> Result<Vec<RequestStateKeyRecord>, StoreError> {
        let texts: Vec<String> = self
            .query(
                "listing request-state keys",
                redis::cmd("HVALS")
                    .arg(self.key("request_state_keys"))
                    .clone(),
            )
            .await?;
        let mut keys = Vec::with_capacity(texts.len());
        for text in texts {
            let key: records::RequestStateKey = decode("request-state key", &text)?;
            keys.push(RequestStateKeyRecord::try_from(key)?);
        }
        keys.sort_by(|a, b| (a.activates_at, &a.kid).cmp(&(b.activates_at, &b.kid)));
        Ok(keys)
    }

    async fn insert_first(&self, key: RequestStateKeyRecord) -> Result<bool, StoreError> {
        self.add_request_state_key(&key, "first".into()).await
    }

    async fn rotate(
        &self,
        next: RequestStateKeyRecord,
        published_after: i64,
    ) -> Result<bool, StoreError> {
        self.add_request_state_key(&next, published_after.to_string())
            .await
    }

    async fn purge_superseded(&self, before: i64) -> Result<u64, StoreError> {
        self.eval(
            "purging request-state keys",
            &self.scripts.request_state_keys_purge,
            &[before.to_string()],
        )
        .await
    }

    async fn reseal(
        &self,
        kid: &str,
        from: Option<&KeyEncryptionKeyId>,
        sealed: SealedSecret,
    ) -> Result<bool, StoreError> {
        self.reseal_record::<records::RequestStateKey>("request_state_keys", kid, from, &sealed)
            .await
    }
}
