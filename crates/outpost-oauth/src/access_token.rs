//! Access tokens: ES256-signed JWTs in the RFC 9068 profile.
//!
//! The authorization server issues them and the resource server (`/mcp`) verifies them
//! locally against the [`Keyring`], with no network round trip. What verification insists on:
//!
//! - the header: `alg` is exactly `ES256` (no `none`, no `HS*` — RFC 8725 §3.1/§3.2), `typ` is
//!   `at+jwt` (RFC 9068 §2.1, §4), `kid` is present and names a key still in the keyring;
//! - the signature (RFC 7515 §5.2);
//! - the claims (RFC 9068 §2.2): `iss` equals the issuer exactly (RFC 9068 §4), `aud` equals
//!   this resource exactly (RFC 8707 §2; the MCP spec forbids accepting or passing through
//!   tokens minted for anything else), `exp` has not passed, give or take [`CLOCK_LEEWAY`].
//!
//! The caller passes `now` (Unix seconds), so tests and the resource server's cache agree on
//! the clock.

use std::time::Duration;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::{
    es256,
    keyring::Keyring,
    scope::Scope,
    secret::{RandomnessError, random_bytes},
};

/// How far past `exp` a token is still accepted, for clock skew between instances.
pub const CLOCK_LEEWAY: Duration = Duration::from_secs(60);

/// The JWT `typ` of an access token (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// Longer tokens are refused unread: ours are well under 1 KiB.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The claims of an Outpost access token (RFC 9068 §2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The issuer: the authorization server's identifier, exactly as in its metadata.
    pub iss: String,
    /// The subject: the user's stable identifier.
    pub sub: String,
    /// The audience: the protected resource's URL (RFC 8707), e.g. `https://host/mcp`.
    pub aud: String,
    /// The OAuth client the token was issued to.
    pub client_id: String,
    /// The granted scope, space-delimited on the wire.
    pub scope: Scope,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// A unique token id (128 random bits, base64url), for revocation and replay tracking.
    pub jti: String,
    /// The user's login name, for display; absent when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The grant the token was issued under (a private claim, `gid`), so the resource server
    /// can honour the grant's revocation; absent for tokens outside any grant.
    #[serde(rename = "gid", default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
}

impl AccessClaims {
    /// Claims for a token issued at `now` that lives `lifetime`, with a fresh random `jti`.
    pub fn new(
        issuer: &str,
        subject: &str,
        audience: &str,
        client_id: &str,
        scope: Scope,
        now: i64,
        lifetime: Duration,
    ) -> Result<Self, RandomnessError> {
        let lifetime = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
        Ok(Self {
            iss: issuer.to_owned(),
            sub: subject.to_owned(),
            aud: audience.to_owned(),
            client_id: client_id.to_owned(),
            scope,
            iat: now,
            exp: now.saturating_add(lifetime),
            jti: URL_SAFE_NO_PAD.encode(random_bytes::<16>()?),
            username: None,
            grant_id: None,
        })
    }

    /// The same claims with the user's login name.
    pub fn with_username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// The same claims bound to the grant `grant_id` (the `gid` claim).
    pub fn with_grant_id(mut self, grant_id: impl Into<String>) -> Self {
        self.grant_id = Some(grant_id.into());
        self
    }
}

/// Signing a token failed (a broken key: not expected with keys from [`Keyring`]).
#[derive(Debug, thiserror::Error)]
#[error("cannot sign the access token: {0}")]
pub struct SigningError(String);

/// Why a token was refused. The resource server answers 401 `invalid_token` to all of them;
/// the variants say why, for logs and for the authorization server's RFC 6749 errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// `exp` (plus leeway) has passed: the client should refresh.
    #[error("the access token has expired")]
    Expired,
    /// The token was issued for another resource.
    #[error("the access token was issued for another audience")]
    WrongAudience,
    /// The token was issued by another issuer.
    #[error("the access token was issued by another issuer")]
    WrongIssuer,
    /// The signature does not verify with the named key.
    #[error("the access token's signature is invalid")]
    BadSignature,
    /// The `kid` names no key that may verify tokens now.
    #[error("the access token was signed by an unknown or retired key")]
    UnknownKey,
    /// `alg` is not ES256.
    #[error("the access token uses algorithm {0}; only ES256 is accepted")]
    UnsupportedAlgorithm(String),
    /// Not a well-formed access token (structure, encoding, header, claims).
    #[error("malformed access token: {0}")]
    Malformed(&'static str),
}

/// Signs `claims` with the key that signs at their `iat`: header `alg: ES256`, `typ: at+jwt`,
/// `kid`.
pub fn issue(keyring: &Keyring, claims: &AccessClaims) -> Result<String, SigningError> {
    sign(keyring, ACCESS_TOKEN_TYPE, claims.iat, claims)
}

/// Signs `claims` with the key that signs at `iat`: header `alg: ES256`, `typ`, `kid`.
pub(crate) fn sign<C: Serialize>(
    keyring: &Keyring,
    typ: &str,
    iat: i64,
    claims: &C,
) -> Result<String, SigningError> {
    es256::install();
    let key = keyring.signing_key(iat);
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some(typ.to_owned());
    header.kid = Some(key.kid().to_owned());
    jsonwebtoken::encode(&header, claims, key.encoding_key())
        .map_err(|error| SigningError(error.to_string()))
}

/// Verifies `token` as an access token for `expected_audience` from `expected_issuer` at `now`.
pub fn verify(
    keyring: &Keyring,
    token: &str,
    expected_issuer: &str,
    expected_audience: &str,
    now: i64,
) -> Result<AccessClaims, TokenError> {
    let claims: AccessClaims = decode_signed(
        keyring,
        token,
        &[ACCESS_TOKEN_TYPE, "application/at+jwt"],
        now,
    )?;
    if claims.iss != expected_issuer {
        return Err(TokenError::WrongIssuer);
    }
    if claims.aud != expected_audience {
        return Err(TokenError::WrongAudience);
    }
    let leeway = i64::try_from(CLOCK_LEEWAY.as_secs()).unwrap_or(0);
    if now > claims.exp.saturating_add(leeway) {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

/// The claims of `token` when its header is `alg: ES256`, a `typ` among `types` (in any case)
/// and the `kid` of a key that may verify at `now`, and its signature verifies with that key.
/// The claims themselves are the caller's to check.
pub(crate) fn decode_signed<C: DeserializeOwned>(
    keyring: &Keyring,
    token: &str,
    types: &[&str],
    now: i64,
) -> Result<C, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed("too long"));
    }
    es256::install();
    let header =
        jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed("bad header"))?;
    if header.alg != Algorithm::ES256 {
        return Err(TokenError::UnsupportedAlgorithm(format!(
            "{:?}",
            header.alg
        )));
    }
    let typ_ok = header.typ.as_deref().is_some_and(|typ| {
        types
            .iter()
            .any(|allowed| typ.eq_ignore_ascii_case(allowed))
    });
    if !typ_ok {
        return Err(TokenError::Malformed("unexpected typ"));
    }
    let kid = header
        .kid
        .as_deref()
        .ok_or(TokenError::Malformed("no kid"))?;
    let key = keyring
        .verification_key(kid, now)
        .ok_or(TokenError::UnknownKey)?;

    // jsonwebtoken checks the algorithm and signature; the caller checks the claims against
    // its clock, with exact string comparison.
    let mut validation = Validation::new(Algorithm::ES256);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<C>(token, key.decoding_key(), &validation)
        .map(|data| data.claims)
        .map_err(|error| match error.kind() {
            ErrorKind::InvalidSignature => TokenError::BadSignature,
            ErrorKind::InvalidAlgorithm => TokenError::UnsupportedAlgorithm("mismatch".into()),
            ErrorKind::Json(_) => TokenError::Malformed("claims"),
            _ => TokenError::Malformed("encoding"),
        })
}

#[cfg(test)]
#[path = "access_token_tests.rs"]
mod tests;
