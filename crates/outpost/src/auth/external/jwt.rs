//! Verifying a JWT access token from the external issuer (RFC 9068, RFC 7519, RFC 8725).
//!
//! In order: the size; the header — `alg` one of [`Algorithm`] (so never `none` or HMAC),
//! no `crit`, a `kid`, `typ` `at+jwt` (or, unless required, `JWT` or absent); the signature
//! with the key the `kid` names (an unknown `kid` is [`JwtRefusal::UnknownKey`], for the key
//! cache to refetch); then the claims — `iss` exactly the issuer, `aud` (a string or an
//! array) containing the audience, `exp` required and `nbf` honoured give or take the leeway,
//! `sub` required. The scopes come from `scope` (space-delimited) or `scp` (an array, or a
//! string); the username from `preferred_username`, `email` or `name`; the client from
//! `client_id` or `azp`.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::Value;

use super::{
    Expectations,
    jwk::{Algorithm, KeySet},
};
use crate::auth::{resource::Identity, scope::Scope};

/// Longer tokens are refused unread.
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Why a JWT was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JwtRefusal {
    /// Well-formed, but signed by a key the cached set does not hold.
    UnknownKey(String),
    /// Refused for good (the reason, for the `WWW-Authenticate` description and the log).
    Invalid(String),
}

impl JwtRefusal {
    /// Why, in words.
    pub(crate) fn reason(self) -> String {
        match self {
            JwtRefusal::UnknownKey(kid) => {
                format!(
                    "the access token was signed by a key the issuer does not publish (kid {kid:?})"
                )
            }
            JwtRefusal::Invalid(why) => why,
        }
    }
}

fn invalid(why: impl Into<String>) -> JwtRefusal {
    JwtRefusal::Invalid(why.into())
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    typ: Option<String>,
    /// Present at all (even `null`, which RFC 7515 does not allow either).
    #[serde(default, deserialize_with = "present")]
    crit: Option<Value>,
}

/// `Some` for a member that is present, whatever its value (`null` included).
fn present<'de, D: serde::Deserializer<'de>>(member: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(member).map(Some)
}

/// The claims read from a verified token.
#[derive(Deserialize)]
pub(crate) struct Claims {
    pub(super) iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    pub(super) exp: Option<i64>,
    nbf: Option<i64>,
    scope: Option<String>,
    scp: Option<ScopeList>,
    client_id: Option<String>,
    azp: Option<String>,
    preferred_username: Option<String>,
    email: Option<String>,
    name: Option<String>,
    username: Option<String>,
    /// Outpost's private claim naming the token's grant (read only with
    /// [`Expectations::names_grants`]).
    gid: Option<String>,
}

/// `aud`: one string or an array of them (RFC 7519 §4.1.3).
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub(crate) fn contains(&self, audience: &str) -> bool {
        match self {
            Audience::One(one) => one == audience,
            Audience::Many(many) => many.iter().any(|one| one == audience),
        }
    }
}

/// `scp`: an array (Okta, Azure) or a space-delimited string.
#[derive(Deserialize)]
#[serde(untagged)]
enum ScopeList {
    Joined(String),
    List(Vec<String>),
}

/// A verified token: who, and until when (`exp`, Unix seconds).
pub(crate) struct Verified {
    pub(crate) identity: Identity,
    pub(crate) exp: i64,
}

/// Verifies `token` against `keys` and `expect` at `now` (Unix seconds).
pub(crate) fn verify(
    token: &str,
    keys: &KeySet,
    expect: &Expectations,
    now: i64,
) -> Result<Verified, JwtRefusal> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(invalid("the access token is too long"));
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("the access token is not a signed JWT"));
    };
    let header: Header = decode_json(header_b64).ok_or_else(|| invalid("malformed JWT header"))?;
    let alg = Algorithm::parse(&header.alg).ok_or_else(|| {
        invalid(format!(
            "the access token uses algorithm {:?}; accepted: RS256, RS384, RS512, PS256, PS384, \
             PS512, ES256, ES384, EdDSA",
            header.alg
        ))
    })?;
    if header.crit.is_some() {
        return Err(invalid("the access token has critical header parameters"));
    }
    check_type(header.typ.as_deref(), expect.require_at_jwt)?;
    let kid = header
        .kid
        .ok_or_else(|| invalid("the access token's header names no key (kid)"))?;
    let key = keys
        .get(&kid)
        .ok_or_else(|| JwtRefusal::UnknownKey(kid.clone()))?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| invalid("malformed JWT signature"))?;
    let signed = &token[..header_b64.len() + 1 + payload_b64.len()];
    if !key.verifies(alg, signed.as_bytes(), &signature) {
        return Err(invalid("the access token's signature is invalid"));
    }
    let claims: Claims = decode_json(payload_b64).ok_or_else(|| invalid("malformed JWT claims"))?;
    check_claims(claims, expect, now)
}

/// Whether `c` breaks or reorders the text it is shown in: a control character, a line or
/// paragraph separator, or a bidirectional mark, embedding, override or isolate.
fn disturbs_text(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// Checks the claims of `token` without its signature: for a token that cannot be verified
/// now (its key is not known yet), whether it would be refused anyway — expired, another
/// issuer's or audience's — which a signature cannot change.
pub(crate) fn check_unverified_claims(
    token: &str,
    expect: &Expectations,
    now: i64,
) -> Result<(), JwtRefusal> {
    let payload = token
        .split('.')
        .nth(1)
        .ok_or_else(|| invalid("the access token is not a signed JWT"))?;
    let claims: Claims = decode_json(payload).ok_or_else(|| invalid("malformed JWT claims"))?;
    check_claims(claims, expect, now).map(|_| ())
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// RFC 9068 §4: `at+jwt` (`application/at+jwt`); plain `JWT` or none unless it is required.
fn check_type(typ: Option<&str>, require_at_jwt: bool) -> Result<(), JwtRefusal> {
    let is = |name: &str| {
        typ.is_some_and(|typ| {
            typ.eq_ignore_ascii_case(name)
                || typ.eq_ignore_ascii_case(&format!("application/{name}"))
        })
    };
    if is("at+jwt") || (!require_at_jwt && (typ.is_none() || is("jwt"))) {
        return Ok(());
    }
    Err(invalid(match typ {
        Some(typ) if !require_at_jwt => {
            format!("the token's type is {typ:?}, not an access token (at+jwt or JWT)")
        }
        Some(typ) => format!("the token's type is {typ:?}, not at+jwt (--require-at-jwt)"),
        None => "the token has no type; at+jwt is required (--require-at-jwt)".to_owned(),
    }))
}

/// The claim checks, then the identity.
pub(crate) fn check_claims(
    claims: Claims,
    expect: &Expectations,
    now: i64,
) -> Result<Verified, JwtRefusal> {
    match claims.iss.as_deref() {
        Some(iss) if iss == expect.issuer => {}
        Some(iss) => {
            return Err(invalid(format!(
                "the access token was issued by {iss:?}, not by the configured issuer {:?}",
                expect.issuer
            )));
        }
        None => return Err(invalid("the access token names no issuer (iss)")),
    }
    if !claims.aud.as_ref().is_some_and(|aud| {
        aud.contains(&expect.audience)
            || expect
                .audience_aliases
                .iter()
                .any(|alias| aud.contains(alias))
    }) {
        return Err(invalid(format!(
            "the access token is not for this resource: its audience must include {:?}",
            expect.audience
        )));
    }
    let exp = claims
        .exp
        .ok_or_else(|| invalid("the access token has no expiry (exp)"))?;
    if now > exp.saturating_add(expect.leeway_seconds) {
        return Err(invalid("the access token has expired"));
    }
    if claims
        .nbf
        .is_some_and(|nbf| now.saturating_add(expect.leeway_seconds) < nbf)
    {
        return Err(invalid("the access token is not valid yet (nbf)"));
    }
    let subject = claims
        .sub
        .filter(|sub| !sub.is_empty())
        .ok_or_else(|| invalid("the access token names no subject (sub)"))?;
    // Tools key users by it and logs and terminals show it: no line breaks, no control or
    // direction-changing characters.
    if subject.chars().any(disturbs_text) {
        return Err(invalid(
            "the access token's subject (sub) holds control characters",
        ));
    }
    let scope_text = match (claims.scope, claims.scp) {
        (Some(scope), _) => scope,
        (None, Some(ScopeList::Joined(scp))) => scp,
        (None, Some(ScopeList::List(scp))) => scp.join(" "),
        (None, None) => String::new(),
    };
    let scopes = Scope::parse(&scope_text)
        .map_err(|error| invalid(format!("the access token's scope is malformed: {error}")))?;
    Ok(Verified {
        identity: Identity {
            subject,
            username: claims
                .preferred_username
                .or(claims.username)
                .or(claims.email)
                .or(claims.name),
            client_id: claims.client_id.or(claims.azp),
            scopes,
            grant_id: claims.gid.filter(|_| expect.names_grants),
        },
        exp,
    })
}

#[cfg(test)]
#[path = "jwt_tests.rs"]
mod tests;
