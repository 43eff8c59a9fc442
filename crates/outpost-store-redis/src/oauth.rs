//! Authorization codes, grants and refresh tokens: each code and token a hash with a TTL,
//! grants in one hash, and the scripts that redeem, rotate, revoke and purge atomically.

use async_trait::async_trait;
use outpost_store::{
    AuthorizationCodeRecord, AuthorizationCodeStore, GrantId, GrantRecord, GrantStore,
    NewRefreshToken, Redemption, RefreshTokenRecord, Rotation, StoreError, TokenHash, UserId,
};

use crate::{
    RedisStore, parse_time,
    records::{self, decode, encode},
    script_status,
};

/// How long Redis keeps a code past its expiry: longer than the authorization server
/// remembers spent codes (one hour), so its purge, not the TTL, decides when a replay stops
/// being recognised.
const CODE_MEMORY_SECONDS: i64 = 2 * 60 * 60;

/// A script's answer: a status word and its values.
fn answer(values: Vec<String>) -> (String, Vec<String>) {
    let mut values = values.into_iter();
    let status = values.next().unwrap_or_default();
    (status, values.collect())
}

#[async_trait]
impl AuthorizationCodeStore for RedisStore {
    async fn insert(&self, code: AuthorizationCodeRecord) -> Result<(), StoreError> {
        let args = [
            code.code_hash.as_str().to_owned(),
            code.user_id.to_string(),
            code.client_id.to_string(),
            encode(&records::Code::from(&code)),
            code.expires_at.to_string(),
            CODE_MEMORY_SECONDS.to_string(),
        ];
        let status: String = self
            .eval("storing a code", &self.scripts.code_insert, &args)
            .await?;
        script_status(&status, "authorization code")
    }

    async fn redeem(
        &self,
        code_hash: &TokenHash,
        grant_id: GrantId,
        now: i64,
    ) -> Result<Redemption, StoreError> {
        let args = [
            code_hash.as_str().to_owned(),
            grant_id.to_string(),
            now.to_string(),
        ];
        let reply: Vec<String> = self
            .eval("redeeming a code", &self.scripts.code_redeem, &args)
            .await?;
        match answer(reply) {
            (status, values) if status == "redeemed" && values.len() == 1 => {
                let code: records::Code = decode("code", &values[0])?;
                Ok(Redemption::Redeemed(code.try_into()?))
            }
            (status, values) if status == "replayed" && values.len() == 1 => {
                Ok(Redemption::Replayed {
                    grant_id: GrantId::parse(&values[0])?,
                })
            }
            (status, _) if status == "invalid" => Ok(Redemption::Invalid),
            (status, _) => Err(StoreError::Backend(format!(
                "unexpected answer {status:?} redeeming a code"
            ))),
        }
    }

    async fn expire_codes_of_user(&self, user_id: UserId, now: i64) -> Result<u64, StoreError> {
        self.eval(
            "ending a user's codes",
            &self.scripts.codes_expire_of_user,
            &[user_id.to_string(), now.to_string()],
        )
        .await
    }

    async fn purge_expired(&self, before: i64) -> Result<u64, StoreError> {
        self.eval(
            "purging codes",
            &self.scripts.codes_purge,
            &[before.to_string()],
        )
        .await
    }
}

/// [`RefreshTokenRecord`] as stored: the immutable part as JSON; its grant (`grant`) and
/// rotation (`rotated_at`) are fields beside it, which the scripts read and set.
#[derive(serde::Serialize, serde::Deserialize)]
struct Token {
    v: u32,
    token_hash: String,
    expires_at: i64,
}

impl Token {
    fn new(token_hash: &TokenHash, expires_at: i64) -> Self {
        Self {
            v: records::RECORD_VERSION,
            token_hash: token_hash.as_str().into(),
            expires_at,
        }
    }
}

#[async_trait]
impl GrantStore for RedisStore {
    async fn create_grant(&self, grant: GrantRecord) -> Result<(), StoreError> {
        let args = [
            grant.grant_id.to_string(),
            grant.user_id.to_string(),
            grant.client_id.to_string(),
            encode(&records::Grant::from(&grant)),
            grant.created_at.to_string(),
        ];
        let status: String = self
            .eval("creating a grant", &self.scripts.grant_create, &args)
            .await?;
        script_status(&status, format!("grant {}", grant.grant_id))?;
        if let Some(at) = grant.revoked_at {
            self.revoke_grant(grant.grant_id, at).await?;
        }
        Ok(())
    }

    async fn get_grant(&self, grant_id: GrantId) -> Result<Option<GrantRecord>, StoreError> {
        let id = grant_id.to_string();
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("HGET")
            .arg(self.key("grants"))
            .arg(&id)
            .cmd("HGET")
            .arg(self.key("grants:revoked"))
            .arg(&id);
        let (text, revoked): (Option<String>, Option<String>) =
            self.atomically("reading a grant", pipe).await?;
        let Some(text) = text else {
            return Ok(None);
        };
        let revoked_at = revoked
            .map(|at| parse_time("grant revoked_at", &at))
            .transpose()?;
        let grant: records::Grant = decode("grant", &text)?;
        Ok(Some(grant.into_record(revoked_at)?))
    }

    async fn insert_refresh_token(&self, token: RefreshTokenRecord) -> Result<(), StoreError> {
        let record = Token::new(&token.token_hash, token.expires_at);
        let args = [
            token.token_hash.as_str().to_owned(),
            token.grant_id.to_string(),
            encode(&record),
            token.expires_at.to_string(),
        ];
        let status: String = self
            .eval("storing a refresh token", &self.scripts.token_insert, &args)
            .await?;
        script_status(&status, "refresh token")
    }

    async fn get_refresh_token(
        &self,
        token_hash: &TokenHash,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        let (text, grant, rotated): (Option<String>, Option<String>, Option<String>) = self
            .query(
                "reading a refresh token",
                redis::cmd("HMGET")
                    .arg(self.key(&format!("refresh_token:{}", token_hash.as_str())))
                    .arg("record")
                    .arg("grant")
                    .arg("rotated_at")
                    .clone(),
            )
            .await?;
        let (Some(text), Some(grant)) = (text, grant) else {
            return Ok(None);
        };
        let rotated_at = rotated
            .map(|at| parse_time("refresh token rotated_at", &at))
            .transpose()?;
        let token: Token = decode("refresh token", &text)?;
        Ok(Some(RefreshTokenRecord {
            token_hash: TokenHash::parse(&token.token_hash)?,
            grant_id: GrantId::parse(&grant)?,
            expires_at: token.expires_at,
            rotated_at,
        }))
    }

    async fn rotate(
        &self,
        presented: &TokenHash,
        successor: NewRefreshToken,
        now: i64,
        concurrent_since: i64,
    ) -> Result<Rotation, StoreError> {
        let args = [
            presented.as_str().to_owned(),
            successor.token_hash.as_str().to_owned(),
            encode(&Token::new(&successor.token_hash, successor.expires_at)),
            successor.expires_at.to_string(),
            now.to_string(),
            concurrent_since.to_string(),
        ];
        let reply: Vec<String> = self
            .eval(
                "rotating a refresh token",
                &self.scripts.token_rotate,
                &args,
            )
            .await?;
        let (status, values) = answer(reply);
        let grant_of = |values: &[String]| -> Result<GrantId, StoreError> {
            Ok(GrantId::parse(values.first().map_or("", String::as_str))?)
        };
        match status.as_str() {
            "rotated" => {
                let grant: records::Grant =
                    decode("grant", values.first().map_or("", String::as_str))?;
                let grant = grant.into_record(None)?;
                let successor = RefreshTokenRecord {
                    token_hash: successor.token_hash,
                    grant_id: grant.grant_id,
                    expires_at: successor.expires_at,
                    rotated_at: None,
                };
                Ok(Rotation::Rotated { grant, successor })
            }
            "reused" => Ok(Rotation::Reused {
                grant_id: grant_of(&values)?,
            }),
            "revoked" => Ok(Rotation::Revoked {
                grant_id: grant_of(&values)?,
            }),
            "expired" => Ok(Rotation::Expired),
            "unknown" => Ok(Rotation::Unknown),
            "conflict" => Err(StoreError::Conflict("refresh token".into())),
            other => Err(StoreError::Backend(format!(
                "unexpected answer {other:?} rotating a refresh token"
            ))),
        }
    }

    async fn revoke_grant(&self, grant_id: GrantId, now: i64) -> Result<(), StoreError> {
        let revoked: i64 = self
            .eval(
                "revoking a grant",
                &self.scripts.grant_revoke,
                &[grant_id.to_string(), now.to_string()],
            )
            .await?;
        if revoked == 0 {
            return Err(StoreError::NotFound(format!("grant {grant_id}")));
        }
        Ok(())
    }

    async fn revoke_grants_of_user(&self, user_id: UserId, now: i64) -> Result<u64, StoreError> {
        self.eval(
            "revoking a user's grants",
            &self.scripts.grants_revoke_of_user,
            &[user_id.to_string(), now.to_string()],
        )
        .await
    }

    async fn is_revoked(&self, grant_id: GrantId) -> Result<bool, StoreError> {
        let id = grant_id.to_string();
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("HEXISTS")
            .arg(self.key("grants"))
            .arg(&id)
            .cmd("HEXISTS")
            .arg(self.key("grants:revoked"))
            .arg(&id);
        let (exists, revoked): (bool, bool) = self.atomically("checking a grant", pipe).await?;
        Ok(!exists || revoked)
    }

    async fn purge_expired(&self, now: i64, idle_grants_before: i64) -> Result<u64, StoreError> {
        self.eval(
            "purging grants and refresh tokens",
            &self.scripts.grants_purge,
            &[now.to_string(), idle_grants_before.to_string()],
        )
        .await
    }
}
