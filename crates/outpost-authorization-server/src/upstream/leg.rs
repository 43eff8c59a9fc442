//! The secrets of the upstream leg of one sign-in, all tied to its pending request.
//!
//! `state` is the pending request's id: the callback finds the request with it and the
//! browser's binding cookie, exactly as the login and consent forms do, so a callback from
//! another browser (a forged or stolen response) finds nothing. The `nonce` and the PKCE
//! verifier are SHA-256 digests of that id and the binding, each under its own label: any
//! instance derives them again at the callback, nothing needs storing, and nobody without the
//! binding — an `HttpOnly` cookie the provider never sees — can compute them.

use outpost_oauth::pkce::{CodeChallenge, CodeVerifier};
use outpost_store::token_hash;

use crate::browser::BrowserBinding;

/// The upstream leg of the pending request `request_id` of `browser`.
pub(crate) struct Leg {
    /// The `state` sent to the provider: the pending request's id.
    pub state: String,
    /// The `nonce` the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier for the token request.
    pub code_verifier: String,
}

impl Leg {
    /// The leg of request `request_id`, opened by `browser`.
    pub fn of(request_id: &str, browser: &BrowserBinding) -> Self {
        let derive = |label: &str| {
            token_hash(&format!(
                "outpost upstream {label}\0{request_id}.{}",
                browser.expose()
            ))
            .as_str()
            .to_owned()
        };
        Self {
            state: request_id.to_owned(),
            nonce: derive("nonce"),
            code_verifier: derive("pkce"),
        }
    }

    /// The S256 challenge of the verifier (64 hex digits: a valid RFC 7636 verifier).
    pub fn code_challenge(&self) -> Option<CodeChallenge> {
        CodeVerifier::parse(&self.code_verifier)
            .ok()
            .map(|verifier| CodeChallenge::s256(&verifier))
    }
}
