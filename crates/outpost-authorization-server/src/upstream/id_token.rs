//! Validation of the provider's ID token (OpenID Connect Core 1.0 §3.1.3.7), as received from
//! its token endpoint.
//!
//! The JWS is verified first, with the provider's published keys ([`KeySet`]): the header's `alg`
//! must be one Outpost verifies (never `none`, never HMAC — RFC 8725 §3.1) and its `kid` a key of
//! the set, with no `crit` parameters (none is understood: RFC 7515 §4.1.11) and no `typ` of an
//! access token (`at+jwt`: RFC 9068 §4 keeps the two apart). Then the claims: `iss` exactly the
//! provider's issuer; `aud` (a string or an array) containing this server's client id, and with
//! several audiences an `azp`, which, when present, must be the client id; `exp` not past, `iat`
//! and `nbf` (when given) not ahead (all within the clock leeway); `nonce` the one this sign-in
//! sent; `sub` present.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Deserialize;
use subtle::ConstantTimeEq as _;

use outpost_oauth::jwk::{Algorithm, KeySet};

/// Longer tokens are refused unread.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// What the ID token must say.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The provider's issuer identifier.
    pub issuer: &'a str,
    /// This server's client id at the provider.
    pub client_id: &'a str,
    /// The `nonce` the authorization request carried.
    pub nonce: &'a str,
    /// The current time, Unix seconds.
    pub now: i64,
    /// How far `exp` and `iat` may be off, seconds.
    pub leeway_seconds: i64,
}

/// The provider's user, as a valid ID token names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamUser {
    /// The provider's identifier for the user: stable and unique within the issuer.
    pub sub: String,
    /// The user's email, when the provider shares it.
    pub email: Option<String>,
    /// Whether the provider verified that email (`email_verified` true).
    pub email_verified: bool,
    /// The user's preferred username, when shared.
    pub preferred_username: Option<String>,
    /// The user's full name, when shared.
    pub name: Option<String>,
}

/// Why an ID token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    /// Not a compact JWS with JSON header and claims.
    #[error("the ID token is malformed: {0}")]
    Malformed(&'static str),
    /// The `alg` is not one Outpost verifies.
    #[error("the ID token's algorithm {0:?} is not accepted")]
    Algorithm(String),
    /// No `kid`, or one the provider does not publish.
    #[error(
        "the ID token was signed by a key the provider does not publish ({})",
        kid_named(.0.as_deref())
    )]
    UnknownKey(Option<String>),
    /// The signature does not verify.
    #[error("the ID token's signature does not verify")]
    Signature,
    /// Another issuer.
    #[error("the ID token is from the issuer {found:?}, not {expected:?}")]
    Issuer {
        /// The `iss` found.
        found: String,
        /// The provider's issuer.
        expected: String,
    },
    /// Not for this client.
    #[error("the ID token's audience does not include this server's client id")]
    Audience,
    /// `azp` missing with several audiences, or another client's.
    #[error("the ID token's authorized party (azp) is not this server's client id")]
    AuthorizedParty,
    /// Past `exp`.
    #[error("the ID token has expired")]
    Expired,
    /// `iat` missing or in the future.
    #[error("the ID token's issue time (iat) is missing or in the future")]
    IssuedAt,
    /// `nbf` in the future.
    #[error("the ID token is not valid yet (nbf)")]
    NotYetValid,
    /// `crit` header parameters, or the `typ` of an access token.
    #[error("the ID token's header is not an ID token's: {0}")]
    Header(&'static str),
    /// The `nonce` is missing or not this sign-in's.
    #[error("the ID token's nonce is not this sign-in's")]
    Nonce,
    /// No `sub`.
    #[error("the ID token names no subject (sub)")]
    Subject,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    typ: Option<String>,
    /// Present at all (even `null`, which RFC 7515 does not allow either).
    #[serde(default, deserialize_with = "present")]
    crit: Option<serde::de::IgnoredAny>,
}

/// `Some` for a member that is present, whatever its value (`null` included).
fn present<'de, D: serde::Deserializer<'de>>(
    member: D,
) -> Result<Option<serde::de::IgnoredAny>, D::Error> {
    serde::de::IgnoredAny::deserialize(member).map(Some)
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Flag {
    Bool(bool),
    // Some providers (Amazon Cognito) send "true" / "false".
    Text(String),
    // Anything else (`1`, `null`) is no verification, rather than a malformed token.
    Other(serde::de::IgnoredAny),
}

impl Flag {
    /// Whether it says yes: `true`, or the text `"true"`.
    fn is_true(&self) -> bool {
        match self {
            Flag::Bool(verified) => *verified,
            Flag::Text(text) => text.eq_ignore_ascii_case("true"),
            Flag::Other(_) => false,
        }
    }
}

/// The user's claims from the provider's UserInfo endpoint (OpenID Connect Core §5.3.2),
/// for a provider that puts the scopes' claims there rather than in the ID token.
#[derive(Deserialize)]
pub(crate) struct UserInfo {
    sub: String,
    email: Option<String>,
    email_verified: Option<Flag>,
    preferred_username: Option<String>,
    name: Option<String>,
}

impl UpstreamUser {
    /// Adds what `info` says of the user and the ID token did not: the email (with whether
    /// it was verified: the two come from one source), the preferred username, the name.
    /// `Err` when `info` is another user's (OpenID Connect Core §5.3.2: its `sub` MUST be
    /// checked against the ID token's, and the answer not used when they differ).
    pub(crate) fn with_user_info(mut self, info: UserInfo) -> Result<Self, UserInfoMismatch> {
        if info.sub != self.sub {
            return Err(UserInfoMismatch);
        }
        if self.email.is_none() {
            self.email = info.email;
            self.email_verified = info.email_verified.is_some_and(|flag| flag.is_true());
        }
        self.preferred_username = self.preferred_username.or(info.preferred_username);
        self.name = self.name.or(info.name);
        Ok(self)
    }
}

/// The UserInfo answer names another user than the ID token.
#[derive(Debug, thiserror::Error)]
#[error("the provider's user information names another user than its ID token")]
pub(crate) struct UserInfoMismatch;

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    azp: Option<String>,
    exp: Option<i64>,
    iat: Option<i64>,
    nbf: Option<i64>,
    nonce: Option<String>,
    email: Option<String>,
    email_verified: Option<Flag>,
    preferred_username: Option<String>,
    name: Option<String>,
}

/// How an [`IdTokenError::UnknownKey`] names the key: `kid "x"`, or that there is none.
fn kid_named(kid: Option<&str>) -> String {
    match kid {
        Some(kid) => format!("kid {kid:?}"),
        None => "the token names no kid".to_owned(),
    }
}

/// The `kid` of `token`'s header, to pick the key set to verify with (`None` when it has
/// none; a malformed token is refused by [`verify`] anyway).
pub fn key_id(token: &str) -> Option<String> {
    let header = token.split('.').next()?;
    decode_json::<Header>(header)?.kid
}

/// The user `token` names, once it is verified with `keys` and its claims are `expected`.
pub fn verify(
    token: &str,
    keys: &KeySet,
    expected: &Expected<'_>,
) -> Result<UpstreamUser, IdTokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(IdTokenError::Malformed("longer than 16 KiB"));
    }
    let mut parts = token.split('.');
    let (Some(header_part), Some(claims_part), Some(signature_part), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(IdTokenError::Malformed("not three dot-separated parts"));
    };
    let header: Header =
        decode_json(header_part).ok_or(IdTokenError::Malformed("the header is not JSON"))?;
    let alg = Algorithm::parse(&header.alg).ok_or(IdTokenError::Algorithm(header.alg.clone()))?;
    if header.crit.is_some() {
        return Err(IdTokenError::Header("critical header parameters (crit)"));
    }
    if header.typ.as_deref().is_some_and(|typ| {
        typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
    }) {
        return Err(IdTokenError::Header("the type of an access token (at+jwt)"));
    }
    let key = header
        .kid
        .as_deref()
        .and_then(|kid| keys.get(kid))
        .ok_or_else(|| IdTokenError::UnknownKey(header.kid.clone()))?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature_part)
        .map_err(|_| IdTokenError::Malformed("the signature is not base64url"))?;
    let signed = &token[..header_part.len() + 1 + claims_part.len()];
    if !key.verifies(alg, signed.as_bytes(), &signature) {
        return Err(IdTokenError::Signature);
    }
    let claims: Claims =
        decode_json(claims_part).ok_or(IdTokenError::Malformed("the claims are not JSON"))?;
    check(claims, expected)
}

fn check(claims: Claims, expected: &Expected<'_>) -> Result<UpstreamUser, IdTokenError> {
    let issuer = claims.iss.unwrap_or_default();
    if issuer != expected.issuer {
        return Err(IdTokenError::Issuer {
            found: issuer,
            expected: expected.issuer.to_owned(),
        });
    }
    let audiences = match claims.aud {
        Some(Audience::One(one)) => vec![one],
        Some(Audience::Many(many)) => many,
        None => Vec::new(),
    };
    if !audiences.iter().any(|aud| aud == expected.client_id) {
        return Err(IdTokenError::Audience);
    }
    match claims.azp.as_deref() {
        Some(azp) if azp != expected.client_id => return Err(IdTokenError::AuthorizedParty),
        None if audiences.len() > 1 => return Err(IdTokenError::AuthorizedParty),
        _ => {}
    }
    let exp = claims.exp.ok_or(IdTokenError::Expired)?;
    if exp.saturating_add(expected.leeway_seconds) <= expected.now {
        return Err(IdTokenError::Expired);
    }
    let iat = claims.iat.ok_or(IdTokenError::IssuedAt)?;
    if iat > expected.now.saturating_add(expected.leeway_seconds) {
        return Err(IdTokenError::IssuedAt);
    }
    if claims
        .nbf
        .is_some_and(|nbf| nbf > expected.now.saturating_add(expected.leeway_seconds))
    {
        return Err(IdTokenError::NotYetValid);
    }
    let nonce = claims.nonce.unwrap_or_default();
    if !bool::from(nonce.as_bytes().ct_eq(expected.nonce.as_bytes())) || nonce.is_empty() {
        return Err(IdTokenError::Nonce);
    }
    let sub = claims
        .sub
        .filter(|sub| !sub.is_empty())
        .ok_or(IdTokenError::Subject)?;
    let email_verified = claims.email_verified.is_some_and(|flag| flag.is_true());
    Ok(UpstreamUser {
        sub,
        email: claims.email,
        email_verified,
        preferred_username: claims.preferred_username,
        name: claims.name,
    })
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
#[path = "id_token_tests.rs"]
mod tests;
