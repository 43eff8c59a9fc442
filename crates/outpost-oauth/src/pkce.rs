//! Proof Key for Code Exchange (RFC 7636), S256 only.
//!
//! OAuth 2.1 (draft-ietf-oauth-v2-1 §4.1.1) and the MCP authorization spec require PKCE with
//! `S256`. RFC 7636 §4.3 would treat a missing `code_challenge_method` as `plain`; Outpost
//! refuses both, with distinct errors so the authorization endpoint can say which rule failed.
//! The challenge and verifier are parsed once into [`CodeChallenge`] and [`CodeVerifier`]
//! (RFC 7636 §4.1/§4.2: 43–128 characters of `ALPHA / DIGIT / "-" / "." / "_" / "~"`), and
//! [`verify`] compares `BASE64URL(SHA256(verifier))` with the challenge in constant time
//! (RFC 7636 §4.6).

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

/// Why a PKCE parameter was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PkceError {
    /// No `code_challenge_method`: RFC 7636 would default to `plain`, which OAuth 2.1 forbids.
    #[error("code_challenge_method is required and must be S256")]
    MissingMethod,
    /// `code_challenge_method=plain`: refused (OAuth 2.1 §4.1.1 / MCP authorization).
    #[error("code_challenge_method plain is not allowed: use S256")]
    PlainMethod,
    /// A method other than `S256` or `plain`.
    #[error("unsupported code_challenge_method {0:?}: use S256")]
    UnsupportedMethod(String),
    /// No `code_challenge` on the authorization request.
    #[error("code_challenge is required")]
    MissingChallenge,
    /// The `code_challenge` is not 43–128 unreserved characters (RFC 7636 §4.2).
    #[error("code_challenge must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~")]
    InvalidChallenge,
    /// The `code_verifier` is not 43–128 unreserved characters (RFC 7636 §4.1).
    #[error("code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~")]
    InvalidVerifier,
    /// The verifier does not hash to the challenge (RFC 7636 §4.6).
    #[error("code_verifier does not match the code_challenge")]
    Mismatch,
}

/// A `code_challenge_method`. Only `S256` exists here: `plain` is refused at parse time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeChallengeMethod {
    /// `BASE64URL(SHA256(ASCII(code_verifier)))` (RFC 7636 §4.2).
    S256,
}

impl CodeChallengeMethod {
    /// Parses the request's `code_challenge_method` (`None` when absent). The value is
    /// case-sensitive, as RFC 7636 §4.3 registers it.
    pub fn parse(value: Option<&str>) -> Result<Self, PkceError> {
        match value {
            None => Err(PkceError::MissingMethod),
            Some("S256") => Ok(Self::S256),
            Some("plain") => Err(PkceError::PlainMethod),
            Some(other) => Err(PkceError::UnsupportedMethod(other.to_owned())),
        }
    }

    /// The registered name, `S256`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::S256 => "S256",
        }
    }
}

/// RFC 7636 §4.1: `43*128unreserved`.
fn is_valid_syntax(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// A syntactically valid `code_challenge`, stored with the authorization code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// Parses the request's `code_challenge` (`None` when absent).
    pub fn parse(value: Option<&str>) -> Result<Self, PkceError> {
        let value = value.ok_or(PkceError::MissingChallenge)?;
        if !is_valid_syntax(value) {
            return Err(PkceError::InvalidChallenge);
        }
        Ok(Self(value.to_owned()))
    }

    /// The S256 challenge for `verifier` (what a client sends; used by clients and tests).
    pub fn s256(verifier: &CodeVerifier) -> Self {
        Self(URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.0.as_bytes())))
    }

    /// The challenge text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A syntactically valid `code_verifier`, from the token request.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeVerifier(String);

impl CodeVerifier {
    /// Parses the token request's `code_verifier`.
    pub fn parse(value: &str) -> Result<Self, PkceError> {
        if !is_valid_syntax(value) {
            return Err(PkceError::InvalidVerifier);
        }
        Ok(Self(value.to_owned()))
    }
}

impl std::fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeVerifier(<redacted>)")
    }
}

/// RFC 7636 §4.6: the verifier matches when `BASE64URL(SHA256(verifier)) == challenge`,
/// compared in constant time.
pub fn verify(challenge: &CodeChallenge, verifier: &CodeVerifier) -> Result<(), PkceError> {
    let computed = CodeChallenge::s256(verifier);
    if bool::from(computed.0.as_bytes().ct_eq(challenge.0.as_bytes())) {
        Ok(())
    } else {
        Err(PkceError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc7636_appendix_b_vector() {
        let verifier = CodeVerifier::parse(VERIFIER).unwrap();
        assert_eq!(CodeChallenge::s256(&verifier).as_str(), CHALLENGE);
        let challenge = CodeChallenge::parse(Some(CHALLENGE)).unwrap();
        assert_eq!(verify(&challenge, &verifier), Ok(()));
    }

    #[test]
    fn wrong_verifier_is_a_mismatch() {
        let challenge = CodeChallenge::parse(Some(CHALLENGE)).unwrap();
        let other = CodeVerifier::parse(&"a".repeat(43)).unwrap();
        assert_eq!(verify(&challenge, &other), Err(PkceError::Mismatch));
    }

    #[test]
    fn only_s256_is_accepted() {
        assert_eq!(
            CodeChallengeMethod::parse(Some("S256")),
            Ok(CodeChallengeMethod::S256)
        );
        assert_eq!(
            CodeChallengeMethod::parse(Some("plain")),
            Err(PkceError::PlainMethod)
        );
        assert_eq!(
            CodeChallengeMethod::parse(None),
            Err(PkceError::MissingMethod)
        );
        assert_eq!(
            CodeChallengeMethod::parse(Some("s256")),
            Err(PkceError::UnsupportedMethod("s256".into()))
        );
    }

    #[test]
    fn syntax_is_43_to_128_unreserved_characters() {
        assert!(CodeVerifier::parse(&"a".repeat(43)).is_ok());
        assert!(CodeVerifier::parse(&"a".repeat(128)).is_ok());
        assert!(CodeVerifier::parse("-._~0123456789abcdefghijklmnopqrstuvwxyzABCDE").is_ok());
        assert_eq!(
            CodeVerifier::parse(&"a".repeat(42)),
            Err(PkceError::InvalidVerifier)
        );
        assert_eq!(
            CodeVerifier::parse(&"a".repeat(129)),
            Err(PkceError::InvalidVerifier)
        );
        let with_plus = format!("{}+", "a".repeat(42));
        assert_eq!(
            CodeVerifier::parse(&with_plus),
            Err(PkceError::InvalidVerifier)
        );
        assert_eq!(
            CodeChallenge::parse(Some(&format!("{}=", "a".repeat(43)))),
            Err(PkceError::InvalidChallenge)
        );
        assert_eq!(CodeChallenge::parse(None), Err(PkceError::MissingChallenge));
    }

    #[test]
    fn verifier_debug_is_redacted() {
        let verifier = CodeVerifier::parse(VERIFIER).unwrap();
        assert!(!format!("{verifier:?}").contains(VERIFIER));
    }
}
