//! The JSON form of every record kept as a value, with its record version (`"v"`).
//!
//! Readers ignore fields they do not know, so that records written by a newer release in a
//! rolling deploy stay readable by this one as long as the version is unchanged; a record
//! whose version is newer than [`RECORD_VERSION`] is refused as corrupt with a message saying
//! so, rather than misread. Fields that scripts change in place (a code's `spent`, a token's
//! `rotated`, a grant's revocation, a signing key's retirement…) live beside the JSON in hash
//! fields or hashes of their own, so no script ever decodes and re-encodes a record.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use outpost_store::{
    ApplicationType, AuthorizationCodeRecord, ClientDocumentRecord, ClientId, ClientRecord,
    ConsentRecord, DocumentOutcome, GrantId, GrantRecord, KeyEncryptionKeyId, ModelError,
    PasswordHash, PendingAuthorizationRecord, PrivateKeyPem, RequestStateKeyRecord,
    RequestStateSecret, ScopeSet, SealedSecret, SecretAtRest, SigningKeyRecord, StoreError,
    TokenEndpointAuthMethod, TokenHash, UserId, UserRecord, Username,
};

/// The record version this build writes and the newest it reads.
pub(crate) const RECORD_VERSION: u32 = 1;

/// Serializes a record (the structs here cannot fail to serialize).
pub(crate) fn encode<T: Serialize>(record: &T) -> String {
    serde_json::to_string(record).unwrap_or_default()
}

#[derive(Deserialize)]
struct Head {
    v: u32,
}

/// Parses a stored record of kind `what`, refusing versions newer than this build's.
pub(crate) fn decode<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    let malformed =
        |e: serde_json::Error| StoreError::Backend(format!("malformed {what} record: {e}"));
    let head: Head = serde_json::from_str(text).map_err(malformed)?;
    check_version(head.v)?;
    serde_json::from_str(text).map_err(malformed)
}

/// Refuses a record version newer than this build reads.
pub(crate) fn check_version(version: u32) -> Result<(), StoreError> {
    if version > RECORD_VERSION {
        return Err(StoreError::Corrupt(ModelError::Unknown {
            field: "record version (written by a newer Outpost; this build reads version 1)",
            value: version.to_string(),
        }));
    }
    Ok(())
}

/// [`UserRecord`] as stored.
#[derive(Serialize, Deserialize)]
pub(crate) struct User {
    v: u32,
    id: String,
    username: String,
    password_hash: String,
    created_at: i64,
    /// Space-separated; records written before the field existed read as none (the baseline
    /// only), so the record version stays 1.
    #[serde(default)]
    allowed_scopes: String,
}

impl From<&UserRecord> for User {
    fn from(u: &UserRecord) -> Self {
        Self {
            v: RECORD_VERSION,
            id: u.id.to_string(),
            username: u.username.as_str().into(),
            password_hash: u.password_hash.as_str().into(),
            created_at: u.created_at,
            allowed_scopes: u.allowed_scopes.to_string(),
        }
    }
}

impl TryFrom<User> for UserRecord {
    type Error = ModelError;
    fn try_from(u: User) -> Result<Self, ModelError> {
        Ok(Self {
            id: UserId::parse(&u.id)?,
            username: Username::parse(&u.username)?,
            password_hash: PasswordHash::parse(&u.password_hash)?,
            allowed_scopes: ScopeSet::parse(&u.allowed_scopes)?,
            created_at: u.created_at,
        })
    }
}

/// [`ClientRecord`] as stored, but for `created_at`, which is kept apart so an upsert
/// replaces the metadata without reading it.
#[derive(Serialize, Deserialize)]
pub(crate) struct Client {
    v: u32,
    client_id: String,
    client_secret_hash: Option<String>,
    client_name: Option<String>,
    redirect_uris: Vec<String>,
    grant_types: Vec<String>,
    response_types: Vec<String>,
    token_endpoint_auth_method: String,
    application_type: String,
    scope: Option<String>,
}

impl From<&ClientRecord> for Client {
    fn from(c: &ClientRecord) -> Self {
        Self {
            v: RECORD_VERSION,
            client_id: c.client_id.as_str().into(),
            client_secret_hash: c.client_secret_hash.as_ref().map(|h| h.as_str().into()),
            client_name: c.client_name.clone(),
            redirect_uris: c.redirect_uris.clone(),
            grant_types: c.grant_types.clone(),
            response_types: c.response_types.clone(),
            token_endpoint_auth_method: c.token_endpoint_auth_method.as_str().into(),
            application_type: c.application_type.as_str().into(),
            scope: c.scope.clone(),
        }
    }
}

impl Client {
    /// The record, created at `created_at`.
    pub(crate) fn into_record(self, created_at: i64) -> Result<ClientRecord, ModelError> {
        Ok(ClientRecord {
            client_id: ClientId::parse(&self.client_id)?,
            client_secret_hash: self
                .client_secret_hash
                .as_deref()
                .map(PasswordHash::parse)
                .transpose()?,
            client_name: self.client_name,
            redirect_uris: self.redirect_uris,
            grant_types: self.grant_types,
            response_types: self.response_types,
            token_endpoint_auth_method: TokenEndpointAuthMethod::parse(
                &self.token_endpoint_auth_method,
            )?,
            application_type: ApplicationType::parse(&self.application_type)?,
            scope: self.scope,
            created_at,
        })
    }
}

/// [`AuthorizationCodeRecord`] as stored.
#[derive(Serialize, Deserialize)]
pub(crate) struct Code {
    v: u32,
    code_hash: String,
    client_id: String,
    user_id: String,
    redirect_uri: String,
    scope: String,
    resource: Option<String>,
    code_challenge: String,
    expires_at: i64,
    /// Records written before the field existed read as named: every request named it then.
    #[serde(default = "named")]
    redirect_uri_sent: bool,
}

/// What a record from before `redirect_uri_sent` existed holds: the request named its URI.
fn named() -> bool {
    true
}

impl From<&AuthorizationCodeRecord> for Code {
    fn from(c: &AuthorizationCodeRecord) -> Self {
        Self {
            v: RECORD_VERSION,
            code_hash: c.code_hash.as_str().into(),
            client_id: c.client_id.as_str().into(),
            user_id: c.user_id.to_string(),
            redirect_uri: c.redirect_uri.clone(),
            scope: c.scope.clone(),
            resource: c.resource.clone(),
            code_challenge: c.code_challenge.clone(),
            expires_at: c.expires_at,
            redirect_uri_sent: c.redirect_uri_sent,
        }
    }
}

impl TryFrom<Code> for AuthorizationCodeRecord {
    type Error = ModelError;
    fn try_from(c: Code) -> Result<Self, ModelError> {
        Ok(Self {
            code_hash: TokenHash::parse(&c.code_hash)?,
            client_id: ClientId::parse(&c.client_id)?,
            user_id: UserId::parse(&c.user_id)?,
            redirect_uri: c.redirect_uri,
            scope: c.scope,
            resource: c.resource,
            code_challenge: c.code_challenge,
            expires_at: c.expires_at,
            redirect_uri_sent: c.redirect_uri_sent,
        })
    }
}

/// [`GrantRecord`] as stored, but for `revoked_at`, kept apart (`grants:revoked`).
#[derive(Serialize, Deserialize)]
pub(crate) struct Grant {
    v: u32,
    grant_id: String,
    user_id: String,
    client_id: String,
    scope: String,
    resource: Option<String>,
    created_at: i64,
}

impl From<&GrantRecord> for Grant {
    fn from(g: &GrantRecord) -> Self {
        Self {
            v: RECORD_VERSION,
            grant_id: g.grant_id.to_string(),
            user_id: g.user_id.to_string(),
            client_id: g.client_id.as_str().into(),
            scope: g.scope.clone(),
            resource: g.resource.clone(),
            created_at: g.created_at,
        }
    }
}

impl Grant {
    /// The record, revoked at `revoked_at`.
    pub(crate) fn into_record(self, revoked_at: Option<i64>) -> Result<GrantRecord, ModelError> {
        Ok(GrantRecord {
            grant_id: GrantId::parse(&self.grant_id)?,
            user_id: UserId::parse(&self.user_id)?,
            client_id: ClientId::parse(&self.client_id)?,
            scope: self.scope,
            resource: self.resource,
            created_at: self.created_at,
            revoked_at,
        })
    }
}

/// A secret sealed with a key-encryption key, as stored: the key's id and the sealed bytes
/// in base64. A record holds it instead of its clear field.
#[derive(Serialize, Deserialize)]
pub(crate) struct Sealed {
    key_id: String,
    ciphertext: String,
}

impl From<&SealedSecret> for Sealed {
    fn from(sealed: &SealedSecret) -> Self {
        Self {
            key_id: sealed.key_id().as_str().into(),
            ciphertext: STANDARD.encode(sealed.ciphertext()),
        }
    }
}

impl TryFrom<Sealed> for SealedSecret {
    type Error = ModelError;
    fn try_from(sealed: Sealed) -> Result<Self, ModelError> {
        Ok(Self::new(
            KeyEncryptionKeyId::parse(&sealed.key_id)?,
            base64("sealed key encoding", &sealed.ciphertext)?,
        ))
    }
}

fn base64(field: &'static str, text: &str) -> Result<Vec<u8>, ModelError> {
    STANDARD.decode(text).map_err(|_| ModelError::Unknown {
        field,
        value: "not base64".into(),
    })
}

/// A stored secret from its clear field and its `sealed` field, exactly one of which is set.
fn at_rest<T>(
    what: &'static str,
    clear: Option<T>,
    sealed: Option<Sealed>,
) -> Result<SecretAtRest<T>, ModelError> {
    match (clear, sealed) {
        (Some(clear), None) => Ok(SecretAtRest::Clear(clear)),
        (None, Some(sealed)) => Ok(SecretAtRest::Sealed(sealed.try_into()?)),
        _ => Err(ModelError::Unknown {
            field: what,
            value: "neither one secret in the clear nor one sealed".into(),
        }),
    }
}

/// [`SigningKeyRecord`] as stored, but for `retired_at`, kept apart (`signing_keys:retired`).
/// The private key is `private_key_pem` in the clear or `sealed`.
#[derive(Serialize, Deserialize)]
pub(crate) struct SigningKey {
    v: u32,
    kid: String,
    algorithm: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    private_key_pem: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed: Option<Sealed>,
    created_at: i64,
}

impl From<&SigningKeyRecord> for SigningKey {
    fn from(k: &SigningKeyRecord) -> Self {
        let (private_key_pem, sealed) = match &k.private_key {
            SecretAtRest::Clear(pem) => (Some(pem.expose().to_owned()), None),
            SecretAtRest::Sealed(sealed) => (None, Some(sealed.into())),
        };
        Self {
            v: RECORD_VERSION,
            kid: k.kid.clone(),
            algorithm: k.algorithm.clone(),
            private_key_pem,
            sealed,
            created_at: k.created_at,
        }
    }
}

impl SigningKey {
    /// The record, retired at `retired_at`.
    pub(crate) fn into_record(
        self,
        retired_at: Option<i64>,
    ) -> Result<SigningKeyRecord, ModelError> {
        let pem = self.private_key_pem.map(PrivateKeyPem::new);
        Ok(SigningKeyRecord {
            kid: self.kid,
            algorithm: self.algorithm,
            private_key: at_rest("signing key private key", pem, self.sealed)?,
            created_at: self.created_at,
            retired_at,
        })
    }
}

impl Resealable for SigningKey {
    const WHAT: &'static str = "signing key";

    fn sealed_with(&self) -> Option<&str> {
        self.sealed.as_ref().map(|s| s.key_id.as_str())
    }

    fn resealed(mut self, sealed: &SealedSecret) -> Self {
        self.private_key_pem = None;
        self.sealed = Some(sealed.into());
        self
    }
}

/// [`ConsentRecord`] as stored.
#[derive(Serialize, Deserialize)]
pub(crate) struct Consent {
    v: u32,
    user_id: String,
    client_id: String,
    scope: String,
    granted_at: i64,
}

impl From<&ConsentRecord> for Consent {
    fn from(c: &ConsentRecord) -> Self {
        Self {
            v: RECORD_VERSION,
            user_id: c.user_id.to_string(),
            client_id: c.client_id.as_str().into(),
            scope: c.scope.clone(),
            granted_at: c.granted_at,
        }
    }
}

impl TryFrom<Consent> for ConsentRecord {
    type Error = ModelError;
    fn try_from(c: Consent) -> Result<Self, ModelError> {
        Ok(Self {
            user_id: UserId::parse(&c.user_id)?,
            client_id: ClientId::parse(&c.client_id)?,
            scope: c.scope,
            granted_at: c.granted_at,
        })
    }
}

/// [`PendingAuthorizationRecord`] as stored, but for `user_id`, which sign-in sets beside it.
#[derive(Serialize, Deserialize)]
pub(crate) struct Pending {
    v: u32,
    id_hash: String,
    client_id: String,
    client_name: String,
    client_host: Option<String>,
    redirect_uri: String,
    scope: String,
    resource: Option<String>,
    code_challenge: String,
    state: Option<String>,
    expires_at: i64,
    /// As for codes: records from before the field read as named.
    #[serde(default = "named")]
    redirect_uri_sent: bool,
}

impl From<&PendingAuthorizationRecord> for Pending {
    fn from(p: &PendingAuthorizationRecord) -> Self {
        Self {
            v: RECORD_VERSION,
            id_hash: p.id_hash.as_str().into(),
            client_id: p.client_id.as_str().into(),
            client_name: p.client_name.clone(),
            client_host: p.client_host.clone(),
            redirect_uri: p.redirect_uri.clone(),
            scope: p.scope.clone(),
            resource: p.resource.clone(),
            code_challenge: p.code_challenge.clone(),
            state: p.state.clone(),
            expires_at: p.expires_at,
            redirect_uri_sent: p.redirect_uri_sent,
        }
    }
}

impl Pending {
    /// The record, signed in to by `user_id`.
    pub(crate) fn into_record(
        self,
        user_id: Option<UserId>,
    ) -> Result<PendingAuthorizationRecord, ModelError> {
        Ok(PendingAuthorizationRecord {
            id_hash: TokenHash::parse(&self.id_hash)?,
            client_id: ClientId::parse(&self.client_id)?,
            client_name: self.client_name,
            client_host: self.client_host,
            redirect_uri: self.redirect_uri,
            scope: self.scope,
            resource: self.resource,
            code_challenge: self.code_challenge,
            state: self.state,
            user_id,
            expires_at: self.expires_at,
            redirect_uri_sent: self.redirect_uri_sent,
        })
    }
}

/// [`ClientDocumentRecord`] as stored.
#[derive(Serialize, Deserialize)]
pub(crate) struct Document {
    v: u32,
    client_id: String,
    /// `fetched` or `failed`.
    outcome: String,
    /// The document, or why the fetch failed.
    body: String,
    expires_at: i64,
}

impl From<&ClientDocumentRecord> for Document {
    fn from(d: &ClientDocumentRecord) -> Self {
        let (outcome, body) = match &d.outcome {
            DocumentOutcome::Fetched(body) => ("fetched", body),
            DocumentOutcome::Failed(reason) => ("failed", reason),
        };
        Self {
            v: RECORD_VERSION,
            client_id: d.client_id.as_str().into(),
            outcome: outcome.into(),
            body: body.clone(),
            expires_at: d.expires_at,
        }
    }
}

impl TryFrom<Document> for ClientDocumentRecord {
    type Error = ModelError;
    fn try_from(d: Document) -> Result<Self, ModelError> {
        let outcome = match d.outcome.as_str() {
            "fetched" => DocumentOutcome::Fetched(d.body),
            "failed" => DocumentOutcome::Failed(d.body),
            other => {
                return Err(ModelError::Unknown {
                    field: "document outcome",
                    value: other.into(),
                });
            }
        };
        Ok(Self {
            client_id: ClientId::parse(&d.client_id)?,
            outcome,
            expires_at: d.expires_at,
        })
    }
}

/// [`RequestStateKeyRecord`] as stored: the secret in base64 in the clear, or `sealed`.
#[derive(Serialize, Deserialize)]
pub(crate) struct RequestStateKey {
    v: u32,
    kid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed: Option<Sealed>,
    created_at: i64,
    activates_at: i64,
}

impl From<&RequestStateKeyRecord> for RequestStateKey {
    fn from(k: &RequestStateKeyRecord) -> Self {
        let (secret, sealed) = match &k.secret {
            SecretAtRest::Clear(secret) => (Some(STANDARD.encode(secret.expose())), None),
            SecretAtRest::Sealed(sealed) => (None, Some(sealed.into())),
        };
        Self {
            v: RECORD_VERSION,
            kid: k.kid.clone(),
            secret,
            sealed,
            created_at: k.created_at,
            activates_at: k.activates_at,
        }
    }
}

impl Resealable for RequestStateKey {
    const WHAT: &'static str = "request-state key";

    fn sealed_with(&self) -> Option<&str> {
        self.sealed.as_ref().map(|s| s.key_id.as_str())
    }

    fn resealed(mut self, sealed: &SealedSecret) -> Self {
        self.secret = None;
        self.sealed = Some(sealed.into());
        self
    }
}

/// A stored key whose secret can be sealed at rest: what a reseal reads and writes back.
pub(crate) trait Resealable: Serialize + DeserializeOwned {
    /// The kind of key, for errors.
    const WHAT: &'static str;

    /// The id of the key-encryption key that sealed the secret; `None` in the clear.
    fn sealed_with(&self) -> Option<&str>;

    /// Whether the secret is as `from` says: in the clear (`None`) or sealed with it.
    fn is_sealed_with(&self, from: Option<&KeyEncryptionKeyId>) -> bool {
        self.sealed_with() == from.map(KeyEncryptionKeyId::as_str)
    }

    /// The same key, its secret replaced by `sealed`.
    fn resealed(self, sealed: &SealedSecret) -> Self;
}

impl TryFrom<RequestStateKey> for RequestStateKeyRecord {
    type Error = ModelError;
    fn try_from(k: RequestStateKey) -> Result<Self, ModelError> {
        let secret = k
            .secret
            .map(|text| {
                RequestStateSecret::from_bytes(base64("request-state key encoding", &text)?)
            })
            .transpose()?;
        Ok(Self {
            kid: k.kid,
            secret: at_rest("request-state key secret", secret, k.sealed)?,
            created_at: k.created_at,
            activates_at: k.activates_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use outpost_store::token_hash;

    use super::*;

    #[test]
    fn newer_records_are_refused_and_unknown_fields_ignored() {
        let newer = r#"{"v":2,"user_id":"x"}"#;
        let err = decode::<Consent>("consent", newer).err().expect("refused");
        assert!(err.to_string().contains("newer Outpost"), "{err}");
        let user = UserId::random();
        let extended = format!(
            r#"{{"v":1,"user_id":"{user}","client_id":"c","scope":"mcp","granted_at":5,"added_later":true}}"#
        );
        let consent: Consent = decode("consent", &extended).expect("readable");
        let consent = ConsentRecord::try_from(consent).expect("valid");
        assert_eq!((consent.user_id, consent.granted_at), (user, 5));
    }

    #[test]
    fn users_written_before_allowed_scopes_read_as_baseline_only() {
        let id = UserId::random();
        let old = format!(
            r#"{{"v":1,"id":"{id}","username":"olduser","password_hash":"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$yJf5cO5r5xQm0ZpXQy3ZlXx2rNQ0o0V3eNfG8cXk0lQ","created_at":5}}"#
        );
        let user: User = decode("user", &old).expect("readable");
        let user = UserRecord::try_from(user).expect("valid");
        assert_eq!((user.id, user.allowed_scopes), (id, ScopeSet::default()));
    }

    #[test]
    fn codes_and_requests_written_before_redirect_uri_sent_read_as_named() {
        let hash = token_hash("a code");
        let old_code = format!(
            r#"{{"v":1,"code_hash":"{}","client_id":"c","user_id":"{}","redirect_uri":"https://app.example/cb","scope":"mcp","resource":null,"code_challenge":"x","expires_at":5}}"#,
            hash.as_str(),
            UserId::random()
        );
        let code: Code = decode("code", &old_code).expect("readable");
        assert!(
            AuthorizationCodeRecord::try_from(code)
                .expect("valid")
                .redirect_uri_sent
        );
        let old_request = format!(
            r#"{{"v":1,"id_hash":"{}","client_id":"c","client_name":"C","client_host":null,"redirect_uri":"https://app.example/cb","scope":"mcp","resource":null,"code_challenge":"x","state":null,"expires_at":5}}"#,
            hash.as_str()
        );
        let request: Pending = decode("pending", &old_request).expect("readable");
        assert!(request.into_record(None).expect("valid").redirect_uri_sent);
    }
}
