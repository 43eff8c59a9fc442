//! Device tokens: the authorization server's signed word that a browser has signed in as a
//! user before ("device cookies", OWASP's defence against online password guessing that keeps
//! the owner out). A login carrying one for the account it tries gets a failure budget of its
//! own instead of the account's, which an attacker guessing from elsewhere can spend.
//!
//! A device token is an ES256 JWT signed with the [`Keyring`] that signs access tokens, so
//! every instance sharing the keys verifies it, with no store record. It can never pass for
//! an access token: its `typ` is [`DEVICE_TOKEN_TYPE`], not `at+jwt`, and its audience is the
//! issuer's login endpoint, not a resource. A token signed by a key the keyring no longer
//! keeps stops verifying: the browser is then treated as any other until its next sign-in.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

use super::{
    access_token::{SigningError, decode_signed, sign},
    keyring::Keyring,
    secret::{RandomnessError, random_bytes},
};

/// The JWT `typ` of a device token.
pub const DEVICE_TOKEN_TYPE: &str = "outpost-device+jwt";

/// The claims of a device token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceClaims {
    /// The issuer: the authorization server's identifier.
    pub iss: String,
    /// The audience: [`login_audience`] of the issuer.
    pub aud: String,
    /// The account the browser signed in to (its username's key).
    pub sub: String,
    /// This device's id (128 random bits, base64url): what its failures are counted under.
    pub jti: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
}

/// The audience of `issuer`'s device tokens: its login endpoint.
pub fn login_audience(issuer: &str) -> String {
    format!("{}/login", issuer.trim_end_matches('/'))
}

impl DeviceClaims {
    /// Claims for a browser that signed in to `account` at `now`, trusted for `lifetime`
    /// seconds, with a fresh device id.
    pub fn new(
        issuer: &str,
        account: &str,
        now: i64,
        lifetime: i64,
    ) -> Result<Self, RandomnessError> {
        Ok(Self {
            iss: issuer.to_owned(),
            aud: login_audience(issuer),
            sub: account.to_owned(),
            jti: URL_SAFE_NO_PAD.encode(random_bytes::<16>()?),
            iat: now,
            exp: now.saturating_add(lifetime),
        })
    }
}

/// Signs `claims` with the key that signs at their `iat`.
pub fn issue(keyring: &Keyring, claims: &DeviceClaims) -> Result<String, SigningError> {
    sign(keyring, DEVICE_TOKEN_TYPE, claims.iat, claims)
}

/// The claims of `token` when it is a device token of `issuer` for `account`, unexpired at
/// `now`; `None` for anything else (a forged, foreign, expired or unreadable token is no
/// reason to refuse a login: the browser is simply not trusted).
pub fn verify(
    keyring: &Keyring,
    token: &str,
    issuer: &str,
    account: &str,
    now: i64,
) -> Option<DeviceClaims> {
    let claims: DeviceClaims = decode_signed(keyring, token, &[DEVICE_TOKEN_TYPE], now).ok()?;
    let valid = claims.iss == issuer
        && claims.aud == login_audience(issuer)
        && claims.sub == account
        && now <= claims.exp;
    valid.then_some(claims)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{
        access_token::{self, AccessClaims},
        scope::Scope,
    };

    const ISSUER: &str = "https://as.example";
    const NOW: i64 = 1_800_000_000;

    fn keyring() -> Keyring {
        Keyring::generate(NOW, Duration::from_secs(3600)).unwrap()
    }

    #[test]
    fn a_device_token_verifies_for_its_account_only_until_it_expires() {
        let keys = keyring();
        let claims = DeviceClaims::new(ISSUER, "alice", NOW, 100).unwrap();
        let token = issue(&keys, &claims).unwrap();
        assert_eq!(
            verify(&keys, &token, ISSUER, "alice", NOW + 100),
            Some(claims)
        );
        assert_eq!(verify(&keys, &token, ISSUER, "bob", NOW), None);
        assert_eq!(
            verify(&keys, &token, "https://other.example", "alice", NOW),
            None
        );
        assert_eq!(verify(&keys, &token, ISSUER, "alice", NOW + 101), None);
        let another = keyring();
        assert_eq!(
            verify(&another, &token, ISSUER, "alice", NOW),
            None,
            "another key"
        );
    }

    #[test]
    fn device_tokens_and_access_tokens_are_never_taken_for_each_other() {
        let keyring = keyring();
        let device = issue(
            &keyring,
            &DeviceClaims::new(ISSUER, "alice", NOW, 100).unwrap(),
        )
        .unwrap();
        let audience = login_audience(ISSUER);
        assert!(access_token::verify(&keyring, &device, ISSUER, &audience, NOW).is_err());
        let access = AccessClaims::new(
            ISSUER,
            "alice",
            &audience,
            "client",
            Scope::parse("mcp").unwrap(),
            NOW,
            Duration::from_secs(100),
        )
        .unwrap();
        let access = access_token::issue(&keyring, &access).unwrap();
        assert_eq!(verify(&keyring, &access, ISSUER, "alice", NOW), None);
    }
}
