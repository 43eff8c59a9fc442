//! The records the stores keep, and the newtypes their fields are made of.
//!
//! Values are parsed once, where they enter (a CLI argument, a form field, a database row), so
//! that a `Username` or a `PasswordHash` in hand is always well-formed: nothing downstream
//! re-checks them. Secrets never appear here in clear: codes and refresh tokens are kept as
//! [`TokenHash`]es, passwords and client secrets as argon2id [`PasswordHash`]es, and the
//! secrets that must be kept whole (signing keys, request-state keys) are a
//! [`SecretAtRest`]: in the clear with a redacting `Debug`, or sealed.

use std::{collections::BTreeSet, fmt};

use uuid::Uuid;

use super::sealed::{PrivateKeyPem, SecretAtRest};

/// A value that did not parse into one of the model's types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// A username is 1–64 characters of `A-Z a-z 0-9 . _ -`.
    #[error("invalid username {0:?}: use 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'")]
    Username(String),
    /// An id is not a UUID.
    #[error("invalid id {0:?}: expected a UUID")]
    Id(String),
    /// A password hash is not an argon2 PHC string.
    #[error("invalid password hash: expected an argon2 PHC string ($argon2id$...)")]
    PasswordHash,
    /// A client id is empty or contains whitespace or control characters.
    #[error("invalid client id {0:?}: expected a non-empty string without spaces")]
    ClientId(String),
    /// A scope token has a character RFC 6749 §3.3 does not allow.
    #[error(
        "invalid scope token {0:?}: scope tokens are printable ASCII without spaces, double quotes or backslashes"
    )]
    ScopeToken(String),
    /// A token hash is not 64 lowercase hex digits.
    #[error("invalid token hash: expected 64 lowercase hex digits (SHA-256)")]
    TokenHash,
    /// Key material is shorter than its kind requires.
    #[error("key material too short: {actual} bytes, at least {minimum} required")]
    KeyMaterial {
        /// The least accepted length, in bytes.
        minimum: usize,
        /// The length found.
        actual: usize,
    },
    /// A key-encryption key id is not 16 lowercase hex digits.
    #[error("invalid key-encryption key id {0:?}: expected 16 lowercase hex digits")]
    KeyEncryptionKeyId(String),
    /// An enumerated field holds an unknown value.
    #[error("unknown {field} {value:?}")]
    Unknown {
        /// The field's name.
        field: &'static str,
        /// The value found.
        value: String,
    },
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// A new random (v4) id.
            pub fn random() -> Self {
                Self(Uuid::new_v4())
            }

            /// Parses the hyphenated text form.
            pub fn parse(text: &str) -> Result<Self, ModelError> {
                Uuid::parse_str(text).map(Self).map_err(|_| ModelError::Id(text.to_owned()))
            }

            /// The UUID inside.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

uuid_id!(
    /// A user's stable identifier: the `sub` of their tokens. Never reused, unlike a username.
    UserId
);
uuid_id!(
    /// One grant: the family of refresh tokens descended from one authorization.
    GrantId
);

/// A local user's login name: 1–64 characters of `A-Z a-z 0-9 . _ -`.
///
/// The spelling is kept as given; uniqueness is case-insensitive (`Alice` and `alice` are the
/// same user), which the ASCII-only alphabet makes unambiguous.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Username(String);

impl Username {
    /// Longest accepted username, in characters.
    pub const MAX_LEN: usize = 64;

    /// Parses a username: 1 to [`MAX_LEN`](Self::MAX_LEN) of A-Z, a-z, 0-9, `.`, `_`, `-`.
    /// What every stored name and every sign-in is read with; a name being created has
    /// stricter rules ([`parse_new`](Self::parse_new)).
    pub fn parse(text: &str) -> Result<Self, ModelError> {
        let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if text.is_empty() || text.len() > Self::MAX_LEN || !text.chars().all(valid_char) {
            return Err(ModelError::Username(text.to_owned()));
        }
        Ok(Self(text.to_owned()))
    }

    /// Parses the name of a user an operator creates: [`parse`](Self::parse)'s rules, with at
    /// least one letter or digit (`.` and `..` name no one) and no leading `-` (which a
    /// command line reads as a flag). Names made from an upstream identity provider's
    /// claims follow these rules too; names already stored keep the older ones.
    pub fn parse_new(text: &str) -> Result<Self, ModelError> {
        let name = Self::parse(text)?;
        if !text.chars().any(|c| c.is_ascii_alphanumeric()) || text.starts_with('-') {
            return Err(ModelError::Username(text.to_owned()));
        }
        Ok(name)
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form uniqueness is decided on (ASCII lowercase).
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An argon2 password hash as a PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
///
/// Used for user passwords and client secrets. Not a secret itself, but an offline-guessing
/// target: `Debug` shows only the algorithm.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Parses a PHC string; only the argon2 family is accepted.
    pub fn parse(phc: &str) -> Result<Self, ModelError> {
        let parsed = phc::PasswordHash::new(phc).map_err(|_| ModelError::PasswordHash)?;
        if !parsed.algorithm.as_str().starts_with("argon2") {
            return Err(ModelError::PasswordHash);
        }
        Ok(Self(phc.to_owned()))
    }

    /// The PHC string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let algorithm = self.0.split('$').nth(1).unwrap_or("?");
        write!(f, "PasswordHash(${algorithm}$…)")
    }
}

/// An OAuth client identifier (RFC 6749 §2.2): an opaque string, or an `https` URL for a
/// client identified by a metadata document.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(String);

impl ClientId {
    /// Parses a client id: non-empty, no whitespace or control characters.
    pub fn parse(text: &str) -> Result<Self, ModelError> {
        if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ModelError::ClientId(text.to_owned()));
        }
        Ok(Self(text.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The SHA-256 of a high-entropy secret (an authorization code, a refresh token), as 64
/// lowercase hex digits: what the store keeps instead of the secret. Made by
/// [`token_hash`](super::token_hash).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenHash(String);

impl TokenHash {
    /// Parses 64 lowercase hex digits (as read back from a store).
    pub fn parse(hex: &str) -> Result<Self, ModelError> {
        let is_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        if hex.len() != 64 || !hex.bytes().all(is_hex) {
            return Err(ModelError::TokenHash);
        }
        Ok(Self(hex.to_owned()))
    }

    pub(super) fn from_digest_hex(hex: String) -> Self {
        Self(hex)
    }

    /// The hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A set of OAuth scope tokens (RFC 6749 §3.3: each printable ASCII without space, `"` or
/// `\`), such as the scopes a user may be granted. Order and repetition do not matter; it
/// prints its tokens sorted, space-separated, which is also how backends keep it.
///
/// The store's own type, as stores depend on no OAuth crate; the authorization server turns it
/// into its `Scope`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ScopeSet(BTreeSet<String>);

impl ScopeSet {
    /// Parses space-separated tokens (runs of spaces tolerated); an empty string is the empty
    /// set.
    pub fn parse(text: &str) -> Result<Self, ModelError> {
        Self::from_tokens(text.split(' ').filter(|t| !t.is_empty()))
    }

    /// The set of `tokens`, each checked.
    pub fn from_tokens<'a>(tokens: impl IntoIterator<Item = &'a str>) -> Result<Self, ModelError> {
        let nqchar = |b: u8| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E);
        tokens
            .into_iter()
            .map(|token| {
                if !token.is_empty() && token.bytes().all(nqchar) {
                    Ok(token.to_owned())
                } else {
                    Err(ModelError::ScopeToken(token.to_owned()))
                }
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Whether the set has no token.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `token` is in the set.
    pub fn contains(&self, token: &str) -> bool {
        self.0.contains(token)
    }

    /// The tokens, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, token) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str(" ")?;
            }
            f.write_str(token)?;
        }
        Ok(())
    }
}

/// A local user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Stable id (the token subject).
    pub id: UserId,
    /// Login name, unique case-insensitively.
    pub username: Username,
    /// argon2id hash of the password.
    pub password_hash: PasswordHash,
    /// The scopes beyond the server's baseline (its default scope) this user may be granted,
    /// e.g. `mcp:admin`; empty: the baseline only (what users created before this field had).
    pub allowed_scopes: ScopeSet,
    /// Creation time, unix seconds.
    pub created_at: i64,
}

/// How a client authenticates at the token endpoint (RFC 7591 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenEndpointAuthMethod {
    /// A public client: no secret.
    None,
    /// Secret in the `Authorization: Basic` header.
    ClientSecretBasic,
    /// Secret in the form body.
    ClientSecretPost,
}

impl TokenEndpointAuthMethod {
    /// The RFC 7591 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
        }
    }

    /// Parses the RFC 7591 name.
    pub fn parse(text: &str) -> Result<Self, ModelError> {
        match text {
            "none" => Ok(Self::None),
            "client_secret_basic" => Ok(Self::ClientSecretBasic),
            "client_secret_post" => Ok(Self::ClientSecretPost),
            other => Err(unknown("token_endpoint_auth_method", other)),
        }
    }
}

/// The kind of application a client is (OpenID Connect Dynamic Registration §2); decides which
/// redirect URIs are acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplicationType {
    /// A web application: https redirects.
    Web,
    /// A native application: loopback or private-scheme redirects (RFC 8252).
    Native,
}

impl ApplicationType {
    /// The registration name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Native => "native",
        }
    }

    /// Parses the registration name.
    pub fn parse(text: &str) -> Result<Self, ModelError> {
        match text {
            "web" => Ok(Self::Web),
            "native" => Ok(Self::Native),
            other => Err(unknown("application_type", other)),
        }
    }
}

fn unknown(field: &'static str, value: &str) -> ModelError {
    ModelError::Unknown {
        field,
        value: value.to_owned(),
    }
}

/// A registered OAuth client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRecord {
    /// The client's id.
    pub client_id: ClientId,
    /// argon2id hash of the secret of a confidential client; `None` for a public client.
    pub client_secret_hash: Option<PasswordHash>,
    /// Human-readable name shown on the consent page.
    pub client_name: Option<String>,
    /// Registered redirect URIs, matched exactly.
    pub redirect_uris: Vec<String>,
    /// Grant types the client may use.
    pub grant_types: Vec<String>,
    /// Response types the client may use.
    pub response_types: Vec<String>,
    /// How it authenticates at the token endpoint.
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    /// Web or native.
    pub application_type: ApplicationType,
    /// Space-delimited scopes the client registered for, if it said.
    pub scope: Option<String>,
    /// Registration time, unix seconds.
    pub created_at: i64,
}

/// An issued, not yet redeemed authorization code (RFC 6749 §4.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCodeRecord {
    /// SHA-256 of the code.
    pub code_hash: TokenHash,
    /// The client it was issued to.
    pub client_id: ClientId,
    /// The user who approved it.
    pub user_id: UserId,
    /// The redirect URI the code was sent to.
    pub redirect_uri: String,
    /// Whether the authorization request named `redirect_uri` (rather than leaving it to the
    /// client's one registered URI): the token request must then repeat it (RFC 6749 §4.1.3).
    pub redirect_uri_sent: bool,
    /// Space-delimited granted scopes.
    pub scope: String,
    /// The RFC 8707 resource the tokens will be bound to.
    pub resource: Option<String>,
    /// PKCE S256 challenge (RFC 7636 §4.2).
    pub code_challenge: String,
    /// Expiry, unix seconds.
    pub expires_at: i64,
}

/// A grant: what a user allowed a client, and the root of one refresh-token family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRecord {
    /// The grant's id.
    pub grant_id: GrantId,
    /// The user.
    pub user_id: UserId,
    /// The client.
    pub client_id: ClientId,
    /// Space-delimited granted scopes.
    pub scope: String,
    /// The RFC 8707 resource tokens are bound to.
    pub resource: Option<String>,
    /// Creation time, unix seconds.
    pub created_at: i64,
    /// When it was revoked, unix seconds; tokens of a revoked grant are all invalid.
    pub revoked_at: Option<i64>,
}

/// One refresh token of a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    /// SHA-256 of the token.
    pub token_hash: TokenHash,
    /// The grant (family) it belongs to.
    pub grant_id: GrantId,
    /// Expiry, unix seconds.
    pub expires_at: i64,
    /// When it was exchanged for its successor; presenting it again is reuse.
    pub rotated_at: Option<i64>,
}

/// A key that signs access tokens. The auth layer converts to and from its own key type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// Key id, the JWT `kid`.
    pub kid: String,
    /// JWS algorithm, e.g. `ES256`.
    pub algorithm: String,
    /// The private key, PKCS#8 PEM, in the clear or sealed ([`crate::key_encryption`]).
    /// Secret: `Debug` redacts it.
    pub private_key: SecretAtRest<PrivateKeyPem>,
    /// Creation time, unix seconds.
    pub created_at: i64,
    /// When it stopped signing, unix seconds; it stays published until its tokens expire.
    pub retired_at: Option<i64>,
}

/// Scopes a user has already approved for a client, so the consent page can be skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    /// The user.
    pub user_id: UserId,
    /// The client.
    pub client_id: ClientId,
    /// Space-delimited approved scopes.
    pub scope: String,
    /// When consent was (last) given, unix seconds.
    pub granted_at: i64,
}

/// A Streamable HTTP (2025-03-26 … 2025-11-25) MCP session, kept so that it survives a restart
/// and can be resumed by another instance.
///
/// Two writers fill it, in either order: the transport stores `state` after the `initialize`
/// handshake, the session-owner check records `owner`. Neither clobbers the other's field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpSessionRecord {
    /// The `Mcp-Session-Id`.
    pub session_id: String,
    /// The subject of the access token that created the session; `None` until recorded, and
    /// always `None` when authentication is off.
    pub owner: Option<String>,
    /// rmcp's `SessionState` (the client's `initialize` parameters) as JSON; `None` until the
    /// handshake has been stored.
    pub state: Option<String>,
    /// What the session's handler keeps between requests (a log level, resource
    /// subscriptions…) as one JSON object; `None` until first written
    /// ([`McpSessionStore::replace_data`](super::traits::McpSessionStore::replace_data)).
    pub data: Option<String>,
    /// Creation time, unix seconds.
    pub created_at: i64,
    /// After this instant (unix seconds) the session has idled out: it is not loaded again,
    /// and [`McpSessionStore::purge_expired`](super::traits::McpSessionStore::purge_expired)
    /// removes it.
    pub expires_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_sets_parse_sorted_and_refuse_bad_tokens() {
        let scopes = ScopeSet::parse("mcp:admin  mcp mcp").expect("valid");
        assert_eq!(scopes.to_string(), "mcp mcp:admin");
        assert!(scopes.contains("mcp:admin"));
        assert_eq!(ScopeSet::parse(""), Ok(ScopeSet::default()));
        assert_eq!(ScopeSet::parse(&scopes.to_string()), Ok(scopes));
        for bad in ["a\"b", "a\\b", "caf\u{e9}"] {
            assert_eq!(
                ScopeSet::parse(bad),
                Err(ModelError::ScopeToken(bad.into())),
                "{bad}"
            );
        }
        assert!(ScopeSet::from_tokens([""]).is_err());
    }

    #[test]
    fn usernames_parse_or_not() {
        for ok in ["a", "alice", "Alice.B_c-9", &"x".repeat(64)] {
            assert!(Username::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "al ice", "alice@x", "é", &"x".repeat(65)] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
        let name = Username::parse("Alice").expect("valid");
        assert_eq!((name.as_str(), name.key().as_str()), ("Alice", "alice"));
    }

    /// New names are stricter; names already stored, or made from an identity provider's
    /// claims (`-bob-1a2b3c4d`), still read.
    #[test]
    fn new_usernames_need_a_letter_or_digit_and_no_leading_dash() {
        for stored in ["..", "-x", "-bob-1a2b3c4d", "_"] {
            assert!(Username::parse(stored).is_ok(), "{stored}");
            assert!(Username::parse_new(stored).is_err(), "{stored}");
        }
        for new in ["alice", ".alice", "a-b", "_9"] {
            assert!(Username::parse_new(new).is_ok(), "{new}");
        }
    }

    #[test]
    fn password_hash_debug_is_redacted() {
        let phc = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$iWh06vD8Fy27wf9npn6FXWiCX4K6pW6Ue1Bnzz07Z8A";
        let hash = PasswordHash::parse(phc).expect("valid PHC");
        assert_eq!(format!("{hash:?}"), "PasswordHash($argon2id$…)");
        assert!(PasswordHash::parse("plain").is_err());
    }

    #[test]
    fn signing_key_debug_is_redacted() {
        let key = SigningKeyRecord {
            kid: "k1".into(),
            algorithm: "ES256".into(),
            private_key: SecretAtRest::Clear(PrivateKeyPem::new(
                "-----BEGIN PRIVATE KEY-----".into(),
            )),
            created_at: 1,
            retired_at: None,
        };
        assert!(!format!("{key:?}").contains("BEGIN"));
    }

    #[test]
    fn ids_and_enums_round_trip() {
        let id = UserId::random();
        assert_eq!(UserId::parse(&id.to_string()), Ok(id));
        for m in [
            TokenEndpointAuthMethod::None,
            TokenEndpointAuthMethod::ClientSecretBasic,
            TokenEndpointAuthMethod::ClientSecretPost,
        ] {
            assert_eq!(TokenEndpointAuthMethod::parse(m.as_str()), Ok(m));
        }
        assert!(ClientId::parse("has space").is_err());
        assert!(TokenHash::parse("ABC").is_err());
    }
}
